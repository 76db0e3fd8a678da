"""A canary in every item attribute, and the search for it in everything a drill leaves behind.

The drills' source table and backups are seeded with items whose every attribute holds the
canary (the key too: an unhashed key is item content). A drill may write the canary only into
its scratch table; finding it in a task log, a traceback, captured output, XCom, a
notification, a metric, an evidence record or a report is a leak of item contents.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from demo.run_demo import BACKUP_BUCKET, DemoAccount, nightly_backup_times
from demo.sample_data import (
    create_notification_queue,
    create_source_table,
    json_backup_document,
    json_backup_key,
    put_json_backup,
)

CANARY = "CANARY-SSN-123-45-6789"
# Numbers cannot hold text; this one is searched for as it would be printed.
CANARY_NUMBER = 271828182845904523
# A parser's error shows a window of some 20 bytes either side of where it stopped, which may
# cut the canary: any of its fragments is a leak.
CANARIES = ("CANARY", "SSN-123-45", "3-45-6789", "2718281828", "2845904523")
TABLE = "app-users"  # the demo's key schema: user_id (S)
EVIDENCE_BUCKET = "dr-drill-fault-evidence"


def canary_item(number: int) -> dict[str, Any]:
    """An item of ``app-users`` whose every attribute carries the canary (JSON, as the original backups hold it)."""
    return {
        "user_id": f"user-{number:05d}-{CANARY}",
        "name": f"{CANARY} {number}",
        "ssn": CANARY,
        "pin": CANARY_NUMBER,
        "address": {"street": f"{number} {CANARY} street", "zip": CANARY},
        "notes": [CANARY, f"{CANARY} #{number}"],
        "history": [{"memo": CANARY, "amount": CANARY_NUMBER}],
    }


def canary_items(count: int) -> list[dict[str, Any]]:
    return [canary_item(number) for number in range(count)]


@dataclass(frozen=True)
class CanaryAccount:
    """What ``seed_canary_account`` made: the topics, the queue subscribed to both, the backup keys."""

    success_topic_arn: str
    failure_topic_arn: str
    queue_url: str
    backup_keys: tuple[str, ...]
    items: int

    def as_demo(self) -> DemoAccount:
        return DemoAccount(self.success_topic_arn, self.failure_topic_arn, self.queue_url)


def seed_canary_account(emulator: Any, count: int, *, now: datetime, nights: int = 2) -> CanaryAccount:
    """``app-users`` with ``count`` canary items, ``nights`` nightly JSON backups, topics, queue and a locked bucket.

    The evidence bucket has Object Lock (and so versioning), as in production: a second
    write of a record is then a second version, which the tests count.
    """
    s3 = emulator.client("s3")
    s3.create_bucket(Bucket=BACKUP_BUCKET)
    s3.create_bucket(Bucket=EVIDENCE_BUCKET, ObjectLockEnabledForBucket=True)
    items = canary_items(count)
    create_source_table(emulator.client("dynamodb"), TABLE, items)
    keys = []
    for taken_at in reversed(nightly_backup_times(now, nights)):  # oldest first
        keys.append(put_json_backup(s3, BACKUP_BUCKET, json_backup_document(TABLE, items, taken_at), taken_at))
    (success, failure), queue_url = create_notification_queue(
        emulator.client("sns"), emulator.client("sqs"), ["dr-drill-success", "dr-drill-failure"], "dr-drill-faults"
    )
    return CanaryAccount(success, failure, queue_url, tuple(keys), count)


def put_unparsable_backups(emulator: Any, count: int, now: datetime) -> list[str]:
    """Two newer backups that cannot be parsed, with item bytes right where the parser stops.

    The newest is cut JSON (``"oops CANARY... not`` where a value should be), the next holds
    ``NaN``, which the original format never wrote. Verify fails on both, then falls back.
    """
    s3 = emulator.client("s3")
    keys = []
    for hours, corruption in ((2, "truncated"), (1, "nan")):
        taken_at = (now - timedelta(hours=hours)).replace(microsecond=0)
        document = json_backup_document(TABLE, canary_items(count), taken_at)
        text = json.dumps(document)
        if corruption == "truncated":
            text = text.replace(f'"ssn": "{CANARY}"', f'"ssn": oops {CANARY} not', 1)
        else:
            text = text.replace(f'"pin": {CANARY_NUMBER}', f'"pin": NaN, "x": "{CANARY}"', 1)
        key = json_backup_key(TABLE, taken_at)
        s3.put_object(Bucket=BACKUP_BUCKET, Key=key, Body=text.encode())
        keys.append(key)
    return keys


# --- the search ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Leak:
    where: str
    excerpt: str

    def __str__(self) -> str:
        return f"{self.where}: ...{self.excerpt}..."


def _leaks_in(where: str, data: bytes | str) -> list[Leak]:
    """One leak for ``where`` if any fragment of the canary is in it, shown around its first occurrence."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    found = [at for at in (text.find(canary) for canary in CANARIES) if at >= 0]
    if not found:
        return []
    at = min(found)
    return [Leak(where, text[max(0, at - 80) : at + 60].replace("\n", "\\n"))]


def leaks_in_files(root: Path, *, skip: Iterable[str] = ("airflow.db",)) -> list[Leak]:
    """Every file under ``root`` (the task logs Airflow keeps under AIRFLOW_HOME, the dags test log)."""
    found = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.name not in skip and not path.name.startswith("airflow.db"):
            found += _leaks_in(str(path), path.read_bytes())
    return found


def leaks_in_xcom(database: Path) -> list[Leak]:
    """Every XCom value in the metadata database: backup contents must never travel through XCom."""
    with sqlite3.connect(database) as connection:
        rows = connection.execute("SELECT dag_id, run_id, task_id, key, value FROM xcom").fetchall()
    found = []
    for dag_id, run_id, task_id, key, value in rows:
        found += _leaks_in(f"xcom {dag_id}/{run_id}/{task_id}/{key}", value if isinstance(value, bytes) else str(value))
    return found


def xcom_runs(database: Path) -> set[tuple[str, str]]:
    """The DAG runs (dag_id, run_id) that have XComs in the metadata database: whose XComs the search reads."""
    with sqlite3.connect(database) as connection:
        return set(connection.execute("SELECT DISTINCT dag_id, run_id FROM xcom").fetchall())


def leaks_in_evidence_bucket(s3: Any, bucket: str) -> list[Leak]:
    """Every version of every object in the evidence bucket: records and HTML reports."""
    found = []
    try:
        pages = list(s3.get_paginator("list_object_versions").paginate(Bucket=bucket))
    except s3.exceptions.NoSuchBucket:
        return []
    for page in pages:
        for version in page.get("Versions", ()):
            body = s3.get_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"])["Body"].read()
            found += _leaks_in(f"s3://{bucket}/{version['Key']}?versionId={version['VersionId']}", body)
    return found


def leaks_in(where: str, data: Any) -> list[Leak]:
    """Anything else: captured output, notifications, metrics, what the proxy saw leave the drill."""
    if isinstance(data, (bytes, str)):
        return _leaks_in(where, data)
    return _leaks_in(where, json.dumps(data, default=str, ensure_ascii=False))
