"""Whole-DAG drills of the server-side sources: native_backup and pitr, located, restored, validated, recorded."""

from __future__ import annotations

import botocore.client
import pytest
from airflow.sdk import DagRunState

from dr_drill.operators.restore import RestoreBackupOperator
from tests.dag.conftest import TABLE
from tests.dag.observe import evidence_records, scratch_tables, source_and_backups

pytestmark = pytest.mark.slow


@pytest.fixture
def restore_step_scans(monkeypatch) -> list[str]:
    """The tables the restore step scans while finishing a server-side restore (validate's scans not counted)."""
    scans: list[str] = []
    finishing = []
    make_api_call = botocore.client.BaseClient._make_api_call
    finish = RestoreBackupOperator._finish_server_side

    def recording_call(client, operation_name, api_params):
        if finishing and operation_name == "Scan":
            scans.append(api_params.get("TableName"))
        return make_api_call(client, operation_name, api_params)

    def finishing_server_side(operator, *args, **kwargs):
        finishing.append(True)
        try:
            return finish(operator, *args, **kwargs)
        finally:
            finishing.pop()

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", recording_call)
    monkeypatch.setattr(RestoreBackupOperator, "_finish_server_side", finishing_server_side)
    return scans


def _assert_counted_once_by_validate(record: dict, scans: list[str]) -> None:
    # The restore step no longer scans the restored table; validate's exact count fills the evidence.
    assert scans == []
    assert record["restore"]["items_restored"] == record["validation"]["restored_items"] == 300
    assert record["restore"]["items_restored_counted_by"] == "validate"
    assert record["restore"]["items_per_second"] > 0


def _plan(tmp_path, monkeypatch, source: str) -> None:
    plan = tmp_path / f"{source}.yaml"
    plan.write_text(f"tables:\n  {TABLE}:\n    backup_source: {source}\n")
    monkeypatch.setenv("DRILL_PLAN_PATH", str(plan))


def test_native_backup_drill_restores_from_the_newest_available_backup(
    dag, aws, account, tmp_path, monkeypatch, restore_step_scans
):
    ddb = aws.client("dynamodb")
    ddb.create_backup(TableName=TABLE, BackupName="older")
    newest = ddb.create_backup(TableName=TABLE, BackupName="nightly")["BackupDetails"]["BackupArn"]
    _plan(tmp_path, monkeypatch, "native_backup")
    before = source_and_backups(aws, TABLE)

    run = dag.test()

    assert run.state == DagRunState.SUCCESS
    [record] = evidence_records(aws)
    assert record["status"] == "passed", record["failure"]
    assert record["backup"]["source"] == "native_backup"
    assert record["backup"]["backup_arn"] == newest
    assert record["restore"]["method"] == "restore_from_backup"
    assert record["validation"]["restored_items"] == 300
    _assert_counted_once_by_validate(record, restore_step_scans)
    assert record["scratch_table"]["deleted"] is True
    assert scratch_tables(aws) == []
    assert source_and_backups(aws, TABLE) == before


def test_pitr_drill_restores_the_latest_restorable_time(dag, aws, account, tmp_path, monkeypatch, restore_step_scans):
    aws.client("dynamodb").update_continuous_backups(
        TableName=TABLE, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    _plan(tmp_path, monkeypatch, "pitr")
    before = source_and_backups(aws, TABLE)

    run = dag.test()

    assert run.state == DagRunState.SUCCESS
    [record] = evidence_records(aws)
    assert record["status"] == "passed", record["failure"]
    assert record["backup"]["source"] == "pitr"
    assert record["backup"]["restore_time"]
    assert record["restore"]["method"] == "restore_to_point_in_time"
    assert record["validation"]["restored_items"] == 300
    _assert_counted_once_by_validate(record, restore_step_scans)
    assert scratch_tables(aws) == []
    assert source_and_backups(aws, TABLE) == before


def test_pitr_disabled_fails_the_drill_at_locate_and_touches_nothing(dag, aws, account, tmp_path, monkeypatch):
    _plan(tmp_path, monkeypatch, "pitr")

    run = dag.test()

    assert run.state == DagRunState.FAILED
    [record] = evidence_records(aws)
    assert record["failure"]["step"] == "locate"
    assert "point-in-time recovery" in record["failure"]["reason"].lower() or "pitr" in record["failure"]["reason"]
    assert scratch_tables(aws) == []
