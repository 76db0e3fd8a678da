"""What tests compare before and after a drill: a table's items, in an order-free form."""

from __future__ import annotations

import json


def table_items(ddb, table: str) -> list[str]:
    """Return every item of ``table`` as canonical JSON text, sorted: equal lists mean equal tables."""
    return sorted(
        json.dumps(item, sort_keys=True)
        for page in ddb.get_paginator("scan").paginate(TableName=table)
        for item in page["Items"]
    )
