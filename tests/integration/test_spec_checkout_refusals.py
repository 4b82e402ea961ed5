"""POST /checkout refusals over HTTP, pinned to the contract (checkout is being restructured:
these go through the stable surface only).

api-contract: `422 not_shippable (details: the per-line decisions, with reasons)`;
"An ineligible line always carries at least one reason".
"""

from __future__ import annotations

from typing import Any

import pytest

from bonestore_infra.bench_checkout import Shop
from bonestore_infra.local_stack import LocalStack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def shop(local_stack: LocalStack) -> Shop:
    return Shop(local_stack)


def test_a_refusal_names_the_refused_items_and_not_the_eligible_ones(shop: Shop) -> None:
    status, body = shop.checkout(
        [
            {"sku": "TRUEOSTEO-120", "quantity": 1},
            {"sku": "BONE-APPETIT-BOOK", "quantity": 1},
            {"sku": "D3K2-60", "quantity": 1},
        ],
        {"country": "CA"},
    )
    assert status == 422, body
    error: dict[str, Any] = body["error"]
    assert error["code"] == "not_shippable"
    assert "TRUEOSTEO-120" in error["message"] and "D3K2-60" in error["message"]
    assert "BONE-APPETIT-BOOK" not in error["message"]
    assert "CA" in error["message"]
    decided = {line["sku"]: line for line in error["details"]}
    assert set(decided) == {"TRUEOSTEO-120", "BONE-APPETIT-BOOK", "D3K2-60"}
    for sku in ("TRUEOSTEO-120", "D3K2-60"):
        assert decided[sku]["eligible"] is False
        assert [r["rule_id"] for r in decided[sku]["reasons"]] == ["ca-no-supplements-npn"]
    assert decided["BONE-APPETIT-BOOK"]["eligible"] is True
    assert decided["BONE-APPETIT-BOOK"]["reasons"] == []
