"""Proving that the scratch table holds what the backup holds."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import Context

from dr_drill.aws.proof import ProofInputs, RestoreProof
from dr_drill.aws.scratch_tables import describe_table
from dr_drill.constants import Step
from dr_drill.contracts import LocatedBackup, RestoreResult, VerifiedBackup
from dr_drill.core.validate.rules import ValidationRules, scan_sized_from
from dr_drill.core.validate.sampling import sample_seed_for
from dr_drill.errors import ValidationFailed
from dr_drill.operators.base import DrillStepOperator, now


class ValidateRestoreOperator(DrillStepOperator):
    """Prove the restore: exact count, full-content digest, a seeded sample, source fidelity and plan rules.

    Returns a ``ValidationResult``.

    :param verified: what the verify step returned (the expected count).
    :param restored: what the restore step returned (``backup_digest`` of a streamed restore).
    :param located: what the locate step returned: where to re-read the backup, and the source table.
    """

    template_fields: Sequence[str] = ("spec", "verified", "restored", "located")
    step = Step.VALIDATE

    def __init__(
        self,
        *,
        verified: dict[str, Any],
        restored: dict[str, Any],
        located: dict[str, Any],
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.verified = verified
        self.restored = restored
        self.located = located

    def run(self, context: Context) -> dict[str, Any]:
        spec = self.drill
        located = LocatedBackup.from_xcom(self.located)
        verified = VerifiedBackup.from_xcom(self.verified)
        restored = RestoreResult.from_xcom(self.restored)
        rules = ValidationRules.from_spec(spec.validation)
        ddb = self.dynamodb_client(max_pool_connections=(rules.scan_segments or rules.max_scan_segments) + 2)
        adapter = self.source_adapter()
        backup_digest = restored.backup_digest
        scratch = describe_table(ddb, spec.scratch_table) or {}
        sized_from = scan_sized_from(scratch.get("TableSizeBytes"), verified.size_bytes)
        inputs = ProofInputs(
            scratch_table=spec.scratch_table,
            source=spec.backup_source.value,
            streamed=not restored.method.server_side,
            key_names=self._key_names(scratch, backup_digest),
            expected_items=verified.item_count,
            backup_digest=backup_digest,
            source_table=located.source_table_name or spec.table_name,
            rules=rules,
            sample_seed=rules.sample_seed if rules.sample_seed is not None else sample_seed_for(spec.drill_id),
            backup_items=(lambda: adapter.iter_items(located, verified)) if backup_digest else None,
            scan_segments=rules.segments_for(sized_from["size_bytes"]),
            scan_sized_from=sized_from,
        )
        proof = RestoreProof(ddb, inputs, source_ddb=self.source_table_client(ddb)).run()
        result = proof.result(finished_at=now().isoformat())
        self.log.info(
            "Scratch table holds %d items (backup: %s); scanned in %d segments; digest match: %s; "
            "proofs run: %s; skipped: %s",
            result.restored_items,
            result.expected_items,
            inputs.scan_segments,
            result.digest_match,
            ", ".join(result.proofs),
            ", ".join(result.proofs_skipped),
        )
        if result.failures:
            hint = f" ({restored.duplicate_keys} duplicate keys in the backup)" if restored.duplicate_keys else ""
            raise ValidationFailed("; ".join(result.failures) + hint, details=result.to_xcom())
        return result.to_xcom()

    @staticmethod
    def _key_names(scratch: dict[str, Any], backup_digest: dict[str, Any] | None) -> tuple[str, ...]:
        if backup_digest:
            return tuple(backup_digest["key_names"])
        return tuple(entry["AttributeName"] for entry in scratch.get("KeySchema", ()))
