"""What tests build drills from: a resolved drill spec, and a source adapter on the emulator's clients."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from demo.nightly_drill import DrillRuns, NightlyDrill, drill_requests  # noqa: F401 - what the DAG tests run
from dr_drill.aws.sources import Clients, SourceAdapter, adapter_for
from dr_drill.contracts import DrillSpec
from dr_drill.core.plan.drill_plan import Settings, resolve_drill_specs
from dr_drill.core.restore.ownership import OwnershipKey

DAG_ID = "dynamodb_restore_drill"
RUN = "manual__2026-11-26T00:00:00+00:00"
STARTED = datetime(2026, 11, 26, 2, tzinfo=UTC)
# The key of the secret tests/conftest.py gives every drill the tests run.
OWNER_KEY = OwnershipKey(os.environ["DR_DRILL_OWNERSHIP_SECRET"])
SETTINGS = Settings(backup_bucket=None, evidence_bucket="evidence", success_topic_arn=None, failure_topic_arn=None)


def drill_spec(
    table: str = "app-users", *, run_id: str = RUN, started_at: datetime = STARTED, **settings: Any
) -> DrillSpec:
    """Return the spec ``plan_drills`` resolves for ``table`` with these plan settings."""
    [spec] = resolve_drill_specs(
        plan={"tables": {table: settings}},
        conf={},
        settings=SETTINGS,
        dag_id=DAG_ID,
        run_id=run_id,
        started_at=started_at,
    )
    return spec


def source_adapter(aws: Any, source: str, *, page_size: int | None = None) -> SourceAdapter:
    """Return ``source``'s adapter on the emulator's clients."""
    clients = Clients(s3=lambda: aws.client("s3"), dynamodb=lambda: aws.client("dynamodb"))
    return adapter_for(source, clients, page_size=page_size)
