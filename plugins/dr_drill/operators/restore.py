"""Restoring the backup's items into the scratch table."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from airflow.sdk import Context

from dr_drill.aws.backup_items import iter_backup_items
from dr_drill.aws.restore import RestoreStats, restore_items
from dr_drill.aws.scratch_tables import (
    KeySchema,
    assert_scratch_table,
)
from dr_drill.core.digest import BucketedDigest, digesting
from dr_drill.core.errors import RestoreIncomplete
from dr_drill.operators.base import DrillStepOperator, now


class RestoreBackupOperator(DrillStepOperator):
    """Stream the backup's items into the scratch table with concurrent, retried batch writes.

    :param located: what the locate step returned.
    :param scratch: what the create-scratch-table step returned.
    :param workers: concurrent BatchWriteItem calls.
    """

    template_fields: Sequence[str] = ("spec", "located", "scratch")
    step = "restore"

    def __init__(self, *, located: dict[str, Any], scratch: dict[str, Any], workers: int = 8, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.located = located
        self.scratch = scratch
        self.workers = workers

    def run(self, context: Context) -> dict[str, Any]:
        spec = self.spec
        ddb = self.dynamodb_client(max_pool_connections=self.workers + 2)
        # Checked here, not trusted from the setup task: the restore writes only to this drill's table.
        assert_scratch_table(ddb, self.scratch["name"], prefix=spec["scratch_prefix"], run_id=spec["run_id"])
        key_names = KeySchema(self.scratch["key_schema"], self.scratch["attribute_definitions"]).key_names
        backup_digest = BucketedDigest(key_names)  # every item read, for the validate step's content proof
        clock = time.monotonic()

        def progress(stats: RestoreStats) -> None:
            elapsed = time.monotonic() - clock
            self.log.info(
                "Restored %d items (%d read) in %.0f s, %.0f items/s",
                stats.items_restored,
                stats.items_read,
                elapsed,
                stats.items_restored / elapsed if elapsed else 0.0,
            )

        stats = restore_items(
            ddb,
            self.scratch["name"],
            digesting(iter_backup_items(self.s3_client(), self.located), backup_digest),
            key_names=key_names,
            batch_size=spec["batch_size"],
            workers=self.workers,
            on_progress=progress,
        )
        progress(stats)
        result = {
            **stats.as_dict(),
            "workers": self.workers,
            "started_at": self.scratch["started_at"],
            "finished_at": now().isoformat(),
            "backup_digest": backup_digest.to_dict(),
        }
        if stats.items_failed:
            reasons = "; ".join(f"{count} x {reason}" for reason, count in stats.rejection_reasons.items())
            raise RestoreIncomplete(
                f"{stats.items_failed} of {stats.items_read} items could not be written: "
                f"{reasons or 'retries exhausted'} (first hashed keys: {', '.join(stats.rejected_keys[:5]) or 'none'})",
                details=result,
            )
        return result
