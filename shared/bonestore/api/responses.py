"""What a route answers, as its OpenAPI ``responses=``: one way for every
route (the lean router documents them through Powertools), stdlib only."""

from __future__ import annotations

from typing import Any


def schema_ref(name: str) -> dict[str, str]:
    """A component of the OpenAPI document by name: ``bonestore openapi`` adds the schema of
    the model so named (``bonestore.api.schemas``, ``ErrorBody``), so no function imports
    response models at run time."""
    return {"$ref": f"#/components/schemas/{name}"}


def documented(
    ok: dict[int, tuple[str, str]], errors: dict[int, str] | None = None
) -> dict[int, Any]:
    """A route's ``responses=``: its successes (status -> (model name, description)) and the
    statuses it answers with the contract's error body (status -> which codes, and when).

    ``bonestore openapi`` adds what every route of a kind answers: 400/413/415 for a body,
    401/403 behind the authorizer, 500.
    """
    out: dict[int, Any] = {
        status: {
            "description": text,
            "content": {"application/json": {"schema": schema_ref(model)}},
        }
        for status, (model, text) in ok.items()
    }
    for status, text in (errors or {}).items():
        out[status] = {
            "description": text,
            "content": {"application/json": {"schema": schema_ref("ErrorBody")}},
        }
    return out
