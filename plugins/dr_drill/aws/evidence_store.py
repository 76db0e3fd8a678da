"""Storing evidence records in S3."""

from __future__ import annotations

import json
from typing import Any


def put_evidence(s3: Any, bucket: str, key: str, record: dict[str, Any]) -> str:
    """Write one evidence record and return its ``s3://`` URI."""
    s3.put_object(
        Bucket=bucket,
        Key=key,
        Body=json.dumps(record, indent=2, sort_keys=True).encode(),
        ContentType="application/json",
    )
    return f"s3://{bucket}/{key}"
