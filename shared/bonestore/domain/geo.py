"""Destinations: the normalized shape of "where to ship", and its validation.

Country and subdivision codes are checked against ISO 3166 (``pycountry``),
plus the US military "states" AA/AE/AP that ISO does not list. Postal codes
are validated and put into their country's canonical form where the country
has one (CA ``H2X 1Y4``, US ``12345`` / ``12345-6789``, GB ``SW1A 1AA``, ...);
elsewhere they are upper-cased and their spacing collapsed.

pycountry's data is read on the first lookup (``bonestore.domain.countries``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from bonestore.domain.countries import country_name as country_name
from bonestore.domain.countries import is_country as _is_country
from bonestore.domain.countries import subdivisions as _subdivisions
from bonestore.domain.errors import InvalidInput

# Canonical postal forms: (pattern on the compact form, formatter). The compact form is the
# input upper-cased with spaces and dashes removed.
# re.ASCII throughout: Python's \d also matches fullwidth and Arabic-Indic digits, which a
# range rule compares as text ("\uff19\uff15\uff10\uff10\uff10" is no 95000 to it).
_CA = re.compile(r"[ABCEGHJ-NPRSTVXY]\d[ABCEGHJ-NPRSTV-Z]\d[ABCEGHJ-NPRSTV-Z]\d", re.ASCII)
_GB = re.compile(r"(GIR0AA|[A-Z]{1,2}\d[A-Z\d]?\d[A-Z]{2})", re.ASCII)
_IE = re.compile(r"[AC-FHKNPRTV-Y]\d[\dW][AC-FHKNPRTV-Y\d]{4}", re.ASCII)
_NL = re.compile(r"[1-9]\d{3}[A-Z]{2}", re.ASCII)


def _split_last3(compact: str) -> str:
    return f"{compact[:-3]} {compact[-3:]}"


def _digits(n: int) -> re.Pattern[str]:
    return re.compile(rf"\d{{{n}}}", re.ASCII)


_POSTAL: dict[str, tuple[re.Pattern[str], Any]] = {
    "US": (re.compile(r"\d{5}(\d{4})?", re.ASCII), lambda c: "-".join(filter(None, (c[:5], c[5:])))),
    "PR": (re.compile(r"00[679]\d{2}(\d{4})?", re.ASCII), lambda c: "-".join(filter(None, (c[:5], c[5:])))),
    "CA": (_CA, _split_last3),
    "GB": (_GB, _split_last3),
    "IE": (_IE, lambda c: f"{c[:3]} {c[3:]}"),
    "NL": (_NL, lambda c: f"{c[:4]} {c[4:]}"),
    "JP": (_digits(7), lambda c: f"{c[:3]}-{c[3:]}"),
    "BR": (_digits(8), lambda c: f"{c[:5]}-{c[5:]}"),
    "PL": (_digits(5), lambda c: f"{c[:2]}-{c[2:]}"),
    "SE": (_digits(5), lambda c: f"{c[:3]} {c[3:]}"),
    # Ukraine: 5 digits; the 6-digit Russian-assigned codes (295000-299999) used in occupied
    # Crimea/Sevastopol are accepted so that the embargo rules can see them.
    "UA": (re.compile(r"\d{5}|29[5-9]\d{3}", re.ASCII), str),
    **{
        cc: (_digits(n), str)
        for cc, n in {
            "AU": 4, "NZ": 4, "CH": 4, "NO": 4, "AT": 4, "BE": 4, "DK": 4, "LU": 4, "HU": 4,
            "BG": 4, "CY": 4, "SI": 4, "DE": 5, "FR": 5, "IT": 5, "ES": 5, "FI": 5, "EE": 5,
            "HR": 5, "MX": 5, "CU": 5, "IR": 10, "SG": 6, "IN": 6, "RU": 6, "BY": 6,
            "IL": 7, "RO": 6,
        }.items()
    },
}  # fmt: skip
_GENERIC_POSTAL = re.compile(r"[A-Z0-9][A-Z0-9 -]{0,10}[A-Z0-9]|[A-Z0-9]")
# "PO Box 12", "P.O.Box12", "P/O Box", "PO-Box", "Post Office Box", "Post Box", "GPO Box"
# (Australia's General Post Office boxes), "POB 7": dots, spaces, dashes or underscores
# between the letters (a slash between P and O), and the number written against "box"
# ("Box12"); a word that goes on ("Boxer", "Boxwood") is a street, not a box.
_PO_BOX = re.compile(
    r"\b(?:g?p[\s./_-]*o|post(?:[\s._-]*office)?)[\s._-]*box(?![a-z])"
    r"|\bp[\s._-]*o[\s._-]*b[\s._-]*\d",
    re.IGNORECASE,
)


class Destination(BaseModel):
    """Where to ship, normalized (see :func:`normalize_destination`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    country: str
    subdivision: str | None = None
    postal_code: str | None = None
    city: str | None = None
    line1: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The contract's Destination: only the fields that are set."""
        return self.model_dump(exclude_none=True)


def is_country(code: str) -> bool:
    return _is_country(code.upper())


def subdivision_name(code: str) -> str | None:
    code = code.upper()
    return _subdivisions(code.partition("-")[0]).get(code)


def subdivision_country(code: str) -> str | None:
    """The country of an ISO 3166-2 code (or US military code), None if unknown."""
    code = code.upper()
    country = code.partition("-")[0]
    return country if code in _subdivisions(country) else None


def is_po_box(line1: str | None) -> bool:
    """Whether a first address line reads like a PO box ("PO Box 12", "P.O. Box", ...), in
    fullwidth letters too (NFKC folds them)."""
    return bool(line1) and _PO_BOX.search(unicodedata.normalize("NFKC", line1 or "")) is not None


def _ascii_digits(value: str) -> str:
    """Fullwidth letters and digits folded (NFKC), and any other decimal digit (Arabic-Indic,
    Devanagari...) written as its ASCII digit: one postal code has one spelling."""
    folded = unicodedata.normalize("NFKC", value)
    return "".join(str(unicodedata.decimal(ch)) if ch.isdecimal() else ch for ch in folded)


def compact_postal(value: str) -> str:
    return re.sub(r"[\s-]+", "", _ascii_digits(value).upper())


def canonical_postal_code(country: str, value: str) -> str | None:
    """The canonical form of a postal code in ``country``, None when it cannot be one."""
    compact = compact_postal(value.strip())
    rule = _POSTAL.get(country)
    if rule is not None:
        pattern, fmt = rule
        return str(fmt(compact)) if pattern.fullmatch(compact) else None
    cleaned = re.sub(r"\s+", " ", _ascii_digits(value).strip().upper())
    return cleaned if _GENERIC_POSTAL.fullmatch(cleaned) else None


# Places apart that a postal code names, per country: where the rules decide otherwise
# than for the rest of the country (territories, Alaska, Hawaii, Puerto Rico, the military
# "states"; the overseas departments and collectivities of France), or another country
# that shares the postal system (Monaco in France's; Palau, Micronesia and the Marshall
# Islands in the US's; the Crown dependencies and Gibraltar in the UK's; Christmas Island,
# the Cocos Islands and Norfolk Island in Australia's). Ranges are over the compact code's
# first characters (as many as the bounds have); the first range that holds it names the
# place. A code no range holds is in the rest of the country (``MAINLAND``).
_POSTAL_PLACES: Mapping[str, tuple[tuple[str, str, str], ...]] = {
    "US": (  # USPS ZIP prefixes, and 5-digit ranges where places share one
        ("00600", "00799", "US-PR"),
        ("00800", "00899", "US-VI"),
        ("00900", "00999", "US-PR"),
        ("09000", "09899", "US-AE"),
        ("34000", "34099", "US-AA"),
        ("96200", "96699", "US-AP"),
        ("96799", "96799", "US-AS"),
        ("96898", "96898", "US-UM"),  # Wake Island
        ("96700", "96899", "US-HI"),
        ("96939", "96940", "PW"),
        ("96941", "96944", "FM"),
        ("96960", "96970", "MH"),
        ("96950", "96952", "US-MP"),
        ("96900", "96999", "US-GU"),
        ("99500", "99999", "US-AK"),
    ),
    "FR": (  # La Poste: 97x and 98x are overseas
        ("97133", "97133", "FR-BL"),
        ("97150", "97150", "FR-MF"),
        ("97100", "97199", "FR-971"),
        ("97200", "97299", "FR-972"),
        ("97300", "97399", "FR-973"),
        ("97400", "97499", "FR-974"),
        ("97500", "97599", "FR-PM"),
        ("97600", "97699", "FR-976"),
        ("98000", "98099", "MC"),
        ("98400", "98499", "FR-TF"),
        ("98600", "98699", "FR-WF"),
        ("98700", "98799", "FR-PF"),
        ("98800", "98899", "FR-NC"),
    ),
    "GB": (("GX11", "GX11", "GI"), ("GY", "GY", "GG"), ("IM", "IM", "IM"), ("JE", "JE", "JE")),
    "AU": (("2899", "2899", "NF"), ("6798", "6798", "CX"), ("6799", "6799", "CC")),
    "IT": (("00120", "00120", "VA"), ("47890", "47899", "SM")),
    "CH": (("9485", "9498", "LI"),),
    "DK": (("3900", "3999", "GL"),),
}
# The places apart written as countries of their own, with France's postal codes: each
# code must be one of that place's ("RE" with Noumea's 98800 is no address in Reunion).
_FRENCH_SYSTEM_PLACES = {
    "GP": "FR-971", "MQ": "FR-972", "GF": "FR-973", "RE": "FR-974", "PM": "FR-PM",
    "YT": "FR-976", "BL": "FR-BL", "MF": "FR-MF", "TF": "FR-TF", "WF": "FR-WF",
    "PF": "FR-PF", "NC": "FR-NC", "MC": "MC",
}  # fmt: skip
MAINLAND = {"US": "one of the states or DC", "FR": "metropolitan France"}
_POSTAL_SUBDIVISIONS = frozenset(
    place for places in _POSTAL_PLACES.values() for _, _, place in places if "-" in place
)


def postal_place(country: str, postal_code: str) -> str | None:
    """The place apart a (canonical) postal code of ``country`` is in: a subdivision code
    (``US-GU``, ``US-HI``, ``FR-NC``) or another country's code (``PW``, ``JE``, ``MC``).
    None: the rest of the country."""
    compact = compact_postal(postal_code)
    for low, high, place in _POSTAL_PLACES.get(country, ()):
        if low <= compact[: len(low)] <= high:
            return place
    return None


def _checked_subdivision(
    country: str, postal: str, subdivision: str | None, field: str
) -> str | None:
    """An address's subdivision, checked against its postal code: the rules decide on the
    place the parcel goes, and carriers route by postal code. A code of a place apart
    names that subdivision when none is given; a postal code and a subdivision that name
    different places, or a code of another country, are refused, so that "US-NY" with a
    Guam ZIP (or France with Noumea's 98800) cannot buy what that place may not have, or
    skip Hawaii's surcharge."""
    place = postal_place(country, postal)
    if place is not None and "-" not in place:
        name = _place_name(country, place)
        raise _elsewhere(
            f"{postal} is a postal code in {name}, not in {country_name(country)}: "
            f"choose {name} as the country.",
            field,
            postal,
            place,
        )
    if subdivision is None:
        return place
    if place != subdivision and (place is not None or subdivision in _POSTAL_SUBDIVISIONS):
        raise _elsewhere(
            f"{postal} is a postal code in {_place_name(country, place)}, "
            f"not in {subdivision_name(subdivision)}",
            field,
            postal,
            place or country,
        )
    return subdivision


def _check_french_system_place(country: str, postal: str, field: str) -> None:
    """A place apart written as its own country (RE, NC, MC...) with a postal code of
    another place in France's system: refused, naming where the code is."""
    place = postal_place("FR", postal)
    if place == _FRENCH_SYSTEM_PLACES[country]:
        return
    raise _elsewhere(
        f"{postal} is a postal code in {_place_name('FR', place)}, not in {country_name(country)}",
        field,
        postal,
        place or "FR",
    )


def _place_name(country: str, place: str | None) -> str:
    """What a customer calls the place ``postal_place`` found in ``country``'s system."""
    if place is None:
        return MAINLAND.get(country, f"the rest of {country_name(country)}")
    return (subdivision_name(place) or place) if "-" in place else country_name(place)


def _sentence(text: str) -> str:
    """``text`` ended by one period ("Virgin Islands, U.S." has its own)."""
    return text if text.endswith(".") else f"{text}."


def _elsewhere(message: str, field: str, postal: str, place: str) -> InvalidInput:
    """A postal code of another place than the address says: ``place`` (its code) in the
    details, so a storefront can say so rather than call the code malformed."""
    return InvalidInput(
        _sentence(message),
        code="invalid_postal_code",
        details=[{"field": f"{field}.postal_code", "value": postal, "place": place}],
    )


def _invalid(code: str, message: str, field: str, value: Any) -> InvalidInput:
    return InvalidInput(message, code=code, details=[{"field": field, "value": value}])


def _text(raw: Mapping[str, Any], key: str, field: str, max_len: int = 200) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > max_len:
        raise _invalid(
            "invalid_destination",
            f"{key} must be a string of at most {max_len} characters",
            f"{field}.{key}",
            value if isinstance(value, str | int | float | bool) else str(value)[:50],
        )
    value = " ".join(value.split())
    return value or None


def normalize_destination(raw: Mapping[str, Any], field: str = "destination") -> Destination:
    """Validate and normalize a destination from a client (see module doc).

    Raises :class:`InvalidInput` with ``invalid_country``, ``invalid_subdivision``,
    ``invalid_postal_code`` or ``invalid_destination``.
    """
    if not isinstance(raw, Mapping):
        raise _invalid("invalid_destination", "destination must be an object", field, None)
    unknown = sorted(
        str(k) for k in raw if k not in {"country", "subdivision", "postal_code", "city", "line1"}
    )
    if unknown:
        raise _invalid(
            "invalid_destination",
            f"unknown destination field {unknown[0]!r}",
            f"{field}.{unknown[0]}",
            None,
        )
    country_raw = raw.get("country")
    if not isinstance(country_raw, str) or not _is_country(country_raw.strip().upper()):
        raise _invalid(
            "invalid_country",
            "country must be an ISO 3166-1 alpha-2 code, like US or CA",
            f"{field}.country",
            country_raw
            if isinstance(country_raw, str | int | float | bool | None)
            else str(country_raw)[:50],
        )
    country = country_raw.strip().upper()

    subdivision = _text(raw, "subdivision", field, 60)
    if subdivision is not None:
        code = subdivision.upper().replace(" ", "")
        if "-" not in code:
            code = f"{country}-{code}"
        if code not in _subdivisions(country):
            raise _invalid(
                "invalid_subdivision",
                f"{subdivision!r} is not a subdivision of {country_name(country)}",
                f"{field}.subdivision",
                subdivision,
            )
        subdivision = code

    postal = _text(raw, "postal_code", field, 40)
    if postal is not None:
        canonical = canonical_postal_code(country, postal)
        if canonical is None:
            raise _invalid(
                "invalid_postal_code",
                f"{postal!r} is not a postal code in {country_name(country)}",
                f"{field}.postal_code",
                postal,
            )
        postal = canonical
        if country in _POSTAL_PLACES:
            subdivision = _checked_subdivision(country, postal, subdivision, field)
        elif country in _FRENCH_SYSTEM_PLACES:
            _check_french_system_place(country, postal, field)

    return Destination(
        country=country,
        subdivision=subdivision,
        postal_code=postal,
        city=_text(raw, "city", field),
        line1=_text(raw, "line1", field),
    )


# What customers write for the regions an embargo names (shipping policy: Crimea,
# Sevastopol, Donetsk, Luhansk), beside ISO 3166-2's own names ("Avtonomna Respublika
# Krym", "Donetska oblast"): a billing address typed by hand must not slip past the
# embargo because it says "Crimea", "City of Sevastopol", "Крим" or "Donetsk People's
# Republic". English, Ukrainian and Russian spellings, as ``_alias_key`` leaves them.
# Russia writes these regions as its own, so under RU they name the same places in UA.
_EMBARGOED_REGION_NAMES: Mapping[str, str] = {
    **dict.fromkeys(("crimea", "krym", "krim", "крым", "крим"), "UA-43"),
    **dict.fromkeys(("sevastopol", "sebastopol", "севастополь"), "UA-40"),
    **dict.fromkeys(
        ("donetsk", "donetska", "donetskaya", "donetskaja", "донецк", "донецька", "донецкая",
         "dnr", "dpr", "днр"),
        "UA-14",
    ),
    **dict.fromkeys(
        ("luhansk", "lugansk", "luhanska", "luganskaya", "luganskaja", "луганск", "луганська",
         "луганская", "lnr", "lpr", "лнр"),
        "UA-09",
    ),
}  # fmt: skip
_SUBDIVISION_ALIASES: Mapping[str, Mapping[str, str]] = {
    "UA": _EMBARGOED_REGION_NAMES,
    "RU": _EMBARGOED_REGION_NAMES,
}
# Words a region's name is written with or without ("Donetsk Oblast", "New York State").
_REGION_WORDS = frozenset({"oblast", "region", "province", "state"})
# And the words around an alias ("Republic of Crimea", "Sevastopol City", "AR Krym",
# "Автономна Республіка Крим", "Донецька область", "Luhansk People's Republic").
_ALIAS_WORDS = _REGION_WORDS | frozenset(
    {"city", "of", "the", "republic", "autonomous", "ar", "peoples", "people", "avtonomna",
     "respublika", "oblast", "область", "республика", "республіка", "автономна", "автономная",
     "город", "місто", "народная", "народна", "г", "м"}
)  # fmt: skip
_NAME_APOSTROPHES = re.compile(r"['’`ʼ]")  # "Luhans'k" is Luhansk
_NAME_PUNCTUATION = re.compile(r"[\s.,_-]+")


def _words(name: str) -> list[str]:
    return _NAME_PUNCTUATION.sub(" ", _NAME_APOSTROPHES.sub("", name.casefold())).split()


def _name_key(name: str) -> str:
    """A region's name compared loosely: case, punctuation and a trailing "oblast",
    "region", "province" or "state" aside."""
    words = _words(name)
    while words and words[-1] in _REGION_WORDS:
        words.pop()
    return " ".join(words)


def _alias_key(name: str) -> str:
    """A name as an alias is looked up: the words around it ("city", "republic") aside."""
    return " ".join(word for word in _words(name) if word not in _ALIAS_WORDS)


def _subdivision_named(country: str, text: str, known: Mapping[str, str]) -> str | None:
    """The subdivision ``text`` names: ISO 3166-2's name exactly (case aside), else loosely
    or by a known alias; None when no name fits, or more than one does (never a guess:
    ISO gives Spain's province and community of Cantabria one name). An alias may name a
    subdivision of another country (Russia's "Crimea" is UA-43)."""
    exact = {sub for sub, name in known.items() if name.casefold() == text.casefold()}
    if not exact:
        key = _name_key(text)
        exact = {sub for sub, name in known.items() if _name_key(name) == key}
        alias = _SUBDIVISION_ALIASES.get(country, {}).get(_alias_key(text))
        if alias is not None:
            exact.add(alias)
    return exact.pop() if len(exact) == 1 else None


def destination_from_stripe_address(
    address: Mapping[str, Any] | None, line1_fallback: str | None = None
) -> Destination | None:
    """A destination from an address Stripe collected; None when it has no usable country.

    Lenient where Stripe is: ``state`` may be a code ("HI", "US-HI") or a name ("Hawaii");
    an unknown state is dropped (None) and a postal code with no canonical form is kept as
    Stripe gave it (upper-cased), never guessed at.
    """
    if not address:
        return None
    country_raw = address.get("country")
    if not isinstance(country_raw, str) or not _is_country(country_raw.strip().upper()):
        return None
    country = country_raw.strip().upper()

    subdivision: str | None = None
    state = address.get("state")
    if isinstance(state, str) and state.strip():
        known = _subdivisions(country)
        text = " ".join(state.split())
        code = text.upper()
        candidates = [code if "-" in code else f"{country}-{code}"]
        for candidate in candidates:
            if candidate in known:
                subdivision = candidate
        if subdivision is None:
            subdivision = _subdivision_named(country, text, known)
        if subdivision is not None and not subdivision.startswith(f"{country}-"):
            # Russia's "Crimea": the place is Ukraine's region, and so is the decision.
            country = subdivision.partition("-")[0]

    postal: str | None = None
    postal_raw = address.get("postal_code")
    if isinstance(postal_raw, str) and postal_raw.strip():
        canonical = canonical_postal_code(country, postal_raw)
        postal = canonical or " ".join(postal_raw.upper().split())
        # Carriers route by postal code: one of a place apart (a territory, Alaska, an APO,
        # New Caledonia...) decides the subdivision, whatever state was typed beside it.
        place = postal_place(country, canonical) if canonical else None
        if place is not None and "-" in place:
            subdivision = place

    def clean(value: Any) -> str | None:
        return " ".join(value.split()) or None if isinstance(value, str) else None

    line1 = clean(address.get("line1")) or clean(line1_fallback)
    return Destination(
        country=country,
        subdivision=subdivision,
        postal_code=postal,
        city=clean(address.get("city")),
        line1=line1,
    )
