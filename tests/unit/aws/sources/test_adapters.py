"""The source adapters: each source's restore method, from the source and the plan."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dr_drill.aws.sources import adapter_class
from dr_drill.core.plan.drill_plan import Settings, resolve_drill_specs


@pytest.mark.parametrize(
    ("source", "import_table", "method"),
    [
        pytest.param("s3_json", True, "batch_write", id="json-always-streamed"),
        pytest.param("s3_export", False, "batch_write", id="export-streamed"),
        pytest.param("s3_export", True, "import_table", id="export-imported"),
        pytest.param("native_backup", False, "restore_from_backup", id="native"),
        pytest.param("pitr", False, "restore_to_point_in_time", id="pitr"),
    ],
)
def test_restore_method_follows_the_source_and_the_plan(source, import_table, method):
    spec = resolve_drill_specs(
        plan={"tables": {"t-1": {"backup_source": source, "import_table": import_table, "backup_bucket": "bkt"}}},
        conf={},
        settings=Settings(backup_bucket=None, evidence_bucket="ev", success_topic_arn=None, failure_topic_arn=None),
        dag_id="d",
        run_id="r",
        started_at=datetime(2026, 11, 26, tzinfo=UTC),
    )[0]
    assert adapter_class(spec.backup_source).restore_method(spec) == method
