"""Stripe's form encoding: ``a[b][0][c]=1`` and ``expand[]=x`` into nested dicts and lists."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

from .errors import StripeError

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_SEGMENT = re.compile(r"\[([^\[\]]*)\]")


def _bad(key: str) -> StripeError:
    return StripeError(400, f"Invalid parameter name: {key}", param=key)


def parse_form(body: str) -> dict[str, Any]:
    """Decode a form body (or query string) the way Stripe reads it.

    Dicts whose keys are all integers become lists, ordered by index.
    Empty values stay ``""`` (Stripe reads them as "unset").
    """
    root: dict[str, Any] = {}
    for key, value in parse_qsl(body, keep_blank_values=True, max_num_fields=10_000):
        match = _KEY.match(key)
        if match is None:
            raise _bad(key)
        segments = [match.group(1), *_SEGMENT.findall(match.group(2))]
        node: dict[str, Any] = root
        for position, segment in enumerate(segments):
            last = position == len(segments) - 1
            if segment == "":
                segment = str(len(node))
            if last:
                if isinstance(node.get(segment), dict):
                    raise _bad(key)
                # a repeated scalar key: the last value wins
                node[segment] = value
            else:
                child = node.get(segment)
                if child is None:
                    child = {}
                    node[segment] = child
                elif not isinstance(child, dict):
                    raise _bad(key)
                node = child
    result = _listify(root)
    assert isinstance(result, dict)
    return result


def _listify(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    converted = {key: _listify(item) for key, item in value.items()}
    if converted and all(key.isdigit() for key in converted):
        return [converted[key] for key in sorted(converted, key=int)]
    return converted
