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
    with_entry,
)
from dr_drill.core.evidence.record import EVIDENCE_FOLDER

_CONFLICT_CODES = frozenset({"PreconditionFailed", "412", "ConditionalRequestConflict", "409"})
_MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
UPDATE_ATTEMPTS = 8


class IndexConflict(Exception):
    """Another writer changed the index since it was read: read it again."""


def read_index(s3: Any, bucket: str, table_name: str) -> tuple[dict[str, Any] | None, str | None]:
    """Return a table's index and its ETag, or (None, None) when it has none."""
    try:
        answer = s3.get_object(Bucket=bucket, Key=index_key(table_name))
    except ClientError as err:
        if error_code(err) in _MISSING_CODES:
            return None, None
        raise
    return json.loads(answer["Body"].read()), answer["ETag"]


def write_index(s3: Any, bucket: str, index: dict[str, Any], etag: str | None) -> None:
    """Write the index only over the version read (``If-Match``), or only where there is none (``If-None-Match``).

    :raises IndexConflict: when another writer got there first.
    """
    body = json.dumps(index, separators=(",", ":"), sort_keys=True).encode()
    condition = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
    try:
        s3.put_object(
            Bucket=bucket,
            Key=index_key(index["table_name"]),
            Body=body,
            ContentType="application/json",
            ContentMD5=content_md5(body),  # an Object Lock bucket's default retention asks for it
            **condition,
        )
    except ClientError as err:
        if error_code(err) in _CONFLICT_CODES:
            raise IndexConflict(index["table_name"]) from err
        raise


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
    """Reads many tables' indexes at once, keeping the last copy of each (at most ``max_tables``) by ETag.

    Every read asks S3 whether the index changed (``If-None-Match``): a page never shows an
    index older than the request, and an unchanged one is not downloaded or parsed again.
    """

    def __init__(self, max_tables: int = 512, threads: int = 16) -> None:
        self._cached: OrderedDict[tuple[str, str], tuple[str, dict[str, Any]]] = OrderedDict()
        self._lock = threading.Lock()
        self.max_tables = max_tables
        self.threads = threads

    def read(self, s3: Any, bucket: str, table_name: str) -> dict[str, Any] | None:
        slot = (bucket, table_name)
        with self._lock:
            cached = self._cached.get(slot)
        kwargs = {"IfNoneMatch": cached[0]} if cached else {}
        try:
            answer = s3.get_object(Bucket=bucket, Key=index_key(table_name), **kwargs)
        except ClientError as err:
            code = error_code(err)
            if cached and code in ("304", "NotModified"):
                return cached[1]
            if code in _MISSING_CODES:
                return None
            raise
        index = json.loads(answer["Body"].read())
        with self._lock:
            self._cached[slot] = (answer["ETag"], index)
            self._cached.move_to_end(slot)
            while len(self._cached) > self.max_tables:
                self._cached.popitem(last=False)
        return index

    def read_many(self, s3: Any, bucket: str, tables: Iterable[str]) -> dict[str, dict[str, Any] | None]:
        tables = list(tables)
        with ThreadPoolExecutor(max_workers=max(1, min(self.threads, len(tables)))) as pool:
            return dict(zip(tables, pool.map(lambda t: self.read(s3, bucket, t), tables), strict=True))
