"""What a drill cost: the units and requests it consumed, and an estimate in dollars from a price table.

The figures are what the services reported (DynamoDB's ``ConsumedCapacity``) or what the drill
counted (its S3 requests, its scratch table's hours). The dollars are an estimate, and say so:
units times the prices of the region, which the plan's ``prices`` may override. A component
without a figure or a price is left out of the sum and named in ``not_priced``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

# Public on-demand list prices, in USD. DynamoDB Standard table class, on-demand (after the price
# cut of 14 November 2024); S3 Standard requests. Only us-east-1 is known here: in any other
# region the plan's ``prices`` must give them, or the estimate leaves them out.
LIST_PRICES: dict[str, dict[str, float]] = {
    "us-east-1": {
        "write_request_units_per_million": 0.625,
        "read_request_units_per_million": 0.125,
        "s3_put_copy_post_list_requests_per_thousand": 0.005,
        "s3_get_and_other_requests_per_thousand": 0.0004,
    },
}
LIST_PRICES_SOURCE = (
    "AWS public list prices, us-east-1: aws.amazon.com/dynamodb/pricing/on-demand (Standard table class) and "
    "aws.amazon.com/s3/pricing (S3 Standard requests); read on 2026-12-01 from secondary copies of those pages "
    "(the pages themselves could not be fetched from the machine that wrote this table)"
)
PRICE_NAMES = tuple(LIST_PRICES["us-east-1"])
PRICES_SCHEMA: dict[str, Any] = {
    "type": ["null", "object"],
    "description": "Prices in USD overriding the region's list prices (core/evidence/cost.py).",
    "additionalProperties": False,
    "properties": {name: {"type": "number", "minimum": 0} for name in PRICE_NAMES},
}
# S3 bills PUT, COPY, POST and LIST requests at one price, GET and every other request at another;
# DELETE is free (S3 pricing page, "Requests & data retrievals").
_S3_PUT_CLASS = ("Put", "Copy", "Post", "List", "Create", "Complete", "Upload")


def s3_request_class(operation: str) -> str:
    """Return the price class of an S3 operation: ``put`` (PUT, COPY, POST, LIST), ``free`` (DELETE) or ``get``."""
    if operation.startswith(_S3_PUT_CLASS):
        return "put"
    if operation.startswith("Delete"):
        return "free"
    return "get"


def s3_request_counts(by_operation: Mapping[str, int] | None) -> dict[str, Any] | None:
    """Return the drill's S3 requests by price class and by operation; None when none were counted."""
    if by_operation is None:
        return None
    classes = {"put": 0, "get": 0, "free": 0}
    for operation, count in by_operation.items():
        classes[s3_request_class(operation)] += count
    return {**classes, "by_operation": dict(sorted(by_operation.items()))}


def table_hours(created_at: str | None, gone_at: str | None) -> float | None:
    """Hours the scratch table existed: from its creation to its deletion (or the record, if it is still there)."""
    if not created_at or not gone_at:
        return None
    seconds = (datetime.fromisoformat(gone_at) - datetime.fromisoformat(created_at)).total_seconds()
    return round(max(seconds, 0.0) / 3600, 6)


def prices_for(region: str | None, overrides: Mapping[str, float] | None) -> dict[str, float]:
    """Return the prices in effect: the region's list prices (if known here), then the plan's."""
    return {**LIST_PRICES.get(region or "", {}), **(overrides or {})}


def _priced(
    figure: float | None, price_name: str, per: int, prices: Mapping[str, float], what: str, not_priced: list[str]
) -> float:
    if figure is None:
        not_priced.append(f"{what}: not measured")
        return 0.0
    if price_name not in prices:
        not_priced.append(f"{what}: no price ({price_name})")
        return 0.0
    return figure * prices[price_name] / per


def drill_cost(
    *,
    write_units: float | None,
    read_units: float | None,
    hours: float | None,
    s3_requests: dict[str, Any] | None,
    server_side_restore: str | None,
    warm_throughput_asked: bool,
    region: str | None,
    overrides: Mapping[str, float] | None,
) -> dict[str, Any]:
    """Return the evidence's ``cost`` block: the figures, and an estimate in USD that names its prices.

    :param server_side_restore: the method of a server-side restore (billed per GB restored or
        imported, which the drill does not price), or None for batch writes.
    :param warm_throughput_asked: whether the scratch table was created with warm throughput
        (billed on its own, which the drill does not price).
    """
    prices = prices_for(region, overrides)
    not_priced: list[str] = []
    usd = _priced(write_units, "write_request_units_per_million", 10**6, prices, "write units", not_priced)
    usd += _priced(read_units, "read_request_units_per_million", 10**6, prices, "read units", not_priced)
    puts, gets = (s3_requests["put"], s3_requests["get"]) if s3_requests else (None, None)
    usd += _priced(puts, "s3_put_copy_post_list_requests_per_thousand", 1000, prices, "S3 PUT/LIST", not_priced)
    usd += _priced(gets, "s3_get_and_other_requests_per_thousand", 1000, prices, "S3 GET", not_priced)
    if server_side_restore:
        not_priced.append(f"{server_side_restore}: billed per GB restored, not priced here")
    # Storage is billed per GB-month; DynamoDB's size of a new table is refreshed only every six hours.
    not_priced.append("scratch table storage: its size is not measured")
    if warm_throughput_asked:
        not_priced.append("warm throughput asked at creation: no list price in this table")
    return {
        "write_units": write_units,
        "read_units": read_units,
        "scratch_table_hours": hours,
        "s3_requests": s3_requests,
        "estimate": {
            "is_estimate": True,
            "usd": round(usd, 9) if prices else None,
            "region": region,
            "prices": prices,
            "prices_source": _prices_source(region, overrides),
            "not_priced": not_priced,
        },
    }


def _prices_source(region: str | None, overrides: Mapping[str, float] | None) -> str:
    listed = LIST_PRICES_SOURCE if (region or "") in LIST_PRICES else f"no list prices known here for {region}"
    return f"{listed}; overridden by the plan: {', '.join(sorted(overrides))}" if overrides else listed
