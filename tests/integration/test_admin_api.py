"""The ops API over the local server: products created, replaced and soft-deleted, and the
active ruleset with its lint. New SKUs only: the seed catalog is shared with other tests."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from bonestore.domain.rules import default_engine
from tests.helpers import Http, assert_error
from tests.integration.test_support_api import staff_token

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def ops() -> str:
    return staff_token("ops", username="olga-ops")


def new_sku() -> str:
    return f"ADM-{uuid.uuid4().hex[:10].upper()}"


def supplement(**overrides: Any) -> dict[str, Any]:
    body = {
        "name": "Calcium citrate, 90 tablets",
        "description": "90-day supply.",
        "kind": "physical",
        "category": "supplement",
        "price": {"amount": 1999, "currency": "usd"},
        "stock": 25,
        "attributes": {
            "supply_days": 90,
            "ingredients": {"calcium": {"amount": 500, "unit": "mg"}},
        },
    }
    body.update(overrides)
    return body


def put(api: Http, sku: str, body: Any, token: str) -> Any:
    return api.request("PUT", f"/admin/products/{sku}", body, token=token)


def test_put_creates_then_replaces(api: Http, ops: str) -> None:
    sku = new_sku()
    created = put(api, sku, supplement(), ops)
    assert created.status == 201, created.body
    body = created.json()
    assert body["sku"] == sku
    assert body["price"] == {"amount": 1999, "currency": "USD"}
    assert body["stock"] == 25 and body["active"] is True and body["reserved"] == 0
    assert body["attributes"]["supply_days"] == 90

    replaced = put(api, sku.lower(), supplement(sku=sku, stock=3, name="Renamed"), ops)
    assert replaced.status == 200, replaced.body
    assert replaced.json()["stock"] == 3 and replaced.json()["name"] == "Renamed"

    public = api.get(f"/products/{sku}").json()
    assert public["name"] == "Renamed" and public["in_stock"] is True


def test_a_new_product_is_decided_by_the_rules(api: Http, ops: str) -> None:
    sku = new_sku()
    assert put(api, sku, supplement(), ops).status == 201
    support = staff_token("support")
    body = api.post(
        "/support/eligibility",
        {"destination": {"country": "AU"}, "items": [{"sku": sku, "quantity": 2}]},
        token=support,
    ).json()
    # AU: at most 90 days' supply per product -> one 90-day bottle
    assert body["items"][0]["max_quantity"] == 1
    assert body["items"][0]["reasons"][0]["rule_id"] == "au-three-months-supply"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (supplement(attributes={}), None),  # a supplement needs supply_days
        (supplement(price={"amount": 19.99, "currency": "USD"}), "invalid_price"),
        (supplement(price={"amount": -1, "currency": "USD"}), "invalid_price"),
        (supplement(stock=-1), "invalid_stock"),
        (supplement(stock=None), None),  # physical needs stock
        (supplement(kind="digital"), None),  # digital has no stock
        # A supplement is a parcel: digital products sell everywhere but under an embargo.
        (supplement(kind="digital", stock=None), None),
        (supplement(kind="hologram"), None),
        (supplement(category="toys"), None),
        (supplement(sku="OTHER-SKU"), "sku_mismatch"),
        (supplement(colour="red"), None),
        ([1, 2], None),
        ("text", None),
    ],
)
def test_put_rejects_invalid_products(api: Http, ops: str, body: Any, code: str | None) -> None:
    sku = new_sku()
    assert_error(put(api, sku, body, ops), 400, code)
    assert api.get(f"/products/{sku}").status == 404


def test_put_rejects_a_bad_path_sku_and_a_missing_body(api: Http, ops: str) -> None:
    assert_error(put(api, "bad%20sku%21", supplement(), ops), 400)
    assert_error(api.request("PUT", f"/admin/products/{new_sku()}", token=ops), 400)
    assert_error(
        api.request("PUT", f"/admin/products/{new_sku()}", raw=b"{", token=ops), 400, "invalid_json"
    )


def test_delete_is_soft_and_404_for_unknown(api: Http, ops: str) -> None:
    sku = new_sku()
    assert put(api, sku, supplement(), ops).status == 201
    deleted = api.request("DELETE", f"/admin/products/{sku}", token=ops)
    assert deleted.status == 200, deleted.body
    assert deleted.json()["active"] is False and deleted.json()["stock"] == 25
    assert_error(api.get(f"/products/{sku}"), 404, "unknown_sku")
    assert sku not in {p["sku"] for p in api.get("/products").json()["items"]}
    # kept for existing orders: still in the table
    from bonestore.api.deps import product_repository

    assert product_repository().get(sku, include_inactive=True) is not None
    # deleting again still finds it (idempotent); a SKU never created is 404
    assert api.request("DELETE", f"/admin/products/{sku}", token=ops).status == 200
    assert_error(
        api.request("DELETE", f"/admin/products/{new_sku()}", token=ops), 404, "unknown_sku"
    )
    # put brings it back
    assert put(api, sku, supplement(), ops).status == 200
    assert api.get(f"/products/{sku}").status == 200


def test_rules_are_the_active_ruleset_with_lint(api: Http) -> None:
    # The contract's Ops section: "403 for another group", support included.
    assert api.get("/admin/rules", token=staff_token("support")).status == 403
    for group in ("ops",):
        response = api.get("/admin/rules", token=staff_token(group))
        assert response.status == 200, response.body
        body = response.json()
        assert body["version"] == default_engine().version
        ids = {rule["id"] for rule in body["rules"]}
        assert "ca-no-supplements-npn" in ids
        npn = next(r for r in body["rules"] if r["id"] == "ca-no-supplements-npn")
        assert npn["effective_from"].startswith("2013-06-01")
        assert body["lint"]["ok"] is True and body["lint"]["errors"] == 0
        for issue in body["lint"]["issues"]:
            assert issue["severity"] in ("error", "warning") and issue["message"]
        assert "standard" in body["methods"]


def test_ops_set_where_a_product_is_listed(api: Http, ops: str) -> None:
    sku = new_sku()
    assert put(api, sku, supplement(position=0), ops).status == 201
    listed = [p["sku"] for p in api.get("/products").json()["items"]]
    assert listed[0] == sku  # before the seed's flagship (position 10)
    assert put(api, sku, supplement(position=5000), ops).status == 200
    listed = [p["sku"] for p in api.get("/products").json()["items"]]
    assert listed.index(sku) > listed.index("ORP-EBOOK")
    assert api.get(f"/products/{sku}").json()["position"] == 5000
    assert_error(put(api, sku, supplement(position=-1), ops), 400)
    assert put(api, sku, supplement(position=1000, active=False), ops).status == 200


def sleep_aid(ingredient: str) -> dict[str, Any]:
    return supplement(
        name="Sleep aid",
        attributes={"supply_days": 30, "ingredients": {ingredient: {"amount": 3, "unit": "mg"}}},
    )


def refused_in(api: Http, sku: str, country: str) -> set[str]:
    body = api.post(
        "/eligibility",
        {"destination": {"country": country}, "items": [{"sku": sku, "quantity": 1}]},
    ).json()
    return {reason["rule_id"] for reason in body["items"][0]["reasons"]}


@pytest.mark.parametrize("spelling", ["Melatonin", "MELATONIN", " melatonin", "melatonin "])
def test_ingredient_names_are_normalized_on_write(api: Http, ops: str, spelling: str) -> None:
    sku = new_sku()
    created = put(api, sku, sleep_aid(spelling), ops)
    assert created.status == 201, created.body
    assert created.json()["attributes"]["ingredients"] == {
        "melatonin": {"amount": "3", "unit": "mg"}
    }
    from bonestore.api.deps import product_repository

    stored = product_repository().get(sku)
    assert stored is not None and list(stored["attributes"]["ingredients"]) == ["melatonin"]
    # So the melatonin rules see it: no melatonin to Australia.
    assert "au-no-melatonin" in refused_in(api, sku, "AU")


def test_inner_spaces_and_case_of_a_compound_name_are_normalized(api: Http, ops: str) -> None:
    body = supplement(
        attributes={
            "supply_days": 90,
            "ingredients": {" Vitamin  D3 ": {"amount": 5000, "unit": "IU"}},
        }
    )
    created = put(api, new_sku(), body, ops)
    assert created.status == 201, created.body
    assert list(created.json()["attributes"]["ingredients"]) == ["vitamin_d3"]


@pytest.mark.parametrize(
    ("ingredients", "unknown"),
    [
        ({"melatonine": {}}, ["melatonine"]),
        ({"Melatonine": {}, "calcium": {}, "Unobtainium X": {}}, ["melatonine", "unobtainium_x"]),
    ],
)
def test_an_ingredient_the_rules_do_not_know_is_refused(
    api: Http, ops: str, ingredients: dict[str, Any], unknown: list[str]
) -> None:
    sku = new_sku()
    body = supplement(attributes={"supply_days": 30, "ingredients": ingredients})
    error = assert_error(put(api, sku, body, ops), 422, "unknown_ingredient")
    assert [d["ingredient"] for d in error["details"]] == unknown
    assert all(name in error["message"] for name in unknown)
    assert api.get(f"/products/{sku}").status == 404  # never on sale
    # Replacing a product on sale with unknown ingredients is refused too; it stays as it was.
    assert put(api, sku, supplement(), ops).status == 201
    assert_error(put(api, sku, body, ops), 422, "unknown_ingredient")
    assert api.get(f"/products/{sku}").json()["name"] == supplement()["name"]


def test_two_spellings_of_one_ingredient_are_refused(api: Http, ops: str) -> None:
    body = supplement(
        attributes={"supply_days": 30, "ingredients": {"Calcium": {}, "calcium ": {}}}
    )
    assert_error(put(api, new_sku(), body, ops), 400)


def test_the_seed_catalog_is_in_the_vocabulary() -> None:
    from bonestore.domain.catalog import seed_catalog, unknown_ingredients

    vocabulary = default_engine().ruleset.ingredients
    assert {p.sku: unknown_ingredients(p, vocabulary) for p in seed_catalog()} == {
        p.sku: [] for p in seed_catalog()
    }


def test_a_stored_product_from_before_normalization_is_judged_normalized(api: Http) -> None:
    """Items written before names were normalized are read through the same model."""
    from bonestore.adapters.dynamo import to_item
    from bonestore.api.deps import product_repository

    sku = new_sku()
    repository = product_repository()
    legacy = {**sleep_aid(" MELATONIN"), "sku": sku, "active": True, "reserved": 0}
    repository._client.put_item(TableName=repository._table, Item=to_item(legacy))
    assert "au-no-melatonin" in refused_in(api, sku, "AU")
