"""Typed items with exact numbers: DynamoDB's number text, never a float, booleans kept apart."""

from __future__ import annotations

from decimal import Decimal

import pytest

from dr_drill.core.items.canonical import canonical_number, to_typed_value


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(Decimal("1.50"), "1.5", id="trailing-zero"),
        pytest.param(Decimal("1E+2"), "100", id="exponent"),
        pytest.param(Decimal("-0"), "0", id="negative-zero"),
        pytest.param(Decimal("0.000"), "0", id="zero-with-scale"),
        pytest.param(Decimal("-12.3400"), "-12.34", id="negative"),
        pytest.param(Decimal("1.23E-10"), "0.000000000123", id="small"),
        pytest.param(12345678901234567890123456789012345678, "12345678901234567890123456789012345678", id="38-digits"),
        pytest.param(Decimal("9." + "9" * 37 + "E+125"), "9" * 38 + "0" * 88, id="dynamodb-max"),
    ],
)
def test_canonical_number_is_exact(value, expected):
    assert canonical_number(value) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("4713.26", "4713.26", id="plain-fraction"),
        pytest.param("1.50", "1.5", id="trailing-zero"),
        pytest.param("1E+2", "100", id="exponent"),
        pytest.param("100", "100", id="integer-text"),
        pytest.param("-0", "0", id="negative-zero"),
        pytest.param("-0.0", "0", id="negative-zero-fraction"),
        pytest.param("0E-5", "0", id="zero-with-exponent"),
        pytest.param("1E-7", "0.0000001", id="small-exponent"),
        pytest.param("007", "7", id="leading-zeros"),
        pytest.param("-12.3400", "-12.34", id="negative-trailing-zeros"),
        pytest.param("123456789012345678901234567890.5", "123456789012345678901234567890.5", id="beyond-28-digits"),
    ],
)
def test_canonical_number_of_decimals(text, expected):
    assert canonical_number(Decimal(text)) == expected


@pytest.mark.parametrize("bad", [Decimal("NaN"), Decimal("Infinity")])
def test_non_finite_numbers_are_refused(bad):
    with pytest.raises(ValueError, match="NaN and infinity are not numbers DynamoDB can store"):
        canonical_number(bad)


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity"])
def test_canonical_number_still_refuses_what_dynamodb_cannot_store(text):
    with pytest.raises(ValueError):
        canonical_number(Decimal(text))


def test_floats_are_refused_so_digits_are_never_lost():
    with pytest.raises(TypeError, match="floats lose digits"):
        to_typed_value(0.1)


def test_booleans_are_not_numbers():
    assert to_typed_value(True) == {"BOOL": True}
    assert to_typed_value(1) == {"N": "1"}
