"""The shipping policy's lists, written once from docs/policy.md (not from the ruleset,
so a test that uses them can catch a ruleset that disagrees)."""

from __future__ import annotations

# The 27 EU member states.
EU27 = "AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE"
EU27_CODES = EU27.split(" ")
# Where physical goods ship: the US (with Puerto Rico) and the listed countries.
ZONE = ["US", "PR", "CA", "GB", "IE", *EU27_CODES, "CH", "NO", "AU", "NZ", "JP", "SG", "IL"]
ZONE += ["MX", "IN", "BR"]
