"""What each step of a drill hands the next: frozen, typed, and JSON-able for XCom.

::

    plan_drills  -> DrillSpec
    locate       -> LocatedBackup     from DrillSpec
    verify       -> VerifiedBackup    from LocatedBackup
    create       -> ScratchTable      from DrillSpec, LocatedBackup
    restore      -> RestoreResult     from ScratchTable, LocatedBackup, VerifiedBackup
    validate     -> ValidationResult  from RestoreResult, VerifiedBackup, LocatedBackup
    drop         -> DroppedScratch    from the ScratchClaims of create and restore
    record       -> DrillOutcome      from all of these, or the StepFailure of the step that failed

A step returns ``contract.to_xcom()`` (plain JSON: enums as their values, tuples as lists)
and reads what it is handed with ``Contract.from_xcom(value)``, once, in the base operator
or the record step. Unknown keys are refused, so a hand-off that drifts fails loudly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from enum import Enum
from typing import Any, Self

from dr_drill.constants import DEFAULT_RESTORE_WORKERS, BackupSource, RestoreMethod, Step


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, list | tuple):
        return [_plain(inner) for inner in value]
    if isinstance(value, dict):
        return {key: _plain(inner) for key, inner in value.items()}
    return value


class Contract:
    """A step's hand-off: ``to_xcom`` for the next step, ``from_xcom`` to read it back."""

    def to_xcom(self) -> dict[str, Any]:
        return _plain(asdict(self))  # type: ignore[call-overload]

    @classmethod
    def from_xcom(cls, value: Self | dict[str, Any]) -> Self:
        if isinstance(value, cls):
            return value
        names = {item.name for item in fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(value) - names)
        if unknown:
            raise TypeError(f"{cls.__name__} has no field {', '.join(unknown)}")
        return cls(**value)

    def _set(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)  # only in __post_init__, to normalise what XCom gave back


@dataclass(frozen=True, kw_only=True)
class DrillSpec(Contract):
    """Everything one table's drill needs: the plan, the conf and the settings, resolved."""

    drill_id: str
    dag_id: str
    run_id: str
    started_at: str
    table_name: str
    backup_source: BackupSource
    backup_bucket: str | None
    backup_file: str | None
    batch_size: int
    rto_target_seconds: int
    rpo_target_seconds: int
    keep_scratch_table: bool
    scratch_prefix: str
    scratch_table: str
    evidence_bucket: str
    success_topic_arn: str | None
    failure_topic_arn: str | None
    export_prefix: str | None = None
    selection: dict[str, Any] | None = None
    validation: dict[str, Any] | None = None
    include_indexes: bool = True
    key_schema: list[dict[str, str]] | None = None
    restore_workers: int = DEFAULT_RESTORE_WORKERS
    import_table: bool = False
    restore_tasks: int = 1
    max_backup_shrink_percent: float = 50
    allow_empty_table: bool = False
    objectives_advisory: bool = False
    max_warm_write_units: int = 40_000
    prices: dict[str, float] | None = None
    # Where the recovery would really happen (dr_drill.core.plan.recovery); None: the source's own account and region.
    recovery: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        self._set("backup_source", BackupSource(self.backup_source))

    def on_recovery_side(self) -> DrillSpec:
        """This spec as the recovery side sees it: its backups are the copies in the recovery bucket."""
        if not self.recovery or not self.recovery.get("backup_bucket"):
            return self
        return replace(self, backup_bucket=self.recovery["backup_bucket"])


@dataclass(frozen=True, kw_only=True)
class BackupRef(Contract):
    """One backup a source listed: where it is, when it was taken, and what names it for its source.

    Only the fields of its own source are set: ``bucket``, ``key``, ``name_timestamp``
    (s3_json); ``bucket``, ``export_root``, ``export_id``, ``export_arn``, ``table_arn``,
    ``item_count`` (s3_export); ``backup_arn``, ``backup_name``, ``backup_type``,
    ``source_table_name``, ``source_table_arn`` (native_backup); ``restore_time``,
    ``source_table_name``, ``source_table_arn`` (pitr).
    """

    location: str
    backup_time: str | None = None
    bucket: str | None = None
    key: str | None = None
    name_timestamp: str | None = None
    export_root: str | None = None
    export_id: str | None = None
    export_arn: str | None = None
    table_arn: str | None = None
    item_count: int | None = None
    backup_arn: str | None = None
    backup_name: str | None = None
    backup_type: str | None = None
    source_table_name: str | None = None
    source_table_arn: str | None = None
    restore_time: str | None = None


@dataclass(frozen=True, kw_only=True)
class LocatedBackup(BackupRef):
    """The locate step's result: the chosen backup, how it was chosen, and older ones to fall back on.

    :param selection: the policy and what it chose (for ``random_within_days`` the seed and
        the choice, so the draw replays).
    :param fallbacks: a few older candidates, newest first, for verify to try when this one fails.
    :param incomplete_exports: s3_export: ids of exports in progress or failed, never chosen.
    """

    source: BackupSource
    candidates_considered: int
    selection: dict[str, Any]
    fallbacks: tuple[BackupRef, ...] = ()
    incomplete_exports: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self._set("source", BackupSource(self.source))
        self._set("fallbacks", tuple(BackupRef.from_xcom(ref) for ref in self.fallbacks))
        self._set("incomplete_exports", tuple(self.incomplete_exports))


@dataclass(frozen=True, kw_only=True)
class RecoveryCopy(Contract):
    """Both sides of a drill on the recovery side, and how far the recovery side's copy is behind.

    Pushed by the locate step before it chooses a copy, so that the record shows both sides
    even when no copy is found. ``aws_conn_id`` is the recovery connection's id (never its
    secrets). A figure the drill could not measure is None, with ``source_error`` saying why.

    :param uncopied_location: the newest source backup with no copy on the recovery side.
    """

    aws_conn_id: str
    recovery_region: str | None
    recovery_account: str | None
    source_aws_conn_id: str
    source_region: str | None
    source_account: str | None
    newest_source_location: str | None = None
    newest_source_backup_time: str | None = None
    newest_copy_location: str | None = None
    newest_copy_backup_time: str | None = None
    uncopied_location: str | None = None
    uncopied_backup_time: str | None = None
    copy_lag_seconds: float | None = None
    copy_lag_target_seconds: int | None = None
    source_error: str | None = None


@dataclass(frozen=True, kw_only=True)
class VerifiedBackup(Contract):
    """What verification proved without restoring; on failure, the newest older backup that verifies.

    :param data_files: s3_export: the S3 keys of its data files, read from its proven manifest.
    :param item_count_exact: native_backup: False, as AWS's count is up to six hours old.
    :param live_item_count: the live source table's approximate ItemCount (None when it is gone).
    :param limits_checked: whether every item was checked against DynamoDB's limits (False for
        native_backup and pitr, whose items only DynamoDB reads).
    :param limit_violations: items that break DynamoDB's limits (None when not checked).
    """

    backup_timestamp: str | None = None
    item_count: int | None = None
    checksum_verified: bool = False
    size_bytes: int | None = None
    etag: str | None = None
    version_id: str | None = None
    export_arn: str | None = None
    data_files: tuple[str, ...] = ()
    data_file_count: int | None = None
    backup_arn: str | None = None
    backup_type: str | None = None
    item_count_exact: bool | None = None
    restore_time: str | None = None
    window_start: str | None = None
    window_end: str | None = None
    fallbacks_checked: int | None = None
    newest_verified_location: str | None = None
    newest_verified_backup_time: str | None = None
    live_item_count: int | None = None
    limits_checked: bool | None = None
    limit_violations: int | None = None

    def __post_init__(self) -> None:
        self._set("data_files", tuple(self.data_files))


@dataclass(frozen=True, kw_only=True)
class ScratchTable(Contract):
    """The create step's result: the scratch table's name, how the backup gets into it, and its schema.

    :param definition: the CreateTable schema (keys, attribute definitions, indexes) of a
        streamed restore or an ImportTable; None for restores that take it from the backup.
    :param created_at: when the create step made the (empty) table; None when the restore makes it.
    :param warm_throughput: what warm throughput was asked of the table and from what it was sized
        (``core.restore.scratch.warm_throughput_plan``), with ``reported``: DescribeTable's
        ``WarmThroughput`` of the new table; None when the create step made no table.
    """

    name: str
    method: RestoreMethod
    started_at: str
    definition: dict[str, Any] | None = None
    indexes: tuple[str, ...] = ()
    created_at: str | None = None
    warm_throughput: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        self._set("method", RestoreMethod(self.method))
        self._set("indexes", tuple(self.indexes))

    @property
    def key_names(self) -> tuple[str, ...]:
        return tuple(entry["AttributeName"] for entry in (self.definition or {}).get("KeySchema", ()))


@dataclass(frozen=True, kw_only=True)
class ScratchClaim(Contract):
    """What the teardown needs to recognise this drill's table, pushed before the table can exist.

    :param import_arn: an ImportTable's ARN, once the restore step started it.
    """

    method: RestoreMethod
    located: LocatedBackup | None = None
    verified: VerifiedBackup | None = None
    import_arn: str | None = None

    def __post_init__(self) -> None:
        self._set("method", RestoreMethod(self.method))
        if self.located is not None:
            self._set("located", LocatedBackup.from_xcom(self.located))
        if self.verified is not None:
            self._set("verified", VerifiedBackup.from_xcom(self.verified))


@dataclass(frozen=True, kw_only=True)
class RestoreResult(Contract):
    """The restore step's result, whole or one task's share of a split restore.

    ``items_restored`` is None for a server-side restore that does not count its items: the
    validate step's scan counts them (``items_counted_by``).

    :param backup_digest: a streamed restore's ``BucketedDigest.to_dict()`` of every item read.
    :param scratch_created_at: a server-side restore: when DynamoDB accepted the request that creates the table.
    :param workers: the cap on concurrent BatchWriteItem requests (the plan's ``restore_workers``);
        ``peak_in_flight`` the most that were in flight at once, as measured.
    :param consumed_write_units: the write units DynamoDB reported consumed (``ConsumedCapacity``) by
        the batch writes; None when no answer reported any (a server-side restore, or an endpoint
        that does not report them).
    """

    method: RestoreMethod
    started_at: str
    finished_at: str
    items_read: int | None = 0
    items_restored: int | None = 0
    items_failed: int = 0
    duplicate_keys: int = 0
    retries: int = 0
    throttled_requests: int = 0
    rejected_keys: tuple[str, ...] = ()
    rejection_reasons: dict[str, int] = field(default_factory=dict)
    workers: int | None = None
    peak_in_flight: int | None = None
    writes_started_at: str | None = None
    backup_digest: dict[str, Any] | None = None
    items_counted_by: str | None = "restore"
    parts: int = 1
    scratch_created_at: str | None = None
    import_arn: str | None = None
    consumed_write_units: float | None = None

    def __post_init__(self) -> None:
        self._set("method", RestoreMethod(self.method))
        self._set("rejected_keys", tuple(self.rejected_keys))


@dataclass(frozen=True, kw_only=True)
class ValidationResult(Contract):
    """The validate step's result: what each proof found; a proof that did not run leaves its fields null.

    :param scan: the scratch table's scans: ``segments``, the ``size_bytes`` they were sized from
        and its ``size_basis``, and ``read_units`` DynamoDB reported consumed (None: not reported).
    """

    passed: bool
    expected_items: int | None
    restored_items: int
    finished_at: str | None = None
    content_digest_expected: str | None = None
    content_digest_actual: str | None = None
    digest_match: bool | None = None
    missing_items: int | None = None
    extra_items: int | None = None
    different_items: int | None = None
    localisation: dict[str, Any] | None = None
    items_proven: int | None = None
    sample_seed: int | None = None
    sample_basis: str | None = None
    samples_checked: int = 0
    sample_mismatches: int | None = None
    first_sample_mismatch_keys: tuple[str, ...] = ()
    type_drift: dict[str, Any] | None = None
    checks: tuple[dict[str, Any], ...] = ()
    proofs: tuple[str, ...] = ()
    proofs_skipped: dict[str, str] = field(default_factory=dict)
    failures: tuple[str, ...] = ()
    scan: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        for name in ("first_sample_mismatch_keys", "checks", "proofs", "failures"):
            self._set(name, tuple(getattr(self, name)))


@dataclass(frozen=True, kw_only=True)
class DroppedScratch(Contract):
    """The teardown's result."""

    deleted: bool
    kept: bool
    deleted_at: str | None = None
    indexes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self._set("indexes", tuple(self.indexes))


@dataclass(frozen=True, kw_only=True)
class StepFailure(Contract):
    """Why a step failed, pushed by the step itself; ``details`` is its partial result, for the evidence.

    ``error`` names what was raised: one of the named errors (a finding about the backup or the
    restore, such as ``BackupCorrupt``), or another exception (``TransferInterrupted``, say).
    """

    step: Step
    reason: str
    details: dict[str, Any] | None = None
    error: str | None = None

    def __post_init__(self) -> None:
        self._set("step", Step(self.step))


@dataclass(frozen=True, kw_only=True)
class DrillOutcome(Contract):
    """The record step's result, which the verdict turns into the run's state."""

    status: str
    evidence_uri: str
    report_uri: str | None
    evidence_sha256: str | None
    failure: dict[str, str] | None
