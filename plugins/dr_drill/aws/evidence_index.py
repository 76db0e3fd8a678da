"""The drill-history index in S3: one object per table beside the write-once records, rebuilt from them at will.

Why one object per table, updated with a conditional put: drills of different tables never
write the same object, so they never wait on or overwrite each other; two drills of one table
(a nightly run and a manual one) both read the index with its ETag and write it back only
``If-Match`` that ETag, so the one that loses re-reads and adds its entry to the winner's
index instead of erasing it. A record is never touched: the index is a separate key outside
``dr-drill-evidence/``, and a lost or stale index costs only a rebuild from the records.

The page reads every table's index once per request, conditionally (``If-None-Match`` the
ETag it holds), so an unchanged index costs a 304 and no parsing (``IndexReader``).
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import ClientError

from dr_drill.aws.client_errors import error_code
from dr_drill.aws.evidence_store import content_md5, list_evidence_keys, read_evidence
from dr_drill.core.evidence.history import (
    empty_index,
    follows_head,
    index_entry,
    index_from_records,
    index_key,
    index_summary,
    is_newer_summary,
    summary_key,
    with_entry,
)
from dr_drill.core.evidence.record import EVIDENCE_FOLDER

_CONFLICT_CODES = frozenset({"PreconditionFailed", "412", "ConditionalRequestConflict", "409"})
_MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
UPDATE_ATTEMPTS = 8


class IndexConflict(Exception):
    """Another writer changed the index since it was read: read it again."""


def _read_json(s3: Any, bucket: str, key: str) -> tuple[dict[str, Any] | None, str | None]:
    try:
        answer = s3.get_object(Bucket=bucket, Key=key)
    except ClientError as err:
        if error_code(err) in _MISSING_CODES:
            return None, None
        raise
    return json.loads(answer["Body"].read()), answer["ETag"]


def _put_json(s3: Any, bucket: str, key: str, value: dict[str, Any], etag: str | None) -> None:
    """Write ``value`` only over the version read (``If-Match``), or only where there is none (``If-None-Match``).

    :raises IndexConflict: when another writer got there first.
    """
    body = json.dumps(value, separators=(",", ":"), sort_keys=True).encode()
    condition = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
    try:
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=body,
            ContentType="application/json",
            ContentMD5=content_md5(body),  # an Object Lock bucket's default retention asks for it
            **condition,
        )
    except ClientError as err:
        if error_code(err) in _CONFLICT_CODES:
            raise IndexConflict(key) from err
        raise


def read_index(s3: Any, bucket: str, table_name: str) -> tuple[dict[str, Any] | None, str | None]:
    """Return a table's index and its ETag, or (None, None) when it has none."""
    return _read_json(s3, bucket, index_key(table_name))


def write_index(s3: Any, bucket: str, index: dict[str, Any], etag: str | None) -> None:
    """Write a table's index over the version read (``etag``; None: only where there is none), then its summary.

    :raises IndexConflict: when another writer changed the index first.
    """
    _put_json(s3, bucket, index_key(index["table_name"]), index, etag)
    write_summary(s3, bucket, index_summary(index))


def write_summary(s3: Any, bucket: str, summary: dict[str, Any]) -> None:
    """Store an index's summary unless a newer one is there: of two racing writers, the one knowing more stays."""
    key = summary_key(summary["table_name"])
    for _ in range(UPDATE_ATTEMPTS):
        current, etag = _read_json(s3, bucket, key)
        if not is_newer_summary(summary, current):
            return
        try:
            _put_json(s3, bucket, key, summary, etag)
        except IndexConflict:
            continue
        return
    raise IndexConflict(f"{key} kept changing")


def _records(s3: Any, bucket: str, table_name: str) -> list[dict[str, Any]]:
    return [r for key in list_evidence_keys(s3, bucket, table_name) if (r := read_evidence(s3, bucket, key))]


def rebuild_index(s3: Any, bucket: str, table_name: str) -> dict[str, Any]:
    """Rebuild a table's index from all its records and store it; return it."""
    for _ in range(UPDATE_ATTEMPTS):
        _, etag = read_index(s3, bucket, table_name)
        index = index_from_records(table_name, _records(s3, bucket, table_name))
        try:
            write_index(s3, bucket, index, etag)
        except IndexConflict:
            continue
        return index
    raise IndexConflict(f"{table_name}: the index kept changing while it was rebuilt")


def add_to_index(s3: Any, bucket: str, record: dict[str, Any]) -> dict[str, Any]:
    """Add a stored record to its table's index and return the index.

    When the index does not end with the record before this one (an earlier record step
    stopped before indexing, or there is no index yet but there are records), it is rebuilt
    from the records instead, which include this one.
    """
    table_name = record["table_name"]
    for _ in range(UPDATE_ATTEMPTS):
        index, etag = read_index(s3, bucket, table_name)
        if index is None and record.get("previous_evidence_sha256") is None:
            index = empty_index(table_name)
        if index is None or not (follows_head(index, record) or _holds(index, record)):
            return rebuild_index(s3, bucket, table_name)
        updated = with_entry(index, index_entry(record))
        if updated == index:
            return index
        try:
            write_index(s3, bucket, updated, etag)
        except IndexConflict:
            continue
        return updated
    raise IndexConflict(f"{table_name}: the index kept changing while this drill was added")


def _holds(index: dict[str, Any], record: dict[str, Any]) -> bool:
    return any(e["evidence_sha256"] == record.get("evidence_sha256") for e in index["entries"])


def evidence_tables(s3: Any, bucket: str) -> list[str]:
    """Return every table that has a folder of records in the bucket."""
    paginator = s3.get_paginator("list_objects_v2")
    tables = []
    for page in paginator.paginate(Bucket=bucket, Prefix=f"{EVIDENCE_FOLDER}/", Delimiter="/"):
        tables += [p["Prefix"][len(EVIDENCE_FOLDER) + 1 : -1] for p in page.get("CommonPrefixes", ())]
    return tables


class IndexReader:
    """Reads many tables' indexes or summaries at once, keeping the last copy of each by ETag.

    Two bounds: at most ``max_objects`` copies, and none trusted for more than ``max_age``
    seconds without asking S3 whether it changed (``If-None-Match``; an unchanged object
    answers 304 and is not downloaded or parsed again).
    """

    def __init__(self, max_objects: int = 1024, max_age: float = 10.0, threads: int = 16) -> None:
        self._cached: OrderedDict[tuple[str, str], tuple[float, str, dict[str, Any]]] = OrderedDict()
        self._lock = threading.Lock()
        self.max_objects = max_objects
        self.max_age = max_age
        self.threads = threads

    def read(self, s3: Any, bucket: str, key: str) -> dict[str, Any] | None:
        slot = (bucket, key)
        with self._lock:
            cached = self._cached.get(slot)
        if cached and time.monotonic() - cached[0] < self.max_age:
            return cached[2]
        try:
            answer = s3.get_object(Bucket=bucket, Key=key, **({"IfNoneMatch": cached[1]} if cached else {}))
        except ClientError as err:
            code = error_code(err)
            if cached and code in ("304", "NotModified"):
                self._keep(slot, cached[1], cached[2])
                return cached[2]
            if code in _MISSING_CODES:
                return None
            raise
        value = json.loads(answer["Body"].read())
        self._keep(slot, answer["ETag"], value)
        return value

    def _keep(self, slot: tuple[str, str], etag: str, value: dict[str, Any]) -> None:
        with self._lock:
            self._cached[slot] = (time.monotonic(), etag, value)
            self._cached.move_to_end(slot)
            while len(self._cached) > self.max_objects:
                self._cached.popitem(last=False)

    def read_many(self, s3: Any, bucket: str, keys: Iterable[str]) -> dict[str, dict[str, Any] | None]:
        keys = list(keys)
        with ThreadPoolExecutor(max_workers=max(1, min(self.threads, len(keys)))) as pool:
            return dict(zip(keys, pool.map(lambda key: self.read(s3, bucket, key), keys), strict=True))
