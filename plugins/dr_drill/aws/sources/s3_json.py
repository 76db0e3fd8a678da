"""s3_json: the original function's JSON backups in S3, located by the time in their names. Read-only."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from dr_drill.aws.s3 import list_keys, open_object
from dr_drill.aws.sources.base import SourceAdapter
from dr_drill.constants import BackupSource, RestoreMethod
from dr_drill.contracts import BackupRef, DrillSpec, LocatedBackup, VerifiedBackup
from dr_drill.core.items.canonical import TypedItem
from dr_drill.core.plan.selection import Candidate, SelectionPolicy, select_backup
from dr_drill.core.sources.s3_json import (
    iter_typed_items,
    json_backup_candidates,
    json_backup_prefix,
    parse_json_backup_key,
    verify_json_backup,
)


class S3JsonSource(SourceAdapter):
    """``s3://{bucket}/dynamodb-backups/{table}-backup-YYYY-MM-DD-HH-MM-SS.json``, streamed."""

    source = BackupSource.S3_JSON

    @classmethod
    def restore_method(cls, spec: DrillSpec) -> RestoreMethod:
        return RestoreMethod.BATCH_WRITE

    def locate(self, spec: DrillSpec, policy: SelectionPolicy, *, now: datetime) -> LocatedBackup:
        bucket = spec.backup_bucket or ""
        explicit = spec.backup_file or (policy.backup if policy.policy == "explicit" else None)
        if explicit:
            # The time comes from the name when the key follows the convention.
            taken_at = parse_json_backup_key(explicit, spec.table_name)
            stamp = taken_at.isoformat() if taken_at else None
            location = f"s3://{bucket}/{explicit}"
            return LocatedBackup(
                source=self.source,
                location=location,
                backup_time=stamp,
                bucket=bucket,
                key=explicit,
                name_timestamp=stamp,
                candidates_considered=1,
                selection={"policy": "explicit", "backup": explicit, "choice": location},
            )
        prefix = json_backup_prefix(spec.table_name)
        selection = select_backup(
            self.candidates(spec),
            policy,
            now=now,
            seed_source=spec.drill_id,
            what=f"of table {spec.table_name} under s3://{bucket}/{prefix}*",
        )
        return selection.located(self.source, name_timestamp=selection.chosen.taken_at.isoformat())

    def candidates(self, spec: DrillSpec) -> list[Candidate]:
        bucket, prefix = spec.backup_bucket or "", json_backup_prefix(spec.table_name)
        keys = list_keys(self.clients.s3(), bucket, prefix, page_size=self.page_size)
        return list(json_backup_candidates(bucket, keys, spec.table_name))

    @staticmethod
    def copy_identity(candidate: Candidate) -> str | None:
        return candidate.ref["key"]  # replication keeps the object key

    def verify(self, backup: BackupRef, table_name: str) -> VerifiedBackup:
        """Stream the object once: its structure, item count and the original checksum."""
        opened = open_object(self.clients.s3(), backup.bucket or "", backup.key or "")
        with opened.body:
            proven = verify_json_backup(opened.body, table_name)
        return VerifiedBackup(
            backup_timestamp=proven.backup_timestamp,
            item_count=proven.item_count,
            checksum_verified=True,
            size_bytes=opened.size_bytes,
            etag=opened.etag,
            version_id=opened.version_id,
        )

    def iter_items(
        self, backup: BackupRef, verified: VerifiedBackup, data_files: list[str] | None = None
    ) -> Iterator[TypedItem]:
        opened = open_object(self.clients.s3(), backup.bucket or "", backup.key or "")
        with opened.body:
            yield from iter_typed_items(opened.body)
