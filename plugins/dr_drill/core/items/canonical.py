"""Items in DynamoDB's typed form, with numbers as exact decimal text.

The original function handed ``json.loads`` output (floats) to boto3, which refuses
floats. Here a number never becomes a float: its decimal text is kept exactly and only
written the way DynamoDB itself normalises it.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

TypedValue = dict[str, Any]
TypedItem = dict[str, TypedValue]

# Decimal text that canonical_number would return unchanged ("-0" aside): most numbers already are.
CANONICAL_NUMBER_TEXT = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]*[1-9])?")


class CanonicalItem(dict):  # type: ignore[type-arg]
    """A typed item built by ``to_typed_item``: already in the digest's canonical form.

    Its numbers are canonical and it holds no sets or binary, so the content digest can
    hash it as it is instead of rebuilding it (see ``dr_drill.core.items.digest.canonical_bytes``).
    """


def canonical_number(value: int | Decimal) -> str:
    """Return ``value`` as DynamoDB stores it: no exponent, no redundant zeros.

    ``1.50`` -> ``1.5``, ``1E+2`` -> ``100``, ``-0`` -> ``0``. Exact for any size.
    """
    if isinstance(value, bool):
        raise TypeError("a boolean is not a number")
    if isinstance(value, int):
        return str(value)
    text = str(value)
    if text != "-0" and CANONICAL_NUMBER_TEXT.fullmatch(text):
        return text
    if not value.is_finite():
        raise ValueError("NaN and infinity are not numbers DynamoDB can store")
    if value.is_zero():
        return "0"
    sign, digits, exponent = value.as_tuple()
    while len(digits) > 1 and digits[-1] == 0:
        digits = digits[:-1]
        exponent += 1
    return format(Decimal((sign, digits, exponent)), "f")


def to_typed_value(value: Any) -> TypedValue:
    """Convert one plain JSON value (as parsed with Decimal numbers) to DynamoDB's typed form."""
    kind = type(value)
    # Exact types first, the commonest first: this runs for every value of every item restored.
    if kind is str:
        return {"S": value}
    if kind is int:  # exactly int, so not a bool
        return {"N": str(value)}
    if kind is Decimal:
        text = str(value)
        canonical = text != "-0" and CANONICAL_NUMBER_TEXT.fullmatch(text)
        return {"N": text if canonical else canonical_number(value)}
    if kind is dict:
        return {"M": {key: to_typed_value(inner) for key, inner in value.items()}}
    if kind is list:
        return {"L": [to_typed_value(inner) for inner in value]}
    return _typed_other(value)


def _typed_other(value: Any) -> TypedValue:
    """The rest: booleans, nulls, subclasses of the JSON types, and what has no DynamoDB type."""
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, bool):
        return {"BOOL": value}
    if value is None:
        return {"NULL": True}
    if isinstance(value, (int, Decimal)):
        return {"N": canonical_number(value)}
    if isinstance(value, dict):
        return {"M": {key: to_typed_value(inner) for key, inner in value.items()}}
    if isinstance(value, list):
        return {"L": [to_typed_value(inner) for inner in value]}
    if isinstance(value, float):
        raise TypeError("floats lose digits: parse numbers as Decimal")
    raise TypeError(f"{type(value).__name__} has no DynamoDB type")


def to_typed_item(item: Any) -> CanonicalItem:
    """Convert one plain JSON object to a DynamoDB item, in canonical form."""
    if not isinstance(item, dict):
        raise TypeError(f"an item must be a JSON object, not {type(item).__name__}")
    return CanonicalItem({key: to_typed_value(value) for key, value in item.items()})
