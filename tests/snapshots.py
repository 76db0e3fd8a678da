"""What tests compare before and after a drill: a table's items, and every object's bytes, in an order-free form."""

from __future__ import annotations

import json


def table_items(ddb, table: str) -> list[str]:
    """Return every item of ``table`` as canonical JSON text, sorted: equal lists mean equal tables."""
    return sorted(
        json.dumps(item, sort_keys=True)
        for page in ddb.get_paginator("scan").paginate(TableName=table)
        for item in page["Items"]
    )


def every_object(s3) -> dict[str, bytes]:
    """Every object of every bucket, by bytes: what a drill must never change."""
    return {
        f"{bucket['Name']}/{entry['Key']}": s3.get_object(Bucket=bucket["Name"], Key=entry["Key"])["Body"].read()
        for bucket in s3.list_buckets()["Buckets"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket["Name"])
        for entry in page.get("Contents", ())
    }
