"""Whole-DAG drills on the recovery side: another region, another account through an assumed role.

One run drills five tables, each a different case, so that the emulator's whole DAG runs once:

- ``app-users``: s3_json from a replicated bucket in us-west-2, same account: passes;
- ``ledger-west``: s3_export from the same replicated bucket, its copy as new as the source's: passes;
- ``ledger``: s3_export from a replicated bucket in us-west-2 of account 222222222222 (the
  recovery role), whose copy of today's export has not arrived: the older copy is restored and
  proven there, and the drill fails on its copy lag target;
- ``unreplicated``: no copy at all on the recovery side: locate fails, naming the newest source
  backup that has no copy;
- ``locked-out``: a recovery connection whose AssumeRole STS refuses: a clear error, nothing made.

moto does not replicate S3 objects: the test writes the replica bucket's objects itself. moto's
STS lets any AssumeRole through (it reads no trust policy); its credentials then act in the
role's account, which is how the second account is reached. The refused AssumeRole is one STS
refuses on the emulator as on AWS (a RoleSessionName over 64 characters).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from airflow.sdk import DagRunState

from demo.emulator import aws_connection, emulator_client
from demo.run_demo import BACKUP_BUCKET
from demo.sample_data import json_backup_document, put_json_backup, receive_notifications, sample_items
from demo.sample_exports import put_export, typed_items
from tests.dag.conftest import TABLE
from tests.dag.observe import evidence_records, source_and_backups
from tests.iam import ALLOW, RECOVERY_POLICY_PATH, evaluate, load_policy, recording_calls, requests_for

pytestmark = pytest.mark.slow

RECOVERY_REGION = "us-west-2"
RECOVERY_ACCOUNT = "222222222222"
ROLE_ARN = f"arn:aws:iam::{RECOVERY_ACCOUNT}:role/dr-drill-recovery"
REGION_REPLICA = "app-backups-replica-west"
ACCOUNT_REPLICA = "dr-backups-replica-account"
KEY_SCHEMA = [{"name": "user_id", "type": "S"}]


def _connection(aws, **extra) -> str:
    return aws_connection(aws.endpoint_url, region_name=RECOVERY_REGION, **extra)


def _recovery_account_session(aws) -> boto3.Session:
    credentials = aws.client("sts").assume_role(RoleArn=ROLE_ARN, RoleSessionName="test-setup")["Credentials"]
    return boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=RECOVERY_REGION,
    )


def _replica_bucket(s3, name: str) -> None:
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": RECOVERY_REGION})


def _copy(source_s3, replica_s3, bucket: str, key: str) -> None:
    """What S3 replication would have done: the same key, the same bytes, in the replica bucket."""
    body = source_s3.get_object(Bucket=BACKUP_BUCKET, Key=key)["Body"].read()
    replica_s3.put_object(Bucket=bucket, Key=key, Body=body)


def _json_backups(s3, table: str, now: datetime) -> list[str]:
    """Two nightly s3_json backups of ``table`` (app-users' items) in the source bucket, oldest first."""
    keys = []
    for night in (2, 1):
        taken_at = (now - timedelta(days=night - 1, hours=1)).replace(microsecond=0)
        document = json_backup_document(table, sample_items(TABLE, 40 + night), taken_at)
        keys.append(put_json_backup(s3, BACKUP_BUCKET, document, taken_at))
    return keys


def _objects(s3, bucket: str) -> dict[str, bytes]:
    """Every object of a bucket, by key: the copies, which a drill must never change."""
    listed = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
    return {entry["Key"]: s3.get_object(Bucket=bucket, Key=entry["Key"])["Body"].read() for entry in listed}


def _scratch_tables(client) -> list[str]:
    return [name for name in client.list_tables()["TableNames"] if name.startswith("drill-")]


@pytest.fixture
def recovery_sides(aws, account, monkeypatch, tmp_path):
    now = datetime.now(UTC)
    source_s3 = aws.client("s3")
    west = emulator_client(aws.endpoint_url, "s3", region_name=RECOVERY_REGION)
    role = _recovery_account_session(aws)
    role_s3 = role.client("s3", endpoint_url=aws.endpoint_url)
    _replica_bucket(west, REGION_REPLICA)
    _replica_bucket(role_s3, ACCOUNT_REPLICA)
    for entry in source_s3.list_objects_v2(Bucket=BACKUP_BUCKET, Prefix=f"dynamodb-backups/{TABLE}-")["Contents"]:
        _copy(source_s3, west, REGION_REPLICA, entry["Key"])
    _json_backups(source_s3, "unreplicated", now)
    _json_backups(source_s3, "locked-out", now)
    items = typed_items(sample_items(TABLE, 60))
    yesterday = (now - timedelta(days=1, hours=2)).replace(microsecond=0)
    for s3, bucket in ((source_s3, BACKUP_BUCKET), (role_s3, ACCOUNT_REPLICA)):
        put_export(s3, bucket, "exports/ledger", "ledger", items, yesterday)
    for s3, bucket in ((source_s3, BACKUP_BUCKET), (west, REGION_REPLICA)):
        put_export(s3, bucket, "exports/ledger-west", "ledger-west", items, yesterday)
    # Today's export, whose copy has not arrived.
    put_export(source_s3, BACKUP_BUCKET, "exports/ledger", "ledger", items[:50], yesterday + timedelta(days=1))

    monkeypatch.setenv("AIRFLOW_CONN_AWS_RECOVERY_REGION", _connection(aws))
    monkeypatch.setenv("AIRFLOW_CONN_AWS_RECOVERY", _connection(aws, role_arn=ROLE_ARN))
    monkeypatch.setenv(
        "AIRFLOW_CONN_AWS_LOCKED_OUT",
        _connection(aws, role_arn=ROLE_ARN, assume_role_kwargs={"RoleSessionName": "s" * 65}),
    )
    in_region = {"region": RECOVERY_REGION, "aws_conn_id": "aws_recovery_region", "backup_bucket": REGION_REPLICA}
    in_account = {"region": RECOVERY_REGION, "aws_conn_id": "aws_recovery", "backup_bucket": ACCOUNT_REPLICA}
    plan = {
        "tables": {
            TABLE: {"recovery": in_region},
            "ledger": {
                "backup_source": "s3_export",
                "export_prefix": "exports/ledger",
                "key_schema": KEY_SCHEMA,
                "rpo_target_seconds": 2 * 86400,
                "recovery": {**in_account, "copy_lag_target_seconds": 3600},
            },
            "ledger-west": {
                "backup_source": "s3_export",
                "export_prefix": "exports/ledger-west",
                "key_schema": KEY_SCHEMA,
                "rpo_target_seconds": 2 * 86400,
                "recovery": in_region,
            },
            "unreplicated": {"key_schema": KEY_SCHEMA, "recovery": in_account},
            "locked-out": {"key_schema": KEY_SCHEMA, "recovery": {**in_account, "aws_conn_id": "aws_locked_out"}},
        }
    }
    (tmp_path / "plan.yaml").write_text(json.dumps(plan))  # JSON is YAML
    monkeypatch.setenv("DRILL_PLAN_PATH", str(tmp_path / "plan.yaml"))
    return {"west": west, "role_s3": role_s3, "role": role}


def test_drills_on_the_recovery_side_restore_there_and_record_both_sides(dag, aws, account, recovery_sides):
    source_before = source_and_backups(aws, TABLE)
    role_ddb = recovery_sides["role"].client("dynamodb", endpoint_url=aws.endpoint_url)
    west_ddb = emulator_client(aws.endpoint_url, "dynamodb", region_name=RECOVERY_REGION)
    tables_before = (aws.client("dynamodb").list_tables()["TableNames"], west_ddb.list_tables()["TableNames"])
    copies_before = (
        _objects(recovery_sides["west"], REGION_REPLICA),
        _objects(recovery_sides["role_s3"], ACCOUNT_REPLICA),
    )

    with recording_calls() as made:
        run = dag.test()

    assert run.state == DagRunState.FAILED  # three of the five drills fail, each for its own reason
    records = {record["table_name"]: record for record in evidence_records(aws)}
    assert set(records) == {TABLE, "ledger-west", "ledger", "unreplicated", "locked-out"}

    in_region = records[TABLE]
    assert in_region["status"] == "passed", in_region["failure"]
    recovery = in_region["recovery"]
    assert recovery["source"] == {
        "aws_conn_id": "aws_default",
        "account": "123456789012",
        "region": "us-east-1",
        "newest_backup_location": recovery["source"]["newest_backup_location"],
        "newest_backup_time": recovery["source"]["newest_backup_time"],
        "error": None,
    }
    assert recovery["recovery"]["region"] == RECOVERY_REGION and recovery["recovery"]["account"] == "123456789012"
    assert recovery["copy_restored"].startswith(f"s3://{REGION_REPLICA}/")
    assert in_region["backup"]["location"] == recovery["copy_restored"]
    assert (recovery["copy_lag_seconds"], recovery["copy_lag_met"], recovery["uncopied_location"]) == (0, True, None)
    assert in_region["validation"]["digest_match"] is True
    assert "fidelity" in in_region["validation"]["proofs"]  # the live source table, read on the source side

    export_west = records["ledger-west"]  # an export's copy in the recovery region, as new as the source's
    assert export_west["status"] == "passed", export_west["failure"]
    assert export_west["backup"]["location"].startswith(f"s3://{REGION_REPLICA}/exports/ledger-west/AWSDynamoDB/")
    assert export_west["recovery"]["recovery"]["region"] == RECOVERY_REGION
    assert (export_west["recovery"]["copy_lag_seconds"], export_west["recovery"]["copy_lag_met"]) == (0, True)
    assert export_west["restore"]["items_restored"] == 60 and export_west["validation"]["digest_match"] is True

    ledger = records["ledger"]  # in the recovery account, its newest copy a day behind
    assert ledger["recovery"]["recovery"]["account"] == RECOVERY_ACCOUNT
    assert ledger["recovery"]["recovery"]["region"] == RECOVERY_REGION
    assert ledger["backup"]["location"].startswith(f"s3://{ACCOUNT_REPLICA}/exports/ledger/AWSDynamoDB/")
    assert ledger["restore"]["items_restored"] == 60 and ledger["validation"]["passed"] is True
    assert ledger["status"] == "failed" and ledger["failure"]["step"] == "objectives"
    assert "copy lag target missed" in ledger["failure"]["reason"]
    assert ledger["recovery"]["copy_lag_seconds"] == 86400 and ledger["recovery"]["copy_lag_met"] is False
    newest_source = ledger["recovery"]["source"]["newest_backup_location"]
    assert ledger["recovery"]["uncopied_location"] == newest_source
    assert newest_source in ledger["failure"]["reason"]
    # The RPO is that of the copy restored, a day older than the source's newest export.
    assert ledger["objectives"]["rpo_seconds"] > 86400 and ledger["objectives"]["rpo_met"] is True

    missing = records["unreplicated"]
    assert missing["failure"]["step"] == "locate" and missing["failure"]["error"] == "BackupNotFound"
    assert missing["recovery"]["uncopied_location"] in missing["failure"]["reason"]
    assert missing["recovery"]["copy_lag_seconds"] is None

    locked_out = records["locked-out"]
    assert locked_out["failure"]["step"] == "locate"
    assert "recovery connection aws_locked_out cannot assume its role" in locked_out["failure"]["reason"]
    assert locked_out["recovery"]["recovery"]["account"] is None  # unknown, not guessed
    assert locked_out["restore"]["started_at"] is None

    notifications = receive_notifications(aws.client("sqs"), account.queue_url)
    assert sorted(json.loads(envelope["Message"])["table_name"] for envelope in notifications) == sorted(records)
    for record in records.values():
        text = json.dumps(record)
        assert "testing" not in text.replace("testing-", "")  # no secret of any connection
        assert record["scratch_table"]["deleted"] in (True, None)
    # Nothing the drills did not make was touched, and nothing they made is left, on either side.
    assert source_and_backups(aws, TABLE) == source_before
    copies_after = (
        _objects(recovery_sides["west"], REGION_REPLICA),
        _objects(recovery_sides["role_s3"], ACCOUNT_REPLICA),
    )
    assert copies_after == copies_before
    assert _scratch_tables(aws.client("dynamodb")) == _scratch_tables(west_ddb) == _scratch_tables(role_ddb) == []
    assert (aws.client("dynamodb").list_tables()["TableNames"], west_ddb.list_tables()["TableNames"]) == tables_before
    assert role_ddb.list_tables()["TableNames"] == []
    _assert_recovery_calls_allowed(made)


def _assert_recovery_calls_allowed(made) -> None:
    """Every call made on the recovery side is allowed by the recovery role's policy, filled in for its side."""
    sides = {  # by identity: the region-only connection's keys, or the assumed role's
        "testing": ("123456789012", REGION_REPLICA),
        None: (RECOVERY_ACCOUNT, ACCOUNT_REPLICA),
    }
    denied, checked = set(), 0
    for service, operation, params, region, access_key in made:
        if region != RECOVERY_REGION or (service, operation) == ("sts", "GetCallerIdentity"):
            continue
        if (service, operation) == ("sts", "AssumeRole"):
            # The drill's own role asks, and the recovery role's trust policy allows (deploy/iam/README.md).
            assert params["RoleArn"] == ROLE_ARN
            continue
        account, bucket = sides["testing" if access_key == "testing" else None]
        policy = load_policy(
            RECOVERY_POLICY_PATH,
            **{"AWS::Region": RECOVERY_REGION, "AWS::AccountId": account, "ScratchPrefix": "drill-"},
            RecoveryBackupBucket=bucket,
            RecoveryVault="unused",
            RestoreRoleArn="arn:aws:iam::000000000000:role/unused",
            RecoveryKeyArn="arn:aws:kms:us-west-2:000000000000:key/unused",
        )
        for needed in requests_for(service, operation, params, region=region, account=account):
            checked += 1
            if evaluate(policy, needed) != ALLOW:
                denied.add((f"{service}:{operation}", needed.action, needed.resource))
    assert denied == set()
    assert checked > 50
