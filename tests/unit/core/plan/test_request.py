"""A trigger's conf means one thing, from the form or the API; what cannot mean one drill is refused by field."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from dr_drill.core.plan.drill_plan import Settings, resolve_drill_specs
from dr_drill.errors import InvalidDrillRequest
from tests.trigger_form import UNTOUCHED_FORM_CONF, form_conf

SETTINGS = Settings(backup_bucket="backups", evidence_bucket="evidence", success_topic_arn="s", failure_topic_arn="f")
# orders is drilled from its native backups and kept; the defaults batch 10 items.
PLAN = {
    "defaults": {"batch_size": 10, "rpo_target_seconds": 7200},
    "tables": {"orders": {"backup_source": "native_backup", "keep_scratch_table": True}, "app-users": {}},
}


def _resolve(conf, plan=PLAN):
    return resolve_drill_specs(
        plan=plan,
        conf=conf,
        settings=SETTINGS,
        dag_id="d",
        run_id="manual__x",
        started_at=datetime(2026, 11, 26, 2, tzinfo=UTC),
    )


def test_the_untouched_form_and_the_api_drill_the_same_thing_the_plan_says():
    [from_form] = _resolve(form_conf(table_name="orders"))
    [from_api] = _resolve({"table_name": "orders"})

    assert from_form == from_api
    assert from_form.backup_source == "native_backup"  # the plan's, not a param default's
    assert from_form.keep_scratch_table is True
    assert from_form.rpo_target_seconds == 7200


def test_the_untouched_form_drills_every_plan_table_like_a_nightly_run():
    assert _resolve(UNTOUCHED_FORM_CONF) == _resolve({})
    assert [spec.table_name for spec in _resolve(UNTOUCHED_FORM_CONF)] == ["orders", "app-users"]


def test_what_a_person_typed_into_the_form_overrides_the_plan():
    [spec] = _resolve(form_conf(table_name="app-users", batch_size=25, keep_scratch_table=False))

    assert spec.batch_size == 25  # typed, even though 25 is the built-in default
    assert spec.keep_scratch_table is False


@pytest.mark.parametrize(
    ("conf", "message"),
    [
        pytest.param(
            {"table_name": "app-users", "batch_sise": 25},
            "conf field batch_sise: 'batch_sise' is not a drill setting; did you mean 'batch_size'?",
            id="batch-sise",
        ),
        pytest.param(
            {"table_name": "app-users", "backup_fle": "k.json"},
            "did you mean 'backup_file'?",
            id="backup-fle",
        ),
        pytest.param({"tabel_name": "app-users"}, "did you mean 'table_name'?", id="tabel-name"),
        pytest.param(
            {"table_name": "app-users", "zzz": 1}, "'zzz' is not a drill setting; the known keys are", id="no-close-key"
        ),
        pytest.param(
            {"table_name": "app-users", "min_items": 5},
            "conf field min_items: 'min_items' is set in the drill plan only",
            id="plan-only-key",
        ),
        pytest.param(
            {"backup_file": "dynamodb-backups/x.json"},
            "conf field backup_file: names one table's backup object: give table_name with it",
            id="backup-file-without-table",
        ),
        pytest.param(
            form_conf(backup_file="dynamodb-backups/x.json"),
            "conf field backup_file: names one table's backup object",
            id="backup-file-without-table-from-the-form",
        ),
        pytest.param(
            {"table_name": "app-users", "tables": ["orders"], "backup_file": "k"},
            "conf field backup_file: names one object of app-users, but tables also names orders",
            id="backup-file-with-two-tables",
        ),
        pytest.param(
            {"table_name": "app-users", "backup_file": "k", "selection": {"policy": "latest"}},
            "conf field selection: backup_file already names the backup",
            id="backup-file-and-selection",
        ),
        pytest.param(
            {"table_name": "orders", "backup_file": "k"},
            "conf field backup_file: is an s3_json object key, but table orders drills from native_backup",
            id="backup-file-for-a-native-backup-table",
        ),
        pytest.param(
            {"table_name": "app-users", "export_prefix": "exports/"},
            "conf field export_prefix: applies to s3_export, but table app-users drills from s3_json",
            id="export-prefix-for-s3-json",
        ),
        pytest.param(
            {"table_name": "orders", "batch_size": 5},
            "conf field batch_size: applies to batch writes, but table orders is restored server-side",
            id="batch-size-for-a-server-side-restore",
        ),
        pytest.param(
            {"table_name": "app-users", "restore_tasks": 2},
            "conf field restore_tasks: splits a batch-written s3_export",
            id="restore-tasks-for-s3-json",
        ),
    ],
)
def test_a_request_that_cannot_mean_one_drill_is_refused_naming_the_field(conf, message):
    with pytest.raises(InvalidDrillRequest, match=re.escape(message)) as refused:
        _resolve(conf)

    field = message.split(":")[0].removeprefix("conf field ")
    if message.startswith("conf field"):
        assert refused.value.details == {"field": field}


def test_the_plan_defaults_min_items_to_one_unless_it_allows_an_empty_table():
    [strict] = _resolve({"table_name": "app-users"})
    [lenient] = _resolve({"table_name": "app-users"}, {"tables": {"app-users": {"allow_empty_table": True}}})
    [bounded] = _resolve({"table_name": "app-users"}, {"tables": {"app-users": {"min_items": 50}}})

    assert strict.validation["min_items"] == 1
    assert lenient.validation["min_items"] is None and lenient.allow_empty_table is True
    assert bounded.validation["min_items"] == 50


@pytest.mark.parametrize("size", [0, 26], ids=["zero", "over-dynamodb-limit-25"])
def test_a_plan_batch_size_outside_dynamodbs_1_to_25_is_refused(size):
    with pytest.raises(InvalidDrillRequest, match=r"field tables\.app-users\.batch_size"):
        _resolve({}, {"tables": {"app-users": {"batch_size": size}}})
