from __future__ import annotations

from typing import Any

import pytest

from bonestore.domain.errors import InvalidInput
from bonestore.domain.geo import (
    Destination,
    canonical_postal_code,
    country_name,
    destination_from_stripe_address,
    is_po_box,
    normalize_destination,
)

pytestmark = pytest.mark.unit


def test_normalizes_case_and_relative_subdivision() -> None:
    dest = normalize_destination({"country": "ca", "subdivision": "qc", "postal_code": "h2x1y4"})
    assert dest == Destination(country="CA", subdivision="CA-QC", postal_code="H2X 1Y4")
    assert dest.as_json() == {"country": "CA", "subdivision": "CA-QC", "postal_code": "H2X 1Y4"}


@pytest.mark.parametrize(
    ("country", "raw", "canonical"),
    [
        ("US", "12345", "12345"),
        ("US", "123456789", "12345-6789"),
        ("US", " 12345-6789 ", "12345-6789"),
        ("GB", "sw1a1aa", "SW1A 1AA"),
        ("GB", "SW1A  1AA", "SW1A 1AA"),
        ("CA", "H2X-1Y4", "H2X 1Y4"),
        ("JP", "1000001", "100-0001"),
        ("BR", "01310100", "01310-100"),
        ("UA", "01001", "01001"),
        ("UA", "295000", "295000"),
        ("NL", "1012ab", "1012 AB"),
        ("IE", "d02x285", "D02 X285"),
        ("PR", "00901", "00901"),
        ("KE", "00100", "00100"),
    ],
)
def test_postal_codes_are_canonical(country: str, raw: str, canonical: str) -> None:
    dest = normalize_destination({"country": country, "postal_code": raw})
    assert dest.postal_code == canonical


@pytest.mark.parametrize(
    ("country", "raw"),
    [
        ("US", "1234"),
        ("CA", "12345"),
        ("GB", "ABC"),
        ("UA", "195000"),
        ("DE", "1234"),
        ("KE", "!!"),
    ],
)
def test_impossible_postal_codes_are_rejected(country: str, raw: str) -> None:
    with pytest.raises(InvalidInput) as info:
        normalize_destination({"country": country, "postal_code": raw})
    assert info.value.code == "invalid_postal_code"
    assert info.value.details == [{"field": "destination.postal_code", "value": raw}]


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ({"country": "XX"}, "invalid_country"),
        ({"country": "USA"}, "invalid_country"),
        ({"country": 12}, "invalid_country"),
        ({}, "invalid_country"),
        ({"country": "US", "subdivision": "CA-QC"}, "invalid_subdivision"),
        ({"country": "US", "subdivision": "ZZ"}, "invalid_subdivision"),
        ({"country": "US", "city": ["x"]}, "invalid_destination"),
        ({"country": "US", "line1": "x" * 500}, "invalid_destination"),
        ({"country": "US", "planet": "Mars"}, "invalid_destination"),
    ],
)
def test_bad_destinations_name_the_problem(raw: dict[str, Any], code: str) -> None:
    with pytest.raises(InvalidInput) as info:
        normalize_destination(raw, field="shipping")
    assert info.value.code == code
    assert info.value.status == 400
    assert info.value.details and info.value.details[0]["field"].startswith("shipping.")


def test_not_a_mapping_is_invalid() -> None:
    with pytest.raises(InvalidInput) as info:
        normalize_destination(["US"])  # type: ignore[arg-type]
    assert info.value.code == "invalid_destination"


def test_invalid_country_detail_names_the_field() -> None:
    with pytest.raises(InvalidInput) as info:
        normalize_destination({"country": "zz"})
    assert info.value.details == [{"field": "destination.country", "value": "zz"}]


@pytest.mark.parametrize("sub", ["aa", "AE", "US-AP", "us-pr", "DC"])
def test_us_military_and_pr_subdivisions(sub: str) -> None:
    dest = normalize_destination({"country": "US", "subdivision": sub})
    assert dest.subdivision is not None and dest.subdivision.startswith("US-")


def test_ukrainian_regions_are_iso_codes() -> None:
    assert normalize_destination({"country": "UA", "subdivision": "43"}).subdivision == "UA-43"


@pytest.mark.parametrize(
    "line1",
    [
        "PO Box 12",
        "P.O. Box 7",
        "p o box 3",
        "Post Office Box 9",
        "POBox 5",
        "  po  box 1",
        "P.O.B. 4",
    ],
)
def test_po_boxes(line1: str) -> None:
    assert is_po_box(line1)


@pytest.mark.parametrize("line1", ["1 Main St", "Depot Box Lane 4", "Apollo Road", None, ""])
def test_not_po_boxes(line1: str | None) -> None:
    assert not is_po_box(line1)


def test_country_names() -> None:
    assert country_name("ru") == "Russia"
    assert country_name("KP") == "North Korea"
    assert country_name("CA") == "Canada"
    assert country_name("XX") == "XX"


def test_stripe_address_state_by_code_or_name() -> None:
    by_code = destination_from_stripe_address(
        {"country": "US", "state": "HI", "postal_code": "96813"}
    )
    by_name = destination_from_stripe_address({"country": "us", "state": "Hawaii"})
    assert by_code is not None and by_code.subdivision == "US-HI" and by_code.postal_code == "96813"
    assert by_name is not None and by_name.subdivision == "US-HI"


def test_stripe_address_is_lenient_but_never_invents() -> None:
    dest = destination_from_stripe_address(
        {"country": "US", "state": "Atlantis", "postal_code": "abc", "line1": None, "city": " X "},
        line1_fallback="PO Box 1",
    )
    assert dest == Destination(country="US", postal_code="ABC", city="X", line1="PO Box 1")
    assert destination_from_stripe_address(None) is None
    assert destination_from_stripe_address({"country": "ZZ"}) is None
    assert destination_from_stripe_address({"line1": "1 Main"}) is None


def test_stripe_puerto_rico_stays_a_country() -> None:
    dest = destination_from_stripe_address({"country": "PR", "postal_code": "00901"})
    assert dest == Destination(country="PR", postal_code="00901")


@pytest.mark.parametrize(
    ("country", "raw", "canonical"),
    [
        ("UA", "\uff19\uff15\uff10\uff10\uff10", "95000"),  # fullwidth
        ("UA", "\u0669\u0665\u0660\u0660\u0660", "95000"),  # Arabic-Indic
        ("US", "\uff16\uff12\uff17\uff10\uff11", "62701"),
        ("CA", "\uff48\uff12\uff58 \uff11\uff59\uff14", "H2X 1Y4"),  # fullwidth letters too
        ("ZA", "\u0966\u0966\u0966\u0967", "0001"),  # Devanagari, a country without a format
    ],
)
def test_a_postal_code_in_other_digits_has_its_ascii_canonical_form(
    country: str, raw: str, canonical: str
) -> None:
    # A range rule compares the text: "\uff19\uff15\uff10\uff10\uff10" must be 95000 to it.
    assert canonical_postal_code(country, raw) == canonical


def test_a_po_box_in_fullwidth_letters_is_a_po_box() -> None:
    assert is_po_box("\uff30\uff2f Box 12")
