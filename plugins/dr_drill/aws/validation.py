"""Reading the scratch table back to prove what the restore wrote."""

from __future__ import annotations

from typing import Any


def count_items(ddb: Any, table_name: str) -> int:
    """Return the exact number of items, from a consistent full scan.

    DescribeTable's ItemCount is refreshed only every few hours on AWS, so it proves nothing.
    """
    total = 0
    paginator = ddb.get_paginator("scan")
    for page in paginator.paginate(TableName=table_name, Select="COUNT", ConsistentRead=True):
        total += page["Count"]
    return total
