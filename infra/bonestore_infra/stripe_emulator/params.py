"""Reading and validating decoded request parameters the way Stripe reports problems.

Every reader takes the parameter's Stripe path (``line_items[0][quantity]``) so an
error names it exactly as Stripe does in ``error.param``.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from . import errors


def path(parent: str, key: str | int) -> str:
    return f"{parent}[{key}]" if parent else str(key)


class Params:
    """A decoded parameter dict plus the path it sits at."""

    def __init__(self, data: object, where: str = "") -> None:
        if not isinstance(data, dict):
            raise errors.invalid(where or None, f"Invalid object: {where} must be a hash")
        self.data: dict[str, Any] = data
        self.where = where

    def at(self, key: str) -> str:
        return path(self.where, key)

    def reject_unknown(self, known: Collection[str]) -> None:
        for key in self.data:
            if key not in known:
                raise errors.unknown_param(self.at(key))

    def has(self, key: str) -> bool:
        return key in self.data and self.data[key] != ""

    def _given(self, key: str, *, required: bool) -> Any:
        """The value at ``key``, or None when absent or empty (Stripe's "not given");
        a missing required parameter is Stripe's parameter_missing error."""
        value = self.data.get(key)
        if value is None or value == "":
            if required:
                raise errors.missing(self.at(key))
            return None
        return value

    def text(self, key: str, *, required: bool = False, max_length: int = 5000) -> str | None:
        value = self._given(key, required=required)
        if value is None:
            return None
        if not isinstance(value, str):
            raise errors.invalid(self.at(key), f"Invalid string: {self.at(key)} must be a string")
        if len(value) > max_length:
            raise errors.invalid(
                self.at(key),
                f"Invalid string: {value[:20]}...; must be at most {max_length} characters",
            )
        return value

    def required_str(self, key: str, *, max_length: int = 5000) -> str:
        value = self.text(key, required=True, max_length=max_length)
        assert value is not None
        return value

    def integer(
        self, key: str, *, required: bool = False, minimum: int | None = None
    ) -> int | None:
        value = self._given(key, required=required)
        if value is None:
            return None
        if not isinstance(value, str):
            raise errors.invalid_integer(self.at(key), value)
        text = value.strip()
        digits = text[1:] if text[:1] in "+-" else text
        if not digits.isdigit() or not digits.isascii():
            raise errors.invalid_integer(self.at(key), value)
        number = int(text)
        if abs(number) >= 2**63:
            raise errors.invalid_integer(self.at(key), value)
        if minimum is not None and number < minimum:
            raise errors.invalid(
                self.at(key), f"This value must be greater than or equal to {minimum}."
            )
        return number

    def required_int(self, key: str, *, minimum: int | None = None) -> int:
        value = self.integer(key, required=True, minimum=minimum)
        assert value is not None
        return value

    def boolean(self, key: str) -> bool | None:
        value = self.data.get(key)
        if value is None or value == "":
            return None
        if value in ("true", "false"):
            return bool(value == "true")
        raise errors.invalid(self.at(key), f"Invalid boolean: {value}")

    def enum(self, key: str, allowed: tuple[str, ...], *, required: bool = False) -> str | None:
        value = self.text(key, required=required)
        if value is not None and value not in allowed:
            raise errors.invalid_enum(self.at(key), allowed)
        return value

    def obj(self, key: str, *, required: bool = False) -> Params | None:
        value = self._given(key, required=required)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise errors.invalid(self.at(key), f"Invalid object: {self.at(key)} must be a hash")
        return Params(value, self.at(key))

    def array(self, key: str, *, required: bool = False) -> list[Any] | None:
        value = self._given(key, required=required)
        if value is None:
            return None
        if not isinstance(value, list):
            raise errors.invalid(self.at(key), f"Invalid array: {self.at(key)} must be an array")
        return value

    def metadata(self, key: str = "metadata") -> dict[str, str]:
        value = self.data.get(key)
        if value is None or value == "":
            return {}
        if isinstance(value, list):  # metadata[0]=x decodes as a list
            value = {str(index): item for index, item in enumerate(value)}
        if not isinstance(value, dict):
            raise errors.invalid(self.at(key), f"Invalid object: {self.at(key)} must be a hash")
        if len(value) > 50:
            raise errors.invalid(self.at(key), "Metadata can have up to 50 keys.")
        result: dict[str, str] = {}
        for name, item in value.items():
            where = path(self.at(key), name)
            if len(name) > 40:
                raise errors.invalid(where, "Metadata keys must be at most 40 characters.")
            if not isinstance(item, str):
                raise errors.invalid(where, f"Invalid string: {where} must be a string")
            if len(item) > 500:
                raise errors.invalid(where, "Metadata values must be at most 500 characters.")
            if item != "":
                result[name] = item
        return result

    def expand(self) -> list[str]:
        value = self.data.get("expand")
        if value is None or value == "":
            return []
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise errors.invalid("expand", "Invalid array: expand must be an array of strings")
        return value
