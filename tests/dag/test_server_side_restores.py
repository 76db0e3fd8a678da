"""Server-side restores (native_backup, pitr): whole-DAG drills, and the restore operators under dag.test().

The operators' server-side restore is awaited in the (inline) triggerer; a restore that died before
tagging its table is still claimed and deleted by the teardown.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import botocore.client
import botocore.exceptions
import pytest
from airflow.sdk import DagRunState

from dr_drill.aws.scratch_tables import describe_table
from dr_drill.aws.scratch_tables import table_tags as _tags
from dr_drill.contracts import LocatedBackup, ScratchTable
from dr_drill.core.restore.scratch import RUN_ID_TAG
from dr_drill.operators.restore import RestoreBackupOperator
from tests.dag.conftest import TABLE
from tests.dag.observe import evidence_records, scratch_tables, source_and_backups
from tests.dag.step_dags import SOURCE, FakeTI, create_source, located_backup, server_side_dag, step_spec
from tests.drills import OWNER_KEY, drill_spec, source_adapter
from tests.snapshots import table_items


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


@pytest.mark.slow
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
    # A server-side restore is one share: the mapped restore task has exactly one instance.
    [part] = [ti for ti in run.table_run(TABLE).get_task_instances() if ti.task_id == "restore_part"]
    assert (part.map_index, part.state) == (0, "success")
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


@pytest.mark.slow
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


@pytest.mark.slow
def test_pitr_disabled_fails_the_drill_at_locate_and_touches_nothing(dag, aws, account, tmp_path, monkeypatch):
    _plan(tmp_path, monkeypatch, "pitr")

    run = dag.test()

    assert run.state == DagRunState.FAILED
    [record] = evidence_records(aws)
    assert record["failure"]["step"] == "locate"
    assert "point-in-time recovery" in record["failure"]["reason"].lower() or "pitr" in record["failure"]["reason"]
    assert scratch_tables(aws) == []


# --- the restore operators on their own ---


@pytest.mark.parametrize(
    ("source", "keep"),
    [
        pytest.param("native_backup", True, id="native-backup-kept"),
        pytest.param("pitr", False, id="pitr-dropped"),
    ],
)
def test_server_side_restore_waits_in_the_triggerer_and_tags_the_table(aws, source, keep):
    ddb = aws.client("dynamodb")
    create_source(ddb)
    ddb.update_continuous_backups(
        TableName=SOURCE, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    backup_arn = ddb.create_backup(TableName=SOURCE, BackupName="nightly")["BackupDetails"]["BackupArn"]
    located = located_backup(
        source,
        backup_arn=backup_arn if source == "native_backup" else None,
        source_table_name=SOURCE,
        restore_time=datetime.now(UTC).isoformat() if source == "pitr" else None,
    )
    run_id = f"server-side-{source}"
    spec = step_spec(run_id, keep=keep, source=source)
    before = table_items(ddb, SOURCE)

    run = server_side_dag(f"server_side_{source}", spec, located).test()

    assert run.state == "success"
    restore_ti = run.get_task_instance("restore")
    assert restore_ti.state == "success"
    name = spec["scratch_table"]
    if keep:
        assert _tags(ddb, describe_table(ddb, name)["TableArn"])[RUN_ID_TAG] == run_id
        assert table_items(ddb, name) == before
    else:
        assert describe_table(ddb, name) is None
    assert table_items(ddb, SOURCE) == before


def test_a_backup_gone_before_the_restore_fails_the_restore_with_a_named_reason(aws):
    ddb = aws.client("dynamodb")
    create_source(ddb)
    backup_arn = ddb.create_backup(TableName=SOURCE, BackupName="nightly")["BackupDetails"]["BackupArn"]
    ddb.delete_backup(BackupArn=backup_arn)  # gone between locate and restore
    located = located_backup(backup_arn=backup_arn)
    run_id = "server-side-gone-backup"

    run = server_side_dag("server_side_gone_backup", step_spec(run_id), located).test()

    assert run.state == "failed"
    assert run.get_task_instance("create_scratch_table").state == "success"  # the setup only settles the claim
    restore = run.get_task_instance("restore")
    assert restore.state == "failed"
    failure = restore.xcom_pull(task_ids="restore", key="drill_failure")
    assert failure["step"] == "restore" and "BackupNotFoundException" in failure["reason"]
    assert describe_table(ddb, step_spec(run_id)["scratch_table"]) is None
    assert describe_table(ddb, SOURCE) is not None


def test_teardown_claims_and_deletes_an_untagged_server_side_restore_of_this_drill(aws, monkeypatch):
    import botocore.waiter

    from dr_drill.operators.scratch import DropScratchTableOperator

    waited = []
    wait = botocore.waiter.Waiter.wait

    def recording(waiter, **kwargs):
        waited.append(waiter.name)
        return wait(waiter, **kwargs)

    monkeypatch.setattr(botocore.waiter.Waiter, "wait", recording)

    ddb = aws.client("dynamodb")
    create_source(ddb)
    backup_arn = ddb.create_backup(TableName=SOURCE, BackupName="nightly")["BackupDetails"]["BackupArn"]
    located = located_backup(backup_arn=backup_arn, source_table_name=SOURCE)
    spec = step_spec("run-crashed")
    # The restore was started, then the drill died before the restore step tagged the table.
    scratch = ScratchTable(name=spec["scratch_table"], method="restore_from_backup", started_at="2026-11-26T02:00:00")
    source_adapter(aws, "native_backup").start_restore(
        drill_spec(SOURCE, run_id="run-crashed", backup_source="native_backup"),
        scratch,
        LocatedBackup.from_xcom(located),
        key=OWNER_KEY,
    )
    claim = {"method": "restore_from_backup", "located": located}
    drop = DropScratchTableOperator(task_id="drop", spec=spec, claim_task_ids=["create", "restore"])

    assert drop.run({"ti": FakeTI({"scratch_claim": claim})})["deleted"] is True
    assert describe_table(ddb, spec["scratch_table"]) is None
    assert "TableNotExists" not in waited  # DeleteTable accepted: no worker slot held while DynamoDB deletes
    assert describe_table(ddb, SOURCE) is not None


def test_trigger_reports_the_deadline_so_the_drill_fails_clearly(aws, monkeypatch):
    from dr_drill.aws.sources.base import SourceAdapter
    from dr_drill.triggers.server_side_restore import ServerSideRestoreTrigger

    monkeypatch.setattr(SourceAdapter, "restore_state", lambda *args, **kwargs: {"state": "running"})
    trigger = ServerSideRestoreTrigger(
        source="native_backup",
        table_name="drill-x-1",
        deadline=(datetime.now(UTC) + timedelta(seconds=0.3)).isoformat(),
        poll_seconds=0.1,
    )

    async def first_event():
        async for event in trigger.run():
            return event.payload

    payload = asyncio.run(first_event())
    assert payload["state"] == "timeout"
    classpath, kwargs = trigger.serialize()
    assert classpath == "dr_drill.triggers.server_side_restore.ServerSideRestoreTrigger"
    assert kwargs["deadline"] == trigger.deadline


def _restore_state_answering(monkeypatch, where, answers):
    """Make ``where``'s restore state give ``answers`` first (a state, or an error to raise), then the real one."""
    import importlib

    module = importlib.import_module(where)
    real = module.table_restore_state
    polls = []

    def answering(ddb, name):
        polls.append(name)
        answer = answers.pop(0) if answers else None
        if isinstance(answer, Exception):
            raise answer
        return answer or real(ddb, name)

    monkeypatch.setattr(module, "table_restore_state", answering)
    return polls


def _native_restore(aws, run_id, timeout=timedelta(minutes=5)):
    ddb = aws.client("dynamodb")
    create_source(ddb)
    backup_arn = ddb.create_backup(TableName=SOURCE, BackupName="nightly")["BackupDetails"]["BackupArn"]
    spec = step_spec(run_id)
    run = server_side_dag(run_id.replace("-", "_"), spec, located_backup(backup_arn=backup_arn), timeout).test()
    return run, spec, ddb


_CREATING = {"state": "running", "table_status": "CREATING"}


def test_a_restore_that_stays_creating_for_several_polls_is_awaited_in_the_triggerer(aws, monkeypatch):
    polls = _restore_state_answering(monkeypatch, "dr_drill.aws.sources.base", [_CREATING] * 3)

    run, spec, ddb = _native_restore(aws, "server-side-slow")

    assert run.state == "success" and run.get_task_instance("restore").state == "success"
    assert polls == [spec["scratch_table"]] * 4  # three answers of CREATING, then ACTIVE
    assert describe_table(ddb, spec["scratch_table"]) is None


def test_a_restore_that_never_finishes_fails_at_its_deadline_and_the_teardown_waits_without_a_worker(aws, monkeypatch):
    _restore_state_answering(monkeypatch, "dr_drill.aws.sources.base", [_CREATING] * 1000)
    teardown_checks = _restore_state_answering(monkeypatch, "dr_drill.operators.scratch", [_CREATING])
    trigger_polls = _restore_state_answering(monkeypatch, "dr_drill.triggers.server_side_restore", [_CREATING] * 2)

    run, spec, ddb = _native_restore(aws, "server-side-stuck", timeout=timedelta(seconds=1))

    assert run.state == "failed"
    restore = run.get_task_instance("restore")
    failure = restore.xcom_pull(task_ids="restore", key="drill_failure")
    assert failure["step"] == "restore" and "did not finish within 0:00:01" in failure["reason"]
    # The teardown found the table not yet deletable, deferred, and deleted it once it settled.
    assert run.get_task_instance("drop_scratch_table").state == "success"
    assert (len(teardown_checks), len(trigger_polls)) == (2, 3)  # checked, deferred, polled thrice, checked
    assert describe_table(ddb, spec["scratch_table"]) is None


def test_an_aws_error_in_the_triggerer_reaches_the_drills_failure(aws, monkeypatch):
    denied = botocore.exceptions.ClientError(
        {"Error": {"Code": "AccessDeniedException", "Message": "not allowed to DescribeTable"}}, "DescribeTable"
    )
    _restore_state_answering(monkeypatch, "dr_drill.aws.sources.base", [denied])

    run, spec, _ = _native_restore(aws, "server-side-denied")

    failure = run.get_task_instance("restore").xcom_pull(task_ids="restore", key="drill_failure")
    assert run.state == "failed" and failure["step"] == "restore"
    assert "polling " + spec["scratch_table"] + " failed: ClientError" in failure["reason"]
    assert "AccessDeniedException" in failure["reason"]
