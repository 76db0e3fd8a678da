"""Restoring the backup into the scratch table: streamed batch writes, or a server-side restore awaited."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any, NoReturn

from airflow.sdk import Context

from dr_drill.aws.batch_writer import RestoreStats, restore_items
from dr_drill.aws.read_apart import digested
from dr_drill.aws.scratch_tables import assert_scratch_table
from dr_drill.aws.server_side import claim_restored_table
from dr_drill.aws.sources import SourceAdapter, adapter_class
from dr_drill.constants import RestoreMethod, Step
from dr_drill.contracts import (
    LocatedBackup,
    RestoreResult,
    ScratchClaim,
    ScratchTable,
    VerifiedBackup,
)
from dr_drill.core.items.canonical import TypedItem
from dr_drill.core.items.digest import BucketedDigest
from dr_drill.core.restore.parts import combine_restore_results, progress_line, restore_shares
from dr_drill.errors import RestoreIncomplete
from dr_drill.operators.base import DrillStepOperator, now
from dr_drill.operators.scratch import SCRATCH_CLAIM_XCOM_KEY
from dr_drill.operators.settings import READER_PROCESS, ownership_key, reader_process
from dr_drill.triggers.server_side_restore import ServerSideRestoreTrigger
from dr_drill.ui.links import ScratchTableLink

DEFAULT_SERVER_SIDE_TIMEOUT = timedelta(hours=6)


def _raise_if_incomplete(result: RestoreResult) -> dict[str, Any]:
    if result.items_failed:
        reasons = "; ".join(f"{count} x {reason}" for reason, count in result.rejection_reasons.items())
        keys = ", ".join(result.rejected_keys[:5]) or "none"
        raise RestoreIncomplete(
            f"{result.items_failed} of {result.items_read} items could not be written: "
            f"{reasons or 'retries exhausted'} (first hashed keys: {keys})",
            details=result.to_xcom(),
        )
    return result.to_xcom()


class RestoreBackupOperator(DrillStepOperator):
    """Restore the backup, or this task's share of it, into the scratch table; returns a ``RestoreResult``.

    Streamed sources (s3_json, s3_export) go through concurrent, retried batch writes in this
    task. Server-side restores (native_backup, pitr, ImportTable) are started by this task,
    which then defers to the triggerer until DynamoDB has finished, and tags the table.

    A large s3_export can be split over several restore tasks (the plan's ``restore_tasks``):
    the task is mapped over the shares ``PlanRestoreOperator`` deals out, and each writes its
    share of the data files. Unsplit, the one share is the whole backup.

    :param located: what the locate step returned.
    :param scratch: what the create-scratch-table step returned.
    :param verified: what the verify step returned (the data files, and the expected total for the log).
    :param workers: concurrent BatchWriteItem calls; default: the plan's ``restore_workers``.
    :param share: which part of the restore this task writes (``restore_shares``); default: all of it.
    :param server_side_timeout: how long to wait for a server-side restore before the drill fails.
    :param check_interval: seconds between two looks at a server-side restore, in the triggerer.
    """

    template_fields: Sequence[str] = ("spec", "located", "scratch", "verified", "share")
    step = Step.RESTORE
    operator_extra_links = (ScratchTableLink(),)

    def __init__(
        self,
        *,
        located: dict[str, Any],
        scratch: dict[str, Any],
        verified: dict[str, Any] | None = None,
        workers: int | None = None,
        share: dict[str, Any] | None = None,
        server_side_timeout: timedelta = DEFAULT_SERVER_SIDE_TIMEOUT,
        check_interval: float = 10.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.located = located
        self.scratch = scratch
        self.verified = verified
        self.workers = workers
        self.share = share
        self.server_side_timeout = server_side_timeout
        self.check_interval = check_interval

    def run(self, context: Context) -> dict[str, Any]:
        scratch = ScratchTable.from_xcom(self.scratch)
        located = LocatedBackup.from_xcom(self.located)
        verified = VerifiedBackup.from_xcom(self.verified) if self.verified else None
        share = self.share or {"part": 1, "of": 1, "data_files": None}
        adapter = self.source_adapter()
        if scratch.method.server_side:
            self._start_and_defer(context, adapter, scratch, located)  # Airflow resumes in execute_complete
        if verified is None:
            raise RestoreIncomplete("the restore did not run: the verify step proved no backup")
        return self._batch_write(adapter, scratch, located, verified, share)

    # Server-side --------------------------------------------------------------------------------

    def _start_and_defer(
        self, context: Context, adapter: SourceAdapter, scratch: ScratchTable, located: LocatedBackup
    ) -> NoReturn:
        spec = self.drill
        self.log.info("Starting %s of %s into %s", scratch.method, located.location, scratch.name)
        import_arn = adapter.start_restore(spec, scratch, located, key=ownership_key())
        accepted_at = now()
        # Saved at once, so that the teardown can recognise the table even if this task dies now.
        claim = ScratchClaim(method=scratch.method, located=located, import_arn=import_arn)
        context["ti"].xcom_push(key=SCRATCH_CLAIM_XCOM_KEY, value=claim.to_xcom())
        deadline = accepted_at + self.server_side_timeout
        self.log.info("Waiting in the triggerer for %s into %s (until %s)", scratch.method, scratch.name, deadline)
        self.defer(
            trigger=ServerSideRestoreTrigger(
                source=spec.backup_source.value,
                table_name=scratch.name,
                deadline=deadline.isoformat(),
                import_arn=import_arn,
                accepted_at=accepted_at.isoformat(),
                poll_seconds=self.check_interval,
                recovery=self.recovery_block(),
                **self.connection(),  # the recovery side's, for a drill there
            ),
            method_name="execute_complete",
            # A backstop: the trigger itself reports the deadline, with a clear reason.
            timeout=self.server_side_timeout + timedelta(minutes=10),
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Resume after the trigger fired: finish (or fail) the server-side restore."""
        return self.reporting_failures(context, lambda: self._finish_server_side(event))

    def _finish_server_side(self, event: dict[str, Any]) -> dict[str, Any]:
        spec = self.drill
        import_arn = event.get("import_arn")
        scratch = ScratchTable.from_xcom(self.scratch)
        method, name = scratch.method, scratch.name
        if event["state"] == "timeout":
            raise RestoreIncomplete(
                f"{method} into {name} did not finish within {self.server_side_timeout} (deadline {event['deadline']})"
            )
        if event["state"] != "done":
            raise RestoreIncomplete(f"{method} into {name} failed: {event.get('reason', 'unknown')}")
        claim = ScratchClaim(method=method, located=LocatedBackup.from_xcom(self.located), import_arn=import_arn)
        adapter = self.source_adapter()
        made_by_drill = adapter.made_by_drill_of(spec, claim)
        assert made_by_drill is not None  # a server-side restore always has one
        # Tagged before anything reads from, writes to or deletes it (with the client the check uses).
        claim_restored_table(
            adapter.clients.dynamodb(), name, spec=spec, made_by_drill=made_by_drill, key=ownership_key()
        )
        # ImportTable reports its own count. A restored table's ItemCount is stale and an exact count
        # needs a full scan, which the validate step makes anyway: it fills the count (one scan, not two).
        restored = event.get("items")
        failed = int(event.get("error_count") or 0)
        self.log.info(
            "%s into %s done after %.0f s in the triggerer: %s",
            method,
            name,
            event["waited_seconds"],
            f"{restored} items imported" if restored is not None else "items to be counted by the validate step",
        )
        result = RestoreResult(
            method=method,
            items_read=restored + failed if restored is not None else None,
            items_restored=restored,
            items_counted_by="restore" if restored is not None else "validate",
            items_failed=failed,
            rejection_reasons={"ImportTable item errors": failed} if failed else {},
            started_at=scratch.started_at,
            finished_at=now().isoformat(),
            scratch_created_at=event.get("accepted_at"),
            import_arn=import_arn,
        )
        return _raise_if_incomplete(result)

    # Streamed -----------------------------------------------------------------------------------

    def _batch_write(
        self,
        adapter: SourceAdapter,
        scratch: ScratchTable,
        located: LocatedBackup,
        verified: VerifiedBackup,
        share: dict[str, Any],
    ) -> dict[str, Any]:
        spec = self.drill
        workers = self.workers or spec.restore_workers
        # The items are typed by our own readers and DynamoDB checks every request anyway: botocore's
        # client-side check of each attribute was half the engine's CPU (benchmarks/README.md).
        ddb = self.dynamodb_client(max_pool_connections=workers + 2, parameter_validation=False)
        # Checked here, not trusted from the setup task: the restore writes only to this drill's table.
        assert_scratch_table(ddb, scratch.name, prefix=spec.scratch_prefix, run_id=spec.run_id, key=ownership_key())
        key_names = scratch.key_names
        backup_digest = BucketedDigest(key_names)  # every item read, for the validate step's content proof
        data_files = share["data_files"]
        expected = None if data_files else verified.item_count
        if data_files:
            self.log.info("Restore part %d of %d: %d data files", share["part"], share["of"], len(data_files))
        writes_started_at = now()
        clock = time.monotonic()

        def progress(stats: RestoreStats) -> None:
            self.log.info(
                "Restore progress: %s", progress_line(stats.items_restored, expected, time.monotonic() - clock)
            )

        stats = restore_items(
            ddb,
            scratch.name,
            self._items(adapter, located, verified, data_files, backup_digest),
            key_names=key_names,
            batch_size=spec.batch_size,
            workers=workers,
            on_progress=progress,
            retry_ledger=self.retry_budget().ledger,
        )
        progress(stats)
        result = RestoreResult(
            **stats.counts(),
            method=RestoreMethod.BATCH_WRITE,
            workers=workers,
            started_at=scratch.started_at,
            writes_started_at=writes_started_at.isoformat(),
            finished_at=now().isoformat(),
            backup_digest=backup_digest.to_dict(),
        )
        return _raise_if_incomplete(result)

    def _items(
        self,
        adapter: SourceAdapter,
        located: LocatedBackup,
        verified: VerifiedBackup,
        data_files: list[str] | None,
        digest: BucketedDigest,
    ) -> Iterator[TypedItem]:
        """The backup's items, added to ``digest`` as they are read: in a reading process unless it is off."""

        def items() -> Iterator[TypedItem]:
            return adapter.iter_items(located, verified, data_files=data_files)

        apart = reader_process()
        if apart:
            adapter.clients.s3()  # made here: the reading process must not ask Airflow for the connection
            self.log.info("Reading the backup in a process of its own (%s=off reads it here)", READER_PROCESS)
        return digested(items, digest, self.retry_budget().ledger, apart=apart)


class PlanRestoreOperator(DrillStepOperator):
    """Deal the restore out: the shares the restore task is mapped over (``restore_shares``), one per task.

    Only a batch-written restore of several data files is split, over at most the plan's
    ``restore_tasks`` tasks; anything else is one share, the whole backup. No AWS call.

    :param verified: what the verify step returned (the backup's data files).
    """

    template_fields: Sequence[str] = ("spec", "verified")
    step = Step.RESTORE

    def __init__(self, *, verified: dict[str, Any] | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.verified = verified

    def run(self, context: Context) -> list[dict[str, Any]]:  # type: ignore[override]
        spec = self.drill
        method = adapter_class(spec.backup_source).restore_method(spec)
        verified = VerifiedBackup.from_xcom(self.verified) if self.verified else None
        shares = restore_shares(method, verified, spec.restore_tasks)
        self.log.info("Restore by %s in %d task(s)", method, len(shares))
        return shares


class CombineRestoreOperator(DrillStepOperator):
    """Add up the restore tasks' results into the drill's one ``RestoreResult``.

    Runs when every restore task is done (``all_done``): a share that failed or did not run
    fails the restore with that task's reason, so the record names it.

    :param located: what the locate step returned.
    :param shares: what ``PlanRestoreOperator`` returned (None when it did not run).
    :param part_task_id: the mapped restore task, one instance per share.
    """

    template_fields: Sequence[str] = ("spec", "located", "shares")
    step = Step.RESTORE

    def __init__(
        self,
        *,
        located: dict[str, Any] | None,
        shares: list[dict[str, Any]] | None,
        part_task_id: str,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.located = located
        self.shares = shares
        self.part_task_id = part_task_id

    def run(self, context: Context) -> dict[str, Any]:
        if not self.located:
            raise RestoreIncomplete("the restore did not run: the locate step found no backup")
        if not self.shares:
            raise RestoreIncomplete("the restore did not run: plan_restore planned none (see the verify step)")
        parts = []
        for index, share in enumerate(self.shares):
            result = self.pull(context, self.part_task_id, map_index=index)
            if result is None:
                reason, failure = self.part_failure(context, self.part_task_id, index, share)
                raise RestoreIncomplete(reason, details=failure.details if failure else None)
            parts.append(RestoreResult.from_xcom(result))
        combined = combine_restore_results(parts)
        if len(parts) > 1:
            self.log.info("Combined %d restore parts: %d items restored", len(parts), combined.items_restored or 0)
        return _raise_if_incomplete(combined)
