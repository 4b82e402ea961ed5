"""The default ruleset against the shipping policy (docs/policy.md), line by line."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bonestore.domain.catalog import seed_catalog
from bonestore.domain.geo import normalize_destination
from bonestore.domain.rules import CartDecision, CartLine, default_engine, load_ruleset
from tests.policy_facts import EU27_CODES as EU27
from tests.policy_facts import EU_MEMBERS_OVERSEAS_OUTSIDE_EU, ZONE

pytestmark = pytest.mark.unit

P = {p.sku: p for p in seed_catalog()}
PHYSICAL = ["TRUEOSTEO-120", "D3K2-60", "RESTWELL-60", "BONE-APPETIT-BOOK", "DENSERCISE-DVD"]
NON_SUPPLEMENT_PHYSICAL = ["BONE-APPETIT-BOOK", "DENSERCISE-DVD"]
DIGITAL = ["DENSERCISE-EBOOK", "ORP-EBOOK"]
NOW = datetime(2026, 1, 31, tzinfo=UTC)


def decide(dest: dict[str, Any], *items: tuple[str, int], at: datetime = NOW) -> CartDecision:
    lines = [CartLine(P[sku], qty) for sku, qty in items]
    return default_engine().decide(lines, normalize_destination(dest), at)


def line(dest: dict[str, Any], sku: str, qty: int = 1, at: datetime = NOW) -> Any:
    return decide(dest, (sku, qty), at=at).items[0]


def rule_ids(item: Any) -> list[str]:
    return [r.rule_id for r in item.reasons]


# ------------------------------------------------------------------ zones


@pytest.mark.parametrize("country", ZONE)
def test_books_and_dvds_ship_to_every_zone_country(country: str) -> None:
    for sku in NON_SUPPLEMENT_PHYSICAL:
        assert line({"country": country}, sku).eligible


@pytest.mark.parametrize(
    "sub", ["US-HI", "US-AK", "US-DC", "US-PR", "US-AA", "US-AE", "US-AP", "US-NY"]
)
def test_us_zone_includes_states_dc_pr_and_military(sub: str) -> None:
    assert line({"country": "US", "subdivision": sub}, "TRUEOSTEO-120").eligible


@pytest.mark.parametrize(("subdivision", "country"), sorted(EU_MEMBERS_OVERSEAS_OUTSIDE_EU.items()))
def test_overseas_territories_of_eu_members_outside_the_eu_are_not_in_the_zone(
    subdivision: str, country: str
) -> None:
    """ "the 27 EU member states ... Nowhere else": New Caledonia, Aruba and the rest are not
    EU territory, and are refused however the address writes them."""
    parent = subdivision.partition("-")[0]
    as_sub = decide({"country": parent, "subdivision": subdivision}, ("DENSERCISE-DVD", 1))
    as_country = line({"country": country}, "DENSERCISE-DVD")
    assert rule_ids(as_sub.items[0]) == ["zone-eu-overseas-outside-eu-excluded"]
    assert as_sub.shipping_methods == []  # no method where no parcel goes
    assert not as_country.eligible and rule_ids(as_country) == ["no-zone-physical"]
    ebook = line({"country": parent, "subdivision": subdivision}, "ORP-EBOOK")
    assert ebook.eligible  # digital products sell there


@pytest.mark.parametrize(
    ("country", "subdivision"),
    [("GP", "FR-971"), ("MQ", "FR-972"), ("GF", "FR-973"), ("RE", "FR-974"), ("YT", "FR-976"),
     ("MF", "FR-MF"), ("AX", "FI-01")],
)  # fmt: skip
def test_eu_regions_written_as_countries_are_decided_as_the_eu(
    country: str, subdivision: str
) -> None:
    """Reunion is in France and the EU; ISO 3166-1 and Stripe also write it RE. Either
    way: physical goods ship, express is offered at the EU price, melatonin is refused."""
    parent = subdivision.partition("-")[0]
    for dest in ({"country": country}, {"country": parent, "subdivision": subdivision}):
        assert line(dest, "DENSERCISE-DVD").eligible, dest
        assert rule_ids(line(dest, "RESTWELL-60")) == ["no-melatonin-dhea"], dest
        methods = {
            m.id: m.price.amount for m in decide(dest, ("DENSERCISE-DVD", 1)).shipping_methods
        }
        assert methods == {"standard": 1495, "express": 3995}, dest


@pytest.mark.parametrize("territory", ["GU", "VI", "AS", "MP", "UM"])
def test_other_us_territories_are_not_in_the_zone(territory: str) -> None:
    as_sub = line({"country": "US", "subdivision": territory}, "DENSERCISE-DVD")
    as_country = line({"country": territory}, "DENSERCISE-DVD")
    assert not as_sub.eligible and rule_ids(as_sub) == ["zone-us-territories-excluded"]
    assert not as_country.eligible and rule_ids(as_country) == ["no-zone-physical"]


@pytest.mark.parametrize("country", ["AR", "ZA", "KR", "CN", "TR", "SY"])
def test_nowhere_else_for_physical(country: str) -> None:
    item = line({"country": country}, "BONE-APPETIT-BOOK")
    assert not item.eligible
    assert [(r.rule_id, r.code) for r in item.reasons] == [("no-zone-physical", "not_shipped_here")]
    assert item.reasons[0].message.startswith("We don't ship physical products to ")
    assert item.reasons[0].message.endswith(" yet.")


def test_default_deny_names_the_country() -> None:
    item = line({"country": "AR"}, "DENSERCISE-DVD")
    assert item.reasons[0].message == "We don't ship physical products to Argentina yet."


@pytest.mark.parametrize("country", ["RU", "BY"])
def test_russia_and_belarus_carriers_suspended(country: str) -> None:
    item = line({"country": country}, "BONE-APPETIT-BOOK")
    assert rule_ids(item) == ["carriers-suspended-ru-by"]
    assert item.reasons[0].code == "carrier_suspended"
    assert line({"country": country}, "ORP-EBOOK").eligible  # digital is fine


@pytest.mark.parametrize("country", ["AR", "ZA", "RU", "BY", "SY", "GU", "AQ", "US", "CA"])
def test_digital_everywhere_not_embargoed(country: str) -> None:
    for sku in DIGITAL:
        assert line({"country": country}, sku).eligible


# ------------------------------------------------------------------ embargoes


@pytest.mark.parametrize(
    ("country", "rule"),
    [("CU", "embargo-cuba"), ("IR", "embargo-iran"), ("KP", "embargo-north-korea")],
)
def test_embargoes_cover_every_kind(country: str, rule: str) -> None:
    for sku in PHYSICAL + DIGITAL:
        item = line({"country": country}, sku)
        assert not item.eligible
        assert rule_ids(item) == [rule]
        assert item.reasons[0].code == "embargoed"
        assert "digital products included" in item.reasons[0].message


@pytest.mark.parametrize("sub", ["UA-43", "UA-40", "UA-14", "UA-09", "43", "ua-09"])
def test_occupied_ukrainian_regions_by_subdivision(sub: str) -> None:
    item = line({"country": "UA", "subdivision": sub}, "ORP-EBOOK")
    assert rule_ids(item) == ["embargo-ukraine-occupied-regions"]


@pytest.mark.parametrize(
    "postal",
    [
        "83000",
        "85123",
        "87999",
        "91000",
        "94999",
        "95000",
        "98999",
        "99000",
        "99999",
        "295000",
        "299999",
    ],
)
def test_occupied_ukrainian_regions_by_postal_code(postal: str) -> None:
    item = line({"country": "UA", "postal_code": postal}, "ORP-EBOOK")
    assert rule_ids(item) == ["embargo-ukraine-occupied-postal-codes"]


@pytest.mark.parametrize("postal", ["01001", "82999", "88000", "90999", "79000"])
def test_rest_of_ukraine_is_not_embargoed(postal: str) -> None:
    assert line(
        {"country": "UA", "subdivision": "UA-30", "postal_code": postal}, "ORP-EBOOK"
    ).eligible


def test_ukraine_physical_is_outside_the_zone_anyway() -> None:
    assert rule_ids(line({"country": "UA"}, "DENSERCISE-DVD")) == ["no-zone-physical"]


def test_syria_embargo_ended_2025_07_01() -> None:
    before = line({"country": "SY"}, "ORP-EBOOK", at=datetime(2025, 6, 30, 23, 59, 59, tzinfo=UTC))
    at_end = line({"country": "SY"}, "ORP-EBOOK", at=datetime(2025, 7, 1, tzinfo=UTC))
    assert rule_ids(before) == ["embargo-syria"]
    assert at_end.eligible  # effective_until is exclusive


def test_syria_rule_cites_eo_14312() -> None:
    rule = next(r for r in load_ruleset().rules if r.id == "embargo-syria")
    assert "14312" in rule.source and rule.effective_until == datetime(2025, 7, 1, tzinfo=UTC)


# ------------------------------------------------------------------ supplements


@pytest.mark.parametrize("sku", ["TRUEOSTEO-120", "D3K2-60", "RESTWELL-60"])
def test_canada_no_supplements_since_2013_06_01(sku: str) -> None:
    now = line({"country": "CA"}, sku)
    assert rule_ids(now) == ["ca-no-supplements-npn"]
    assert "NPN" in now.reasons[0].message
    assert line({"country": "CA"}, sku, at=datetime(2013, 5, 31, 23, 59, tzinfo=UTC)).eligible
    assert not line({"country": "CA"}, sku, at=datetime(2013, 6, 1, tzinfo=UTC)).eligible


def test_canada_still_gets_books_dvds_and_programs() -> None:
    decision = decide({"country": "CA"}, *((sku, 1) for sku in NON_SUPPLEMENT_PHYSICAL + DIGITAL))
    assert decision.eligible


def test_australia_three_months_supply() -> None:
    ok = line({"country": "AU"}, "TRUEOSTEO-120", 3)
    over = line({"country": "AU"}, "TRUEOSTEO-120", 4)
    assert ok.eligible and ok.max_quantity == 3
    assert not over.eligible and over.max_quantity == 3
    assert rule_ids(over) == ["au-three-months-supply"]
    assert "3" in over.reasons[0].message


def test_limit_counts_the_product_across_lines() -> None:
    decision = decide({"country": "AU"}, ("TRUEOSTEO-120", 2), ("TRUEOSTEO-120", 2))
    assert not decision.eligible
    assert [i.quantity for i in decision.items] == [2, 2]


def test_australia_vitamin_d_above_1000_iu() -> None:
    item = line({"country": "AU"}, "D3K2-60")  # 5,000 IU/day
    assert rule_ids(item) == ["au-vitamin-d-over-1000-iu"]
    assert line({"country": "AU"}, "TRUEOSTEO-120").eligible  # 800 IU/day


def test_australia_no_melatonin() -> None:
    assert rule_ids(line({"country": "AU"}, "RESTWELL-60")) == ["au-no-melatonin"]


def test_japan_two_months_supply() -> None:
    assert line({"country": "JP"}, "TRUEOSTEO-120", 2).eligible
    over = line({"country": "JP"}, "TRUEOSTEO-120", 3)
    assert not over.eligible and over.max_quantity == 2
    assert rule_ids(over) == ["jp-two-months-supply"]
    assert line({"country": "JP"}, "D3K2-60", 1).max_quantity == 1
    assert not line({"country": "JP"}, "D3K2-60", 2).eligible


@pytest.mark.parametrize("country", ["GB", "NZ", "BR", *EU27])
def test_melatonin_and_dhea_banned(country: str) -> None:
    assert rule_ids(line({"country": country}, "RESTWELL-60")) == ["no-melatonin-dhea"]
    assert line({"country": country}, "TRUEOSTEO-120").eligible


@pytest.mark.parametrize("country", ["MX", "IN"])
def test_mexico_and_india_no_supplements(country: str) -> None:
    for sku in ["TRUEOSTEO-120", "D3K2-60", "RESTWELL-60"]:
        assert rule_ids(line({"country": country}, sku)) == ["mx-in-no-supplements"]
    assert line({"country": country}, "BONE-APPETIT-BOOK").eligible


@pytest.mark.parametrize("country", ["US", "CH", "NO", "SG", "IL"])
def test_supplements_ship_without_limit_elsewhere_in_the_zone(country: str) -> None:
    item = line({"country": country}, "RESTWELL-60", 10)
    assert item.eligible and item.max_quantity is None


# ------------------------------------------------------------------ shipping methods


def methods(decision: CartDecision) -> dict[str, int]:
    return {m.id: m.price.amount for m in decision.shipping_methods}


def test_us_methods_and_free_standard_from_75() -> None:
    assert methods(decide({"country": "US", "subdivision": "NY"}, ("DENSERCISE-DVD", 1))) == {
        "standard": 595,
        "express": 1995,
    }
    two = decide({"country": "US", "subdivision": "NY"}, ("DENSERCISE-DVD", 2))  # 79.90
    assert methods(two) == {"standard": 0, "express": 1995}


def test_free_threshold_counts_physical_goods_only() -> None:
    cart = decide({"country": "US"}, ("DENSERCISE-DVD", 1), ("ORP-EBOOK", 1))  # 39.95 + 97.00
    assert methods(cart)["standard"] == 595


@pytest.mark.parametrize(
    "where",
    [
        {"country": "US", "subdivision": "AK"},
        {"country": "US", "subdivision": "HI"},
        {"country": "US", "subdivision": "PR"},
        {"country": "PR"},
    ],
)
def test_express_surcharge_ak_hi_pr(where: dict[str, str]) -> None:
    assert methods(decide(where, ("DENSERCISE-DVD", 1))) == {"standard": 595, "express": 3995}


@pytest.mark.parametrize("sub", ["AA", "AE", "AP"])
def test_no_express_to_military(sub: str) -> None:
    assert methods(decide({"country": "US", "subdivision": sub}, ("DENSERCISE-DVD", 1))) == {
        "standard": 595
    }


@pytest.mark.parametrize("line1", ["PO Box 12", "P.O. Box 4", "Post Office Box 9"])
def test_no_express_to_po_boxes(line1: str) -> None:
    assert methods(decide({"country": "US", "line1": line1}, ("DENSERCISE-DVD", 1))) == {
        "standard": 595
    }
    assert "express" in methods(
        decide({"country": "US", "line1": "1 Main St"}, ("DENSERCISE-DVD", 1))
    )


@pytest.mark.parametrize("country", ["CA", "GB", "AU", *EU27])
def test_express_international(country: str) -> None:
    assert methods(decide({"country": country}, ("DENSERCISE-DVD", 1))) == {
        "standard": 1495,
        "express": 3995,
    }


@pytest.mark.parametrize("country", ["CH", "NO", "NZ", "JP", "SG", "IL", "MX", "IN", "BR"])
def test_standard_only_elsewhere(country: str) -> None:
    assert methods(decide({"country": country}, ("DENSERCISE-DVD", 1))) == {"standard": 1495}


def test_digital_only_cart_has_no_methods() -> None:
    assert decide({"country": "US"}, ("ORP-EBOOK", 1)).shipping_methods == []


def test_no_methods_outside_the_zone() -> None:
    assert decide({"country": "AR"}, ("DENSERCISE-DVD", 1)).shipping_methods == []


@pytest.mark.parametrize("sub", ["GU", "VI", "AS", "MP", "UM"])
def test_no_methods_to_the_us_territories_not_shipped_to(sub: str) -> None:
    """ "standard: every physical destination": a territory no parcel goes to (only Puerto
    Rico is served) is offered no method, and each says why, as the line does."""
    decision = decide({"country": "US", "subdivision": sub}, ("DENSERCISE-DVD", 1))
    assert decision.eligible is False
    assert decision.shipping_methods == []
    _, missing = _why(decision)
    territories = "We don't ship physical products to US territories other than Puerto Rico yet."
    assert missing == {"standard": [territories], "express": [territories]}
    served = decide({"country": "US", "subdivision": "PR"}, ("DENSERCISE-DVD", 1))
    assert methods(served) == {"standard": 595, "express": 3995}


def _why(decision: CartDecision) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    body = decision.to_json()
    offered = {m["id"]: [r["rule_id"] for r in m["reasons"]] for m in body["shipping_methods"]}
    missing = {
        m["id"]: [r["message"] for r in m["reasons"]] for m in body["unavailable_shipping_methods"]
    }
    return offered, missing


@pytest.mark.parametrize(
    ("dest", "message"),
    [
        ({"country": "US", "line1": "PO Box 12"}, "Express shipping isn't available to PO boxes."),
        (
            {"country": "US", "subdivision": "AE", "line1": "PSC 1"},
            "Express shipping isn't available to military (APO/FPO/DPO) addresses.",
        ),
    ],
)
def test_a_method_taken_away_says_why(dest: dict[str, Any], message: str) -> None:
    offered, missing = _why(decide(dest, ("DENSERCISE-DVD", 1)))
    assert set(offered) == {"standard"}
    assert missing == {"express": [message]}


def test_a_surcharge_says_why() -> None:
    offered, missing = _why(decide({"country": "US", "subdivision": "AK"}, ("DENSERCISE-DVD", 1)))
    assert offered == {"standard": [], "express": ["express-surcharge-ak-hi-pr"]}
    assert missing == {}
    express = decide({"country": "US", "subdivision": "AK"}, ("DENSERCISE-DVD", 1))
    assert express.shipping_methods[1].price.amount == 3995
    plain = decide({"country": "US", "subdivision": "NY"}, ("DENSERCISE-DVD", 1))
    assert _why(plain) == ({"standard": [], "express": []}, {})


def test_no_unavailable_methods_where_nothing_is_offered() -> None:
    assert _why(decide({"country": "AR"}, ("DENSERCISE-DVD", 1))) == ({}, {})
    assert _why(decide({"country": "US", "line1": "PO Box 1"}, ("ORP-EBOOK", 1))) == ({}, {})


# ------------------------------------------------------------------ the contract's shape


def test_to_json_is_the_eligibility_body() -> None:
    decision = decide(
        {"country": "au", "postal_code": "2000"}, ("TRUEOSTEO-120", 4), ("ORP-EBOOK", 1)
    )
    body = decision.to_json()
    assert set(body) == {
        "eligible",
        "ruleset_version",
        "evaluated_at",
        "destination",
        "items",
        "shipping_methods",
        "unavailable_shipping_methods",
    }
    assert body["eligible"] is False
    assert body["ruleset_version"].startswith("rs-") and len(body["ruleset_version"]) == 15
    assert body["evaluated_at"] == "2026-01-31T00:00:00Z"
    assert body["destination"] == {"country": "AU", "postal_code": "2000"}
    assert body["items"][0] == {
        "sku": "TRUEOSTEO-120",
        "quantity": 4,
        "eligible": False,
        "max_quantity": 3,
        "reasons": [
            {
                "rule_id": "au-three-months-supply",
                "code": "quantity_limit",
                "message": "Australian import rules allow at most 3 months' supply per order "
                "(3 of this product).",
            }
        ],
    }
    assert body["items"][1]["reasons"] == [] and body["items"][1]["max_quantity"] is None
    assert body["shipping_methods"][0] == {
        "id": "standard",
        "name": "Standard shipping",
        "price": {"amount": 1495, "currency": "USD"},
        "reasons": [],
    }
    traced = decision.to_json(include_trace=True)
    assert all("trace" in item for item in traced["items"])


def test_trace_lists_every_rule_considered() -> None:
    decision = default_engine().decide(
        [CartLine(P["TRUEOSTEO-120"], 1)], normalize_destination({"country": "CA"}), NOW, trace=True
    )
    trace = decision.items[0].trace or []
    by_id = {step["rule_id"]: step["result"] for step in trace}
    assert by_id["ca-no-supplements-npn"] == "match"
    assert by_id["zone-international-physical"] == "match"
    assert by_id["no-zone-physical"] == "match"  # a default, unused since a permit matched
    # The index never looks at rules for other countries.
    assert "embargo-cuba" not in by_id and "au-three-months-supply" not in by_id


def test_evaluated_at_defaults_to_now() -> None:
    before = datetime.now(UTC)
    decision = default_engine().decide(
        [CartLine(P["ORP-EBOOK"], 1)], normalize_destination({"country": "US"})
    )
    assert decision.at >= before
    assert decision.evaluated_at.endswith("Z")


def test_availability_is_the_contract_shape() -> None:
    engine = default_engine()
    assert engine.availability(P["TRUEOSTEO-120"], "au", NOW) == {
        "country": "AU",
        "eligible": True,
        "max_quantity": 3,
        "reasons": [],
    }
    gb = engine.availability(P["RESTWELL-60"], "GB", NOW)
    assert gb["eligible"] is False and gb["reasons"][0]["rule_id"] == "no-melatonin-dhea"


def test_allowed_countries_for_stripe() -> None:
    engine = default_engine()
    books = engine.allowed_countries([CartLine(P["BONE-APPETIT-BOOK"], 1)], NOW)
    assert books == sorted(set(ZONE))
    supplements = engine.allowed_countries(
        [CartLine(P["BONE-APPETIT-BOOK"], 1), CartLine(P["TRUEOSTEO-120"], 4)], NOW
    )
    assert "CA" not in supplements and "MX" not in supplements and "AU" not in supplements
    assert "JP" not in supplements and "US" in supplements and "PR" in supplements
    digital = engine.allowed_countries([CartLine(P["ORP-EBOOK"], 1)], NOW)
    assert "CU" not in digital and "RU" in digital and "UA" in digital and "SY" in digital


def test_every_rule_carries_a_source() -> None:
    for rule in load_ruleset().rules:
        assert rule.source.strip() and rule.code and rule.message
    uncertain = next(r for r in load_ruleset().rules if r.id == "au-vitamin-d-over-1000-iu")
    assert "uncertain" in uncertain.note
