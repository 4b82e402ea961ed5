"""Money is an integer count of minor units plus an ISO 4217 code, never a float."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator

Currency = Annotated[str, Field(pattern=r"^[A-Za-z]{3}$")]
# What the shop sells in: the policy prices products and shipping in USD, and one Stripe
# Checkout charges goods and shipping in one currency.
SHOP_CURRENCY = "USD"


class Money(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    amount: Annotated[StrictInt, Field(ge=0, le=100_000_000_00)]
    currency: Currency

    @field_validator("currency")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()

    def __add__(self, other: Money) -> Money:
        if other.currency != self.currency:
            raise ValueError(f"cannot add {other.currency} to {self.currency}")
        return Money(amount=self.amount + other.amount, currency=self.currency)

    def times(self, quantity: int) -> Money:
        return Money(amount=self.amount * quantity, currency=self.currency)

    def as_json(self) -> dict[str, Any]:
        return {"amount": self.amount, "currency": self.currency}
