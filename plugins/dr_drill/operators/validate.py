"""Proving that the scratch table holds what the backup holds: the scan spread over tasks, then every proof."""

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
from dr_drill.core.validate.scan_parts import scan_shares
from dr_drill.errors import ValidationFailed
from dr_drill.operators.base import DrillStepOperator, now


class _ProofStep(DrillStepOperator):
    """A step of the proof: what the earlier steps handed on, and the proof they make.

    :param verified: what the verify step returned (the expected count).
    :param restored: what the restore step returned (``backup_digest`` of a streamed restore).
    :param located: what the locate step returned: where to re-read the backup, and the source table.
    """

    template_fields: Sequence[str] = ("spec", "verified", "restored", "located")
    step = Step.VALIDATE

    def __init__(
        self,
        *,
        verified: dict[str, Any] | None,
        restored: dict[str, Any] | None,
        located: dict[str, Any] | None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.verified = verified
        self.restored = restored
        self.located = located

    def proof(self, ddb: Any, share: dict[str, Any]) -> RestoreProof:
        """The proof of this drill's restore on ``ddb`` (the scratch table's side), as ``share`` of the scan says."""
        spec = self.drill
        located = LocatedBackup.from_xcom(self.located)
        verified = VerifiedBackup.from_xcom(self.verified)
        restored = RestoreResult.from_xcom(self.restored)
        rules = ValidationRules.from_spec(spec.validation)
        adapter = self.source_adapter()
        backup_digest = restored.backup_digest
        inputs = ProofInputs(
            scratch_table=spec.scratch_table,
            source=spec.backup_source.value,
            streamed=not restored.method.server_side,
            key_names=tuple(share["key_names"]),
            expected_items=verified.item_count,
            backup_digest=backup_digest,
            source_table=located.source_table_name or spec.table_name,
            rules=rules,
            sample_seed=rules.sample_seed if rules.sample_seed is not None else sample_seed_for(spec.drill_id),
            backup_items=(lambda: adapter.iter_items(located, verified)) if backup_digest else None,
            scan_segments=share["total_segments"],
            scan_sized_from=share["sized_from"],
        )
        return RestoreProof(ddb, inputs, source_ddb=self.source_table_client(ddb))


def _key_names(scratch: dict[str, Any], backup_digest: dict[str, Any] | None) -> tuple[str, ...]:
    if backup_digest:
        return tuple(backup_digest["key_names"])
    return tuple(entry["AttributeName"] for entry in scratch.get("KeySchema", ()))


class PlanScanOperator(_ProofStep):
    """Size the content scan from the table and deal its segments out to scan tasks; returns the shares.

    One segment per 2 GB (the scratch table's size, or the backup's when DynamoDB has not
    counted the new table yet), 4 to the plan's ``max_scan_segments``, or the plan's own
    ``scan_segments``; then one scan task per 4 segments (``scan_shares``). Each share also
    names the key attributes, so that no later step describes the table again.
    """

    def run(self, context: Context) -> list[dict[str, Any]]:  # type: ignore[override]
        spec = self.drill
        verified = VerifiedBackup.from_xcom(self.verified)
        restored = RestoreResult.from_xcom(self.restored)
        rules = ValidationRules.from_spec(spec.validation)
        scratch = describe_table(self.dynamodb_client(), spec.scratch_table) or {}
        sized_from = scan_sized_from(scratch.get("TableSizeBytes"), verified.size_bytes)
        key_names = _key_names(scratch, restored.backup_digest)
        shares = [
            {**share, "key_names": list(key_names)}
            for share in scan_shares(rules.segments_for(sized_from["size_bytes"]), sized_from)
        ]
        self.log.info(
            "Content scan of %s: %d segments over %d task(s), sized from %s",
            spec.scratch_table,
            shares[0]["total_segments"],
            len(shares),
            sized_from,
        )
        return shares


class ScanShareOperator(_ProofStep):
    """Scan this task's segments of the scratch table (``RestoreProof.scan_share``); no item content leaves it.

    :param share: which segments (``scan_shares``).
    """

    template_fields: Sequence[str] = (*_ProofStep.template_fields, "share")

    def __init__(self, *, share: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.share = share

    def run(self, context: Context) -> dict[str, Any]:
        share = self.share
        segments = share["segments"]
        ddb = self.dynamodb_client(max_pool_connections=len(segments) + 2)
        result = self.proof(ddb, share).scan_share(segments)
        self.log.info(
            "Scan part %d of %d: segments %s of %d hold %d items",
            share["part"],
            share["of"],
            ", ".join(map(str, segments)),
            share["total_segments"],
            result["count"],
        )
        return result


class ValidateRestoreOperator(_ProofStep):
    """Prove the restore: exact count, full-content digest, a seeded sample, source fidelity and plan rules.

    Made from the scan tasks' shares, merged exactly; runs when they are all done (``all_done``),
    so that a share that failed or did not run fails the proof with that task's reason.
    Returns a ``ValidationResult``.

    :param shares: what ``PlanScanOperator`` returned (None when it did not run).
    :param scan_task_id: the mapped scan task, one instance per share.
    """

    template_fields: Sequence[str] = (*_ProofStep.template_fields, "shares")

    def __init__(self, *, shares: list[dict[str, Any]] | None, scan_task_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.shares = shares
        self.scan_task_id = scan_task_id

    def run(self, context: Context) -> dict[str, Any]:
        if not self.restored:
            raise ValidationFailed("the validation did not run: no restore to prove (see the restore step)")
        if not self.shares:
            raise ValidationFailed("the validation did not run: plan_scan did not finish (see its log)")
        scanned = [self._scanned(context, index, share) for index, share in enumerate(self.shares)]
        first = self.shares[0]
        rules = ValidationRules.from_spec(self.drill.validation)
        ddb = self.dynamodb_client(max_pool_connections=(rules.scan_segments or rules.max_scan_segments) + 2)
        result = self.proof(ddb, first).run(scanned).result(finished_at=now().isoformat())
        restored = RestoreResult.from_xcom(self.restored)
        self.log.info(
            "Scratch table holds %d items (backup: %s); scanned in %d segments by %d task(s); digest match: %s; "
            "proofs run: %s; skipped: %s",
            result.restored_items,
            result.expected_items,
            first["total_segments"],
            len(self.shares),
            result.digest_match,
            ", ".join(result.proofs),
            ", ".join(result.proofs_skipped),
        )
        if result.failures:
            hint = f" ({restored.duplicate_keys} duplicate keys in the backup)" if restored.duplicate_keys else ""
            raise ValidationFailed("; ".join(result.failures) + hint, details=result.to_xcom())
        return result.to_xcom()

    def _scanned(self, context: Context, index: int, share: dict[str, Any]) -> dict[str, Any]:
        scanned = self.pull(context, self.scan_task_id, map_index=index)
        if scanned is not None:
            return scanned
        raise ValidationFailed(self.part_failure(context, self.scan_task_id, index, share)[0])
