"""Acceptance: the business's shipping policy (its text is in docs/policy.md), clause by
clause, asked of the running local stack over HTTP as a reviewer would ask it.

The rules engine's own tests (tests/unit/rules/) decide these cases in-process; here
each clause is pinned where customers meet it: ``POST /eligibility``, ``GET /products``
and ``GET /admin/rules`` on the local API, with the seed catalog the stack was seeded
with. One request per case.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import Http, assert_error, product_body
from tests.policy_facts import ZONE
from tests.staff_tokens import staff_token

pytestmark = pytest.mark.integration

SUPPLEMENTS = ("TRUEOSTEO-120", "D3K2-60", "RESTWELL-60")
OTHER_PHYSICAL = ("BONE-APPETIT-BOOK", "DENSERCISE-DVD")
DIGITAL = ("DENSERCISE-EBOOK", "ORP-EBOOK")


def decide(
    api: Http, destination: dict[str, Any], items: dict[str, int], at: str | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "destination": destination,
        "items": [{"sku": sku, "quantity": quantity} for sku, quantity in items.items()],
    }
    if at is not None:
        body["at"] = at
    response = api.post("/eligibility", body)
    assert response.status == 200, response.body[:500]
    return dict(response.json())


def lines(decision: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {line["sku"]: line for line in decision["items"]}


def rule_ids(line: dict[str, Any]) -> set[str]:
    return {reason["rule_id"] for reason in line["reasons"]}


def methods(decision: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {method["id"]: method["price"] for method in decision["shipping_methods"]}


# ---------------------------------------------------------------- the seed catalog


SEED = {
    # sku: (name, kind, category, price in cents, supply_days)
    "TRUEOSTEO-120": (
        "TrueOsteo bone-health formula, 120 capsules", "physical", "supplement", 4995, 30
    ),
    "D3K2-60": ("Vitamin D3 5,000 IU + K2", "physical", "supplement", 2495, 60),
    "RESTWELL-60": ("RestWell sleep support", "physical", "supplement", 1995, 60),
    "BONE-APPETIT-BOOK": ("Bone Appetit recipe book, print", "physical", "book", 2995, None),
    "DENSERCISE-DVD": ("Densercise workout DVD set", "physical", "media", 3995, None),
    "DENSERCISE-EBOOK": ("Densercise eBook System", "digital", "program", 4700, None),
    "ORP-EBOOK": ("Osteoporosis Reversal Program", "digital", "program", 9700, None),
}  # fmt: skip


@pytest.mark.parametrize("sku", sorted(SEED))
def test_seed_catalog_product_kind_category_and_usd_price(api: Http, sku: str) -> None:
    """The catalog (seed): "| SKU | product | kind | category | price USD |"."""
    name, kind, category, cents, _ = SEED[sku]
    product = api.get(f"/products/{sku}").json()
    assert (product["name"], product["kind"], product["category"]) == (name, kind, category)
    assert product["price"] == {"amount": cents, "currency": "USD"}
    assert product["in_stock"] is True


def test_seed_supplements_carry_supply_days_and_ingredients_with_daily_amounts() -> None:
    """ "Supplements carry `supply_days` and their ingredients (with daily amounts) as
    attributes": 30/60/60 days; D3 800 IU and 5,000 IU a day; melatonin 3 mg."""
    from bonestore.domain.catalog import seed_catalog

    catalog = {product.sku: product for product in seed_catalog()}
    for sku, (*_, supply_days) in SEED.items():
        attributes = catalog[sku].model_dump(mode="json")["attributes"] or {}
        assert attributes.get("supply_days") == supply_days, sku
    ingredients = {
        sku: catalog[sku].model_dump(mode="json")["attributes"]["ingredients"]
        for sku in SUPPLEMENTS
    }
    assert set(ingredients["TRUEOSTEO-120"]) == {
        "calcium", "magnesium", "vitamin_d3", "vitamin_k2", "boron", "strontium_citrate"
    }  # fmt: skip
    assert float(ingredients["TRUEOSTEO-120"]["vitamin_d3"]["amount"]) == 800
    assert float(ingredients["D3K2-60"]["vitamin_d3"]["amount"]) == 5000
    assert ingredients["D3K2-60"]["vitamin_d3"]["unit"] == "IU"
    assert float(ingredients["RESTWELL-60"]["melatonin"]["amount"]) == 3
    assert ingredients["RESTWELL-60"]["melatonin"]["unit"] == "mg"


# ---------------------------------------------------------------- where physical goods ship


@pytest.mark.parametrize("country", ZONE)
def test_physical_goods_ship_to_every_listed_country(api: Http, country: str) -> None:
    """ "Canada, United Kingdom, Ireland, the 27 EU member states, Switzerland, Norway,
    Australia, New Zealand, Japan, Singapore, Israel, Mexico, India, Brazil" (and the US)."""
    decision = decide(api, {"country": country}, {"BONE-APPETIT-BOOK": 1, "DENSERCISE-DVD": 1})
    assert decision["eligible"] is True, decision["items"]
    assert "standard" in methods(decision)


@pytest.mark.parametrize(
    "subdivision", ["US-IL", "US-CA", "US-AK", "US-HI", "US-DC", "US-PR", "US-AA", "US-AE", "US-AP"]
)
def test_us_states_dc_puerto_rico_and_military_addresses_ship(api: Http, subdivision: str) -> None:
    """ "United States: the 50 states, DC, Puerto Rico, and military addresses (APO/FPO/DPO,
    state codes AA, AE, AP)"."""
    decision = decide(api, {"country": "US", "subdivision": subdivision}, {"BONE-APPETIT-BOOK": 1})
    assert decision["eligible"] is True, decision["items"]


@pytest.mark.parametrize("subdivision", ["US-GU", "US-VI", "US-AS", "US-MP", "US-UM"])
def test_other_us_territories_are_not_shipped_to(api: Http, subdivision: str) -> None:
    """ "the 50 states, DC, Puerto Rico, and military addresses": no other territory."""
    decision = decide(api, {"country": "US", "subdivision": subdivision}, {"BONE-APPETIT-BOOK": 1})
    line = lines(decision)["BONE-APPETIT-BOOK"]
    assert line["eligible"] is False and line["reasons"]
    assert decision["items"][0]["reasons"][0]["message"]


@pytest.mark.parametrize(
    ("postal_code", "subdivision", "shippable", "express"),
    [
        ("96910", "US-GU", False, None),  # Guam: a territory
        ("00802", "US-VI", False, None),  # the Virgin Islands
        ("09021", "US-AE", True, None),  # an APO: standard only
        ("99501", "US-AK", True, 3995),  # Anchorage: express +20.00
        ("96813", "US-HI", True, 3995),
        ("00901", "US-PR", True, 3995),
        ("10001", None, True, 1995),  # New York: nothing apart
    ],
)
def test_a_us_zip_code_decides_where_the_parcel_goes(
    api: Http, postal_code: str, subdivision: str | None, shippable: bool, express: int | None
) -> None:
    """The rules decide on "exactly that address (PO box, military, territory, postal code)":
    with no state given, the ZIP code of a territory, Alaska, Hawaii, Puerto Rico or an
    APO names it, and the decision is that place's."""
    decision = decide(api, {"country": "US", "postal_code": postal_code}, {"BONE-APPETIT-BOOK": 1})
    assert decision["destination"].get("subdivision") == subdivision
    assert decision["eligible"] is shippable, decision["items"]
    if shippable:
        assert methods(decision).get("express", {}).get("amount") == express


@pytest.mark.parametrize(
    ("postal_code", "subdivision", "shippable"),
    [("98800", "FR-NC", False), ("98714", "FR-PF", False), ("97400", "FR-974", True)],
)
def test_a_french_postal_code_overseas_decides_as_its_place(
    api: Http, postal_code: str, subdivision: str, shippable: bool
) -> None:
    """ "the 27 EU member states ... Nowhere else": Noumea's 98800 is New Caledonia, not EU
    territory, however the address writes it; Reunion's 97400 is in the EU."""
    decision = decide(api, {"country": "FR", "postal_code": postal_code}, {"DENSERCISE-DVD": 1})
    assert decision["destination"]["subdivision"] == subdivision
    assert decision["eligible"] is shippable, decision["items"]


@pytest.mark.parametrize(
    ("subdivision", "postal_code"),
    [("US-NY", "96910"), ("US-NY", "00802"), ("US-NY", "09021"), ("US-NY", "99501"),
     ("US-NY", "96813"), ("US-HI", "10001")],
)  # fmt: skip
def test_a_state_and_a_zip_code_of_different_places_are_refused(
    api: Http, subdivision: str, postal_code: str
) -> None:
    """A state typed beside another place's ZIP code cannot buy what that place may not
    have (Guam), or what it costs more (Hawaii's express): 400, the postal code named."""
    body = {
        "destination": {"country": "US", "subdivision": subdivision, "postal_code": postal_code},
        "items": [{"sku": "BONE-APPETIT-BOOK", "quantity": 1}],
    }
    response = api.post("/eligibility", body)
    assert response.status == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_postal_code"
    assert error["details"][0]["field"] == "destination.postal_code"


@pytest.mark.parametrize(
    ("country", "name"),
    [("CN", "China"), ("ZA", "South Africa"), ("UA", "Ukraine"), ("GU", "Guam"), ("SY", "Syria")],
)
def test_nowhere_else_says_we_dont_ship_there_yet(api: Http, country: str, name: str) -> None:
    """ "Nowhere else: 'We don't ship physical products to {country} yet.'" (digital still
    sells there)."""
    decision = decide(api, {"country": country}, {"DENSERCISE-DVD": 1, "ORP-EBOOK": 1})
    dvd = lines(decision)["DENSERCISE-DVD"]
    assert dvd["eligible"] is False
    assert [r["message"] for r in dvd["reasons"]] == [
        f"We don't ship physical products to {name} yet."
    ]
    assert lines(decision)["ORP-EBOOK"]["eligible"] is True
    assert decision["shipping_methods"] == []


@pytest.mark.parametrize("country", ["RU", "BY"])
def test_russia_and_belarus_no_physical_shipments_but_digital_sells(
    api: Http, country: str
) -> None:
    """ "Russia and Belarus: no physical shipments (carriers suspended service)." Digital
    products are sold everywhere except under an embargo."""
    decision = decide(api, {"country": country}, {"BONE-APPETIT-BOOK": 1, "DENSERCISE-EBOOK": 1})
    assert lines(decision)["BONE-APPETIT-BOOK"]["eligible"] is False
    assert lines(decision)["BONE-APPETIT-BOOK"]["reasons"]
    assert lines(decision)["DENSERCISE-EBOOK"]["eligible"] is True


# ---------------------------------------------------------------- embargoes


@pytest.mark.parametrize(
    "destination",
    [
        {"country": "CU"},
        {"country": "IR"},
        {"country": "KP"},
        {"country": "UA", "subdivision": "UA-43"},  # Crimea
        {"country": "UA", "subdivision": "UA-40"},  # Sevastopol
        {"country": "UA", "subdivision": "UA-14"},  # Donetsk
        {"country": "UA", "subdivision": "UA-09"},  # Luhansk
        {"country": "ua", "subdivision": "43"},
    ],
    ids=lambda d: "-".join(d.values()),
)
def test_embargoes_refuse_everything_digital_included(
    api: Http, destination: dict[str, str]
) -> None:
    """ "Embargoes (nothing at all, digital included)": Cuba, Iran, North Korea, and the
    Crimea (UA-43), Sevastopol (UA-40), Donetsk (UA-14) and Luhansk (UA-09) regions."""
    decision = decide(api, destination, {sku: 1 for sku in DIGITAL})
    assert decision["eligible"] is False
    for line in decision["items"]:
        assert line["eligible"] is False and line["reasons"], line


@pytest.mark.parametrize(
    ("postal_code", "embargoed"),
    [
        ("82999", False),
        ("83000", True),  # Donetsk 83000-87999
        ("87999", True),
        ("88000", False),
        ("90999", False),
        ("91000", True),  # Luhansk 91000-94999
        ("94999", True),
        ("95000", True),  # Crimea 95000-98999
        ("98999", True),
        ("99000", True),  # Sevastopol 99000-99999
        ("99999", True),
        ("295000", True),  # Russian-assigned 295000-299999
        ("299999", True),
        ("01001", False),  # Kyiv
    ],
)
def test_ukrainian_postal_codes_of_the_occupied_regions_are_embargoed(
    api: Http, postal_code: str, embargoed: bool
) -> None:
    """ "or its postal code is in 83000-87999 (Donetsk), 91000-94999 (Luhansk), 95000-98999
    (Crimea), 99000-99999 (Sevastopol), or is a Russian-assigned 295000-299999"."""
    decision = decide(api, {"country": "UA", "postal_code": postal_code}, {"ORP-EBOOK": 1})
    assert decision["eligible"] is (not embargoed), decision["items"]


@pytest.mark.parametrize(
    ("postal_code", "embargoed"),
    [("294999", False), ("295000", True), ("299011", True), ("299999", True), ("101000", False)],
)
def test_a_crimean_address_written_as_russian_is_embargoed(
    api: Http, postal_code: str, embargoed: bool
) -> None:
    """The "Russian-assigned 295000-299999" codes are how Russia writes an address in Crimea
    or Sevastopol, with country RU: the same place, so the same embargo (digital included).
    Elsewhere in Russia digital products are sold (only physical ones are refused)."""
    decision = decide(api, {"country": "RU", "postal_code": postal_code}, {"ORP-EBOOK": 1})
    assert decision["eligible"] is (not embargoed), decision["items"]
    if embargoed:
        (reason,) = lines(decision)["ORP-EBOOK"]["reasons"]
        assert reason["code"] == "embargoed" and "Crimea" in reason["message"]


def test_syria_embargo_ended_on_2025_07_01_and_is_kept_with_its_end_date(api: Http) -> None:
    """ "Syria (SY) was embargoed until the program was revoked on 2025-07-01 (EO 14312):
    keep that rule with its end date.\""""
    before = decide(api, {"country": "SY"}, {"ORP-EBOOK": 1}, at="2025-06-30T23:59:59Z")
    after = decide(api, {"country": "SY"}, {"ORP-EBOOK": 1}, at="2025-07-01T00:00:00Z")
    assert before["eligible"] is False and lines(before)["ORP-EBOOK"]["reasons"]
    assert after["eligible"] is True
    rules = api.get("/admin/rules", token=staff_token("ops")).json()["rules"]
    syria = [r for r in rules if "SY" in str(r.get("when", {}).get("destination", {}))]
    assert syria and str(syria[0]["effective_until"]).startswith("2025-07-01")
    assert "14312" in syria[0]["source"]


@pytest.mark.parametrize(
    ("fragment", "citation"),
    [("CU", "OFAC"), ("IR", "OFAC"), ("KP", "OFAC"), ("UA-43", "OFAC"), ("CA", "Health Canada")],
)
def test_rules_citing_a_regulation_carry_it_as_source(
    api: Http, fragment: str, citation: str
) -> None:
    """ "Where a rule below cites a regulation, carry the citation into the rule (`source`),
    so support staff can show it.\""""
    rules = api.get("/admin/rules", token=staff_token("ops")).json()["rules"]
    citing = [
        r
        for r in rules
        if r["effect"] == "forbid" and fragment in str(r.get("when", {}).get("destination", {}))
    ]
    assert citing, fragment
    assert any(citation.lower() in str(r.get("source") or "").lower() for r in citing), citing


# ---------------------------------------------------------------- supplements by destination


def test_canada_no_supplements_since_2013_06_01_books_dvds_programs_still_ship(api: Http) -> None:
    """ "Canada: no supplements. ... In force since 2013-06-01. This is why TrueOsteo no
    longer ships to Canada; books, DVDs and programs still do.\""""
    cart = {sku: 1 for sku in (*SUPPLEMENTS, *OTHER_PHYSICAL, *DIGITAL)}
    now = lines(decide(api, {"country": "CA"}, cart))
    for sku in SUPPLEMENTS:
        assert now[sku]["eligible"] is False and now[sku]["reasons"], sku
    for sku in (*OTHER_PHYSICAL, *DIGITAL):
        assert now[sku]["eligible"] is True, sku
    before = decide(api, {"country": "CA"}, {"TRUEOSTEO-120": 1}, at="2013-05-31T23:59:59Z")
    from_day = decide(api, {"country": "CA"}, {"TRUEOSTEO-120": 1}, at="2013-06-01T00:00:00Z")
    assert before["eligible"] is True and from_day["eligible"] is False


@pytest.mark.parametrize(
    ("country", "sku", "max_quantity"),
    [
        ("AU", "TRUEOSTEO-120", 3),  # floor(90 / 30)
        ("JP", "TRUEOSTEO-120", 2),  # floor(60 / 30)
        ("JP", "D3K2-60", 1),  # floor(60 / 60)
    ],
)
def test_months_of_supply_limit_per_product_per_order(
    api: Http, country: str, sku: str, max_quantity: int
) -> None:
    """ "Australia: at most 3 months' supply per product per order ... `floor(90 /
    supply_days)` units"; "Japan: at most 2 months' supply ... (`floor(60 / supply_days)`)".
    Lines of one SKU add up."""
    at_limit = lines(decide(api, {"country": country}, {sku: max_quantity}))[sku]
    assert at_limit["eligible"] is True and at_limit["max_quantity"] == max_quantity
    over = lines(decide(api, {"country": country}, {sku: max_quantity + 1}))[sku]
    assert over["eligible"] is False and over["max_quantity"] == max_quantity and over["reasons"]
    split = {"destination": {"country": country}, "items": [{"sku": sku, "quantity": 1}] * 4}
    answer = api.post("/eligibility", split).json()
    assert answer["eligible"] is False  # 4 lines of 1 are 4 units of the product


def test_australia_no_vitamin_d_above_1000_iu_a_day_and_no_melatonin(api: Http) -> None:
    """ "Australia: ... no product above 1,000 IU/day of vitamin D (uncertain); nothing with
    melatonin." TrueOsteo (800 IU/day) ships; D3K2 (5,000 IU/day) and RestWell do not."""
    decision = lines(decide(api, {"country": "AU"}, {sku: 1 for sku in SUPPLEMENTS}))
    assert decision["TRUEOSTEO-120"]["eligible"] is True
    assert decision["D3K2-60"]["eligible"] is False and decision["D3K2-60"]["reasons"]
    assert decision["RESTWELL-60"]["eligible"] is False and decision["RESTWELL-60"]["reasons"]


@pytest.mark.parametrize("country", ["GB", "DE", "FR", "IE", "PL", "NZ", "BR"])
def test_no_melatonin_in_the_uk_eu_new_zealand_and_brazil(api: Http, country: str) -> None:
    """ "United Kingdom, the EU, New Zealand, Brazil: nothing with melatonin or DHEA"."""
    decision = lines(decide(api, {"country": country}, {sku: 1 for sku in SUPPLEMENTS}))
    assert decision["RESTWELL-60"]["eligible"] is False and decision["RESTWELL-60"]["reasons"]
    assert decision["TRUEOSTEO-120"]["eligible"] is True
    assert decision["D3K2-60"]["eligible"] is True


def test_a_product_with_dhea_is_refused_where_melatonin_is(api: Http) -> None:
    """ "nothing with melatonin or DHEA": a product with DHEA (written through the admin
    API, as ops would add one) is refused in the UK and ships to the US."""
    product = product_body(
        "supplement",
        stock=10,
        attributes={"supply_days": 30, "ingredients": {"DHEA": {"amount": 25, "unit": "mg"}}},
    )
    put = api.request("PUT", "/admin/products/ACCEPT-DHEA-30", product, token=staff_token("ops"))
    assert put.status in (200, 201), put.body[:300]
    gb = lines(decide(api, {"country": "GB"}, {"ACCEPT-DHEA-30": 1}))["ACCEPT-DHEA-30"]
    assert gb["eligible"] is False and gb["reasons"]
    assert decide(api, {"country": "US"}, {"ACCEPT-DHEA-30": 1})["eligible"] is True


@pytest.mark.parametrize("country", ["MX", "IN"])
def test_no_supplements_to_mexico_and_india(api: Http, country: str) -> None:
    """ "Mexico and India: no supplements (import permits we don't hold)."""
    decision = lines(decide(api, {"country": country}, {"TRUEOSTEO-120": 1, "DENSERCISE-DVD": 1}))
    assert decision["TRUEOSTEO-120"]["eligible"] is False and decision["TRUEOSTEO-120"]["reasons"]
    assert decision["DENSERCISE-DVD"]["eligible"] is True


@pytest.mark.parametrize("country", ["SG", "IL", "CH", "NO", "US"])
def test_supplements_ship_where_no_rule_restricts_them(api: Http, country: str) -> None:
    """No clause restricts supplements to Singapore, Israel, Switzerland, Norway or the US."""
    decision = decide(api, {"country": country}, {sku: 5 for sku in SUPPLEMENTS})
    assert decision["eligible"] is True, decision["items"]


# ---------------------------------------------------------------- shipping methods


@pytest.mark.parametrize(
    ("destination", "standard", "express"),
    [
        ({"country": "US", "subdivision": "US-IL"}, 595, 1995),
        ({"country": "US", "subdivision": "US-AK"}, 595, 3995),  # +20.00 to AK, HI, PR
        ({"country": "US", "subdivision": "US-HI"}, 595, 3995),
        ({"country": "US", "subdivision": "US-PR"}, 595, 3995),
        ({"country": "PR"}, 595, 3995),
        ({"country": "US", "subdivision": "US-AA"}, 595, None),  # not AA/AE/AP
        ({"country": "US", "subdivision": "US-AE"}, 595, None),
        ({"country": "US", "subdivision": "US-AP"}, 595, None),
        ({"country": "CA"}, 1495, 3995),
        ({"country": "GB"}, 1495, 3995),
        ({"country": "DE"}, 1495, 3995),
        ({"country": "IE"}, 1495, 3995),
        ({"country": "AU"}, 1495, 3995),
        ({"country": "CH"}, 1495, None),
        ({"country": "NO"}, 1495, None),
        ({"country": "NZ"}, 1495, None),
        ({"country": "JP"}, 1495, None),
        ({"country": "SG"}, 1495, None),
        ({"country": "IL"}, 1495, None),
        ({"country": "MX"}, 1495, None),
        ({"country": "IN"}, 1495, None),
        ({"country": "BR"}, 1495, None),
    ],
    ids=lambda v: "-".join(v.values()) if isinstance(v, dict) else str(v),
)
def test_shipping_methods_and_prices_by_destination(
    api: Http, destination: dict[str, str], standard: int, express: int | None
) -> None:
    """ "standard | every physical destination | US 5.95 (free from 75.00 of goods),
    elsewhere 14.95"; "express | US (not AA/AE/AP, not PO boxes), CA, GB, EU, AU | US 19.95
    (+20.00 to AK, HI, PR), elsewhere 39.95". A 29.95 cart: below the free threshold."""
    decision = decide(api, destination, {"BONE-APPETIT-BOOK": 1})
    expected = {"standard": {"amount": standard, "currency": "USD"}}
    if express is not None:
        expected["express"] = {"amount": express, "currency": "USD"}
    assert methods(decision) == expected
    assert [m["id"] for m in decision["shipping_methods"]] == list(expected)  # policy order


def test_a_digital_only_cart_lists_no_shipping_method(api: Http) -> None:
    """Methods are for physical destinations: a digital-only cart has none."""
    assert decide(api, {"country": "US"}, {"ORP-EBOOK": 1})["shipping_methods"] == []


@pytest.fixture(scope="module")
def priced_7500(api: Http) -> str:
    """A book priced exactly 75.00, so the threshold itself can be asked."""
    product = product_body("book", 7500, stock=100)
    put = api.request("PUT", "/admin/products/ACCEPT-BOOK-7500", product, token=staff_token("ops"))
    assert put.status in (200, 201), put.body[:300]
    return "ACCEPT-BOOK-7500"


def test_us_standard_is_free_from_75_00_of_goods(api: Http, priced_7500: str) -> None:
    """ "US 5.95 (free from 75.00 of goods)": 75.00 is free, 74.90 is not; express keeps its
    price; elsewhere standard stays 14.95."""
    us = {"country": "US", "subdivision": "US-NY"}
    at_threshold = methods(decide(api, us, {priced_7500: 1}))
    assert at_threshold["standard"] == {"amount": 0, "currency": "USD"}
    assert at_threshold["express"] == {"amount": 1995, "currency": "USD"}
    below = methods(decide(api, us, {"TRUEOSTEO-120": 1, "D3K2-60": 1}))  # 49.95 + 24.95
    assert below["standard"] == {"amount": 595, "currency": "USD"}
    assert methods(decide(api, {"country": "GB"}, {priced_7500: 2}))["standard"]["amount"] == 1495


def test_free_shipping_counts_goods_that_ship_not_digital_ones(api: Http) -> None:
    """ "free from 75.00 of goods": a 29.95 book with a 47.00 eBook is 29.95 of goods."""
    us = {"country": "US", "subdivision": "US-IL"}
    decision = decide(api, us, {"BONE-APPETIT-BOOK": 1, "DENSERCISE-EBOOK": 1})
    assert methods(decision)["standard"] == {"amount": 595, "currency": "USD"}


@pytest.mark.parametrize(
    "line1",
    [
        "PO Box 12",
        "P.O. Box 5",
        "Post Office Box 9",
        "po box 1",
        "P. O. Box 44",
        "POST OFFICE BOX 3",
    ],
)
def test_no_express_to_a_us_po_box(api: Http, line1: str) -> None:
    """ "A PO box is an address whose first line reads like 'PO Box 12', 'P.O. Box', or
    'Post Office Box'"; express is "not PO boxes" in the US."""
    destination = {"country": "US", "subdivision": "US-IL", "postal_code": "62701", "line1": line1}
    decision = decide(api, destination, {"BONE-APPETIT-BOOK": 1})
    assert decision["eligible"] is True
    assert set(methods(decision)) == {"standard"}


@pytest.mark.parametrize("line1", ["1 Main St", "12 Boxwood Lane", "Box Hill Road 3"])
def test_a_street_address_is_not_a_po_box(api: Http, line1: str) -> None:
    """Only a first line that reads like a PO box is one: express stays offered."""
    destination = {"country": "US", "subdivision": "US-IL", "postal_code": "62701", "line1": line1}
    assert set(methods(decide(api, destination, {"BONE-APPETIT-BOOK": 1}))) == {
        "standard",
        "express",
    }


def test_the_customer_learns_why_express_is_not_offered(api: Http) -> None:
    """An ineligible method says why: the PO box rule's sentence for the customer."""
    destination = {"country": "US", "subdivision": "US-IL", "line1": "PO Box 12"}
    decision = decide(api, destination, {"BONE-APPETIT-BOOK": 1})
    withdrawn = {m["id"]: m for m in decision["unavailable_shipping_methods"]}
    assert withdrawn["express"]["reasons"][0]["message"] == (
        "Express shipping isn't available to PO boxes."
    )


# ---------------------------------------------------------------- the customer sees it too


@pytest.mark.parametrize(
    ("country", "refused"),
    [
        ("CA", set(SUPPLEMENTS)),
        ("MX", set(SUPPLEMENTS)),
        ("GB", {"RESTWELL-60"}),
        ("AU", {"D3K2-60", "RESTWELL-60"}),
        ("RU", {*SUPPLEMENTS, *OTHER_PHYSICAL}),
        ("CU", set(SEED)),
    ],
)
def test_the_catalog_shows_each_products_availability_by_country(
    api: Http, country: str, refused: set[str]
) -> None:
    """``GET /products?country=CC``: the same policy, product by product, with reasons."""
    items = api.get(f"/products?country={country.lower()}").json()["items"]
    availability = {p["sku"]: p["availability"] for p in items if p["sku"] in SEED}
    assert {sku for sku, a in availability.items() if not a["eligible"]} == refused
    for sku in refused:
        assert availability[sku]["reasons"] and availability[sku]["country"] == country


@pytest.mark.parametrize(
    "postal_code",
    ["\uff19\uff15\uff10\uff10\uff10", "\u0669\u0665\u0660\u0660\u0660", "\uff19\uff15-000"],
    ids=["fullwidth", "arabic-indic", "mixed"],
)
def test_an_occupied_regions_postal_code_in_other_digits_is_still_embargoed(
    api: Http, postal_code: str
) -> None:
    """ "or its postal code is in ... 95000-98999 (Crimea)": the same code written in
    fullwidth or Arabic-Indic digits (which Python's ``\\d`` matches) is the same code, and
    is echoed in its canonical form, not a way around the embargo."""
    decision = decide(api, {"country": "UA", "postal_code": postal_code}, {"ORP-EBOOK": 1})
    assert decision["destination"]["postal_code"] == "95000"
    assert decision["eligible"] is False
    assert rule_ids(lines(decision)["ORP-EBOOK"])


def test_a_us_zip_in_fullwidth_digits_is_echoed_as_ascii(api: Http) -> None:
    """ "Postal codes are echoed in the country's canonical form (... US ZIP or ZIP+4)"."""
    destination = {
        "country": "US",
        "subdivision": "IL",
        "postal_code": "\uff16\uff12\uff17\uff10\uff11",
    }
    assert decide(api, destination, {"BONE-APPETIT-BOOK": 1})["destination"]["postal_code"] == (
        "62701"
    )


@pytest.mark.parametrize("line1", ["\uff30\uff2f Box 12", "P.O.\u00a0Box 3"])
def test_a_po_box_written_in_fullwidth_letters_is_still_a_po_box(api: Http, line1: str) -> None:
    """ "A PO box is an address whose first line reads like 'PO Box 12'": it reads so in
    fullwidth letters too, so express stays withdrawn."""
    destination = {"country": "US", "subdivision": "US-IL", "line1": line1}
    assert set(methods(decide(api, destination, {"BONE-APPETIT-BOOK": 1}))) == {"standard"}


@pytest.mark.parametrize("state", ["UA-43", "Avtonomna Respublika Krym", "Sevastopol"])
def test_a_billing_address_in_crimea_holds_a_digital_order(local_stack: Any, state: str) -> None:
    """ "After payment the rules run again on the address and the billing country ... an
    order that may not ship ends `held`"; a Ukrainian address is in the embargoed regions
    "when its subdivision says so": Stripe's free-text `state`, as a code or ISO name."""
    _assert_billing_state_holds(local_stack, state)


@pytest.mark.parametrize("state", ["Crimea", "Donetsk", "Luhansk"])
def test_a_billing_address_in_crimea_by_its_english_name_holds_a_digital_order(
    local_stack: Any, state: str
) -> None:
    """The same clause, with the region written as most customers would write it."""
    _assert_billing_state_holds(local_stack, state)


def _assert_billing_state_holds(local_stack: Any, state: str) -> None:
    from bonestore_infra.bench_checkout import Shop

    shop = Shop(local_stack)
    status, body = shop.checkout([{"sku": "ORP-EBOOK", "quantity": 1}])
    assert status == 201, body
    address = {"line1": "vul. Pushkina 1", "city": "Simferopol", "state": state, "country": "UA"}
    _assert_billing_address_holds(local_stack, address)


@pytest.mark.parametrize(
    "address",
    [
        {"country": "UA", "postal_code": "95000", "city": "Simferopol"},
        {"country": "RU", "postal_code": "295000", "city": "Simferopol"},
        {"country": "UA", "state": "UA-40", "city": "Sevastopol"},
        {"country": "RU", "state": "Crimea", "city": "Simferopol"},
        {"country": "UA", "state": "Автономна Республіка Крим", "city": "Simferopol"},
    ],
    ids=["ua-postal-code", "ru-postal-code", "ua-subdivision", "ru-state", "ua-local-name"],
)
def test_an_order_held_for_its_billing_region_stays_held_when_support_looks_again(
    local_stack: Any, address: dict[str, str]
) -> None:
    """An embargoed region is a subdivision or a postal code, not a country: support's
    "now" and a release decide on the billing address the payment check read, so the
    order is not released (409 still_not_shippable) though Ukraine and Russia are not
    embargoed as countries for digital goods."""
    order_id = _assert_billing_address_holds(local_stack, {"line1": "vul. Pushkina 1", **address})
    api, support = Http(local_stack.api_url), staff_token("support")
    now = api.get(f"/support/orders/{order_id}", token=support).json()["eligibility"]["now"]
    assert now["eligible"] is False and now["billing"]["eligible"] is False
    assert now["billing"]["reasons"][0]["code"] == "embargoed"
    released = api.post(f"/support/orders/{order_id}/release", {"reason": "ok?"}, token=support)
    assert_error(released, 409, "still_not_shippable")
    from bonestore_infra.bench_checkout import Shop

    assert Shop(local_stack).order(order_id)["status"] == "held"


def _assert_billing_address_holds(local_stack: Any, address: dict[str, str]) -> str:
    """A digital order paid with ``address`` as its billing address ends held; its id."""
    from bonestore_infra.bench_checkout import Shop

    shop = Shop(local_stack)
    status, body = shop.checkout([{"sku": "ORP-EBOOK", "quantity": 1}])
    assert status == 201, body
    done, result = shop.complete(body["stripe_session_id"], customer_details={"address": address})
    assert done == 200 and result["webhook"]["ok"], result  # delivered before the answer
    assert shop.order(body["order_id"])["status"] == "held"
    return str(body["order_id"])
