"""Server-side restores against the moto server: restored into the scratch name, proven the drill's, then tagged."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime

import pytest

from dr_drill.aws.scratch_tables import describe_table
from dr_drill.aws.scratch_tables import table_tags as _tags
from dr_drill.aws.server_side import claim_restored_table
from dr_drill.constants import RestoreMethod
from dr_drill.contracts import LocatedBackup, ScratchClaim, ScratchTable
from dr_drill.core.items.canonical import to_typed_item
from dr_drill.core.restore.scratch import RUN_ID_TAG, SCRATCH_TAG, scratch_table_name
from dr_drill.errors import UnsafeTarget
from tests.drills import OWNER_KEY, drill_spec, source_adapter
from tests.integration.aws.tables import INDEXED_SOURCE as SOURCE
from tests.integration.aws.tables import create_indexed_source
from tests.snapshots import table_items

RUN = "scheduled__2026-11-26T02:00:00+00:00"


def _backup(ddb):
    create_indexed_source(ddb)
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
    import_arn = adapter.start_restore(spec, scratch, located, key=OWNER_KEY)
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
    claim_restored_table(ddb, name, spec=spec, made_by_drill=adapter.made_by_drill_of(spec, claim), key=OWNER_KEY)

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
            claim_restored_table(ddb, target, spec=spec, made_by_drill=made_by_drill, key=OWNER_KEY)
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
    claim_restored_table(ddb, name, spec=spec, made_by_drill=adapter.made_by_drill_of(spec, claim), key=OWNER_KEY)
    assert _tags(ddb, describe_table(ddb, name)["TableArn"])[SCRATCH_TAG] == "true"
    assert len(table_items(ddb, name)) == 30
