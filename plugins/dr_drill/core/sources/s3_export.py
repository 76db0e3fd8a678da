"""DynamoDB Export to S3 (DYNAMODB_JSON, full export), read as AWS documents its layout, and its ImportTable.

::

    {export_prefix}/AWSDynamoDB/{export-id}/_started
    {export_prefix}/AWSDynamoDB/{export-id}/manifest-summary.json      (+ .md5 or .checksum)
    {export_prefix}/AWSDynamoDB/{export-id}/manifest-files.json        (+ .md5 or .checksum)
    {export_prefix}/AWSDynamoDB/{export-id}/data/{name}.json.gz

``manifest-summary.json`` is one JSON object (``exportArn``, ``tableArn``, ``exportTime``,
``itemCount``, ``manifestFilesS3Key``, ``outputFormat``...); ``manifest-files.json`` is JSON
lines, one per data file (``itemCount``, ``md5Checksum`` base64, ``etag``, ``dataFileS3Key``);
data files are gzipped JSON lines ``{"Item": {...typed...}}`` and may be empty.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from dr_drill.contracts import BackupRef
from dr_drill.core.items.canonical import TypedItem, TypedValue, canonical_number
from dr_drill.core.times import parse_time
from dr_drill.errors import BackupCorrupt

EXPORT_FOLDER = "AWSDynamoDB/"
SUMMARY_NAME = "manifest-summary.json"
FILES_NAME = "manifest-files.json"
STARTED_NAME = "_started"
# AWS's documentation names the checksum files .checksum; older exports wrote .md5.
CHECKSUM_SUFFIXES = (".checksum", ".md5")
_SUMMARY_FIELDS = ("exportArn", "tableArn", "exportTime", "itemCount", "manifestFilesS3Key", "outputFormat")
_FILE_FIELDS = ("itemCount", "md5Checksum", "dataFileS3Key")
_SCALAR_KINDS = frozenset({"S", "N", "B", "BOOL", "NULL", "SS", "NS", "BS", "M", "L"})


def export_root(export_prefix: str | None) -> str:
    """Return the S3 prefix under which exports to ``export_prefix`` put their folders."""
    prefix = (export_prefix or "").strip("/")
    return f"{prefix}/{EXPORT_FOLDER}" if prefix else EXPORT_FOLDER


def export_folder_of(key: str, root: str) -> tuple[str, str] | None:
    """Return (export id, file name) for a key directly inside an export folder under ``root``, else None."""
    match = re.fullmatch(rf"{re.escape(root)}([A-Za-z0-9-]+)/([^/]+)", key)
    return (match.group(1), match.group(2)) if match else None


def table_name_of_arn(arn: str) -> str | None:
    """Return the table name in a table, export or backup ARN (``...:table/{name}[/...]``)."""
    match = re.match(r"^arn:[^:]+:dynamodb:[^:]*:[^:]*:table/([^/]+)", arn or "")
    return match.group(1) if match else None


@dataclass(frozen=True)
class ExportSummary:
    """What ``manifest-summary.json`` says about one completed export."""

    export_id: str
    export_arn: str
    table_arn: str
    export_time: datetime
    item_count: int
    manifest_files_key: str
    output_format: str
    export_type: str


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise BackupCorrupt(f"{what} is not UTF-8 text") from None
    except ValueError:
        raise BackupCorrupt(f"{what} is not valid JSON (truncated or malformed)") from None
    if not isinstance(value, dict):
        raise BackupCorrupt(f"{what} is not a JSON object")
    return value


def _count(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BackupCorrupt(f"{what} is not a non-negative integer")
    return value


def parse_summary(raw: bytes, export_id: str) -> ExportSummary:
    """Parse ``manifest-summary.json``.

    :raises BackupCorrupt: when it is not a DYNAMODB_JSON full-export summary.
    """
    what = f"manifest-summary.json of export {export_id}"
    summary = _json_object(raw, what)
    missing = [name for name in _SUMMARY_FIELDS if summary.get(name) is None]
    if missing:
        raise BackupCorrupt(f"{what} lacks {', '.join(missing)}")
    if summary["outputFormat"] != "DYNAMODB_JSON":
        raise BackupCorrupt(f"export {export_id} is in {summary['outputFormat']}, not DYNAMODB_JSON")
    export_type = summary.get("exportType") or "FULL_EXPORT"
    if export_type != "FULL_EXPORT":
        raise BackupCorrupt(f"export {export_id} is an {export_type}, not a full export a table can be restored from")
    try:
        export_time = parse_time(str(summary["exportTime"]))
    except ValueError:
        raise BackupCorrupt(f"{what}: exportTime is not an ISO 8601 time") from None
    return ExportSummary(
        export_id=export_id,
        export_arn=str(summary["exportArn"]),
        table_arn=str(summary["tableArn"]),
        export_time=export_time,
        item_count=_count(summary["itemCount"], f"{what}: itemCount"),
        manifest_files_key=str(summary["manifestFilesS3Key"]),
        output_format=summary["outputFormat"],
        export_type=export_type,
    )


@dataclass(frozen=True)
class DataFile:
    """One line of ``manifest-files.json``."""

    key: str
    item_count: int
    md5: bytes  # the raw 16-byte digest
    etag: str | None


def parse_manifest_files(raw: bytes, export_id: str) -> list[DataFile]:
    """Parse ``manifest-files.json`` (JSON lines, one per data file).

    :raises BackupCorrupt: naming the line that is wrong.
    """
    files = []
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BackupCorrupt(f"manifest-files.json of export {export_id} is not UTF-8 text") from None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        what = f"manifest-files.json of export {export_id}, line {number}"
        entry = _json_object(line.encode(), what)
        missing = [name for name in _FILE_FIELDS if entry.get(name) is None]
        if missing:
            raise BackupCorrupt(f"{what} lacks {', '.join(missing)}")
        try:
            md5 = base64.b64decode(entry["md5Checksum"], validate=True)
        except (binascii.Error, ValueError, TypeError):
            raise BackupCorrupt(f"{what}: md5Checksum is not base64") from None
        if len(md5) != 16:
            raise BackupCorrupt(f"{what}: md5Checksum is not an MD5 digest")
        files.append(
            DataFile(
                key=str(entry["dataFileS3Key"]),
                item_count=_count(entry["itemCount"], f"{what}: itemCount"),
                md5=md5,
                etag=str(entry["etag"]).strip('"') if entry.get("etag") else None,
            )
        )
    return files


def checksum_file_matches(text: bytes, digest: bytes) -> bool:
    """Whether a ``.md5``/``.checksum`` file names ``digest`` (hex or base64, surrounding space ignored)."""
    written = text.decode("ascii", errors="replace").strip().split()
    if not written:
        return False
    token = written[0]
    return token.lower() == digest.hex() or token == base64.b64encode(digest).decode()


def _typed_value(value: Any, where: str) -> TypedValue:
    if not isinstance(value, dict) or len(value) != 1:
        raise BackupCorrupt(f"{where}: an attribute is not a DynamoDB typed value")
    ((kind, inner),) = value.items()
    if kind not in _SCALAR_KINDS:
        raise BackupCorrupt(f"{where}: an attribute has a type DynamoDB does not have")
    try:
        return _convert(kind, inner, where)
    except (TypeError, ValueError, binascii.Error, ArithmeticError):
        raise BackupCorrupt(f"{where}: a {kind} value is malformed") from None


def _convert(kind: str, inner: Any, where: str) -> TypedValue:
    """Binary becomes bytes (boto3 encodes it again); numbers keep their exact text, normalised."""
    if kind == "N":
        return {"N": canonical_number(Decimal(inner))}
    if kind == "NS":
        return {"NS": [canonical_number(Decimal(text)) for text in inner]}
    if kind == "B":
        return {"B": base64.b64decode(inner, validate=True)}
    if kind == "BS":
        return {"BS": [base64.b64decode(text, validate=True) for text in inner]}
    if kind == "M":
        return {"M": {name: _typed_value(member, where) for name, member in inner.items()}}
    if kind == "L":
        return {"L": [_typed_value(member, where) for member in inner]}
    if kind == "SS" and not all(isinstance(text, str) for text in inner):
        raise TypeError("SS holds a non-string")
    return {kind: inner}


def parse_export_line(line: bytes, where: str) -> TypedItem:
    """Parse one data-file line ``{"Item": {...}}`` into a typed item ready for BatchWriteItem.

    :raises BackupCorrupt: without quoting the line (it holds item contents).
    """
    try:
        record = json.loads(line.decode("utf-8"))
    except UnicodeDecodeError:
        raise BackupCorrupt(f"{where} is not UTF-8 text") from None
    except ValueError:
        raise BackupCorrupt(f"{where} is not valid JSON (truncated or malformed)") from None
    if not isinstance(record, dict) or not isinstance(record.get("Item"), dict):
        raise BackupCorrupt(f'{where} is not an {{"Item": {{...}}}} object')
    return {name: _typed_value(value, where) for name, value in record["Item"].items()}


def iter_export_items(lines: Iterable[bytes], data_file_key: str) -> Iterator[TypedItem]:
    """Yield the typed items of one data file's decompressed lines (blank lines skipped)."""
    for number, line in enumerate(lines, start=1):
        if line.strip():
            yield parse_export_line(line, f"data file {data_file_key}, line {number}")


# ImportTable of an export's data files: the server-side restore of an s3_export -------------------

# ImportTable is idempotent on ClientToken for 8 hours: a retried restore sending the same token gets
# back the import an earlier try started instead of a second one. A token whose import finished and
# whose table is gone (an earlier, torn-down attempt of this run) moves on to the next generation.
IMPORT_TOKEN_GENERATIONS = 5


def import_client_token(name: str, export: BackupRef, generation: int = 0) -> str:
    """The ImportTable ClientToken of this drill: scratch name, export and generation, nothing try-dependent."""
    seed = f"{name}\0{export.export_arn}" + (f"\0{generation}" if generation else "")
    return hashlib.sha256(seed.encode()).hexdigest()[:36]


def import_source(export: BackupRef) -> dict[str, str]:
    """The S3BucketSource of an import of this export: its data folder, wherever the export was written."""
    return {
        "S3Bucket": export.bucket or "",
        "S3KeyPrefix": f"{export.export_root or EXPORT_FOLDER}{export.export_id}/data/",
    }


def import_table_request(
    name: str, export: BackupRef, definition: dict[str, Any], *, generation: int = 0
) -> dict[str, Any]:
    """ImportTable of an s3_export's data files; ImportTable cannot create local secondary indexes."""
    parameters = {
        "TableName": name,
        "KeySchema": definition["KeySchema"],
        "AttributeDefinitions": definition["AttributeDefinitions"],
        "BillingMode": "PAY_PER_REQUEST",
    }
    if definition.get("GlobalSecondaryIndexes"):
        parameters["GlobalSecondaryIndexes"] = definition["GlobalSecondaryIndexes"]
    used = {entry["AttributeName"] for entry in definition["KeySchema"]} | {
        entry["AttributeName"] for index in parameters.get("GlobalSecondaryIndexes", ()) for entry in index["KeySchema"]
    }
    parameters["AttributeDefinitions"] = [e for e in definition["AttributeDefinitions"] if e["AttributeName"] in used]
    return {
        "ClientToken": import_client_token(name, export, generation),
        "S3BucketSource": import_source(export),
        "InputFormat": "DYNAMODB_JSON",
        "InputCompressionType": "GZIP",
        "TableCreationParameters": parameters,
    }


def import_is_this_drills(
    description: dict[str, Any], *, table_arn: str, name: str, export: BackupRef, require_source: bool
) -> bool:
    """The import (DescribeImport, or a ListImports summary) went into ``table_arn``, from this drill's
    export, with one of this drill's client tokens where it shows one."""
    if description.get("TableArn") != table_arn:
        return False
    source = description.get("S3BucketSource")
    if source is None:
        if require_source:
            return False
    elif not export.bucket or {key: source.get(key) for key in ("S3Bucket", "S3KeyPrefix")} != import_source(export):
        return False
    token = description.get("ClientToken")
    tokens = {import_client_token(name, export, generation) for generation in range(IMPORT_TOKEN_GENERATIONS)}
    return token is None or token in tokens
