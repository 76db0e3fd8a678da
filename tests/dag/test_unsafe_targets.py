"""The restore and teardown operators pointed at the source table refuse, and leave it untouched."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dr_drill.aws.scratch_tables import describe_table
from dr_drill.aws.scratch_tables import table_tags as _tags
from dr_drill.core.restore.scratch import SCRATCH_TAG
from dr_drill.errors import UnsafeTarget
from tests.dag.step_dags import SOURCE, FakeTI, create_source, located_backup, step_spec
from tests.snapshots import table_items


@pytest.mark.parametrize(
    "claim",
    [
        pytest.param(None, id="no-claim"),
        pytest.param(
            {"method": "restore_from_backup", "located": located_backup(backup_arn="arn:x")}, id="server-side-claim"
        ),
    ],
)
def test_teardown_pointed_at_the_source_refuses_and_leaves_it_untouched(aws, claim):
    from dr_drill.operators.scratch import DropScratchTableOperator

    ddb = aws.client("dynamodb")
    create_source(ddb)
    before = table_items(ddb, SOURCE)
    spec = step_spec("run-1", scratch_table=SOURCE)
    drop = DropScratchTableOperator(task_id="drop", spec=spec, claim_task_ids=["create"])

    with pytest.raises(UnsafeTarget):
        drop.run({"ti": FakeTI({"scratch_claim": claim})})

    assert table_items(ddb, SOURCE) == before
    assert SCRATCH_TAG not in _tags(ddb, describe_table(ddb, SOURCE)["TableArn"])


def test_restore_pointed_at_the_source_refuses_and_leaves_it_untouched(aws):
    from dr_drill.operators.restore import RestoreBackupOperator

    ddb, s3 = aws.client("dynamodb"), aws.client("s3")
    create_source(ddb)
    s3.create_bucket(Bucket="backups")
    s3.put_object(Bucket="backups", Key="b.json", Body=b'{"data": [{"pk": "k1", "amount": 999}]}')
    before = table_items(ddb, SOURCE)
    restore = RestoreBackupOperator(
        task_id="restore",
        spec=step_spec("run-1", scratch_table=SOURCE),
        located=located_backup("s3_json", bucket="backups", key="b.json", location="s3://backups/b.json"),
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
