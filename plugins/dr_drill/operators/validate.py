"""Proving that the scratch table holds what the backup holds."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import Context

from dr_drill.aws.validation import count_items
from dr_drill.core.errors import ValidationFailed
from dr_drill.operators.base import DrillStepOperator, now


class ValidateRestoreOperator(DrillStepOperator):
    """Prove the restore: the exact item count from a full scan equals the backup's item count.

    :param verified: what the verify step returned.
    :param restored: what the restore step returned.
    """

    template_fields: Sequence[str] = ("spec", "verified", "restored")
    step = "validate"

    def __init__(self, *, verified: dict[str, Any], restored: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.verified = verified
        self.restored = restored

    def run(self, context: Context) -> dict[str, Any]:
        expected = self.verified["item_count"]
        actual = count_items(self.dynamodb_client(), self.spec["scratch_table"])
        result = {
            "passed": actual == expected,
            "expected_items": expected,
            "restored_items": actual,
            "finished_at": now().isoformat(),
        }
        self.log.info("Scratch table holds %d items; the backup holds %d", actual, expected)
        if actual != expected:
            duplicates = self.restored.get("duplicate_keys", 0)
            hint = f" ({duplicates} duplicate keys in the backup)" if duplicates else ""
            raise ValidationFailed(f"scratch table holds {actual} items, the backup {expected}{hint}", details=result)
        return result
