"""Proving that the scratch table holds what the backup holds."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import Context
from botocore.exceptions import ClientError

from dr_drill.aws.backup_items import iter_backup_items
from dr_drill.aws.proof import FILE_SOURCES, ProofInputs, RestoreProof
from dr_drill.aws.scratch_tables import describe_table
from dr_drill.core.errors import ValidationFailed
from dr_drill.core.rules import ValidationRules
from dr_drill.core.sampling import sample_seed_for
from dr_drill.operators.base import DrillStepOperator, now


def backup_item_count(ddb: Any, located: dict[str, Any]) -> int | None:
    """Return the item count a native backup's own metadata states (DescribeBackup), if any."""
    if not located.get("backup_arn"):
        return None
    try:
        described = ddb.describe_backup(BackupArn=located["backup_arn"])["BackupDescription"]
    except ClientError:
        return None
    return described.get("SourceTableDetails", {}).get("ItemCount")


class ValidateRestoreOperator(DrillStepOperator):
    """Prove the restore: exact count, full-content digest, a seeded sample, source fidelity and plan rules.

    :param verified: what the verify step returned.
    :param restored: what the restore step returned (``backup_digest`` for file backups).
    :param located: what the locate step returned: the source kind and where to re-read the backup.
    """

    template_fields: Sequence[str] = ("spec", "verified", "restored", "located")
    step = "validate"

    def __init__(
        self,
        *,
        verified: dict[str, Any],
        restored: dict[str, Any],
        located: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.verified = verified
        self.restored = restored
        self.located = located

    def run(self, context: Context) -> dict[str, Any]:
        spec = self.spec
        located = self.located or {"source": spec["backup_source"]}
        rules = ValidationRules.from_spec(spec.get("validation"))
        ddb = self.dynamodb_client(max_pool_connections=rules.scan_segments + 2)
        source = located.get("source", spec["backup_source"])
        expected = (self.verified or {}).get("item_count")
        if expected is None and source not in FILE_SOURCES:
            expected = backup_item_count(ddb, located)
        backup_digest = (self.restored or {}).get("backup_digest")
        inputs = ProofInputs(
            scratch_table=spec["scratch_table"],
            source=source,
            key_names=self._key_names(ddb, backup_digest),
            expected_items=expected,
            backup_digest=backup_digest,
            source_table=located.get("source_table_name") or spec["table_name"],
            rules=rules,
            sample_seed=rules.sample_seed if rules.sample_seed is not None else sample_seed_for(spec["drill_id"]),
            backup_items=(lambda: iter_backup_items(self.s3_client(), located)) if backup_digest else None,
        )
        proof = RestoreProof(ddb, inputs).run()
        result = {**proof.to_dict(), "finished_at": now().isoformat()}
        self.log.info(
            "Scratch table holds %d items (backup: %s); digest match: %s; proofs run: %s; skipped: %s",
            proof.restored_items,
            expected,
            proof.digest_match,
            ", ".join(proof.proofs),
            ", ".join(proof.proofs_skipped),
        )
        if proof.failures:
            duplicates = (self.restored or {}).get("duplicate_keys", 0)
            hint = f" ({duplicates} duplicate keys in the backup)" if duplicates else ""
            raise ValidationFailed("; ".join(proof.failures) + hint, details=result)
        return result

    def _key_names(self, ddb: Any, backup_digest: dict[str, Any] | None) -> tuple[str, ...]:
        if backup_digest:
            return tuple(backup_digest["key_names"])
        table = describe_table(ddb, self.spec["scratch_table"]) or {"KeySchema": []}
        return tuple(entry["AttributeName"] for entry in table["KeySchema"])
