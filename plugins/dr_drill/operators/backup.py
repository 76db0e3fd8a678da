"""Locating and verifying the backup a drill restores, for every ``backup_source``.

The locate step's result (``located``, XCom) always has ``source``, ``location`` (where the
backup is, as a person reads it), ``candidates_considered``, ``selection`` (the policy and
what it chose: for ``random_within_days`` the ``seed`` and the ``choice``, so the draw can be
replayed), ``backup_time`` (ISO 8601 UTC, the backup's own time, or None) and ``fallbacks``
(at most ``DEFAULT_LOOKBACK`` older candidates, newest first, each a dict of the same
per-source keys plus ``location`` and ``backup_time``). Per source, also:

- ``s3_json``: ``bucket``, ``key``, ``name_timestamp`` (the time in the key, or None).
- ``s3_export``: ``bucket``, ``export_root`` (``{export_prefix}/AWSDynamoDB/``), ``export_id``,
  ``export_arn``, ``table_arn``, ``data_files`` (the S3 keys of its data files, from
  ``manifest-files.json``), ``item_count`` (the summary's), ``incomplete_exports`` (ids of
  exports in progress or failed, never chosen).
- ``native_backup``: ``backup_arn``, ``backup_name``, ``backup_type`` (USER, SYSTEM,
  AWS_BACKUP), ``source_table_name``, ``source_table_arn``.
- ``pitr``: ``restore_time`` (ISO 8601 UTC, inside the window), ``source_table_name``,
  ``source_table_arn`` (None when the live table is gone).

The verify step's result has ``backup_timestamp``, ``item_count``, ``checksum_verified``,
``size_bytes`` and, as they apply, ``etag``/``version_id`` (S3 objects), ``export_arn``,
``backup_arn``, ``restore_time``. When the chosen backup fails, verify checks the fallbacks
(without restoring) and fails with details naming the newest one that verifies
(``newest_verified_location``, ``newest_verified_backup_time``): the recovery point a real
restore would have had that night.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from airflow.sdk import Context

from dr_drill.aws.native_backups import select_native_backup, verify_native_backup
from dr_drill.aws.pitr import locate_restore_point, verify_restore_point
from dr_drill.aws.s3_backups import select_json_backup, verify_json_object
from dr_drill.aws.s3_exports import read_data_files, select_export, verify_export
from dr_drill.core.errors import BackupCorrupt, DrillError
from dr_drill.core.selection import Selection, SelectionPolicy, explicit_backup
from dr_drill.operators.base import DrillStepOperator


def _selection_result(source: str, selection: Selection) -> dict[str, Any]:
    chosen = selection.chosen
    return {
        **chosen.to_dict(),
        "source": source,
        "candidates_considered": selection.considered,
        "selection": selection.record,
        "fallbacks": [fallback.to_dict() for fallback in selection.fallbacks],
    }


class LocateBackupOperator(DrillStepOperator):
    """Find the backup to drill, by the table's ``backup_source`` and ``selection`` policy."""

    step = "locate"

    def run(self, context: Context) -> dict[str, Any]:
        spec = self.spec
        source = spec["backup_source"]
        policy = SelectionPolicy.parse(spec.get("selection"))
        locate = {
            "s3_json": self._locate_json,
            "s3_export": self._locate_export,
            "native_backup": self._locate_native,
            "pitr": self._locate_pitr,
        }[source]
        located = {"source": source, **locate(spec, policy)}
        self.log.info(
            "Backup of %s (%s, %s): %s (%d candidates considered)",
            spec["table_name"],
            source,
            located["selection"]["policy"],
            located["location"],
            located["candidates_considered"],
        )
        return located

    def _now(self) -> datetime:
        # The drill's start, not the clock: a random_within_days draw replays with the same window.
        return datetime.fromisoformat(self.spec["started_at"])

    def _locate_json(self, spec: dict[str, Any], policy: SelectionPolicy) -> dict[str, Any]:
        explicit = spec.get("backup_file") or (policy.backup if policy.policy == "explicit" else None)
        if explicit:
            ref = explicit_backup(spec["backup_bucket"], explicit, spec["table_name"])
            stamp = ref.timestamp.isoformat() if ref.timestamp else None
            return {
                "bucket": ref.bucket,
                "key": ref.key,
                "location": ref.location,
                "name_timestamp": stamp,
                "backup_time": stamp,
                "candidates_considered": 1,
                "selection": {"policy": "explicit", "backup": ref.key, "choice": ref.location},
                "fallbacks": [],
            }
        selection = select_json_backup(
            self.s3_client(),
            spec["backup_bucket"],
            spec["table_name"],
            policy,
            now=self._now(),
            seed_source=spec["drill_id"],
        )
        return {**_selection_result("s3_json", selection), "name_timestamp": selection.chosen.taken_at.isoformat()}

    def _locate_export(self, spec: dict[str, Any], policy: SelectionPolicy) -> dict[str, Any]:
        s3 = self.s3_client()
        selection, incomplete = select_export(
            s3,
            spec["backup_bucket"],
            spec.get("export_prefix"),
            spec["table_name"],
            policy,
            now=self._now(),
            seed_source=spec["drill_id"],
        )
        chosen = selection.chosen.ref
        try:
            data_files = [
                f.key for f in read_data_files(s3, chosen["bucket"], chosen["export_root"], chosen["export_id"])
            ]
        except BackupCorrupt as err:
            # The verify step names it (and looks for an older export that verifies).
            self.log.warning("manifest-files.json of export %s is unreadable: %s", chosen["export_id"], err.reason)
            data_files = []
        return {
            **_selection_result("s3_export", selection),
            "data_files": data_files,
            "incomplete_exports": incomplete[:20],
        }

    def _locate_native(self, spec: dict[str, Any], policy: SelectionPolicy) -> dict[str, Any]:
        selection = select_native_backup(
            self.dynamodb_client(), spec["table_name"], policy, now=self._now(), seed_source=spec["drill_id"]
        )
        return _selection_result("native_backup", selection)

    def _locate_pitr(self, spec: dict[str, Any], policy: SelectionPolicy) -> dict[str, Any]:
        located = locate_restore_point(self.dynamodb_client(), spec["table_name"], policy, seed_source=spec["drill_id"])
        return {**located, "fallbacks": []}


class VerifyBackupOperator(DrillStepOperator):
    """Prove the located backup without restoring it; if it fails, find the newest older one that verifies.

    :param located: what the locate step returned.
    """

    template_fields: Sequence[str] = ("spec", "located")
    step = "verify"

    def __init__(self, *, located: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.located = located

    def _verifier(self) -> Callable[[dict[str, Any]], dict[str, Any]]:
        table = self.spec["table_name"]
        source = self.located["source"]
        if source == "s3_json":
            s3 = self.s3_client()
            return lambda backup: verify_json_object(s3, backup["bucket"], backup["key"], table)
        if source == "s3_export":
            s3 = self.s3_client()
            return lambda backup: verify_export(s3, backup, table)
        ddb = self.dynamodb_client()
        if source == "native_backup":
            return lambda backup: verify_native_backup(ddb, backup["backup_arn"], table)
        return lambda backup: verify_restore_point(ddb, table, backup["restore_time"])

    def run(self, context: Context) -> dict[str, Any]:
        verify = self._verifier()
        self.log.info("Verifying %s", self.located["location"])
        started = time.monotonic()
        try:
            verified = verify(self.located)
        except BackupCorrupt as err:
            raise self._newest_that_verifies(verify, err) from err
        self.log.info(
            "Verified %s items (checksum verified: %s) in %.1f s",
            verified["item_count"],
            verified["checksum_verified"],
            time.monotonic() - started,
        )
        return verified

    def _newest_that_verifies(
        self, verify: Callable[[dict[str, Any]], dict[str, Any]], failure: BackupCorrupt
    ) -> BackupCorrupt:
        """Verify the older candidates, newest first, and return the failure naming the first that passes."""
        fallbacks = self.located.get("fallbacks") or []
        details: dict[str, Any] = {
            "backup_timestamp": None,
            "item_count": None,
            "checksum_verified": False,
            "fallbacks_checked": 0,
            "newest_verified_location": None,
            "newest_verified_backup_time": None,
        }
        for fallback in fallbacks:
            details["fallbacks_checked"] += 1
            try:
                verify(fallback)
            except DrillError as err:
                self.log.warning("Older backup %s does not verify either: %s", fallback["location"], err.reason)
                continue
            details["newest_verified_location"] = fallback["location"]
            details["newest_verified_backup_time"] = fallback["backup_time"]
            break
        if details["newest_verified_location"]:
            found = (
                f"; the newest backup that verifies is {details['newest_verified_location']}"
                f" taken at {details['newest_verified_backup_time']}"
            )
        elif fallbacks:
            found = f"; none of the {len(fallbacks)} next older backups verifies either"
        else:
            found = ""
        return BackupCorrupt(failure.reason + found, details=details)
