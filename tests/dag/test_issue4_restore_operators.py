"""The restore operators under dag.test(): server-side restores awaited in the (inline) triggerer, and the guards."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from dr_drill.aws.scratch_tables import describe_table
from dr_drill.aws.scratch_tables import table_tags as _tags
from dr_drill.contracts import LocatedBackup, ScratchTable
from dr_drill.core.items.canonical import to_typed_item
from dr_drill.core.restore.scratch import RUN_ID_TAG, SCRATCH_TAG
from dr_drill.errors import UnsafeTarget
from tests.drills import drill_spec, source_adapter
from tests.snapshots import table_items

SOURCE = "ledger"
PREFIX = "drill-"


def _source(ddb, items=40):
    ddb.create_table(
        TableName=SOURCE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for number in range(items):
        ddb.put_item(TableName=SOURCE, Item=to_typed_item({"pk": f"k{number}", "amount": number}))


def _spec(run_id, scratch_table=None, keep=False, source="native_backup"):
    spec = drill_spec(SOURCE, run_id=run_id, backup_source=source, keep_scratch_table=keep, restore_workers=4)
    if scratch_table:
        spec = dataclasses.replace(spec, scratch_table=scratch_table)
    return spec.to_xcom()


def _located(source="native_backup", **fields):
    located = {"location": fields.get("backup_arn", "x"), "candidates_considered": 1, "selection": {"policy": "latest"}}
    return {**located, "source": source, **fields}


def _server_side_dag(dag_id, spec, located, timeout=timedelta(minutes=5)):
    from airflow.sdk import DAG

    from dr_drill.operators.restore import RestoreBackupOperator
    from dr_drill.operators.scratch import CreateScratchTableOperator, DropScratchTableOperator

    with DAG(dag_id, schedule=None, start_date=datetime(2026, 1, 1, tzinfo=UTC)) as dag:
        create = CreateScratchTableOperator(task_id="create_scratch_table", spec=spec, located=located)
        restore = RestoreBackupOperator(
            task_id="restore", spec=spec, located=located, scratch=create.output, server_side_timeout=timeout
        )
        drop = DropScratchTableOperator(
            task_id="drop_scratch_table", spec=spec, claim_task_ids=[create.task_id, restore.task_id]
        )
        create >> restore >> drop
        drop.as_teardown(setups=create)
    _serialize(dag)
    return dag


def _serialize(dag):
    """dag.test() runs only DAGs the metadata DB knows; this one lives in the test, not the DAG folder."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.collection import update_dag_parsing_results_in_db
    from airflow.serialization.serialized_objects import LazyDeserializedDAG
    from airflow.utils.session import create_session

    with create_session() as session:
        DagBundlesManager().sync_bundles_to_db(session=session)
        session.commit()
        update_dag_parsing_results_in_db(
            "dags-folder", None, [LazyDeserializedDAG.from_dag(dag)], {}, None, set(), session=session
        )


@pytest.mark.parametrize(
    ("source", "keep"),
    [
        pytest.param("native_backup", True, id="native-backup-kept"),
        pytest.param("pitr", False, id="pitr-dropped"),
    ],
)
def test_server_side_restore_waits_in_the_triggerer_and_tags_the_table(aws, source, keep):
    ddb = aws.client("dynamodb")
    _source(ddb)
    ddb.update_continuous_backups(
        TableName=SOURCE, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    backup_arn = ddb.create_backup(TableName=SOURCE, BackupName="nightly")["BackupDetails"]["BackupArn"]
    located = _located(
        source,
        backup_arn=backup_arn if source == "native_backup" else None,
        source_table_name=SOURCE,
        restore_time=datetime.now(UTC).isoformat() if source == "pitr" else None,
    )
    run_id = f"server-side-{source}"
    spec = _spec(run_id, keep=keep, source=source)
    before = table_items(ddb, SOURCE)

    run = _server_side_dag(f"server_side_{source}", spec, located).test()

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
    _source(ddb)
    backup_arn = ddb.create_backup(TableName=SOURCE, BackupName="nightly")["BackupDetails"]["BackupArn"]
    ddb.delete_backup(BackupArn=backup_arn)  # gone between locate and restore
    located = _located(backup_arn=backup_arn)
    run_id = "server-side-gone-backup"

    run = _server_side_dag("server_side_gone_backup", _spec(run_id), located).test()

    assert run.state == "failed"
    assert run.get_task_instance("create_scratch_table").state == "success"  # the setup only settles the claim
    restore = run.get_task_instance("restore")
    assert restore.state == "failed"
    failure = restore.xcom_pull(task_ids="restore", key="drill_failure")
    assert failure["step"] == "restore" and "BackupNotFoundException" in failure["reason"]
    assert describe_table(ddb, _spec(run_id)["scratch_table"]) is None
    assert describe_table(ddb, SOURCE) is not None


def test_teardown_claims_and_deletes_an_untagged_server_side_restore_of_this_drill(aws):
    from dr_drill.operators.scratch import DropScratchTableOperator

    ddb = aws.client("dynamodb")
    _source(ddb)
    backup_arn = ddb.create_backup(TableName=SOURCE, BackupName="nightly")["BackupDetails"]["BackupArn"]
    located = _located(backup_arn=backup_arn, source_table_name=SOURCE)
    spec = _spec("run-crashed")
    # The restore was started, then the drill died before the restore step tagged the table.
    scratch = ScratchTable(name=spec["scratch_table"], method="restore_from_backup", started_at="2026-11-26T02:00:00")
    source_adapter(aws, "native_backup").start_restore(
        drill_spec(SOURCE, run_id="run-crashed", backup_source="native_backup"),
        scratch,
        LocatedBackup.from_xcom(located),
    )
    claim = {"method": "restore_from_backup", "located": located}
    drop = DropScratchTableOperator(task_id="drop", spec=spec, claim_task_ids=["create", "restore"])

    assert drop.run({"ti": _FakeTI({"scratch_claim": claim})})["deleted"] is True
    assert describe_table(ddb, spec["scratch_table"]) is None
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


class _FakeTI:
    map_index = -1

    def __init__(self, claims):
        self.claims = claims

    def xcom_pull(self, task_ids, key, map_indexes):
        return self.claims.get(key)

    def xcom_push(self, key, value):
        self.claims[key] = value


@pytest.mark.parametrize(
    "claim",
    [
        pytest.param(None, id="no-claim"),
        pytest.param(
            {"method": "restore_from_backup", "located": _located(backup_arn="arn:x")}, id="server-side-claim"
        ),
    ],
)
def test_teardown_pointed_at_the_source_refuses_and_leaves_it_untouched(aws, claim):
    from dr_drill.operators.scratch import DropScratchTableOperator

    ddb = aws.client("dynamodb")
    _source(ddb)
    before = table_items(ddb, SOURCE)
    spec = _spec("run-1", scratch_table=SOURCE)
    drop = DropScratchTableOperator(task_id="drop", spec=spec, claim_task_ids=["create"])

    with pytest.raises(UnsafeTarget):
        drop.run({"ti": _FakeTI({"scratch_claim": claim})})

    assert table_items(ddb, SOURCE) == before
    assert SCRATCH_TAG not in _tags(ddb, describe_table(ddb, SOURCE)["TableArn"])


def test_restore_pointed_at_the_source_refuses_and_leaves_it_untouched(aws):
    from dr_drill.operators.restore import RestoreBackupOperator

    ddb, s3 = aws.client("dynamodb"), aws.client("s3")
    _source(ddb)
    s3.create_bucket(Bucket="backups")
    s3.put_object(Bucket="backups", Key="b.json", Body=b'{"data": [{"pk": "k1", "amount": 999}]}')
    before = table_items(ddb, SOURCE)
    restore = RestoreBackupOperator(
        task_id="restore",
        spec=_spec("run-1", scratch_table=SOURCE),
        located=_located("s3_json", bucket="backups", key="b.json", location="s3://backups/b.json"),
        scratch={
            "name": SOURCE,
            "method": "batch_write",
            "definition": {
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            },
            "started_at": datetime.now(UTC).isoformat(),
        },
        verified={"item_count": 1, "checksum_verified": True},
    )

    with pytest.raises(UnsafeTarget, match="not a scratch table of this drill"):
        restore.run({})

    assert table_items(ddb, SOURCE) == before
