"""The capacity units DynamoDB says a request consumed (``ReturnConsumedCapacity="TOTAL"``)."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

# Asked of every request whose consumption the drill reports: the answer then carries ``ConsumedCapacity``.
RETURN_CONSUMED_CAPACITY = "TOTAL"


def consumed_units(response: Mapping[str, Any]) -> float | None:
    """Return the ``CapacityUnits`` an answer reports, summed over its tables; None when it reports none.

    Scan and Query answer with one ``ConsumedCapacity`` object; BatchWriteItem and BatchGetItem
    with a list of them, one per table.
    """
    reported = response.get("ConsumedCapacity")
    if not reported:
        return None
    entries = reported if isinstance(reported, list) else [reported]
    units = [entry["CapacityUnits"] for entry in entries if entry.get("CapacityUnits") is not None]
    return float(sum(units)) if units else None


class CapacityMeter:
    """Adds up what many answers, from many threads, report; ``units`` stays None until one reports any."""

    def __init__(self) -> None:
        self.units: float | None = None
        self._lock = threading.Lock()

    def add(self, response: Mapping[str, Any]) -> None:
        units = consumed_units(response)
        if units is not None:
            with self._lock:
                self.units = (self.units or 0.0) + units
