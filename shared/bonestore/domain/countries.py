"""Countries for an address form: names, subdivisions, and how each writes its postal code.

What ``GET /countries`` answers, so that a storefront can shape its address form
for every ISO 3166-1 country without knowing any of this itself: the customer-facing
name, the ISO 3166-2 subdivisions as a list (plus the US military "states"
AA/AE/AP that ISO does not list), whether the subdivision and the postal code are
asked for, and a real example of the country's postal code for a placeholder.

Pure and free of pydantic (the catalog function serves it, and its cold start is a
product metric). pycountry's data is read on first use (see ``_iso_tables``). The
postal-code facts agree with ``domain.geo``: a country whose format geo validates has
``required: true`` and an example geo accepts unchanged (``tests/unit/test_countries.py``
holds them to it).
"""

from __future__ import annotations

import logging
import sys
from functools import cache
from pathlib import Path
from typing import Any

# The US military "states" (APO/FPO/DPO): used by USPS and Stripe, not in ISO 3166-2.
US_MILITARY = {
    "US-AA": "Armed Forces Americas",
    "US-AE": "Armed Forces Europe",
    "US-AP": "Armed Forces Pacific",
}

# Names shown to customers where ISO's is awkward ("Russian Federation").
NAME_OVERRIDES = {
    "RU": "Russia",
    "FM": "Micronesia",
    "PS": "Palestine",
    "CD": "the Democratic Republic of the Congo",
    "BN": "Brunei",
    "CZ": "Czechia",
}

# Countries whose addresses need a state/province/prefecture to be delivered (and where the
# rules may decide on it: US territories and military addresses), with its local word.
SUBDIVISION_REQUIRED = {
    "US": "State",
    "CA": "Province",
    "AU": "State",
    "BR": "State",
    "MX": "State",
    "IN": "State",
    "JP": "Prefecture",
}
SUBDIVISION_LABELS = {"GB": "County", "IE": "County", "UA": "Region", "IT": "Province"}

# A real postal code per country, in its canonical form. Countries whose format geo knows
# (``geo._POSTAL``) are required; the others with postal codes are asked for but optional.
POSTAL_EXAMPLES = {
    # formats geo validates
    "US": "20500", "PR": "00901", "CA": "K1A 0B1", "GB": "SW1A 1AA", "IE": "D02 X285",
    "NL": "1012 JS", "JP": "100-0001", "BR": "01310-100", "PL": "00-950", "SE": "111 22",
    "UA": "01001", "AU": "2000", "NZ": "6011", "CH": "8001", "NO": "0150", "AT": "1010",
    "BE": "1000", "DK": "1050", "LU": "1009", "HU": "1051", "BG": "1000", "CY": "1010",
    "SI": "1000", "DE": "10115", "FR": "75001", "IT": "00184", "ES": "28013", "FI": "00100",
    "EE": "10111", "HR": "10000", "MX": "06600", "CU": "10400", "IR": "1193653471",
    "SG": "018956", "IN": "110001", "RU": "101000", "BY": "220030", "IL": "9614303",
    "RO": "010011",
    # other countries with postal codes (shown, optional)
    "PT": "1000-001", "GR": "105 57", "CZ": "110 00", "SK": "811 01", "LT": "LT-01100",
    "LV": "LV-1050", "MT": "VLT 1117", "IS": "101", "TR": "06100", "KR": "03187",
    "CN": "100000", "TW": "100", "TH": "10200", "MY": "50050", "PH": "1000", "ID": "10110",
    "VN": "100000", "ZA": "0002", "AR": "C1002", "CL": "8320000", "CO": "110111",
    "PE": "15001", "EG": "11511", "MA": "10000", "SA": "11564", "PK": "44000", "BD": "1000",
    "KZ": "010000", "RS": "11000", "BA": "71000", "MK": "1000", "AL": "1001", "MD": "2001",
    "GE": "0105", "AM": "0010", "AZ": "1000", "LK": "00100", "NP": "44600", "KE": "00100",
    "NG": "100001", "TN": "1000", "DZ": "16000", "LI": "9490", "MC": "98000", "SM": "47890",
    "VA": "00120", "AD": "AD500", "FO": "100", "GL": "3900", "GU": "96910", "VI": "00802",
    "AS": "96799", "MP": "96950", "UY": "11000", "PY": "1209", "EC": "170150",
    "VE": "1010", "CR": "10101", "DO": "10101", "GT": "01001", "SV": "1101", "HN": "11101",
    "NI": "10000", "PA": "0801", "KH": "120101", "LA": "01000", "MN": "15160", "KG": "720001",
    "TJ": "734000", "UZ": "100000", "TM": "744000", "ME": "81000", "JO": "11110", "KW": "13001",
    "BH": "317", "OM": "100", "LB": "1107 2810", "IQ": "10001", "AF": "1001", "ET": "1000",
    "SN": "10200", "TZ": "11101", "ZM": "10101", "MZ": "1100", "LS": "100", "SZ": "H100",
    "MG": "101", "MU": "11302", "HT": "6110", "CV": "7600", "PG": "111", "NC": "98800",
    "PF": "98714", "RE": "97400", "GP": "97100", "MQ": "97200", "GF": "97300", "YT": "97600",
    "PM": "97500", "BL": "97133", "MF": "97150", "WF": "98600", "IM": "IM1 1AA",
    "JE": "JE2 3AB", "GG": "GY1 1AA", "GI": "GX11 1AA", "FK": "FIQQ 1ZZ", "AX": "22100",
    "SJ": "9170", "BM": "HM 12", "KY": "KY1-1001", "VG": "VG1110", "TC": "TKCA 1ZZ",
    "BT": "11001", "MV": "20026", "BN": "BS8811", "XK": "10000", "LR": "1000", "NE": "8001",
    "SD": "11111", "PW": "96940", "MH": "96960", "FM": "96941",
}  # fmt: skip
# The format of these is known to geo (it refuses anything else): the postal code is required.
POSTAL_REQUIRED = frozenset(
    {
        "US", "PR", "CA", "GB", "IE", "NL", "JP", "BR", "PL", "SE", "UA", "AU", "NZ", "CH",
        "NO", "AT", "BE", "DK", "LU", "HU", "BG", "CY", "SI", "DE", "FR", "IT", "ES", "FI",
        "EE", "HR", "MX", "CU", "IR", "SG", "IN", "RU", "BY", "IL", "RO",
    }
)  # fmt: skip
# Irish addresses are delivered without an Eircode, though geo checks one when given.
POSTAL_OPTIONAL_THOUGH_KNOWN = frozenset({"IE"})
POSTAL_LABELS = {
    "US": "ZIP code",
    "PR": "ZIP code",
    "GB": "Postcode",
    "AU": "Postcode",
    "NZ": "Postcode",
    "IE": "Eircode",
    "IN": "PIN code",
}


# pycountry's ISO 3166 data as two plain tables: alpha-2 -> ISO's common name (else its
# name), in ISO's order; and country -> {ISO 3166-2 code -> name}. pycountry's own loader
# makes an object and indexes every field of each of the ~5,000 subdivisions on the first
# lookup (~100 ms of an eligibility or checkout cold start); reading its two JSON files
# into these tables costs ~11 ms, and the build (``python -m bonestore.domain.countries``,
# shared/Makefile) writes them to ISO_ARTIFACT, which loads in ~2 ms (the files' hashes
# included). The artifact is stamped with the SHA-256 of the files it came from and used
# only when they are the files beside it; otherwise, as without it, the files are read.
# tests/unit/test_countries.py holds the tables to pycountry's own lookups, for every
# country and subdivision.
ISO_ARTIFACT = Path(__file__).resolve().parent.parent / "data" / "iso3166.pickle"
_FORMAT = 1
_log = logging.getLogger(__name__)

IsoTables = tuple[dict[str, str], dict[str, dict[str, str]]]


ISO_FILES = ("iso3166-1.json", "iso3166-2.json")


def _iso_paths() -> list[Path]:
    """pycountry's two ISO 3166 files, found without importing pycountry (~2.5 ms: its
    ``DATABASE_DIR``, ``pycountry/databases``)."""
    from importlib.util import find_spec

    spec = find_spec("pycountry")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("pycountry")
    folder = Path(next(iter(spec.submodule_search_locations))) / "databases"
    return [folder / name for name in ISO_FILES]


def _iso_files() -> list[bytes]:
    return [path.read_bytes() for path in _iso_paths()]


def _iso_stamp(files: list[bytes]) -> dict[str, Any]:
    import hashlib

    return {"format": _FORMAT, "sha256": [hashlib.sha256(data).hexdigest() for data in files]}


def _tables_from(files: list[bytes]) -> IsoTables:
    import json

    countries, subdivisions = json.loads(files[0])["3166-1"], json.loads(files[1])["3166-2"]
    names = {entry["alpha_2"]: entry.get("common_name") or entry["name"] for entry in countries}
    by_country: dict[str, dict[str, str]] = {}
    for entry in subdivisions:
        code = entry["code"].upper()
        by_country.setdefault(code.split("-", 1)[0], {})[code] = entry["name"]
    return names, by_country


@cache
def _iso_tables() -> IsoTables:
    """The tables: from the build's artifact when it matches pycountry's files, else read."""
    import pickle

    files = _iso_files()
    try:
        raw = ISO_ARTIFACT.read_bytes()
    except FileNotFoundError:
        return _tables_from(files)
    try:
        body = pickle.loads(raw)  # noqa: S301 -- our own build artifact, beside our code
        if body["stamp"] == _iso_stamp(files):
            tables: IsoTables = body["tables"]
            return tables
        _log.warning("ISO 3166 artifact built from other pycountry data: reading its files")
    except Exception as exc:  # an unreadable artifact: the files decide instead
        _log.warning("ISO 3166 artifact unreadable (%s): reading pycountry's files", exc)
    return _tables_from(files)


def compile_to(package_dir: str | Path) -> Path:
    """Write the tables of the pycountry installed here into ``package_dir`` (a
    ``bonestore`` package directory) as the artifact a cold start loads."""
    import pickle

    files = _iso_files()
    target = Path(package_dir) / "data" / ISO_ARTIFACT.name
    body = {"stamp": _iso_stamp(files), "tables": _tables_from(files)}
    target.write_bytes(pickle.dumps(body, protocol=pickle.HIGHEST_PROTOCOL))
    return target


def _country_names() -> dict[str, str]:
    return _iso_tables()[0]


def _subdivisions_by_country() -> dict[str, dict[str, str]]:
    return _iso_tables()[1]


def is_country(code: str) -> bool:
    """Whether ``code`` is an ISO 3166-1 alpha-2 code (upper case)."""
    return code in _country_names()


def country_codes() -> tuple[str, ...]:
    """Every ISO 3166-1 alpha-2 code, in ISO's order."""
    return tuple(_country_names())


def country_name(code: str) -> str:
    """The customer-facing name of an ISO 3166-1 alpha-2 country (the code if unknown)."""
    code = code.upper()
    if code in NAME_OVERRIDES:
        return NAME_OVERRIDES[code]
    return _country_names().get(code, code)


@cache
def subdivisions(country: str) -> dict[str, str]:
    """ISO 3166-2 code -> name for one country (plus the US military codes)."""
    names = dict(_subdivisions_by_country().get(country, {}))
    if country == "US":
        names.update(US_MILITARY)
    return names


def subdivision_required(country: str) -> bool:
    """Whether an address in ``country`` needs its subdivision (state, province...)."""
    return country.upper() in SUBDIVISION_REQUIRED


def postal_code_required(country: str) -> bool:
    """Whether an address in ``country`` needs a postal code (geo knows its format)."""
    code = country.upper()
    return code in POSTAL_REQUIRED and code not in POSTAL_OPTIONAL_THOUGH_KNOWN


def _country_entry(code: str) -> dict[str, Any]:
    subs = subdivisions(code)
    example = POSTAL_EXAMPLES.get(code)
    return {
        "code": code,
        "name": country_name(code),
        "subdivisions": [
            {"code": sub, "name": name}
            for sub, name in sorted(subs.items(), key=lambda item: item[1].casefold())
        ],
        "subdivision": {
            "required": subdivision_required(code) and bool(subs),
            "label": SUBDIVISION_REQUIRED.get(code) or SUBDIVISION_LABELS.get(code) or "Region",
        },
        "postal_code": {
            "required": postal_code_required(code),
            "used": example is not None,
            "example": example,
            "label": POSTAL_LABELS.get(code, "Postal code"),
        },
    }


@cache
def all_countries() -> tuple[dict[str, Any], ...]:
    """Every ISO 3166-1 country, sorted by its customer-facing name."""
    entries = [_country_entry(code) for code in country_codes()]
    entries.sort(key=lambda entry: _sort_key(entry["name"]))
    return tuple(entries)


def _sort_key(name: str) -> str:
    import unicodedata

    bare = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return bare.removeprefix("the ").casefold()


def main(argv: list[str]) -> int:
    """``python -m bonestore.domain.countries PACKAGE_DIR``: the build's artifact."""
    if len(argv) != 1:
        print("usage: python -m bonestore.domain.countries PACKAGE_DIR", file=sys.stderr)
        return 2
    print(f"ISO 3166 tables -> {compile_to(argv[0])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
