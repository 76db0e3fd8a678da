"""The recovery side of a drill: the region and account a real recovery would use, and how far behind its copy is.

A table's ``recovery`` block moves locate, verify, restore, validate and the teardown to the
recovery region, through the recovery connection (a role in the recovery account, say),
reading the copy kept there: a replicated bucket (``s3_json``, ``s3_export``) or an AWS
Backup vault that copy jobs fill (``native_backup``). The source side is only read, for the
copy lag and the fidelity check. A ``pitr`` drill has no recovery side: point-in-time recovery
never crosses accounts, and although DynamoDB restores it into another region of the same
account, the continuous backups stay in the source region, so that restore would not prove a
recovery from losing it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from dr_drill.constants import BackupSource
from dr_drill.core.plan.selection import Candidate
from dr_drill.errors import InvalidDrillRequest

_BUCKET_PATTERN = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"

# The plan's (and the trigger's) ``recovery`` block.
RECOVERY_SCHEMA: dict[str, Any] = {
    "type": ["null", "object"],
    "additionalProperties": False,
    "required": ["region", "aws_conn_id"],
    "properties": {
        "region": {"type": "string", "pattern": r"^[a-z]{2}(-[a-z]+)+-\d$"},
        "aws_conn_id": {"type": "string", "minLength": 1, "maxLength": 250},
        "backup_bucket": {"type": "string", "pattern": _BUCKET_PATTERN},
        "backup_vault": {"type": "string", "pattern": r"^[a-zA-Z0-9\-_]{2,50}$"},
        "restore_role_arn": {"type": "string", "pattern": r"^arn:aws[a-z-]*:iam::\d{12}:role/.+$"},
        "copy_lag_target_seconds": {"type": "integer", "minimum": 1},
    },
}
# What each source needs on the recovery side to find its copies and restore them.
_NEEDS: dict[BackupSource, tuple[str, ...]] = {
    BackupSource.S3_JSON: ("backup_bucket",),
    BackupSource.S3_EXPORT: ("backup_bucket",),
    BackupSource.NATIVE_BACKUP: ("backup_vault", "restore_role_arn"),
}
DEFAULT_COPY_LAG_TARGET_SECONDS = 26 * 3600  # a nightly copy plus two hours of slack, as the RPO


def recovery_side(table: str, source: str, block: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Return the table's recovery block with its defaults, refusing one its source cannot use.

    :raises InvalidDrillRequest: naming the key that is missing or does not apply.
    """
    if not block:
        return None
    source = BackupSource(source)
    if source is BackupSource.PITR:
        raise InvalidDrillRequest(
            f"table {table}: recovery does not apply to pitr: point-in-time recovery never crosses accounts, and"
            " its continuous backups stay in the source region (a restore into another region still reads them"
            " there), so it cannot prove a recovery without the source; drill native_backup copies or a"
            " replicated bucket instead"
        )
    for key in _NEEDS[source]:
        if not block.get(key):
            raise InvalidDrillRequest(f"table {table}: recovery.{key} is needed to drill {source} on the recovery side")
    useless = sorted(key for key in ("backup_bucket", "backup_vault", "restore_role_arn") if key in block)
    useless = [key for key in useless if key not in _NEEDS[source]]
    if useless:
        raise InvalidDrillRequest(f"table {table}: recovery.{useless[0]} does not apply to {source}")
    return {"copy_lag_target_seconds": DEFAULT_COPY_LAG_TARGET_SECONDS, **block}


@dataclass(frozen=True)
class RecoveryConnection:
    """A connection and region the drill acts in: where scratch tables are made, and swept."""

    aws_conn_id: str
    region: str | None


def sweep_sides(plan_tables: Iterable[Mapping[str, Any]], default: RecoveryConnection) -> list[RecoveryConnection]:
    """Every side scratch tables of the plan's drills can be left on: the default one and each recovery side."""
    sides = [default]
    for entry in plan_tables:
        block = entry.get("recovery") or {}
        if block:
            side = RecoveryConnection(block["aws_conn_id"], block["region"])
            if side not in sides:
                sides.append(side)
    return sides


@dataclass(frozen=True)
class CopyLag:
    """How far the recovery side's newest copy is behind the source side's newest backup.

    ``uncopied`` is the newest source backup that has no copy on the recovery side (None when the
    newest has one); ``lag_seconds`` is None when either side has nothing to compare.
    """

    newest_source: Candidate | None
    newest_copy: Candidate | None
    uncopied: Candidate | None
    lag_seconds: float | None


def copy_lag(
    source: Iterable[Candidate], copies: Iterable[Candidate], identity: Callable[[Candidate], str | None]
) -> CopyLag:
    """Compare both sides' backups by their own time.

    :param identity: what names a backup the same on both sides (an S3 key, an export id); it
        gives None when a copy has a name of its own (an AWS Backup copy): then only the times compare.
    """
    source = sorted(source, key=lambda candidate: candidate.taken_at, reverse=True)
    copies = sorted(copies, key=lambda candidate: candidate.taken_at, reverse=True)
    newest_source, newest_copy = (source[0] if source else None), (copies[0] if copies else None)
    copied = {identity(candidate) for candidate in copies} - {None}

    def has_copy(candidate: Candidate) -> bool:
        newer_than_copies = newest_copy is None or candidate.taken_at > newest_copy.taken_at
        return not newer_than_copies or identity(candidate) in copied

    uncopied = next((candidate for candidate in source if not has_copy(candidate)), None)
    lag = None
    if newest_source and newest_copy:
        # A copy as new as the source's newest (or newer: the source kept fewer) is not behind at all.
        lag = round(max((newest_source.taken_at - newest_copy.taken_at).total_seconds(), 0.0), 3)
    return CopyLag(newest_source=newest_source, newest_copy=newest_copy, uncopied=uncopied, lag_seconds=lag)
