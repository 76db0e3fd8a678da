"""The drill's IAM policy (deploy/iam/) allows every AWS call whole-DAG drills make, and nothing that harms.

One nightly run drills five tables, one for each way a backup comes back: s3_json, s3_export
(streamed), s3_export through ImportTable, native_backup and pitr. Every botocore call the run
makes is recorded, mapped to the IAM requests it needs (tests/iam.py: its action, its resource
ARN and condition keys, and what AWS documents a restore or an import needs besides), and each
must be allowed by the policy. Writes, tags and deletes aimed at tables without the scratch
prefix, and changes to backups or evidence, are denied (tests/unit/deploy/test_drill_policy.py).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from airflow.sdk import DagRunState

from demo.emulator import REGION
from demo.run_demo import BACKUP_BUCKET, EVIDENCE_BUCKET
from demo.sample_exports import put_export
from dr_drill.core.items.canonical import to_typed_item
from tests.dag.conftest import TABLE
from tests.dag.observe import evidence_records, scratch_tables
from tests.iam import ALLOW, evaluate, load_policy, recording_calls, requests_for

pytestmark = pytest.mark.slow
ACCOUNT = "123456789012"  # the emulator's account
PLAN = {
    TABLE: "{}",
    "exported": "{backup_source: s3_export, export_prefix: exports/exported}",
    "imported": "{backup_source: s3_export, export_prefix: exports/imported, import_table: true}",
    "backed-up": "{backup_source: native_backup}",
    "recovered": "{backup_source: pitr}",
}


def _policy(account) -> dict:
    """The policy as a deployment fills it in for this account (CloudFormation's Fn::Sub would)."""
    return load_policy(
        **{"AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "ScratchPrefix": "drill-"},
        BackupBucket=BACKUP_BUCKET,
        EvidenceBucket=EVIDENCE_BUCKET,
        SuccessTopicArn=account.success_topic_arn,
        FailureTopicArn=account.failure_topic_arn,
    )


def _source(ddb, name: str, count: int = 40) -> list[dict]:
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    items = [to_typed_item({"pk": f"{name}-{number}", "amount": number}) for number in range(count)]
    for start in range(0, count, 25):
        batch = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
        ddb.batch_write_item(RequestItems={name: batch})
    return items


def _every_source(aws, tmp_path, monkeypatch) -> None:
    ddb, s3 = aws.client("dynamodb"), aws.client("s3")
    taken = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    for name in ("exported", "imported"):
        put_export(s3, BACKUP_BUCKET, f"exports/{name}", name, _source(ddb, name), taken, files=2, empty_files=0)
    _source(ddb, "backed-up")
    ddb.create_backup(TableName="backed-up", BackupName="nightly")
    _source(ddb, "recovered")
    ddb.update_continuous_backups(
        TableName="recovered", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    plan = tmp_path / "every-source.yaml"
    plan.write_text("tables:\n" + "".join(f"  {name}: {entry}\n" for name, entry in PLAN.items()))
    monkeypatch.setenv("DRILL_PLAN_PATH", str(plan))


def test_every_call_of_drills_of_every_source_is_allowed_by_the_policy(dag, aws, account, tmp_path, monkeypatch):
    _every_source(aws, tmp_path, monkeypatch)

    with recording_calls() as made:  # the run's calls only, not the seeding's
        run = dag.test()

    assert run.state == DagRunState.SUCCESS
    records = {record["table_name"]: record for record in evidence_records(aws)}
    assert {name: record["status"] for name, record in records.items()} == dict.fromkeys(PLAN, "passed")
    assert records["imported"]["restore"]["method"] == "import_table"
    assert scratch_tables(aws) == []

    operations = {operation for _, operation, *_ in made}
    assert {
        "CreateTable",
        "BatchWriteItem",
        "ImportTable",
        "RestoreTableFromBackup",
        "RestoreTableToPointInTime",
        "TagResource",
        "DeleteTable",
        "PutObject",
        "Publish",
        "PutMetricData",
    } <= operations
    policy = _policy(account)
    checked = [
        (f"{service}:{operation}", needed)
        for service, operation, params, region, _ in made
        for needed in requests_for(service, operation, params, region=region, account=ACCOUNT)
    ]
    denied = sorted({(call, r.action, r.resource, r.why) for call, r in checked if evaluate(policy, r) != ALLOW})
    assert denied == []
    assert len(checked) > len(made) > 100
