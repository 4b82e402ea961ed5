"""Addresses and postal codes, as the contract and the shipping policy state them.

api-contract: "Country codes are ISO 3166-1 alpha-2, subdivisions ISO 3166-2 plus the
US military codes US-AA, US-AE, US-AP; input is case-insensitive and is echoed back
normalized. Postal codes are echoed in the country's canonical form where it has one."
shipping-policy: military addresses (AA, AE, AP) are part of the United States; "A PO
box is an address whose first line reads like 'PO Box 12', 'P.O. Box', or 'Post Office
Box'"; Ukrainian embargo ranges include the Russian-assigned 295000-299999.
"""

from __future__ import annotations

from typing import Any

import pytest

from bonestore.domain.countries import US_MILITARY
from bonestore.domain.errors import InvalidInput
from bonestore.domain.geo import (
    Destination,
    canonical_postal_code,
    compact_postal,
    country_name,
    destination_from_stripe_address,
    is_country,
    is_po_box,
    normalize_destination,
    subdivision_country,
    subdivision_name,
)

pytestmark = pytest.mark.unit


def refused(raw: dict[str, Any], field: str = "destination") -> InvalidInput:
    with pytest.raises(InvalidInput) as info:
        normalize_destination(raw, field=field)
    return info.value


# -- postal codes: length and canonical form per country ------------------------------

# (country, digits) for the countries whose codes are plain digits of one length.
DIGIT_LENGTHS = [
    ("AU", 4), ("NZ", 4), ("CH", 4), ("NO", 4), ("AT", 4), ("BE", 4), ("DK", 4), ("LU", 4),
    ("HU", 4), ("BG", 4), ("CY", 4), ("SI", 4),
    ("DE", 5), ("FR", 5), ("IT", 5), ("ES", 5), ("FI", 5), ("EE", 5), ("HR", 5), ("MX", 5),
    ("CU", 5), ("SG", 6), ("IN", 6), ("RU", 6), ("BY", 6), ("RO", 6), ("IL", 7), ("IR", 10),
]  # fmt: skip


@pytest.mark.parametrize(("country", "digits"), DIGIT_LENGTHS)
def test_a_postal_code_has_exactly_its_countrys_number_of_digits(country: str, digits: int) -> None:
    code = "123456789012"[:digits]
    assert canonical_postal_code(country, code) == code
    assert canonical_postal_code(country, code[:-1]) is None
    assert canonical_postal_code(country, code + "1") is None
    assert canonical_postal_code(country, code[:-1] + "A") is None


@pytest.mark.parametrize(
    ("country", "raw", "canonical"),
    [
        # Poland: 5 digits written NN-NNN.
        ("PL", "00950", "00-950"),
        ("PL", "00-950", "00-950"),
        ("PL", "61 890", "61-890"),
        # Sweden: 5 digits written NNN NN.
        ("SE", "11455", "114 55"),
        ("SE", "114 55", "114 55"),
        ("SE", "114-55", "114 55"),
        ("SE", "98138", "981 38"),
        # Japan NNN-NNNN, Brazil NNNNN-NNN.
        ("JP", "1500002", "150-0002"),
        ("BR", "20040-020", "20040-020"),
        # Australia, Croatia, Mexico: digits as they are.
        ("AU", "2000", "2000"),
        ("AU", " 0800 ", "0800"),
        ("HR", "10000", "10000"),
        ("MX", "06600", "06600"),
    ],
)
def test_canonical_forms(country: str, raw: str, canonical: str) -> None:
    assert canonical_postal_code(country, raw) == canonical
    assert normalize_destination({"country": country, "postal_code": raw}).postal_code == canonical


@pytest.mark.parametrize(
    ("country", "raw"),
    [
        ("PL", "0095"), ("PL", "009501"), ("PL", "AB-123"),
        ("SE", "1145"), ("SE", "114555"), ("SE", "SE-11455"),
        ("AU", "200"), ("AU", "20000"),
        ("HR", "1000"), ("HR", "100000"),
        ("MX", "0660"), ("MX", "066000"),
        ("JP", "150000"), ("JP", "15000021"),
        ("BR", "2004002"), ("BR", "200400201"),
    ],
)  # fmt: skip
def test_a_postal_code_of_the_wrong_length_is_refused(country: str, raw: str) -> None:
    error = refused({"country": country, "postal_code": raw})
    assert error.code == "invalid_postal_code"
    assert error.status == 400
    assert error.details == [{"field": "destination.postal_code", "value": raw}]
    assert error.message == f"{raw!r} is not a postal code in {country_name(country)}"


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [("12345", "12345"), ("123456789", "12345-6789"), ("12345-6789", "12345-6789")],
)
def test_a_us_zip_is_five_digits_or_zip_plus_four(raw: str, canonical: str) -> None:
    assert canonical_postal_code("US", raw) == canonical


@pytest.mark.parametrize("raw", ["1234", "123456", "12345-678", "12345-67890", "ABCDE"])
def test_other_us_zips_are_refused(raw: str) -> None:
    assert canonical_postal_code("US", raw) is None


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [("00601", "00601"), ("00725", "00725"), ("00936", "00936"), ("009011234", "00901-1234")],
)
def test_puerto_rico_zips_are_006_007_009(raw: str, canonical: str) -> None:
    assert canonical_postal_code("PR", raw) == canonical


@pytest.mark.parametrize("raw", ["00501", "00801", "10601", "0060", "006011"])
def test_a_zip_outside_puerto_ricos_ranges_is_refused_there(raw: str) -> None:
    assert canonical_postal_code("PR", raw) is None


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [("k1a0b1", "K1A 0B1"), ("H2X 1Y4", "H2X 1Y4"), ("t2p-2m5", "T2P 2M5"), ("X0A0H0", "X0A 0H0")],
)
def test_a_canadian_code_is_letter_digit_letter_space_digit_letter_digit(
    raw: str, canonical: str
) -> None:
    assert canonical_postal_code("CA", raw) == canonical


# Canada Post never uses D, F, I, O, Q, U, and no code starts with W or Z.
@pytest.mark.parametrize(
    "raw", ["D1A1A1", "W1A1A1", "Z1A1A1", "K1D1A1", "K1A1O1", "K1A1A", "K1A1A1A"]
)
def test_letters_canada_post_never_uses_are_refused(raw: str) -> None:
    assert canonical_postal_code("CA", raw) is None


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("sw1a1aa", "SW1A 1AA"), ("EC1A 1BB", "EC1A 1BB"), ("W1A 0AX", "W1A 0AX"),
        ("M1 1AE", "M1 1AE"), ("B33 8TH", "B33 8TH"), ("DN55 1PT", "DN55 1PT"),
        ("gir 0aa", "GIR 0AA"),
    ],
)  # fmt: skip
def test_british_postcodes_are_outward_space_inward(raw: str, canonical: str) -> None:
    assert canonical_postal_code("GB", raw) == canonical


@pytest.mark.parametrize("raw", ["SW1A", "1AA", "SW1A 1A", "SWW1A 1AA", "12345"])
def test_incomplete_british_postcodes_are_refused(raw: str) -> None:
    assert canonical_postal_code("GB", raw) is None


@pytest.mark.parametrize(
    ("country", "raw", "canonical"),
    [("IE", "a65f4e2", "A65 F4E2"), ("IE", "D6W1234", "D6W 1234"), ("NL", "1012ab", "1012 AB")],
)
def test_irish_eircodes_and_dutch_codes(country: str, raw: str, canonical: str) -> None:
    assert canonical_postal_code(country, raw) == canonical


@pytest.mark.parametrize(
    ("country", "raw"), [("IE", "B65F4E2"), ("IE", "A65F4E"), ("NL", "0123AB"), ("NL", "1012A")]
)
def test_impossible_eircodes_and_dutch_codes(country: str, raw: str) -> None:
    assert canonical_postal_code(country, raw) is None


@pytest.mark.parametrize("raw", ["01001", "83000", "295000", "299999"])
def test_ukrainian_codes_include_the_russian_assigned_crimean_range(raw: str) -> None:
    assert canonical_postal_code("UA", raw) == raw


@pytest.mark.parametrize("raw", ["0100", "294999", "300000", "2950000"])
def test_other_ukrainian_lengths_are_refused(raw: str) -> None:
    assert canonical_postal_code("UA", raw) is None


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("c1425", "C1425"),
        ("ab   12", "AB 12"),
        (" 9 ", "9"),
        ("1234-567", "1234-567"),
        ("A" * 12, "A" * 12),
    ],
)
def test_elsewhere_a_code_is_upper_cased_with_its_spacing_collapsed(
    raw: str, canonical: str
) -> None:
    assert canonical_postal_code("AR", raw) == canonical


@pytest.mark.parametrize("raw", ["-12", "12-", "A" * 13, "#1", ""])
def test_elsewhere_a_code_is_letters_digits_and_inner_separators(raw: str) -> None:
    assert canonical_postal_code("AR", raw) is None


def test_compact_form_drops_spaces_and_dashes_and_upper_cases() -> None:
    assert compact_postal(" sw1a-1aa \t") == "SW1A1AA"


# -- countries and subdivisions --------------------------------------------------------


@pytest.mark.parametrize(("raw", "country"), [("us", "US"), (" ca ", "CA"), ("Gb", "GB")])
def test_a_country_is_case_insensitive_and_echoed_upper_case(raw: str, country: str) -> None:
    assert normalize_destination({"country": raw}) == Destination(country=country)


@pytest.mark.parametrize("raw", ["XX", "USA", "U", "", 840, None, ["US"], {"c": "US"}])
def test_a_country_that_is_not_iso_alpha_2_is_refused(raw: Any) -> None:
    error = refused({"country": raw}, field="shipping_address")
    assert error.code == "invalid_country"
    assert error.status == 400
    assert error.details is not None
    assert error.details[0]["field"] == "shipping_address.country"
    expected = raw if isinstance(raw, str | int | type(None)) else str(raw)[:50]
    assert error.details[0]["value"] == expected


def test_is_country() -> None:
    assert is_country("ca") and is_country("UA")
    assert not is_country("XX") and not is_country("USA")


@pytest.mark.parametrize("sub", ["AA", "ae", "US-AP", "us-aa"])
def test_us_military_subdivisions_are_accepted_for_the_united_states(sub: str) -> None:
    dest = normalize_destination({"country": "US", "subdivision": sub})
    assert dest.subdivision == "US-" + sub.upper().removeprefix("US-")


@pytest.mark.parametrize(
    ("country", "sub"),
    [("CA", "AE"), ("GB", "AA"), ("DE", "AP"), ("PR", "AE"), ("CA", "US-AE"), ("GB", "US-AA")],
)
def test_us_military_subdivisions_belong_to_no_other_country(country: str, sub: str) -> None:
    error = refused({"country": country, "subdivision": sub})
    assert error.code == "invalid_subdivision"
    assert error.details == [{"field": "destination.subdivision", "value": sub}]
    assert error.message == f"{sub!r} is not a subdivision of {country_name(country)}"


def test_the_military_codes_are_named_and_belong_to_the_us() -> None:
    assert US_MILITARY == {
        "US-AA": "Armed Forces Americas",
        "US-AE": "Armed Forces Europe",
        "US-AP": "Armed Forces Pacific",
    }
    for code, name in US_MILITARY.items():
        assert subdivision_name(code.lower()) == name
        assert subdivision_country(code.lower()) == "US"
    for other in ("CA-AE", "GB-AA", "PR-AP"):
        assert subdivision_name(other) is None
        assert subdivision_country(other) is None


@pytest.mark.parametrize(
    ("raw", "code"), [("qc", "CA-QC"), ("CA-QC", "CA-QC"), ("q c", "CA-QC"), (" ca-on ", "CA-ON")]
)
def test_a_subdivision_is_relative_or_full_and_echoed_as_iso_3166_2(raw: str, code: str) -> None:
    assert normalize_destination({"country": "CA", "subdivision": raw}).subdivision == code


def test_a_subdivision_of_another_country_is_refused() -> None:
    assert refused({"country": "US", "subdivision": "CA-QC"}).code == "invalid_subdivision"


def test_iso_subdivisions_are_named_and_know_their_country() -> None:
    assert subdivision_name("us-hi") == "Hawaii"
    assert subdivision_country("UA-43") == "UA"
    assert subdivision_country("US-ZZ") is None
    assert subdivision_name("XX-1") is None


@pytest.mark.parametrize(
    ("code", "name"),
    [
        ("RU", "Russia"), ("FM", "Micronesia"), ("PS", "Palestine"),
        ("CD", "the Democratic Republic of the Congo"), ("BN", "Brunei"), ("CZ", "Czechia"),
        ("cz", "Czechia"), ("TW", "Taiwan"), ("BO", "Bolivia"), ("FR", "France"), ("ZZ", "ZZ"),
    ],
)  # fmt: skip
def test_countries_are_named_as_customers_say_them(code: str, name: str) -> None:
    assert country_name(code) == name


# -- the rest of a destination ---------------------------------------------------------


def test_text_fields_have_their_spacing_collapsed_and_blank_means_absent() -> None:
    dest = normalize_destination(
        {"country": "US", "city": "  New   York ", "line1": "1  Main\tSt", "subdivision": None}
    )
    assert dest == Destination(country="US", city="New York", line1="1 Main St")
    assert normalize_destination({"country": "US", "city": "   "}).city is None
    assert dest.as_json() == {"country": "US", "city": "New York", "line1": "1 Main St"}


@pytest.mark.parametrize(
    ("key", "limit"), [("city", 200), ("line1", 200), ("subdivision", 60), ("postal_code", 40)]
)
def test_text_fields_have_a_length_limit(key: str, limit: int) -> None:
    error = refused({"country": "AR", key: "1" * (limit + 1)})
    assert error.code == "invalid_destination"
    assert error.message == f"{key} must be a string of at most {limit} characters"
    assert error.details is not None and error.details[0]["field"] == f"destination.{key}"


def test_a_text_field_at_its_limit_is_accepted() -> None:
    assert normalize_destination({"country": "US", "city": "x" * 200}).city == "x" * 200


@pytest.mark.parametrize("value", [12, ["x"], {"a": 1}, True])
def test_a_text_field_must_be_a_string(value: Any) -> None:
    error = refused({"country": "US", "city": value})
    assert error.code == "invalid_destination"
    assert error.details is not None
    shown = value if isinstance(value, str | int | float | bool) else str(value)[:50]
    assert error.details[0]["value"] == shown


def test_an_unknown_field_is_named_first_in_sorted_order() -> None:
    error = refused({"country": "US", "zeta": 1, "planet": "Mars"})
    assert error.code == "invalid_destination"
    assert error.message == "unknown destination field 'planet'"
    assert error.details == [{"field": "destination.planet", "value": None}]


def test_a_destination_must_be_an_object() -> None:
    error = refused("US")  # type: ignore[arg-type]
    assert error.code == "invalid_destination"
    assert error.message == "destination must be an object"
    assert error.details == [{"field": "destination", "value": None}]


# -- PO boxes (the policy's definition) -------------------------------------------------


@pytest.mark.parametrize(
    "line1",
    [
        "PO Box 12", "P.O. Box 12", "P. O. Box 12", "p.o.box 12", "POBox 12", "Post Office Box 12",
        "post office box 12", "PostOffice Box 3", "12 Main St, PO Box 4", "P.O.B. 7", "POB 7",
        "P O B 9", "PO Box12", "POBox12", "P.O.Box12", "Post Office Box12", "PO-Box 12",
        "Post-Office Box 12", "PO_Box 12", "GPO Box 4001", "G.P.O. Box 9", "P/O Box 3",
        "Post Box 5", "Postbox 5", "post box 5",
    ],
)  # fmt: skip
def test_a_first_line_that_reads_like_a_po_box_is_one(line1: str) -> None:
    assert is_po_box(line1)


@pytest.mark.parametrize(
    "line1",
    [
        "1 Main St", "Box Hill Road 3", "Poboxer Street 1", "Depot Box 4",
        "Portobello Rd 2", "Boxwood Ave", "POB", "", None, "Po Boxer Rd 5", "Apollo Box Hill 2",
        "Lamppost Box Lane 1", "Bagpo Box 2", "Post Boxer Rd 4", "Compost Box Co 3",
    ],
)  # fmt: skip
def test_an_ordinary_street_address_is_not_a_po_box(line1: str | None) -> None:
    assert not is_po_box(line1)


# -- addresses Stripe collected (lenient, never invented) ------------------------------


def test_a_stripe_address_is_normalized_where_it_can_be() -> None:
    dest = destination_from_stripe_address(
        {
            "country": " ca ",
            "state": "qc",
            "postal_code": "h2x1y4",
            "city": " Montréal ",
            "line1": " 1  Rue ",
        }
    )
    assert dest == Destination(
        country="CA", subdivision="CA-QC", postal_code="H2X 1Y4", city="Montréal", line1="1 Rue"
    )


@pytest.mark.parametrize(
    ("state", "subdivision"),
    [("HI", "US-HI"), ("us-hi", "US-HI"), ("hawaii", "US-HI"), ("  New  York ", "US-NY"),
     ("AE", "US-AE"), ("Armed Forces Europe", "US-AE"), ("Atlantis", None), ("", None),
     ("  ", None), (12, None)],
)  # fmt: skip
def test_a_stripe_state_may_be_a_code_or_a_name(state: Any, subdivision: str | None) -> None:
    dest = destination_from_stripe_address({"country": "US", "state": state})
    assert dest is not None and dest.subdivision == subdivision


def test_a_stripe_postal_code_without_a_canonical_form_is_kept_as_given() -> None:
    dest = destination_from_stripe_address({"country": "US", "postal_code": " abc  12 "})
    assert dest is not None and dest.postal_code == "ABC 12"
    none = destination_from_stripe_address({"country": "US", "postal_code": "  "})
    assert none is not None and none.postal_code is None
    number = destination_from_stripe_address({"country": "US", "postal_code": 12345})
    assert number is not None and number.postal_code is None


def test_a_stripe_line1_falls_back_only_when_missing() -> None:
    given = destination_from_stripe_address(
        {"country": "US", "line1": "1 Main"}, line1_fallback="X"
    )
    assert given is not None and given.line1 == "1 Main"
    blank = destination_from_stripe_address(
        {"country": "US", "line1": " "}, line1_fallback=" PO  Box 1 "
    )
    assert blank is not None and blank.line1 == "PO Box 1"
    neither = destination_from_stripe_address({"country": "US", "city": 5})
    assert neither is not None and neither.line1 is None and neither.city is None


@pytest.mark.parametrize(
    "address", [None, {}, {"country": "ZZ"}, {"country": 1}, {"line1": "1 Main"}]
)
def test_a_stripe_address_without_a_real_country_is_no_destination(address: Any) -> None:
    assert destination_from_stripe_address(address) is None


@pytest.mark.parametrize("country", ["UY", "UZ", "VN", "ZA"])
def test_military_codes_do_not_leak_to_countries_sorting_after_the_us(country: str) -> None:
    assert refused({"country": country, "subdivision": "AE"}).code == "invalid_subdivision"
    assert refused({"country": country, "subdivision": "US-AE"}).code == "invalid_subdivision"
    assert subdivision_country(f"{country}-AA") is None


def test_a_long_non_text_value_is_shown_cut_to_50_characters() -> None:
    long = ["x" * 100]
    error = refused({"country": long})
    assert error.details is not None and error.details[0]["value"] == str(long)[:50]
    assert len(error.details[0]["value"]) == 50
    text_error = refused({"country": "US", "city": {"k": "y" * 100}})
    assert text_error.details is not None and len(text_error.details[0]["value"]) == 50


def test_a_normalized_destination_cannot_be_altered() -> None:
    dest = normalize_destination({"country": "US"})
    with pytest.raises(ValueError, match="frozen"):
        dest.country = "CU"  # type: ignore[misc]


# -- the embargoed regions, as customers write them on a billing address ------------------
# Policy, "Embargoes": a Ukrainian address is in Crimea (UA-43), Sevastopol (UA-40),
# Donetsk (UA-14) or Luhansk (UA-09) "when its subdivision says so". Stripe's billing
# address carries the state as the customer typed it.


@pytest.mark.parametrize(
    ("state", "subdivision"),
    [("Crimea", "UA-43"), ("Republic of Crimea", "UA-43"), ("Autonomous Republic of Crimea", "UA-43"),
     ("Krym", "UA-43"), ("KRIM", "UA-43"), ("Respublika Krym", "UA-43"), ("Avtonomna Respublika Krym", "UA-43"),
     ("crimea.", "UA-43"), ("Sevastopol", "UA-40"), ("Sebastopol", "UA-40"), ("Donetsk", "UA-14"),
     ("Donetsk Oblast", "UA-14"), ("Donets'k oblast", "UA-14"), ("Donetska oblast", "UA-14"),
     ("Donetskaya", "UA-14"), ("donetsk region", "UA-14"), ("Luhansk", "UA-09"), ("Lugansk", "UA-09"),
     ("Luhans’k Oblast", "UA-09"), ("Luganskaya", "UA-09"), ("Luhanska", "UA-09"),
     ("Lugansk Province", "UA-09"), ("Kyiv", "UA-30"), ("Oblast", None), ("Atlantis", None)],
)  # fmt: skip
def test_a_billing_state_naming_an_embargoed_region_is_that_region(
    state: str, subdivision: str | None
) -> None:
    dest = destination_from_stripe_address({"country": "UA", "state": state})
    assert dest is not None and dest.subdivision == subdivision


def test_an_embargoed_regions_other_name_means_it_only_in_ukraine() -> None:
    dest = destination_from_stripe_address({"country": "US", "state": "Crimea"})
    assert dest is not None and dest.subdivision is None


@pytest.mark.parametrize(
    ("country", "state", "subdivision"),
    [("US", "New York State", "US-NY"), ("US", "new-york", "US-NY"), ("CA", "Quebec Province", "CA-QC"),
     ("US", "State", None)],
)  # fmt: skip
def test_a_billing_state_is_read_with_or_without_its_region_word(
    country: str, state: str, subdivision: str | None
) -> None:
    dest = destination_from_stripe_address({"country": country, "state": state})
    assert dest is not None and dest.subdivision == subdivision


def test_a_billing_state_that_names_two_subdivisions_is_not_guessed() -> None:
    # ISO 3166-2 names Spain's community (ES-CB) and its province (ES-S) "Cantabria".
    dest = destination_from_stripe_address({"country": "ES", "state": "Cantabria"})
    assert dest is not None and dest.subdivision is None


def test_a_subdivisions_exact_name_wins_over_a_loose_reading() -> None:
    from bonestore.domain.geo import _subdivision_named

    known = {"XX-1": "Lakeland", "XX-2": "Lakeland Region"}
    assert _subdivision_named("XX", "lakeland region", known) == "XX-2"
    assert _subdivision_named("XX", "Lakeland", known) == "XX-1"
    assert _subdivision_named("XX", "Lakeland State", known) is None  # both, loosely


def test_a_postal_code_with_a_letter_outside_ascii_is_refused_not_a_crash() -> None:
    # NFKC keeps accented letters as they are; only decimal digits are rewritten.
    assert canonical_postal_code("FR", "É5000") is None
    assert canonical_postal_code("FR", "\u0667\u0665\u0660\u0660\u0661") == "75001"


# -- US ZIP codes and the places the policy treats apart ---------------------------------
# api-contract: "The rules decide on exactly that address (PO box, military, territory,
# postal code)": a ZIP code of Guam, Alaska or an APO names that place, whatever state is
# typed beside it.


@pytest.mark.parametrize(
    ("postal_code", "subdivision"),
    [("99501", "US-AK"), ("96813", "US-HI"), ("00901", "US-PR"), ("00725", "US-PR"),
     ("00802", "US-VI"), ("96799", "US-AS"), ("96910", "US-GU"), ("96950", "US-MP"),
     ("09021", "US-AE"), ("34002", "US-AA"), ("96601", "US-AP"), ("96898", "US-UM"),
     ("99501-1234", "US-AK"), ("10001", None), ("96701", "US-HI")],
)  # fmt: skip
def test_a_us_zip_code_of_a_place_apart_names_its_subdivision(
    postal_code: str, subdivision: str | None
) -> None:
    dest = normalize_destination({"country": "US", "postal_code": postal_code})
    assert dest.subdivision == subdivision
    if subdivision is not None:  # and the same place, written in full, agrees
        given = {"country": "US", "subdivision": subdivision, "postal_code": postal_code}
        assert normalize_destination(given).subdivision == subdivision


@pytest.mark.parametrize(
    ("subdivision", "postal_code", "place"),
    [("US-NY", "96910", "Guam"), ("NY", "00802", "Virgin Islands"),
     ("US-NY", "99501", "Alaska"), ("US-CA", "96813", "Hawaii"), ("US-FL", "00901", "Puerto Rico"),
     ("US-NY", "09021", "Armed Forces Europe"), ("US-HI", "10001", "one of the states or DC"),
     ("US-AE", "10001", "one of the states or DC"), ("US-GU", "96813", "Hawaii")],
)  # fmt: skip
def test_a_us_zip_code_and_a_subdivision_of_different_places_are_refused(
    subdivision: str, postal_code: str, place: str
) -> None:
    error = refused(
        {"country": "US", "subdivision": subdivision, "postal_code": postal_code},
        field="shipping_address",
    )
    assert error.code == "invalid_postal_code"
    [detail] = error.details
    assert (detail["field"], detail["value"]) == ("shipping_address.postal_code", postal_code)
    assert place in str(error)


def test_a_zip_code_of_a_state_is_not_checked_against_another_state() -> None:
    """Which state a ZIP code is in matters to no rule: only the places apart are checked."""
    dest = normalize_destination({"country": "US", "subdivision": "US-CA", "postal_code": "10001"})
    assert dest.subdivision == "US-CA"


@pytest.mark.parametrize(
    ("postal_code", "country"), [("96940", "PW"), ("96941", "FM"), ("96960", "MH")]
)
def test_a_zip_code_of_a_freely_associated_state_is_not_a_us_address(
    postal_code: str, country: str
) -> None:
    error = refused({"country": "US", "postal_code": postal_code})
    assert error.code == "invalid_postal_code" and error.details[0]["place"] == country


@pytest.mark.parametrize(
    ("state", "postal_code", "subdivision"),
    [("NY", "96910", "US-GU"), ("NY", "99501", "US-AK"), (None, "09021", "US-AE"),
     ("HI", "10001", "US-HI"), ("NY", "10001", "US-NY")],
)  # fmt: skip
def test_a_stripe_address_takes_the_place_of_its_zip_code(
    state: str | None, postal_code: str, subdivision: str
) -> None:
    """Carriers route by ZIP code, so a collected address is decided where its ZIP goes."""
    dest = destination_from_stripe_address(
        {"country": "US", "state": state, "postal_code": postal_code}
    )
    assert dest is not None and dest.subdivision == subdivision


@pytest.mark.parametrize(
    ("country", "postal_code", "subdivision"),
    [("FR", "98800", "FR-NC"), ("FR", "98714", "FR-PF"), ("FR", "97133", "FR-BL"),
     ("FR", "97150", "FR-MF"), ("FR", "97110", "FR-971"), ("FR", "97400", "FR-974"),
     ("FR", "97500", "FR-PM"), ("FR", "98600", "FR-WF"), ("FR", "98404", "FR-TF"),
     ("FR", "75001", None)],
)  # fmt: skip
def test_a_french_postal_code_overseas_names_its_subdivision(
    country: str, postal_code: str, subdivision: str | None
) -> None:
    """Noumea's 98800 is New Caledonia, whose rules are not metropolitan France's."""
    dest = normalize_destination({"country": country, "postal_code": postal_code})
    assert dest.subdivision == subdivision


@pytest.mark.parametrize(
    ("country", "postal_code", "place"),
    [("FR", "98000", "MC"), ("GB", "JE2 3AB", "JE"), ("GB", "GY1 1AA", "GG"),
     ("GB", "IM1 1AA", "IM"), ("GB", "GX11 1AA", "GI"), ("AU", "6798", "CX"),
     ("AU", "6799", "CC"), ("AU", "2899", "NF"), ("IT", "00120", "VA"), ("IT", "47890", "SM"),
     ("CH", "9490", "LI"), ("DK", "3900", "GL")],
)  # fmt: skip
def test_a_postal_code_of_another_country_in_the_same_system_is_refused(
    country: str, postal_code: str, place: str
) -> None:
    """Jersey's postcodes are the UK's, Christmas Island's Australia's, Monaco's France's:
    the place is another country, with its own answer (the policy lists the UK, not
    Jersey)."""
    error = refused({"country": country, "postal_code": postal_code})
    assert error.code == "invalid_postal_code" and error.details[0]["place"] == place
    assert f"choose {country_name(place)} as the country" in str(error)


@pytest.mark.parametrize(
    ("country", "postal_code"), [("FR", "75001"), ("GB", "SW1A 1AA"), ("AU", "2000")]
)
def test_an_ordinary_postal_code_names_no_place_apart(country: str, postal_code: str) -> None:
    assert (
        normalize_destination({"country": country, "postal_code": postal_code}).subdivision is None
    )


def test_a_french_subdivision_and_an_overseas_postal_code_of_another_place_are_refused() -> None:
    for subdivision, postal_code in (("FR-75C", "98800"), ("FR-NC", "75001"), ("FR-974", "97110")):
        error = refused({"country": "FR", "subdivision": subdivision, "postal_code": postal_code})
        assert error.code == "invalid_postal_code", (subdivision, postal_code)


@pytest.mark.parametrize(
    ("country", "state", "place"),
    [("UA", "Sevastopol City", "UA-40"), ("UA", "City of Sevastopol", "UA-40"),
     ("UA", "Crimea Republic", "UA-43"), ("UA", "AR Krym", "UA-43"), ("UA", "Севастополь", "UA-40"),
     ("UA", "Крым", "UA-43"), ("UA", "Автономна Республіка Крим", "UA-43"),
     ("UA", "Донецька область", "UA-14"), ("UA", "Donetsk People's Republic", "UA-14"),
     ("UA", "Luhansk People's Republic", "UA-09"), ("RU", "Crimea", "UA-43"),
     ("RU", "Republic of Crimea", "UA-43"), ("RU", "Sevastopol", "UA-40"),
     ("RU", "Donetsk People's Republic", "UA-14"), ("RU", "LNR", "UA-09"), ("UA", "ДНР", "UA-14")],
)  # fmt: skip
def test_an_embargoed_region_written_any_way_in_a_stripe_address_is_that_region(
    country: str, state: str, place: str
) -> None:
    """A billing address typed by hand must not slip past the embargo by how it spells the
    region: the local names, "City of", "Republic", and Russia's writing of them as its
    own (the place, and the decision, are Ukraine's region)."""
    dest = destination_from_stripe_address({"country": country, "state": state})
    assert dest is not None and (dest.country, dest.subdivision) == ("UA", place)


@pytest.mark.parametrize(("country", "state"), [("UA", "Kyiv"), ("RU", "Moskva"), ("UA", "City")])
def test_other_regions_are_not_taken_for_embargoed_ones(country: str, state: str) -> None:
    dest = destination_from_stripe_address({"country": country, "state": state})
    assert dest is not None and dest.country == country
    assert dest.subdivision not in {"UA-43", "UA-40", "UA-14", "UA-09"}


@pytest.mark.parametrize(
    ("country", "postal_code", "where"),
    [("RE", "98800", "Nouvelle-Calédonie"), ("MF", "97133", "Saint-Barthélemy"),
     ("GP", "97400", "La Réunion"), ("RE", "75001", "metropolitan France"), ("MC", "75001", None)],
)  # fmt: skip
def test_a_french_overseas_place_written_as_a_country_has_its_own_postal_codes(
    country: str, postal_code: str, where: str | None
) -> None:
    """Reunion written RE (as Stripe writes it) with Noumea's 98800 is no address in
    Reunion: refused, naming where the code is, so New Caledonia's parcel is not sold
    as the EU's."""
    error = refused({"country": country, "postal_code": postal_code})
    assert error.code == "invalid_postal_code"
    assert where is None or where in str(error)


@pytest.mark.parametrize(
    ("country", "postal_code"), [("RE", "97400"), ("GP", "97110"), ("NC", "98800"), ("MC", "98000")]
)
def test_a_french_overseas_place_with_its_own_postal_code_is_fine(
    country: str, postal_code: str
) -> None:
    assert (
        normalize_destination({"country": country, "postal_code": postal_code}).country == country
    )


def test_a_place_name_that_ends_in_a_period_is_not_given_two() -> None:
    error = refused({"country": "US", "subdivision": "US-NY", "postal_code": "00802"})
    assert str(error).endswith("Virgin Islands, U.S., not in New York.")
