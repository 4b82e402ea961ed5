"""The shipping policy's lists, written once from docs/policy.md (not from the ruleset,
so a test that uses them can catch a ruleset that disagrees)."""

from __future__ import annotations

# The 27 EU member states.
EU27 = "AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE"
EU27_CODES = EU27.split(" ")
# EU territory that ISO 3166-1 also writes as countries of their own: the outermost regions
# (Guadeloupe, French Guiana, Martinique, Reunion, Mayotte, Saint-Martin) and Aland.
EU_REGIONS_AS_COUNTRIES = ["GP", "GF", "MQ", "RE", "YT", "MF", "AX"]
# The overseas countries and territories of France and the Netherlands: not EU territory.
EU_MEMBERS_OVERSEAS_OUTSIDE_EU = {
    "FR-BL": "BL", "FR-NC": "NC", "FR-PF": "PF", "FR-PM": "PM", "FR-TF": "TF", "FR-WF": "WF",
    "NL-AW": "AW", "NL-BQ1": "BQ", "NL-BQ2": "BQ", "NL-BQ3": "BQ", "NL-CW": "CW", "NL-SX": "SX",
}  # fmt: skip
# Where physical goods ship: the US (with Puerto Rico) and the listed countries.
ZONE = ["US", "PR", "CA", "GB", "IE", *EU27_CODES, "CH", "NO", "AU", "NZ", "JP", "SG", "IL"]
ZONE += ["MX", "IN", "BR", *EU_REGIONS_AS_COUNTRIES]
