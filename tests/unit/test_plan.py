"""Plan, conf and settings resolve into one spec per table, or a clear error."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dr_drill.core.plan.drill_plan import Settings, resolve_drill_specs
from dr_drill.errors import InvalidDrillRequest

SETTINGS = Settings(backup_bucket="backups", evidence_bucket="evidence", success_topic_arn="s", failure_topic_arn="f")
PLAN = {
    "defaults": {"rto_target_seconds": 600, "batch_size": 10},
    "tables": {"app-users": {"rpo_target_seconds": 7200}, "orders": {"backup_bucket": "orders-backups"}},
}
NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)


def _resolve(conf=None, plan=PLAN, settings=SETTINGS):
    return resolve_drill_specs(
        plan=plan, conf=conf or {}, settings=settings, dag_id="d", run_id="scheduled__x", started_at=NOW
    )


def test_nightly_run_drills_every_plan_table_with_plan_settings():
    users, orders = _resolve()
    assert (users.table_name, orders.table_name) == ("app-users", "orders")
    assert users.batch_size == 10 and users.rto_target_seconds == 600 and users.rpo_target_seconds == 7200
    assert users.backup_bucket == "backups" and orders.backup_bucket == "orders-backups"
    assert orders.rpo_target_seconds == 26 * 3600  # built-in default
    assert users.scratch_table.startswith("drill-app-users-")
    assert users.drill_id.startswith("20261126T020000Z-") and users.drill_id != orders.drill_id


def test_explicit_conf_overrides_the_plan_for_the_named_table_only():
    [spec] = _resolve({"table_name": "orders", "batch_size": 25, "backup_file": "dynamodb-backups/x.json"})
    assert spec.table_name == "orders"
    assert spec.batch_size == 25
    assert spec.backup_bucket == "orders-backups"
    assert spec.backup_file == "dynamodb-backups/x.json"


def test_a_table_outside_the_plan_uses_the_plan_defaults_then_the_built_in_ones():
    [spec] = _resolve({"tables": ["ad-hoc"]})
    assert spec.batch_size == 10 and spec.rto_target_seconds == 600
    assert spec.rpo_target_seconds == 26 * 3600 and spec.backup_bucket == "backups"


@pytest.mark.parametrize(
    ("conf", "plan", "settings", "message"),
    [
        pytest.param({}, {}, SETTINGS, "no tables to drill", id="nothing-to-drill"),
        pytest.param(
            {"tables": ["a-1", "b-2"], "backup_file": "k"}, PLAN, SETTINGS, "backup_file names one object", id="file"
        ),
        pytest.param(
            {"table_name": "x-1"},
            {},
            Settings(None, "evidence", None, None),
            "table x-1: no backup_bucket in the conf or the plan, and BACKUP_BUCKET is not set",
            id="no-bucket",
        ),
        pytest.param({"table_name": "x-1"}, {}, Settings("b", None, None, None), "EVIDENCE_BUCKET", id="no-evidence"),
        pytest.param({}, {"tables": {"ok-1": {"batch_size": 0}}}, SETTINGS, "field tables.ok-1.batch_size", id="plan"),
        pytest.param({}, {"tables": {"ok-1": {"bucket": "x"}}}, SETTINGS, "'bucket' was unexpected", id="typo"),
        pytest.param({}, {"tables": {"a/b": {}}}, SETTINGS, "does not match", id="bad-plan-table-name"),
    ],
)
def test_requests_that_cannot_describe_a_drill_are_refused(conf, plan, settings, message):
    with pytest.raises(InvalidDrillRequest, match=message):
        _resolve(conf, plan, settings)
