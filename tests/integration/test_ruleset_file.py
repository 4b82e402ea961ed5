"""Ops try a rule change locally (``bonestore serve --ruleset FILE``): every route that
decides with the rules decides with the file, the moment it changes.

The storefront's page (``GET /products?country=``), its cart check (``POST /eligibility``),
checkout and support's explanation must agree: a rule the storefront did not know of
would show a customer an item as shippable that checkout then refuses (or the reverse).
"""

from __future__ import annotations

from typing import Any

import pytest

from bonestore_infra.bench_checkout import Shop
from bonestore_infra.local_stack import LocalStack
from tests.helpers import Http, ruleset_restored
from tests.staff_tokens import staff_token

pytestmark = pytest.mark.integration

US_NY = {"country": "US", "subdivision": "US-NY", "postal_code": "10001"}


@pytest.fixture(scope="module")
def shop(local_stack: LocalStack) -> Shop:
    return Shop(local_stack)


def _decisions(api: Http, sku: str) -> dict[str, Any]:
    cart = {"destination": US_NY, "items": [{"sku": sku, "quantity": 1}]}
    eligibility = api.post("/eligibility", cart)
    product = api.get(f"/products/{sku}?country=US")
    support = api.post(
        "/support/eligibility", cart, headers={"Authorization": f"Bearer {staff_token('support')}"}
    )
    assert eligibility.status == product.status == support.status == 200
    return {
        "eligibility": eligibility.json()["items"][0],
        "catalog": product.json()["availability"],
        "support": support.json()["items"][0],
    }


def test_a_rule_added_to_the_ruleset_file_applies_to_every_route_that_decides(
    local_stack: LocalStack, shop: Shop, api: Http
) -> None:
    sku = shop.clone("BONE-APPETIT-BOOK", 5)
    before = _decisions(api, sku)
    assert [d["eligible"] for d in before.values()] == [True, True, True]
    rule_id = f"stop-{sku.lower()}"
    with ruleset_restored(local_stack) as add_rule:
        add_rule(
            f"""
- id: {rule_id}
  effect: forbid
  when:
    destination: {{countries: [US]}}
    product: {{skus: [{sku}]}}
  code: not_shipped_here
  message: We can't ship this book to {{country_name}} any more.
  source: test ruleset change
"""
        )
        after = _decisions(api, sku)
        for route, decision in after.items():
            assert decision["eligible"] is False, route
            assert [r["rule_id"] for r in decision["reasons"]] == [rule_id], route
        # Staff see the reason with the source of the rule that decided it, from the file.
        assert after["support"]["reasons"][0]["source"] == "test ruleset change"
        status, body = shop.checkout([{"sku": sku, "quantity": 1}], US_NY, email="r@example.com")
        assert status == 422 and body["error"]["code"] == "not_shippable", body
    restored = _decisions(api, sku)
    assert [d["eligible"] for d in restored.values()] == [True, True, True]
