"""Issue 4 against the moto server: scratch tables with indexes, guards, the sweep, server-side restores."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta

import pytest

from dr_drill.aws.scratch_tables import (
    create_scratch_table,
    describe_table,
    scratch_definition,
    sweep_stale_scratch_tables,
)
from dr_drill.aws.scratch_tables import table_tags as _tags
from dr_drill.aws.server_side import claim_restored_table
from dr_drill.constants import RestoreMethod
from dr_drill.contracts import BackupRef, LocatedBackup, ScratchClaim, ScratchTable
from dr_drill.core.items.canonical import to_typed_item
from dr_drill.core.restore.scratch import RUN_ID_TAG, SCRATCH_TAG, SOURCE_TAG, scratch_table_name, scratch_tags
from dr_drill.core.sources.native_backup import restore_from_backup_request
from dr_drill.core.sources.pitr import restore_to_point_in_time_request
from dr_drill.core.sources.s3_export import import_table_request
from dr_drill.errors import RestoreIncomplete, UnsafeTarget
from tests.drills import drill_spec, source_adapter
from tests.snapshots import table_items

RUN = "scheduled__2026-11-26T02:00:00+00:00"
PREFIX = "drill-"
SOURCE = "orders-idx"


def _source_with_indexes(ddb, name=SOURCE, items=20):
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
            {"AttributeName": "status", "AttributeType": "S"},
            {"AttributeName": "placed", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-status",
                "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
                "ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5},
            }
        ],
        LocalSecondaryIndexes=[
            {
                "IndexName": "by-placed",
                "KeySchema": [
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "placed", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 5},
    )
    for number in range(items):
        item = {"pk": f"c{number % 3}", "sk": number, "status": "open", "placed": f"2026-11-{number % 28 + 1:02d}"}
        ddb.put_item(TableName=name, Item=to_typed_item(item))


def test_scratch_table_copies_keys_and_indexes_on_demand_without_protection_and_tagged(aws):
    ddb = aws.client("dynamodb")
    _source_with_indexes(ddb)
    name = scratch_table_name(SOURCE, RUN)

    create_scratch_table(
        ddb,
        name,
        source_table=SOURCE,
        schema=scratch_definition(ddb, SOURCE, plan_key_schema=None),
        prefix=PREFIX,
        run_id=RUN,
    )

    table = describe_table(ddb, name)
    assert [index["IndexName"] for index in table["GlobalSecondaryIndexes"]] == ["by-status"]
    assert [index["IndexName"] for index in table["LocalSecondaryIndexes"]] == ["by-placed"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table.get("DeletionProtectionEnabled") is False
    assert _tags(ddb, table["TableArn"]) == {SCRATCH_TAG: "true", SOURCE_TAG: SOURCE, RUN_ID_TAG: RUN}


def test_plan_can_leave_the_indexes_out(aws):
    ddb = aws.client("dynamodb")
    _source_with_indexes(ddb)
    name = scratch_table_name(SOURCE, RUN)
    definition = scratch_definition(ddb, SOURCE, plan_key_schema=None, include_indexes=False)

    create_scratch_table(ddb, name, source_table=SOURCE, schema=definition, prefix=PREFIX, run_id=RUN)

    table = describe_table(ddb, name)
    assert not table.get("GlobalSecondaryIndexes") and not table.get("LocalSecondaryIndexes")
    assert {a["AttributeName"] for a in table["AttributeDefinitions"]} == {"pk", "sk"}


def test_source_gone_uses_the_plan_key_schema_else_fails_clearly(aws):
    ddb = aws.client("dynamodb")
    plan_keys = [{"name": "customer_id", "type": "S"}, {"name": "order_id", "type": "N"}]

    definition = scratch_definition(ddb, "gone-table", plan_key_schema=plan_keys)
    create_scratch_table(
        ddb,
        scratch_table_name("gone-table", RUN),
        source_table="gone-table",
        schema=definition,
        prefix=PREFIX,
        run_id=RUN,
    )
    assert describe_table(ddb, scratch_table_name("gone-table", RUN))["KeySchema"] == [
        {"AttributeName": "customer_id", "KeyType": "HASH"},
        {"AttributeName": "order_id", "KeyType": "RANGE"},
    ]
    with pytest.raises(RestoreIncomplete, match="does not exist and the drill plan gives no key_schema"):
        scratch_definition(ddb, "gone-table", plan_key_schema=None)


def test_a_retry_recreates_its_own_table_but_never_takes_another_runs(aws):
    ddb = aws.client("dynamodb")
    _source_with_indexes(ddb)
    definition = scratch_definition(ddb, SOURCE, plan_key_schema=None)
    name = scratch_table_name(SOURCE, RUN)
    create_scratch_table(ddb, name, source_table=SOURCE, schema=definition, prefix=PREFIX, run_id=RUN)
    ddb.put_item(TableName=name, Item=to_typed_item({"pk": "x", "sk": 1, "status": "s", "placed": "p"}))

    create_scratch_table(ddb, name, source_table=SOURCE, schema=definition, prefix=PREFIX, run_id=RUN)
    assert len(table_items(ddb, name)) == 0  # recreated empty

    with pytest.raises(UnsafeTarget, match="not a scratch table of this drill"):
        create_scratch_table(ddb, name, source_table=SOURCE, schema=definition, prefix=PREFIX, run_id="another-run")
    assert describe_table(ddb, name) is not None


def test_sweep_deletes_only_old_scratch_tables(aws):
    ddb = aws.client("dynamodb")
    _source_with_indexes(ddb)
    keys = {
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST",
    }
    ddb.create_table(TableName="drill-crashed-run", Tags=scratch_tags("orders", "old-run"), **keys)
    ddb.create_table(TableName="drill-not-tagged", **keys)  # the prefix alone is not enough
    ddb.create_table(TableName="someone-elses", Tags=scratch_tags("orders", "old-run"), **keys)  # nor the tag alone
    ddb.create_table(TableName="drill-wrong-tag", Tags=[{"Key": SCRATCH_TAG, "Value": "false"}], **keys)
    now = datetime.now(UTC)

    assert sweep_stale_scratch_tables(ddb, prefix=PREFIX, max_age=timedelta(hours=24), now=now) == []  # all young
    deleted = sweep_stale_scratch_tables(ddb, prefix=PREFIX, max_age=timedelta(hours=24), now=now + timedelta(hours=25))

    assert deleted == ["drill-crashed-run"]
    assert sorted(ddb.list_tables()["TableNames"]) == sorted(
        [SOURCE, "drill-not-tagged", "someone-elses", "drill-wrong-tag"]
    )
    assert len(table_items(ddb, SOURCE)) == 20


def _backup(ddb):
    _source_with_indexes(ddb)
    ddb.update_continuous_backups(
        TableName=SOURCE, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    return ddb.create_backup(TableName=SOURCE, BackupName="nightly")["BackupDetails"]["BackupArn"]


def _restore_into_scratch(aws, source, located, definition=None):
    """Start the source's server-side restore as the restore step does; return spec, adapter and claim."""
    spec = drill_spec(
        SOURCE, run_id=RUN, backup_source=source, backup_bucket="exports", import_table=source == "s3_export"
    )
    adapter = source_adapter(aws, source)
    method = adapter.restore_method(spec)
    scratch = ScratchTable(name=spec.scratch_table, method=method, started_at="2026-11-26T02:00:00+00:00")
    if definition is not None:
        scratch = ScratchTable(name=scratch.name, method=method, started_at=scratch.started_at, definition=definition)
    import_arn = adapter.start_restore(spec, scratch, located)
    return spec, adapter, ScratchClaim(method=method, located=located, import_arn=import_arn)


def _located(source, **fields):
    return LocatedBackup(source=source, location="x", candidates_considered=1, selection={"policy": "latest"}, **fields)


@pytest.mark.parametrize("source", [pytest.param("native_backup", id="native-backup"), pytest.param("pitr")])
def test_server_side_restore_into_the_scratch_name_then_tagged(aws, source):
    ddb = aws.client("dynamodb")
    backup_arn = _backup(ddb)
    source_arn = describe_table(ddb, SOURCE)["TableArn"]
    located = _located(
        source,
        backup_arn=backup_arn if source == "native_backup" else None,
        source_table_name=SOURCE,
        source_table_arn=source_arn,
        restore_time=datetime.now(UTC).isoformat() if source == "pitr" else None,
    )
    name = scratch_table_name(SOURCE, RUN)

    spec, adapter, claim = _restore_into_scratch(aws, source, located)
    assert adapter.restore_state(name, None)["state"] == "done"
    claim_restored_table(ddb, name, spec=spec, made_by_drill=adapter.made_by_drill_of(spec, claim))

    assert _tags(ddb, describe_table(ddb, name)["TableArn"])[RUN_ID_TAG] == RUN
    assert table_items(ddb, name) == table_items(ddb, SOURCE)


def test_claim_refuses_a_table_this_drill_did_not_restore(aws):
    ddb = aws.client("dynamodb")
    backup_arn = _backup(ddb)
    located = _located("native_backup", backup_arn=backup_arn, source_table_name=SOURCE)
    impostor = scratch_table_name(SOURCE, RUN)
    ddb.create_table(
        TableName=impostor,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    spec = drill_spec(SOURCE, run_id=RUN, backup_source="native_backup")
    adapter = source_adapter(aws, "native_backup")
    made_by_drill = adapter.made_by_drill_of(
        spec, ScratchClaim(method=RestoreMethod.RESTORE_FROM_BACKUP, located=located)
    )
    for target in (impostor, SOURCE):
        with pytest.raises(UnsafeTarget):
            claim_restored_table(ddb, target, spec=spec, made_by_drill=made_by_drill)
    assert _tags(ddb, describe_table(ddb, impostor)["TableArn"]) == {}
    assert _tags(ddb, describe_table(ddb, SOURCE)["TableArn"]) == {}


def test_import_table_of_an_s3_export_into_the_scratch_name(aws):
    ddb, s3 = aws.client("dynamodb"), aws.client("s3")
    s3.create_bucket(Bucket="exports")
    export_id = "01700000000000-abcdef12"
    lines = "".join(json.dumps({"Item": to_typed_item({"pk": f"k{n}", "sk": n})}) + "\n" for n in range(30))
    s3.put_object(
        Bucket="exports", Key=f"AWSDynamoDB/{export_id}/data/part-0.json.gz", Body=gzip.compress(lines.encode())
    )
    located = _located(
        "s3_export",
        bucket="exports",
        export_root="AWSDynamoDB/",
        export_id=export_id,
        export_arn=f"arn:aws:dynamodb:us-east-1:123456789012:table/{SOURCE}/export/{export_id}",
        item_count=30,
    )
    definition = {
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "AttributeDefinitions": [
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
        ],
    }
    name = scratch_table_name(SOURCE, RUN)

    spec, adapter, claim = _restore_into_scratch(aws, "s3_export", located, definition)
    status = adapter.restore_state(name, claim.import_arn)
    for _ in range(50):  # moto imports in a thread
        if status["state"] != "running":
            break
        status = adapter.restore_state(name, claim.import_arn)
    assert status["state"] == "done" and status["items"] == 30
    claim_restored_table(ddb, name, spec=spec, made_by_drill=adapter.made_by_drill_of(spec, claim))
    assert _tags(ddb, describe_table(ddb, name)["TableArn"])[SCRATCH_TAG] == "true"
    assert len(table_items(ddb, name)) == 30


@pytest.mark.parametrize(
    ("operation", "build"),
    [
        pytest.param(
            "RestoreTableFromBackup",
            lambda: restore_from_backup_request(
                "drill-t-1",
                BackupRef(
                    location="x",
                    backup_arn="arn:aws:dynamodb:us-east-1:123456789012:table/t/backup/01795724925717-4e4986fc",
                ),
                include_indexes=False,
            ),
            id="restore-from-backup",
        ),
        pytest.param(
            "RestoreTableToPointInTime",
            lambda: restore_to_point_in_time_request(
                "drill-t-1",
                BackupRef(
                    location="x",
                    source_table_arn="arn:aws:dynamodb:us-east-1:123456789012:table/t",
                    restore_time="2026-11-26T01:00:00+00:00",
                ),
                include_indexes=True,
            ),
            id="pitr",
        ),
        pytest.param(
            "ImportTable",
            lambda: import_table_request(
                "drill-t-1",
                BackupRef(location="x", bucket="b", export_root="p/AWSDynamoDB/", export_id="e", export_arn="arn:e"),
                {
                    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                },
            ),
            id="import-table",
        ),
    ],
)
def test_server_side_requests_match_the_botocore_model(operation, build):
    import botocore.session
    from botocore.validate import ParamValidator

    model = botocore.session.get_session().get_service_model("dynamodb").operation_model(operation)
    report = ParamValidator().validate(build(), model.input_shape)

    assert not report.has_errors(), report.generate_report()
