"""How a backup is restored, how its progress reads, and how a split restore adds up: pure logic."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dr_drill.core.digest import BucketedDigest

BATCH_WRITE = "batch_write"
RESTORE_FROM_BACKUP = "restore_from_backup"
RESTORE_TO_POINT_IN_TIME = "restore_to_point_in_time"
IMPORT_TABLE = "import_table"
SERVER_SIDE_METHODS = (RESTORE_FROM_BACKUP, RESTORE_TO_POINT_IN_TIME, IMPORT_TABLE)
_COUNTS = ("items_read", "items_restored", "items_failed", "duplicate_keys", "retries", "throttled_requests")


def restore_method(backup_source: str, *, import_table: bool = False) -> str:
    """Return how a backup of ``backup_source`` is restored into the scratch table."""
    if backup_source == "native_backup":
        return RESTORE_FROM_BACKUP
    if backup_source == "pitr":
        return RESTORE_TO_POINT_IN_TIME
    if backup_source == "s3_export" and import_table:
        return IMPORT_TABLE
    return BATCH_WRITE


def drill_restore_method(spec: dict[str, Any], located: dict[str, Any] | None) -> str:
    """Return how this drill restores: from the located backup's source, else the spec's, and the plan."""
    source = (located or {}).get("source", spec["backup_source"])
    return restore_method(source, import_table=spec.get("import_table", False))


def progress_line(done: int, expected: int | None, elapsed_seconds: float) -> str:
    """Return ``done/expected items, rate, ETA`` for the task log; the ETA only when the total is known."""
    rate = done / elapsed_seconds if elapsed_seconds > 0 else 0.0
    total = "?" if expected is None else str(expected)
    line = f"{done}/{total} items in {elapsed_seconds:.0f} s, {rate:.0f} items/s"
    if expected is not None and rate > 0:
        line += f", ETA {max(expected - done, 0) / rate:.0f} s"
    return line


def split_restore(method: str, located: dict[str, Any], restore_tasks: int) -> list[list[str] | None]:
    """Return the share of each restore task: one whole restore, or an s3_export's data files dealt out.

    Only a streamed s3_export with two or more data files is split; its files go round-robin
    to ``min(restore_tasks, files)`` tasks (export files are of similar size). ``None``
    stands for the whole backup.
    """
    if restore_tasks < 1:
        raise ValueError("restore_tasks must be at least 1")
    files = located.get("data_files") or []
    if method != BATCH_WRITE or located.get("source") != "s3_export" or restore_tasks == 1 or len(files) < 2:
        return [None]
    count = min(restore_tasks, len(files))
    return [list(files[index::count]) for index in range(count)]


def combine_restore_results(parts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Add up the results of a restore split over several tasks into one restore result.

    Counts add; rejected keys and reasons are merged; the span is the earliest start to the
    latest finish; any ``backup_digest`` (BucketedDigest.to_dict()) is merged, which is exact
    because the digest is additive.
    """
    if not parts:
        raise ValueError("no restore results to combine")
    if len(parts) == 1:
        return {**parts[0], "parts": 1}
    combined: dict[str, Any] = {name: sum(part.get(name, 0) for part in parts) for name in _COUNTS}
    reasons: dict[str, int] = {}
    for part in parts:
        for reason, count in (part.get("rejection_reasons") or {}).items():
            reasons[reason] = reasons.get(reason, 0) + count
    rejected = [key for part in parts for key in part.get("rejected_keys") or ()]
    combined.update(
        method=parts[0].get("method", BATCH_WRITE),
        workers=sum(part.get("workers", 0) for part in parts),
        rejected_keys=rejected[:20],
        rejection_reasons=reasons,
        started_at=min(part["started_at"] for part in parts),
        writes_started_at=min(part.get("writes_started_at") or part["started_at"] for part in parts),
        finished_at=max(part["finished_at"] for part in parts),
        parts=len(parts),
    )
    digests = [part["backup_digest"] for part in parts if part.get("backup_digest") is not None]
    if digests:
        merged = BucketedDigest.from_dict(digests[0])
        for digest in digests[1:]:
            merged = merged.merge(BucketedDigest.from_dict(digest))
        combined["backup_digest"] = merged.to_dict()
    return combined
