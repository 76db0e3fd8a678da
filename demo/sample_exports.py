"""DynamoDB "Export to S3" fixtures laid out exactly as AWS documents them.

The emulator's ExportTableToPointInTime writes data files but no manifests, so exports are
built here by hand: ``{prefix}/AWSDynamoDB/{export-id}/`` holding ``_started``,
``manifest-summary.json`` and ``manifest-files.json`` (each with its checksum file), and
``data/{name}.json.gz`` files of ``{"Item": {...typed...}}`` lines, some of them empty.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from dr_drill.core.items.canonical import to_typed_item

ACCOUNT = "123456789012"
REGION = "us-east-1"


def table_arn(table_name: str) -> str:
    return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{table_name}"


def typed_items(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Plain sample items in DynamoDB's typed form, numbers as exact decimal text."""
    return [to_typed_item(json.loads(json.dumps(item), parse_float=Decimal)) for item in items]


def _export_id(export_time: datetime, salt: str) -> str:
    return f"{int(export_time.timestamp() * 1000):014d}-{hashlib.sha256(salt.encode()).hexdigest()[:8]}"


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    raise TypeError(type(value).__name__)


@dataclass(frozen=True)
class StoredExport:
    export_id: str
    export_arn: str
    folder: str  # {prefix}/AWSDynamoDB/{export-id}/
    data_keys: list[str]
    item_count: int


def put_export(
    s3: Any,
    bucket: str,
    prefix: str,
    table_name: str,
    items: list[dict[str, Any]],
    export_time: datetime,
    *,
    files: int = 3,
    empty_files: int = 1,
    checksum_suffix: str = ".checksum",
    exported_table: str | None = None,
) -> StoredExport:
    """Write one completed full export of ``items`` (typed) as DynamoDB would."""
    exported_table = exported_table or table_name
    export_id = _export_id(export_time, f"{exported_table}{prefix}{len(items)}")
    folder = f"{prefix.strip('/')}/AWSDynamoDB/{export_id}/" if prefix.strip("/") else f"AWSDynamoDB/{export_id}/"
    s3.put_object(Bucket=bucket, Key=f"{folder}_started", Body=b"")
    manifest_lines, data_keys = [], []
    chunks = [items[start::files] for start in range(files)] + [[] for _ in range(empty_files)]
    for number, chunk in enumerate(chunks):
        lines = "".join(json.dumps({"Item": item}, default=_json_default) + "\n" for item in chunk).encode()
        # An empty partition's file: a gzip stream of nothing, or (the last one) zero bytes.
        body = b"" if not chunk and number == len(chunks) - 1 and empty_files > 1 else gzip.compress(lines)
        key = f"{folder}data/{hashlib.sha256(f'{export_id}{number}'.encode()).hexdigest()[:26]}.json.gz"
        s3.put_object(Bucket=bucket, Key=key, Body=body)
        data_keys.append(key)
        manifest_lines.append(
            json.dumps(
                {
                    "itemCount": len(chunk),
                    "md5Checksum": base64.b64encode(hashlib.md5(body).digest()).decode(),
                    "etag": hashlib.md5(body).hexdigest(),
                    "dataFileS3Key": key,
                }
            )
        )
    files_body = ("\n".join(manifest_lines) + "\n").encode()
    _put_with_checksum(s3, bucket, f"{folder}manifest-files.json", files_body, checksum_suffix)
    export_arn = f"{table_arn(exported_table)}/export/{export_id}"
    summary = {
        "version": "2020-06-30",
        "exportArn": export_arn,
        "startTime": _iso(export_time),
        "endTime": _iso(export_time + timedelta(minutes=5)),
        "tableArn": table_arn(exported_table),
        "tableId": hashlib.sha256(exported_table.encode()).hexdigest()[:32],
        "exportTime": _iso(export_time),
        "s3Bucket": bucket,
        "s3Prefix": prefix.strip("/") or None,
        "s3SseAlgorithm": "AES256",
        "s3SseKmsKeyId": None,
        "manifestFilesS3Key": f"{folder}manifest-files.json",
        "billedSizeBytes": sum(len(line) for line in manifest_lines) * 10,
        "itemCount": len(items),
        "outputFormat": "DYNAMODB_JSON",
        "exportType": "FULL_EXPORT",
    }
    _put_with_checksum(s3, bucket, f"{folder}manifest-summary.json", json.dumps(summary).encode(), checksum_suffix)
    return StoredExport(export_id, export_arn, folder, data_keys, len(items))


def _put_with_checksum(s3: Any, bucket: str, key: str, body: bytes, suffix: str) -> None:
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    s3.put_object(Bucket=bucket, Key=key.removesuffix(".json") + suffix, Body=hashlib.md5(body).hexdigest().encode())


def put_started_only(s3: Any, bucket: str, prefix: str, export_time: datetime, salt: str = "") -> str:
    """Write an export that is still running (or failed): ``_started`` and no manifests. Returns its id."""
    export_id = _export_id(export_time, f"running{salt}")
    s3.put_object(Bucket=bucket, Key=f"{prefix.strip('/')}/AWSDynamoDB/{export_id}/_started", Body=b"")
    return export_id
