"""How a streamed restore splits into parts, how the parts add up, and how its progress reads."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from dr_drill.constants import RestoreMethod
from dr_drill.contracts import RestoreResult, VerifiedBackup
from dr_drill.core.items.digest import BucketedDigest

_COUNTS = ("items_read", "items_restored", "items_failed", "duplicate_keys", "retries", "throttled_requests")
REJECTED_KEYS_SHOWN = 20


def progress_line(done: int, expected: int | None, elapsed_seconds: float) -> str:
    """Return ``done/expected items, rate, ETA`` for the task log; the ETA only when the total is known."""
    rate = done / elapsed_seconds if elapsed_seconds > 0 else 0.0
    total = "?" if expected is None else str(expected)
    line = f"{done}/{total} items in {elapsed_seconds:.0f} s, {rate:.0f} items/s"
    if expected is not None and rate > 0:
        line += f", ETA {max(expected - done, 0) / rate:.0f} s"
    return line


def split_restore(method: RestoreMethod, verified: VerifiedBackup | None, restore_tasks: int) -> list[list[str] | None]:
    """Return the share of each restore task: one whole restore, or a backup's data files dealt out.

    Only a streamed restore of a backup with two or more data files (an s3_export) is split;
    its files go round-robin to ``min(restore_tasks, files)`` tasks (export files are of
    similar size). ``None`` stands for the whole backup.
    """
    if restore_tasks < 1:
        raise ValueError("restore_tasks must be at least 1")
    files = list(verified.data_files) if verified else []
    if method is not RestoreMethod.BATCH_WRITE or restore_tasks == 1 or len(files) < 2:
        return [None]
    count = min(restore_tasks, len(files))
    return [files[index::count] for index in range(count)]


def restore_shares(method: RestoreMethod, verified: VerifiedBackup | None, restore_tasks: int) -> list[dict]:
    """Return the restore tasks to map, one per share: ``{"part": n, "of": count, "data_files": files or None}``."""
    shares = split_restore(method, verified, restore_tasks)
    return [{"part": part, "of": len(shares), "data_files": files} for part, files in enumerate(shares, start=1)]


def combine_restore_results(parts: Sequence[RestoreResult]) -> RestoreResult:
    """Add up the results of a restore split over several tasks into one restore result.

    Counts add; rejected keys and reasons are merged; the span is the earliest start to the
    latest finish; the ``backup_digest`` is merged, which is exact because the digest is additive.
    """
    if not parts:
        raise ValueError("no restore results to combine")
    if len(parts) == 1:
        return parts[0]
    reasons: dict[str, int] = {}
    for part in parts:
        for reason, count in part.rejection_reasons.items():
            reasons[reason] = reasons.get(reason, 0) + count
    consumed = [part.consumed_write_units for part in parts if part.consumed_write_units is not None]
    digests = [BucketedDigest.from_dict(part.backup_digest) for part in parts if part.backup_digest is not None]
    merged = None
    if digests:
        merged = digests[0]
        for digest in digests[1:]:
            merged = merged.merge(digest)
    return dataclasses.replace(
        parts[0],
        **{name: sum(getattr(part, name) or 0 for part in parts) for name in _COUNTS},
        workers=sum(part.workers or 0 for part in parts),
        # Each task's own peak, added: the most the tasks could have had in flight together.
        peak_in_flight=sum(part.peak_in_flight or 0 for part in parts) or None,
        rejected_keys=tuple(key for part in parts for key in part.rejected_keys)[:REJECTED_KEYS_SHOWN],
        rejection_reasons=reasons,
        started_at=min(part.started_at for part in parts),
        writes_started_at=min(part.writes_started_at or part.started_at for part in parts),
        finished_at=max(part.finished_at for part in parts),
        parts=len(parts),
        backup_digest=merged.to_dict() if merged else None,
        consumed_write_units=sum(consumed) if consumed else None,
    )
