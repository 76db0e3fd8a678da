"""The drill's IAM policy (deploy/iam/) denies what a drill must never do, whatever it is asked to.

What it allows is proven against the calls of whole-DAG drills in tests/dag/test_drill_policy.py.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dr_drill.core.restore.ownership import ownership_tags, scratch_owner
from tests.drills import DAG_ID, OWNER_KEY
from tests.iam import ALLOW, Request, evaluate, load_policy, requests_for

REGION, ACCOUNT = "eu-west-1", "111122223333"
TABLE = "orders"
TABLE_ARN = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table"
BACKUP_BUCKET, EVIDENCE_BUCKET = "backups", "evidence"
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:dr-drill-success"
POLICY = load_policy(
    **{"AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "ScratchPrefix": "drill-"},
    BackupBucket=BACKUP_BUCKET,
    EvidenceBucket=EVIDENCE_BUCKET,
    SuccessTopicArn=TOPIC,
    FailureTopicArn=f"arn:aws:sns:{REGION}:{ACCOUNT}:dr-drill-failure",
)


def _tagged_create(name: str, tags: list[dict[str, str]]) -> Request:
    request, *_ = requests_for(
        "dynamodb",
        "CreateTable",
        {"TableName": name, "Tags": tags},
        region=REGION,
        account=ACCOUNT,
    )
    return request


def _owner_tags(name: str) -> list[dict[str, str]]:
    owner = scratch_owner(name, source_table=TABLE, dag_id=DAG_ID, run_id="r", created_at=datetime.now(UTC))
    return ownership_tags(OWNER_KEY, owner)


@pytest.mark.parametrize(
    "harm",
    [
        *(
            pytest.param(Request(f"dynamodb:{action}", f"{TABLE_ARN}/{TABLE}"), id=f"{action}-on-a-source")
            for action in ("PutItem", "BatchWriteItem", "UpdateItem", "DeleteItem", "DeleteTable", "UpdateTable")
        ),
        pytest.param(Request("dynamodb:DeleteTable", f"{TABLE_ARN}/my-drill-notes"), id="delete-a-table-named-*drill*"),
        pytest.param(
            Request("dynamodb:PutItem", f"{TABLE_ARN}/Drill-x"), id="write-a-table-whose-prefix-differs-in-case"
        ),
        pytest.param(_tagged_create(TABLE, _owner_tags(TABLE)), id="create-a-non-scratch-name-even-with-owner-tags"),
        pytest.param(_tagged_create("drill-x", []), id="create-a-scratch-table-untagged"),
        pytest.param(
            _tagged_create("drill-x", [{"Key": "dr-drill:scratch", "Value": "true"}, {"Key": "team", "Value": "a"}]),
            id="create-a-scratch-table-with-a-foreign-tag",
        ),
        pytest.param(
            Request(
                "dynamodb:TagResource",
                f"{TABLE_ARN}/{TABLE}",
                {"aws:RequestTag/dr-drill:scratch": "true", "aws:TagKeys": ["dr-drill:scratch"]},
            ),
            id="tag-a-source-as-scratch",
        ),
        pytest.param(
            Request("dynamodb:UntagResource", f"{TABLE_ARN}/drill-x", {"aws:TagKeys": ["dr-drill:owner"]}),
            id="untag-a-scratch-table",
        ),
        pytest.param(
            Request("dynamodb:PutItem", f"{TABLE_ARN}/{TABLE}", why="RestoreTableToPointInTime writes its target"),
            id="restore-into-a-source-name-needs-writes-there",
        ),
        pytest.param(Request("dynamodb:ImportTable", f"{TABLE_ARN}/{TABLE}"), id="import-into-a-source-name"),
        pytest.param(Request("dynamodb:DeleteBackup", f"{TABLE_ARN}/{TABLE}/backup/01"), id="delete-a-backup"),
        pytest.param(
            Request("s3:PutObject", f"arn:aws:s3:::{BACKUP_BUCKET}/dynamodb-backups/x.json"), id="write-a-backup"
        ),
        pytest.param(
            Request("s3:DeleteObject", f"arn:aws:s3:::{BACKUP_BUCKET}/dynamodb-backups/x.json"),
            id="delete-a-backup-object",
        ),
        pytest.param(
            Request("s3:DeleteObjectVersion", f"arn:aws:s3:::{EVIDENCE_BUCKET}/dr-drill-evidence/t/r.json"),
            id="delete-evidence",
        ),
        pytest.param(
            Request("s3:BypassGovernanceRetention", f"arn:aws:s3:::{EVIDENCE_BUCKET}/dr-drill-evidence/t/r.json"),
            id="bypass-evidence-retention",
        ),
        pytest.param(
            Request("s3:PutObject", f"arn:aws:s3:::{EVIDENCE_BUCKET}/elsewhere/r.json"), id="write-outside-evidence"
        ),
        pytest.param(
            Request("s3:ListBucket", f"arn:aws:s3:::{EVIDENCE_BUCKET}", {"s3:prefix": "other/"}),
            id="list-other-evidence",
        ),
        pytest.param(Request("sns:Publish", f"arn:aws:sns:{REGION}:{ACCOUNT}:someone-elses"), id="publish-elsewhere"),
        pytest.param(
            Request("cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": "AWS/DynamoDB"}), id="metrics-elsewhere"
        ),
    ],
)
def test_the_policy_denies_what_a_drill_must_never_do(harm):
    assert evaluate(POLICY, harm) != ALLOW


@pytest.mark.parametrize(
    "needed",
    [
        pytest.param(
            _tagged_create("drill-orders-r-1", _owner_tags("drill-orders-r-1")), id="create-an-owned-scratch-table"
        ),
        pytest.param(Request("dynamodb:BatchWriteItem", f"{TABLE_ARN}/drill-orders-r-1"), id="write-a-scratch-table"),
        pytest.param(Request("dynamodb:DeleteTable", f"{TABLE_ARN}/drill-orders-r-1"), id="delete-a-scratch-table"),
        pytest.param(Request("dynamodb:Scan", f"{TABLE_ARN}/{TABLE}"), id="read-a-source"),
        pytest.param(
            Request("s3:PutObject", f"arn:aws:s3:::{EVIDENCE_BUCKET}/dr-drill-evidence/t/r.json"), id="store-evidence"
        ),
        pytest.param(
            Request("s3:PutObjectRetention", f"arn:aws:s3:::{EVIDENCE_BUCKET}/dr-drill-evidence/t/r.json"),
            id="lock-evidence",
        ),
        pytest.param(Request("sns:Publish", TOPIC), id="notify"),
    ],
)
def test_the_same_policy_allows_the_drills_own_work(needed):
    # The denials above mean something only if the same policy lets the drill work at all.
    assert evaluate(POLICY, needed) == ALLOW


def test_every_placeholder_must_be_filled():
    with pytest.raises(ValueError, match="EvidenceBucket"):
        load_policy(**{"AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "ScratchPrefix": "drill-"})
