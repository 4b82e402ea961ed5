"""Money, as the contract states it: an integer count of minor units plus an ISO 4217 code.

"Money is an integer in minor units plus an ISO 4217 currency" (api-contract, intro);
"Money is never a float" (team standards).
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bonestore.domain.money import Money

pytestmark = pytest.mark.unit

LARGEST = 100_000_000_00  # one hundred million in major units: no real order comes near it


def usd(amount: int) -> Money:
    return Money(amount=amount, currency="USD")


@pytest.mark.parametrize("amount", [0, 1, 4995, LARGEST])
def test_an_amount_is_a_whole_number_of_minor_units_from_zero_to_the_ceiling(amount: int) -> None:
    assert usd(amount).amount == amount


@pytest.mark.parametrize("amount", [-1, LARGEST + 1])
def test_a_negative_or_absurd_amount_is_refused(amount: int) -> None:
    with pytest.raises(ValidationError):
        usd(amount)


@pytest.mark.parametrize("amount", [49.95, 4995.0, "4995", True, None])
def test_money_is_never_a_float_a_string_or_a_flag(amount: object) -> None:
    with pytest.raises(ValidationError):
        Money(amount=amount, currency="USD")  # type: ignore[arg-type]


@pytest.mark.parametrize(("given", "stored"), [("USD", "USD"), ("usd", "USD"), ("eUr", "EUR")])
def test_the_currency_is_an_upper_case_iso_4217_code(given: str, stored: str) -> None:
    assert Money(amount=1, currency=given).currency == stored


@pytest.mark.parametrize("currency", ["US", "USDX", "U1D", "", "US ", "€€€"])
def test_a_currency_that_is_not_three_letters_is_refused(currency: str) -> None:
    with pytest.raises(ValidationError):
        Money(amount=1, currency=currency)


def test_money_takes_no_other_fields_and_cannot_be_changed() -> None:
    with pytest.raises(ValidationError):
        Money(amount=1, currency="USD", display="$0.01")  # type: ignore[call-arg]
    money = usd(1)
    with pytest.raises(ValidationError):
        money.amount = 2  # type: ignore[misc]
    assert money == usd(1)


def test_adding_money_of_one_currency_sums_the_minor_units() -> None:
    total = usd(4995) + usd(595)
    assert total == usd(5590)
    assert (usd(0) + usd(7)).amount == 7


@pytest.mark.parametrize(("left", "right"), [("USD", "EUR"), ("EUR", "USD"), ("JPY", "CHF")])
def test_money_added_across_currencies_is_refused_whichever_side(left: str, right: str) -> None:
    with pytest.raises(ValueError, match=f"cannot add {right} to {left}"):
        _ = Money(amount=100, currency=left) + Money(amount=100, currency=right)


def test_same_currency_in_another_case_adds() -> None:
    assert usd(1) + Money(amount=2, currency="usd") == usd(3)


def test_a_sum_past_the_ceiling_is_refused_not_wrapped() -> None:
    with pytest.raises(ValidationError):
        _ = usd(LARGEST) + usd(1)


@pytest.mark.parametrize(("quantity", "expected"), [(0, 0), (1, 4995), (2, 9990), (999, 4990005)])
def test_a_line_total_is_the_unit_price_times_the_quantity(quantity: int, expected: int) -> None:
    line = usd(4995).times(quantity)
    assert line == usd(expected)
    assert line.currency == "USD"


def test_the_json_form_is_the_contracts_money_object() -> None:
    assert Money(amount=4995, currency="usd").as_json() == {"amount": 4995, "currency": "USD"}
