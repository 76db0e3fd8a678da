"""Locating and verifying the backup a drill restores, whatever its source (see ``dr_drill.aws.sources``)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from airflow.sdk import Context

from dr_drill.aws.live_table import describe_live_table
from dr_drill.aws.sources import SourceAdapter
from dr_drill.constants import Step
from dr_drill.contracts import LocatedBackup, VerifiedBackup
from dr_drill.core.items.limits import LimitReport, key_attributes
from dr_drill.core.plan.selection import SelectionPolicy
from dr_drill.core.verify.shrink import backup_shrink_problem
from dr_drill.errors import BackupCorrupt, DrillError
from dr_drill.operators.base import DrillStepOperator
from dr_drill.operators.recovery import RecoveryLocator


class LocateBackupOperator(DrillStepOperator):
    """Find the backup to drill, by the table's ``backup_source`` and ``selection`` policy.

    Returns a ``LocatedBackup``.
    """

    step = Step.LOCATE

    def run(self, context: Context) -> dict[str, Any]:
        spec = self.drill
        policy = SelectionPolicy.parse(spec.selection)
        # The drill's start, not the clock: a random_within_days draw replays with the same window.
        started = datetime.fromisoformat(spec.started_at)
        if spec.recovery:
            located = RecoveryLocator(self, spec).locate(context, policy, now=started)
        else:
            located = self.source_adapter().locate(spec, policy, now=started)
        self.log.info(
            "Backup of %s (%s, %s): %s (%d candidates considered)",
            spec.table_name,
            located.source,
            located.selection["policy"],
            located.location,
            located.candidates_considered,
        )
        return located.to_xcom()


class VerifyBackupOperator(DrillStepOperator):
    """Prove the located backup without restoring it; if it fails, find the newest older one that verifies.

    Returns a ``VerifiedBackup``. When the chosen backup fails, the failure's details name
    the newest fallback that verifies (``newest_verified_location``, ``_backup_time``): the
    recovery point a real restore would have had that night.

    :param located: what the locate step returned.
    """

    template_fields: Sequence[str] = ("spec", "located")
    step = Step.VERIFY

    def __init__(self, *, located: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.located = located

    def run(self, context: Context) -> dict[str, Any]:
        located = LocatedBackup.from_xcom(self.located)
        adapter = self.source_adapter()
        table = self.drill.table_name
        self.log.info("Verifying %s", located.location)
        started = time.monotonic()
        try:
            verified = adapter.verify(located, table)
        except BackupCorrupt as err:
            raise self._newest_that_verifies(adapter, located, err) from err
        verified = self._against_dynamodb(adapter, located, verified)
        self.log.info(
            "Verified %s items (checksum verified: %s) in %.1f s",
            verified.item_count,
            verified.checksum_verified,
            time.monotonic() - started,
        )
        return verified.to_xcom()

    def _against_dynamodb(
        self, adapter: SourceAdapter, located: LocatedBackup, verified: VerifiedBackup
    ) -> VerifiedBackup:
        """What the backup's own format cannot show: far fewer items than the live table, items DynamoDB refuses.

        Items are streamed once more for the limits (constant memory); a server-side source's
        items are read only by DynamoDB, so for native_backup and pitr only the count is compared.
        """
        spec = self.drill
        live = describe_live_table(self.source_table_client(adapter.clients.dynamodb()), spec.table_name)
        report = None
        if adapter.source.in_s3:
            key_schema = spec.key_schema or (list(live.key_schema) if live else [])
            report = LimitReport(keys=key_attributes(key_schema)).check(adapter.iter_items(located, verified))
        verified = dataclasses.replace(
            verified,
            live_item_count=live.item_count if live else None,
            limits_checked=report is not None,
            limit_violations=report.items_refused if report else None,
        )
        findings = [
            finding
            for finding in (
                backup_shrink_problem(verified.item_count, verified.live_item_count, spec.max_backup_shrink_percent),
                report.reason() if report and report.items_refused else None,
            )
            if finding
        ]
        if findings:
            raise BackupCorrupt(f"{located.location}: {'; '.join(findings)}", details=verified.to_xcom())
        return verified

    def _newest_that_verifies(
        self, adapter: SourceAdapter, located: LocatedBackup, failure: BackupCorrupt
    ) -> BackupCorrupt:
        """Verify the older candidates, newest first, and return the failure naming the first that passes."""
        checked, newest = 0, None
        for fallback in located.fallbacks:
            checked += 1
            try:
                adapter.verify(fallback, self.drill.table_name)
            except DrillError as err:
                self.log.warning("Older backup %s does not verify either: %s", fallback.location, err.reason)
                continue
            newest = fallback
            break
        details = VerifiedBackup(
            fallbacks_checked=checked,
            newest_verified_location=newest.location if newest else None,
            newest_verified_backup_time=newest.backup_time if newest else None,
        )
        if newest:
            found = f"; the newest backup that verifies is {newest.location} taken at {newest.backup_time}"
        elif located.fallbacks:
            found = f"; none of the {len(located.fallbacks)} next older backups verifies either"
        else:
            found = ""
        return BackupCorrupt(failure.reason + found, details=details.to_xcom())
