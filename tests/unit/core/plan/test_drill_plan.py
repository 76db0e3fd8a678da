"""Plan, conf and settings resolve into one spec per table, or a clear error: sources, restore and validation keys."""

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
        plan=plan,
        conf=conf or {},
        settings=settings,
        dag_id="d",
        run_id="scheduled__x",
        started_at=NOW,
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
            {"tables": ["a-1", "b-2"], "backup_file": "k"}, PLAN, SETTINGS, "conf field backup_file", id="file"
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


# --- backup sources and selection ---


def test_plan_keys_for_sources_and_selection():
    settings = Settings(backup_bucket=None, evidence_bucket="ev", success_topic_arn=None, failure_topic_arn=None)
    plan = {
        "defaults": {"selection": {"policy": "random_within_days", "days": 7}},
        "tables": {
            "app-users": {"backup_source": "s3_export", "backup_bucket": "exports", "export_prefix": "exp/app"},
            "orders": {"backup_source": "native_backup"},
            "events": {"backup_source": "pitr", "selection": "latest"},
        },
    }
    users, orders, events = resolve_drill_specs(
        plan=plan, conf={}, settings=settings, dag_id="d", run_id="r", started_at=NOW
    )
    assert users.export_prefix == "exp/app" and users.selection == {"policy": "random_within_days", "days": 7}
    assert orders.backup_bucket is None  # server-side sources need no bucket
    assert events.selection == {"policy": "latest"}
    with pytest.raises(InvalidDrillRequest, match="no backup_bucket"):
        resolve_drill_specs(
            plan={"tables": {"t-1": {"backup_source": "s3_export"}}},
            conf={},
            settings=settings,
            dag_id="d",
            run_id="r",
            started_at=NOW,
        )
    with pytest.raises(InvalidDrillRequest, match="selection"):
        resolve_drill_specs(
            plan={"tables": {"t-1": {"selection": {"policy": "oldest"}}}},
            conf={},
            settings=Settings(backup_bucket="b", evidence_bucket="ev", success_topic_arn=None, failure_topic_arn=None),
            dag_id="d",
            run_id="r",
            started_at=NOW,
        )


# --- restore keys ---


def test_plan_restore_keys_reach_the_spec():
    plan = {
        "defaults": {"restore_workers": 32},
        "tables": {"gone": {"key_schema": [{"name": "id", "type": "S"}], "include_indexes": False}},
    }

    (spec,) = _resolve(plan=plan)

    assert spec.key_schema == [{"name": "id", "type": "S"}]
    assert (spec.include_indexes, spec.restore_workers, spec.import_table) == (False, 32, False)


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        pytest.param({"key_schema": [{"name": "id", "type": "X"}]}, "key_schema", id="bad-key-type"),
        pytest.param({"key_schema": [{"name": "a", "type": "S"}] * 3}, "key_schema", id="three-keys"),
        pytest.param({"restore_workers": 0}, "restore_workers", id="no-workers"),
        pytest.param({"restore_tasks": 0}, "restore_tasks", id="no-restore-tasks"),
    ],
)
def test_bad_restore_keys_are_refused_with_the_field_named(entry, field):
    with pytest.raises(InvalidDrillRequest, match=field):
        _resolve(plan={"tables": {"orders": entry}})


def test_the_plans_schema_alone_caps_the_restore_tasks():
    # The restore task is mapped over the shares: no fixed count of tasks in the DAG to fit.
    def plan(tasks):
        return {"tables": {"orders": {"backup_source": "s3_export", "restore_tasks": tasks}}}

    assert _resolve(plan=plan(6))[0].restore_tasks == 6
    assert _resolve(plan=plan(32))[0].restore_tasks == 32
    with pytest.raises(InvalidDrillRequest, match="restore_tasks"):
        _resolve(plan=plan(33))


# --- validation keys ---


def test_plan_validation_keys_reach_the_spec_and_the_conf_overrides_the_sample():
    plan = {"defaults": {"sample_size": 10}, "tables": {"app": {"min_items": 1, "user_check": "pkg.mod:check"}}}
    [spec] = _resolve({"sample_seed": 7}, plan)
    assert spec.validation["sample_size"] == 10 and spec.validation["min_items"] == 1
    assert spec.validation["sample_seed"] == 7 and spec.validation["fail_on_type_drift"] is False


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        pytest.param({"min_items": 5, "max_items": 4}, "min_items 5 is above max_items 4", id="bounds"),
        pytest.param({"user_check": "not a path"}, "field tables.app.user_check", id="user-check-path"),
        pytest.param({"probe_keys": [{"expect": {}}]}, "'key' is a required property", id="probe-without-key"),
        pytest.param({"sample_size": -1}, "field tables.app.sample_size", id="sample-size"),
    ],
)
def test_bad_validation_keys_are_named(entry, message):
    with pytest.raises(InvalidDrillRequest, match=message):
        _resolve(plan={"tables": {"app": entry}})


def test_plan_scale_and_cost_keys_reach_the_spec():
    plan = {
        "defaults": {"max_warm_write_units": 20_000, "prices": {"write_request_units_per_million": 0.7}},
        "tables": {"app-users": {"max_scan_segments": 16}, "orders": {"scan_segments": 2}},
    }
    users, orders = _resolve(plan=plan)
    assert users.max_warm_write_units == 20_000 and users.prices == {"write_request_units_per_million": 0.7}
    assert (users.validation["scan_segments"], users.validation["max_scan_segments"]) == (None, 16)
    assert (orders.validation["scan_segments"], orders.validation["max_scan_segments"]) == (2, 64)
    [default] = _resolve(plan={"tables": {"t-1": {}}})
    assert default.max_warm_write_units == 40_000 and default.prices is None


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        pytest.param({"prices": {"write_units": 1}}, "prices", id="unknown-price"),
        pytest.param(
            {"prices": {"read_request_units_per_million": -1}}, "prices.read_request_units_per_million", id="negative"
        ),
        pytest.param({"max_warm_write_units": -1}, "max_warm_write_units", id="negative-cap"),
        pytest.param({"max_scan_segments": 65}, "max_scan_segments", id="too-many-segments"),
    ],
)
def test_bad_scale_and_cost_keys_are_refused_with_the_field_named(entry, field):
    with pytest.raises(InvalidDrillRequest, match=f"field tables.t-1.{field}"):
        _resolve(plan={"tables": {"t-1": entry}})
