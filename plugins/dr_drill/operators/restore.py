"""Restoring the backup into the scratch table: streamed batch writes, or waiting for a server-side restore."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowSkipException

from dr_drill.aws.backup_items import iter_backup_items
from dr_drill.aws.restore import RestoreStats, restore_items
from dr_drill.aws.scratch_tables import (
    KeySchema,
    assert_scratch_table,
)
from dr_drill.aws.server_side_restore import claim_restored_table
from dr_drill.core.digest import BucketedDigest, digesting
from dr_drill.core.errors import RestoreIncomplete
from dr_drill.core.restore import (
    BATCH_WRITE,
    IMPORT_TABLE,
    combine_restore_results,
    drill_restore_method,
    progress_line,
    split_restore,
)
from dr_drill.operators.base import FAILURE_XCOM_KEY, DrillStepOperator, now
from dr_drill.operators.server_side_restore import ServerSideRestoreTrigger

DEFAULT_SERVER_SIDE_TIMEOUT = timedelta(hours=6)


def _expected_items(verified: dict[str, Any] | None, located: dict[str, Any]) -> int | None:
    if verified and verified.get("item_count") is not None:
        return verified["item_count"]
    return located.get("item_count")


def _raise_if_incomplete(result: dict[str, Any]) -> dict[str, Any]:
    if result["items_failed"]:
        reasons = "; ".join(f"{count} x {reason}" for reason, count in result["rejection_reasons"].items())
        keys = ", ".join(result["rejected_keys"][:5]) or "none"
        raise RestoreIncomplete(
            f"{result['items_failed']} of {result['items_read']} items could not be written: "
            f"{reasons or 'retries exhausted'} (first hashed keys: {keys})",
            details=result,
        )
    return result


class RestoreBackupOperator(DrillStepOperator):
    """Restore the backup, or this task's share of it, into the scratch table.

    Streamed sources (s3_json, s3_export) go through concurrent, retried batch writes in this
    task. Server-side restores (native_backup, pitr, ImportTable) were started by the setup
    task; this task defers to the triggerer until DynamoDB has finished, then tags the table.

    A large s3_export can be split over several restore tasks (the plan's ``restore_tasks``):
    task ``part`` (from 1) writes its share of the data files (``split_restore``), and a task
    with no share is skipped. Unsplit, part 1 restores everything.

    :param located: what the locate step returned.
    :param scratch: what the create-scratch-table step returned.
    :param verified: what the verify step returned (its item count is the expected total in the log).
    :param workers: concurrent BatchWriteItem calls; default: the plan's ``restore_workers``.
    :param part: which share of a split restore this task writes, from 1.
    :param server_side_timeout: how long to wait for a server-side restore before the drill fails.
    """

    template_fields: Sequence[str] = ("spec", "located", "scratch", "verified")
    step = "restore"

    def __init__(
        self,
        *,
        located: dict[str, Any],
        scratch: dict[str, Any],
        verified: dict[str, Any] | None = None,
        workers: int | None = None,
        part: int = 1,
        server_side_timeout: timedelta = DEFAULT_SERVER_SIDE_TIMEOUT,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.located = located
        self.scratch = scratch
        self.verified = verified
        self.workers = workers
        self.part = part
        self.server_side_timeout = server_side_timeout
        self._event: dict[str, Any] | None = None

    def run(self, context: Context) -> dict[str, Any]:
        method = self.scratch.get("method", BATCH_WRITE)
        shares = split_restore(method, self.located, self.spec.get("restore_tasks", 1))
        if self.part > len(shares):
            raise AirflowSkipException(f"Nothing to restore in part {self.part}: the restore has {len(shares)} part(s)")
        if method == BATCH_WRITE:
            return self._batch_write(shares[self.part - 1], len(shares))
        if self._event is None:
            self._defer(method)
        return self._finish_server_side(method, self._event)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Resume after the trigger fired: finish (or fail) the server-side restore."""
        self._event = event
        return self.execute(context)

    def _defer(self, method: str) -> None:
        deadline = now() + self.server_side_timeout
        self.log.info("Waiting in the triggerer for %s into %s (until %s)", method, self.scratch["name"], deadline)
        self.defer(
            trigger=ServerSideRestoreTrigger(
                method=method,
                table_name=self.scratch["name"],
                deadline=deadline.isoformat(),
                import_arn=self.scratch.get("import_arn"),
                aws_conn_id=self.aws_conn_id,
            ),
            method_name="execute_complete",
            # A backstop: the trigger itself reports the deadline, with a clear reason.
            timeout=self.server_side_timeout + timedelta(minutes=10),
        )

    def _finish_server_side(self, method: str, event: dict[str, Any]) -> dict[str, Any]:
        spec = self.spec
        name = self.scratch["name"]
        if event["state"] == "timeout":
            raise RestoreIncomplete(
                f"{method} into {name} did not finish within {self.server_side_timeout} (deadline {event['deadline']})"
            )
        if event["state"] != "done":
            raise RestoreIncomplete(f"{method} into {name} failed: {event.get('reason', 'unknown')}")
        ddb = self.dynamodb_client()
        # Tagged before anything reads from, writes to or deletes it.
        claim_restored_table(
            ddb,
            name,
            prefix=spec["scratch_prefix"],
            run_id=spec["run_id"],
            source_table=spec["table_name"],
            method=method,
            located=self.located,
            import_arn=self.scratch.get("import_arn"),
        )
        # ImportTable reports its own count. A restored table's ItemCount is stale and an exact count
        # needs a full scan, which the validate step makes anyway: it fills the count (one scan, not two).
        restored = event["items"] if method == IMPORT_TABLE and event.get("items") is not None else None
        failed = int(event.get("error_count") or 0)
        self.log.info(
            "%s into %s done after %.0f s in the triggerer: %s",
            method,
            name,
            event["waited_seconds"],
            f"{restored} items imported" if restored is not None else "items to be counted by the validate step",
        )
        result = {
            "method": method,
            "items_read": restored + failed if restored is not None else None,
            "items_restored": restored,
            "items_counted_by": "restore" if restored is not None else "validate",
            "items_failed": failed,
            "duplicate_keys": 0,
            "retries": 0,
            "throttled_requests": 0,
            "rejected_keys": [],
            "rejection_reasons": {"ImportTable item errors": failed} if failed else {},
            "workers": None,
            "started_at": self.scratch["started_at"],
            "finished_at": now().isoformat(),
        }
        return _raise_if_incomplete(result)

    def _batch_write(self, data_files: list[str] | None, part_count: int) -> dict[str, Any]:
        spec = self.spec
        workers = self.workers or spec.get("restore_workers", 16)
        # The items are typed by our own readers and DynamoDB checks every request anyway: botocore's
        # client-side check of each attribute was half the engine's CPU (benchmarks/README.md).
        ddb = self.dynamodb_client(max_pool_connections=workers + 2, parameter_validation=False)
        # Checked here, not trusted from the setup task: the restore writes only to this drill's table.
        assert_scratch_table(ddb, self.scratch["name"], prefix=spec["scratch_prefix"], run_id=spec["run_id"])
        key_names = KeySchema(self.scratch["key_schema"], self.scratch["attribute_definitions"]).key_names
        backup_digest = BucketedDigest(key_names)  # every item read, for the validate step's content proof
        expected = None if data_files else _expected_items(self.verified, self.located)
        if data_files:
            self.log.info("Restore part %d of %d: %d data files", self.part, part_count, len(data_files))
        writes_started_at = now()
        clock = time.monotonic()

        def progress(stats: RestoreStats) -> None:
            self.log.info(
                "Restore progress: %s", progress_line(stats.items_restored, expected, time.monotonic() - clock)
            )

        stats = restore_items(
            ddb,
            self.scratch["name"],
            digesting(iter_backup_items(self.s3_client(), self.located, data_files=data_files), backup_digest),
            key_names=key_names,
            batch_size=spec["batch_size"],
            workers=workers,
            on_progress=progress,
        )
        progress(stats)
        result = {
            **stats.as_dict(),
            "method": BATCH_WRITE,
            "workers": workers,
            "started_at": self.scratch["started_at"],
            "writes_started_at": writes_started_at.isoformat(),
            "finished_at": now().isoformat(),
            "backup_digest": backup_digest.to_dict(),
        }
        return _raise_if_incomplete(result)


class CombineRestoreOperator(DrillStepOperator):
    """Add up the restore tasks' results into the drill's one restore result.

    Runs when every restore task is done (``all_done``): a share that failed or did not run
    fails the restore with that task's reason, so the record names it. It reads nothing of
    the setup task (Airflow requires ``all_success`` right after a setup), so it derives the
    restore method with the setup's own ``drill_restore_method``.

    :param located: what the locate step returned (to know how many parts the restore has).
    :param part_task_ids: the restore tasks' ids, part 1 first.
    """

    template_fields: Sequence[str] = ("spec", "located")
    step = "restore"

    def __init__(self, *, located: dict[str, Any], part_task_ids: list[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.located = located
        self.part_task_ids = part_task_ids

    def run(self, context: Context) -> dict[str, Any]:
        spec = self.spec
        if not self.located:
            raise RestoreIncomplete("the restore did not run: the locate step found no backup")
        method = drill_restore_method(spec, self.located)  # as the setup task derived it
        count = len(split_restore(method, self.located, spec.get("restore_tasks", 1)))
        ti = context["ti"]
        parts = []
        for task_id in self.part_task_ids[:count]:
            result = ti.xcom_pull(task_ids=task_id, map_indexes=ti.map_index)
            if result is None:
                failure = ti.xcom_pull(task_ids=task_id, key=FAILURE_XCOM_KEY, map_indexes=ti.map_index)
                reason = failure["reason"] if failure else "did not finish; see its log"
                raise RestoreIncomplete(f"{task_id}: {reason}", details=(failure or {}).get("details"))
            parts.append(result)
        combined = combine_restore_results(parts)
        if count > 1:
            self.log.info("Combined %d restore parts: %d items restored", count, combined["items_restored"])
        return _raise_if_incomplete(combined)
