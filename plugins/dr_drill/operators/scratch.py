"""The scratch table's life: created as the setup task, dropped as the teardown."""

from __future__ import annotations

from typing import Any

from airflow.sdk import Context

from dr_drill.aws.scratch_tables import (
    create_scratch_table,
    delete_scratch_table,
    source_key_schema,
)
from dr_drill.operators.base import DrillStepOperator, now


class CreateScratchTableOperator(DrillStepOperator):
    """Create a new, empty scratch table with the source table's key schema (the setup task)."""

    step = "restore"

    def run(self, context: Context) -> dict[str, Any]:
        spec = self.spec
        ddb = self.dynamodb_client()
        started_at = now()
        schema = source_key_schema(ddb, spec["table_name"])
        self.log.info("Creating scratch table %s for %s", spec["scratch_table"], spec["table_name"])
        create_scratch_table(
            ddb,
            spec["scratch_table"],
            source_table=spec["table_name"],
            schema=schema,
            prefix=spec["scratch_prefix"],
            run_id=spec["run_id"],
        )
        return {
            "name": spec["scratch_table"],
            "started_at": started_at.isoformat(),
            "created_at": now().isoformat(),
            "key_schema": schema.key_schema,
            "attribute_definitions": schema.attribute_definitions,
        }


class DropScratchTableOperator(DrillStepOperator):
    """Delete the scratch table (the teardown task), unless the drill keeps it for inspection."""

    step = "restore"

    def run(self, context: Context) -> dict[str, Any]:
        spec = self.spec
        if spec["keep_scratch_table"]:
            self.log.info("Keeping scratch table %s as keep_scratch_table asks", spec["scratch_table"])
            return {"deleted": False, "kept": True}
        deleted = delete_scratch_table(
            self.dynamodb_client(), spec["scratch_table"], prefix=spec["scratch_prefix"], run_id=spec["run_id"]
        )
        self.log.info("Scratch table %s %s", spec["scratch_table"], "deleted" if deleted else "did not exist")
        return {"deleted": deleted, "kept": False, "deleted_at": now().isoformat()}
