"""GET /countries' data: every country, its subdivisions, postal codes that agree with geo."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pycountry
import pytest

from bonestore.domain import countries, geo

pytestmark = pytest.mark.unit


def _by_code() -> dict[str, dict[str, Any]]:
    return {entry["code"]: entry for entry in countries.all_countries()}


def test_every_iso_country_once_sorted_by_name() -> None:
    entries = countries.all_countries()
    codes = [entry["code"] for entry in entries]
    assert len(codes) == len(set(codes)) == len(pycountry.countries)
    assert set(codes) == {country.alpha_2 for country in pycountry.countries}
    names = [entry["name"] for entry in entries]
    assert names.index("Canada") < names.index("Cuba") < names.index("Czechia")
    by_code = _by_code()
    assert by_code["RU"]["name"] == "Russia"  # customer-facing, not "Russian Federation"
    assert by_code["CA"]["name"] == "Canada"


def test_subdivisions_are_a_named_list_with_the_us_military_codes() -> None:
    by_code = _by_code()
    us = {sub["code"]: sub["name"] for sub in by_code["US"]["subdivisions"]}
    assert us["US-HI"] == "Hawaii" and us["US-PR"] == "Puerto Rico"
    assert us["US-AA"] == "Armed Forces Americas"
    assert {"US-AE", "US-AP"} <= set(us)
    ca = [sub["name"] for sub in by_code["CA"]["subdivisions"]]
    assert ca == sorted(ca) and "Ontario" in ca and "Quebec" in ca and len(ca) == 13
    ua = {sub["code"] for sub in by_code["UA"]["subdivisions"]}
    assert {"UA-43", "UA-40", "UA-14", "UA-09"} <= ua
    assert by_code["CA"]["subdivision"] == {"required": True, "label": "Province"}
    assert by_code["US"]["subdivision"] == {"required": True, "label": "State"}
    assert by_code["FR"]["subdivision"]["required"] is False
    assert by_code["AQ"]["subdivisions"] == [] and not by_code["AQ"]["subdivision"]["required"]


def test_every_subdivision_listed_is_one_geo_accepts() -> None:
    for entry in countries.all_countries():
        for sub in entry["subdivisions"]:
            assert geo.subdivision_country(sub["code"]) == entry["code"], sub


def test_postal_codes_agree_with_geo() -> None:
    by_code = _by_code()
    known_formats = set(geo._POSTAL)  # the formats geo validates strictly
    assert known_formats == countries.POSTAL_REQUIRED
    for code, entry in by_code.items():
        postal = entry["postal_code"]
        example = postal["example"]
        if postal["required"]:
            assert code in known_formats and example is not None, code
        if example is not None:
            # The placeholder is what the API accepts and echoes unchanged.
            assert geo.canonical_postal_code(code, example) == example, (code, example)
            assert postal["used"]
        else:
            assert not postal["used"] and not postal["required"]
    for code in known_formats:
        assert by_code[code]["postal_code"]["example"] is not None, code
    assert by_code["CA"]["postal_code"] == {
        "required": True,
        "used": True,
        "example": "K1A 0B1",
        "label": "Postal code",
    }
    assert by_code["US"]["postal_code"]["label"] == "ZIP code"
    assert by_code["IE"]["postal_code"]["required"] is False  # Eircode: optional, checked
    assert by_code["HK"]["postal_code"]["used"] is False  # Hong Kong has none


def test_the_check_can_fail() -> None:
    # The consistency test above would catch a placeholder geo refuses ("NY" for Canada).
    assert geo.canonical_postal_code("CA", "10001") is None


def test_answer_is_small_enough_for_a_page() -> None:
    size = len(json.dumps({"items": list(countries.all_countries())}))
    assert size < 400_000, size  # gzip takes it to a fraction; the browser caches it a day


def test_the_plain_iso_tables_agree_with_pycountrys_own_lookups() -> None:
    """countries reads pycountry's data files itself (a cold start skips pycountry's
    indexing): every country, name and subdivision must be what pycountry answers."""
    assert countries.country_codes() == tuple(c.alpha_2 for c in pycountry.countries)
    for country in pycountry.countries:
        code = country.alpha_2
        assert countries.is_country(code) and geo.is_country(code.lower())
        if code not in countries.NAME_OVERRIDES:
            expected = getattr(country, "common_name", None) or country.name
            assert countries.country_name(code) == expected
        found = pycountry.subdivisions.get(country_code=code) or []
        expected_subs = {sub.code.upper(): sub.name for sub in found}
        if code == "US":
            expected_subs.update(countries.US_MILITARY)
        assert countries.subdivisions(code) == expected_subs, code
    assert not countries.is_country("XX") and not countries.is_country("USA")
    assert countries.country_name("XX") == "XX"


# --- the build's artifact (countries.ISO_ARTIFACT) ---


@pytest.fixture
def artifact(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """ISO_ARTIFACT pointed into a scratch package, the tables' cache emptied around."""
    (tmp_path / "data").mkdir()
    monkeypatch.setattr(countries, "ISO_ARTIFACT", tmp_path / "data" / "iso3166.pickle")
    countries._iso_tables.cache_clear()
    yield tmp_path
    countries._iso_tables.cache_clear()


def test_the_artifact_holds_the_tables_read_from_pycountrys_files(artifact: Any) -> None:
    from_files = countries._iso_tables()
    countries._iso_tables.cache_clear()
    assert countries.compile_to(artifact) == countries.ISO_ARTIFACT
    from_artifact = countries._iso_tables()
    assert from_artifact == from_files
    assert from_artifact[1]["CA"]["CA-QC"] == "Quebec"
    assert list(from_artifact[0]) == list(from_files[0])  # ISO's order kept


def test_the_artifact_is_what_a_cold_start_loads(
    artifact: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    countries.compile_to(artifact)
    monkeypatch.setattr(countries, "_tables_from", lambda files: pytest.fail("read the JSON"))
    assert countries.subdivisions("JP")["JP-13"] == "Tokyo"


@pytest.mark.parametrize("damage", ["stale", "garbage"])
def test_a_stale_or_unreadable_artifact_is_ignored(
    artifact: Any, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    import pickle

    countries.compile_to(artifact)
    if damage == "stale":  # built from another pycountry release: its tables may differ
        body = pickle.loads(countries.ISO_ARTIFACT.read_bytes())
        body["stamp"]["sha256"][1] = "0" * 64
        body["tables"][1]["CA"] = {"CA-XX": "Nowhere"}
        countries.ISO_ARTIFACT.write_bytes(pickle.dumps(body))
    else:
        countries.ISO_ARTIFACT.write_bytes(b"not a pickle")
    assert "CA-QC" in countries.subdivisions.__wrapped__("CA")
    assert "ISO 3166 artifact" in caplog.text


def test_the_files_read_are_pycountrys_own() -> None:
    assert countries._iso_paths() == [
        Path(pycountry.countries.filename),
        Path(pycountry.subdivisions.filename),
    ]
