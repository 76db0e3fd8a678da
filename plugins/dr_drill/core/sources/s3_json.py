"""The original JSON backup format: its object names, and its content read as a stream in constant memory.

Backups are ``dynamodb-backups/{table}-backup-YYYY-MM-DD-HH-MM-SS.json``:
objects ``{"table_name", "backup_timestamp", "item_count", "data": [...], "checksum"}``
whose checksum is ``sha256(json.dumps(data, sort_keys=True, default=str))`` over what
``json.loads`` returns. ``json.dumps`` of a list is ``"[" + ", ".join(items) + "]"``, so the
checksum is computed one item at a time and the list is never held.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import IO, Any

import ijson

from dr_drill.core.items.canonical import TypedItem, to_typed_item
from dr_drill.core.plan.selection import Candidate
from dr_drill.errors import BackupCorrupt

JSON_BACKUP_FOLDER = "dynamodb-backups/"
_TIMESTAMP_FORMAT = "%Y-%m-%d-%H-%M-%S"
REQUIRED_FIELDS = ("table_name", "backup_timestamp", "item_count", "data", "checksum")
_HEADER_FIELDS = frozenset(REQUIRED_FIELDS) - {"data"}
_SCALAR_EVENTS = frozenset({"string", "number", "boolean", "null"})


class OriginalChecksum:
    """The original function's checksum, fed one item at a time."""

    def __init__(self) -> None:
        self._sha = hashlib.sha256(b"[")
        self._count = 0

    def add(self, item: Any) -> None:
        """Add one item exactly as ``json.loads`` returned it (fractions as floats)."""
        if self._count:
            self._sha.update(b", ")
        self._sha.update(json.dumps(item, sort_keys=True, default=str).encode())
        self._count += 1

    def hexdigest(self) -> str:
        final = self._sha.copy()
        final.update(b"]")
        return final.hexdigest()


@dataclass(frozen=True)
class VerifiedJsonBackup:
    """What verification proved about one backup object."""

    table_name: str
    backup_timestamp: str
    item_count: int
    checksum: str


def as_json_loads(value: Any) -> Any:
    """Return ``value`` (parsed with Decimal fractions) as ``json.loads`` would have: fractions as floats."""
    if isinstance(value, dict):
        return {key: as_json_loads(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [as_json_loads(inner) for inner in value]
    if isinstance(value, Decimal):
        return float(value)
    return value


_OPENING = frozenset({"start_map", "start_array"})
_CLOSING = frozenset({"end_map", "end_array"})


def _build_value(events: Iterator[tuple[str, str, Any]], event: str, value: Any) -> Any:
    """Return the whole value that starts with (``event``, ``value``), consuming its events."""
    if event not in _OPENING:
        return value
    builder = ijson.ObjectBuilder()
    builder.event(event, value)
    depth = 1
    for _, inner_event, inner_value in events:
        builder.event(inner_event, inner_value)
        if inner_event in _OPENING:
            depth += 1
        elif inner_event in _CLOSING:
            depth -= 1
            if not depth:
                return builder.value
    raise ijson.IncompleteJSONError("the item ends before it closes")


def _parse_error_kind(err: Exception) -> str:
    """Return the parser's first line only: the next lines quote the bytes around the error (item contents).

    The C backend gives its message as bytes, whose repr would hide the line breaks.
    """
    message = err.args[0] if err.args else ""
    if isinstance(message, bytes):
        message = message.decode("utf-8", errors="replace")
    lines = str(message).splitlines()
    return lines[0].strip() if lines else type(err).__name__


def _walk(stream: IO[bytes], header: dict[str, Any]) -> Iterator[Any]:
    """Yield the items of ``data`` one by one and fill ``header`` with the top-level scalars."""
    position = 0
    try:
        events = ijson.parse(stream)
        first = next(events, None)
        if first is None or first[1] != "start_map":
            raise BackupCorrupt("backup is not a JSON object")
        for prefix, event, value in events:
            if prefix == "data.item":
                yield _build_value(events, event, value)
                position += 1
            elif prefix == "data":
                if event not in ("start_array", "end_array"):
                    raise BackupCorrupt("field data is not a list")
                header["data"] = True
            elif prefix in _HEADER_FIELDS and event in _SCALAR_EVENTS:
                header[prefix] = value
    except (ijson.JSONError, UnicodeDecodeError) as err:
        raise _unreadable(err, position) from None


def _unreadable(err: Exception, position: int) -> BackupCorrupt:
    """Name a parse error without quoting the backup's bytes."""
    kind = _parse_error_kind(err) if isinstance(err, ijson.JSONError) else "UTF-8"
    if isinstance(err, UnicodeDecodeError) or "UTF8" in kind or "UTF-8" in kind:
        return BackupCorrupt(f"backup is not UTF-8 text after {position} items")
    return BackupCorrupt(f"backup is not valid JSON (truncated or malformed) after {position} items: {kind}")


def verify_json_backup(stream: IO[bytes], table_name: str) -> VerifiedJsonBackup:
    """Stream the backup once and prove its structure, item count and checksum.

    :raises BackupCorrupt: naming the first thing that is wrong.
    """
    header: dict[str, Any] = {}
    checksum = OriginalChecksum()
    present = 0
    for position, item in enumerate(_walk(stream, header)):
        if not isinstance(item, dict):
            raise BackupCorrupt(f"item {position} of data is not a JSON object")
        checksum.add(as_json_loads(item))
        present += 1
    missing = [field for field in REQUIRED_FIELDS if field not in header]
    if missing:
        raise BackupCorrupt(f"backup lacks required fields: {', '.join(missing)}")
    if header["table_name"] != table_name:
        raise BackupCorrupt(f"backup is of table {header['table_name']!r}, not {table_name!r}")
    item_count = header["item_count"]
    if isinstance(item_count, bool) or not isinstance(item_count, int) or item_count < 0:
        raise BackupCorrupt("item_count is not a non-negative integer")
    if item_count != present:
        raise BackupCorrupt(f"item_count says {item_count} items but data holds {present}")
    if checksum.hexdigest() != header["checksum"]:
        raise BackupCorrupt("checksum mismatch: the data is not what was backed up")
    return VerifiedJsonBackup(
        table_name=table_name,
        backup_timestamp=str(header["backup_timestamp"]),
        item_count=item_count,
        checksum=checksum.hexdigest(),
    )


def iter_typed_items(stream: IO[bytes]) -> Iterator[TypedItem]:
    """Yield the backup's items in DynamoDB's typed form, numbers as exact decimals.

    The restore's hot path: ijson's C backend builds each item (verify has already proved
    the structure), about four times faster than walking the events in Python.
    """
    position = 0
    try:
        for item in ijson.items(stream, "data.item"):
            yield to_typed_item(item)
            position += 1
    except (ijson.JSONError, UnicodeDecodeError) as err:
        raise _unreadable(err, position) from None
    except (TypeError, ValueError, ArithmeticError) as err:
        # The reason names the rule, never the value (NaN, say) that broke it.
        raise BackupCorrupt(f"item {position} of data holds a value DynamoDB cannot store: {err}") from None


def json_backup_prefix(table_name: str) -> str:
    """Return the S3 prefix under which the original function wrote ``table_name``'s backups."""
    return f"{JSON_BACKUP_FOLDER}{table_name}-backup-"


def parse_json_backup_key(key: str, table_name: str) -> datetime | None:
    """Return the timestamp in a backup key of ``table_name``, or None if the key is not one.

    The match is exact, so table ``app`` never picks up a backup of table ``app-backup``.
    """
    pattern = rf"{re.escape(json_backup_prefix(table_name))}(\d{{4}}(?:-\d{{2}}){{5}})\.json"
    match = re.fullmatch(pattern, key)
    if not match:
        return None
    try:
        return datetime.strptime(match.group(1), _TIMESTAMP_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


def json_backup_candidates(bucket: str, keys: Iterable[str], table_name: str) -> Iterable[Candidate]:
    """Yield the keys that are backups of ``table_name`` as candidates timed by their names."""
    for key in keys:
        timestamp = parse_json_backup_key(key, table_name)
        if timestamp is not None:
            yield Candidate(location=f"s3://{bucket}/{key}", taken_at=timestamp, ref={"bucket": bucket, "key": key})
