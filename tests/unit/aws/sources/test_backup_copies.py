"""native_backup on the recovery side, against botocore's Stubber: the emulator serves no AWS Backup recovery points.

moto's AWS Backup has vaults and plans but no recovery points, copy jobs or restore jobs, so
the adapter is tested at its boundary: every request is checked by the Stubber against
botocore's service model (names, types, required members), and answers are shaped as AWS
documents them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.stub import Stubber

from dr_drill.aws.sources import Clients, adapter_for
from dr_drill.aws.sources.backup_copies import BackupVaultCopySource
from dr_drill.contracts import DrillSpec, LocatedBackup, ScratchClaim
from dr_drill.core.plan.selection import SelectionPolicy
from dr_drill.errors import BackupCorrupt, BackupNotFound

TAKEN = datetime(2026, 11, 30, 1, 30, tzinfo=UTC)
TABLE_ARN = "arn:aws:dynamodb:us-east-1:111111111111:table/ledger"
POINT = "arn:aws:backup:us-west-2:222222222222:recovery-point:7f0e3c1a-1b2c-4d5e-8f90-123456789abc"
RECOVERY = {
    "region": "us-west-2",
    "aws_conn_id": "aws_recovery",
    "backup_vault": "dr-vault",
    "restore_role_arn": "arn:aws:iam::222222222222:role/dr-drill-restore",
    "copy_lag_target_seconds": 93600,
    "source_table_arn": TABLE_ARN,
}


def _spec() -> DrillSpec:
    return DrillSpec(
        drill_id="20261201T020000Z-abc",
        dag_id="dynamodb_restore_drill",
        run_id="scheduled__2026-12-01",
        started_at="2026-12-01T02:00:00+00:00",
        table_name="ledger",
        backup_source="native_backup",
        backup_bucket=None,
        backup_file=None,
        batch_size=25,
        rto_target_seconds=3600,
        rpo_target_seconds=93600,
        keep_scratch_table=False,
        scratch_prefix="drill-",
        scratch_table="drill-ledger-abc",
        evidence_bucket="evidence",
        success_topic_arn=None,
        failure_topic_arn=None,
        recovery=RECOVERY,
    )


def _point(arn: str, taken: datetime, status: str = "COMPLETED") -> dict:
    return {
        "RecoveryPointArn": arn,
        "BackupVaultName": "dr-vault",
        "ResourceArn": TABLE_ARN,
        "ResourceType": "DynamoDB",
        "ResourceName": "ledger",
        "Status": status,
        "CreationDate": taken,
        "BackupSizeInBytes": 2048,
    }


@pytest.fixture
def backup():
    client = boto3.client(
        "backup", region_name="us-west-2", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def _adapter(client) -> BackupVaultCopySource:
    clients = Clients(s3=lambda: None, dynamodb=lambda: None, backup=lambda: client)
    adapter = adapter_for("native_backup", clients, recovery=RECOVERY)
    assert isinstance(adapter, BackupVaultCopySource)
    return adapter


def test_the_newest_completed_copy_of_the_source_tables_arn_is_chosen(backup):
    client, stubber = backup
    older = POINT.replace("7f0e", "0000")
    stubber.add_response(
        "list_recovery_points_by_backup_vault",
        {
            "RecoveryPoints": [
                _point(older, TAKEN - timedelta(days=1)),
                _point(POINT, TAKEN),
                _point("x" * 20, TAKEN + timedelta(hours=1), "PARTIAL"),
            ]
        },
        {"BackupVaultName": "dr-vault", "ByResourceArn": TABLE_ARN},
    )

    located = _adapter(client).locate(_spec(), SelectionPolicy.parse(None), now=TAKEN + timedelta(hours=1))

    assert (located.location, located.backup_arn, located.source_table_arn) == (POINT, POINT, TABLE_ARN)
    assert [ref.location for ref in located.fallbacks] == [older]


def test_a_vault_the_role_may_not_read_is_a_backup_not_found_naming_it(backup):
    client, stubber = backup
    stubber.add_client_error("list_recovery_points_by_backup_vault", "AccessDeniedException", "not authorized")
    with pytest.raises(BackupNotFound, match="backup vault dr-vault: AccessDeniedException"):
        _adapter(client).locate(_spec(), SelectionPolicy.parse(None), now=TAKEN)


@pytest.mark.parametrize(
    ("status", "resource", "finding"),
    [
        pytest.param("EXPIRED", "ledger", "is EXPIRED, not COMPLETED", id="expired"),
        pytest.param("COMPLETED", "orders", "not ledger", id="other-table"),
    ],
)
def test_verify_refuses_a_copy_that_is_not_usable(backup, status, resource, finding):
    client, stubber = backup
    stubber.add_response(
        "describe_recovery_point",
        {**_point(POINT, TAKEN, status), "ResourceName": resource},
        {"BackupVaultName": "dr-vault", "RecoveryPointArn": POINT},
    )
    ref = LocatedBackup(source="native_backup", location=POINT, backup_arn=POINT, candidates_considered=1, selection={})
    with pytest.raises(BackupCorrupt, match=finding):
        _adapter(client).verify(ref, "ledger")


def test_the_restore_is_a_restore_job_into_the_scratch_name_with_the_restore_role_and_is_followed(backup):
    client, stubber = backup
    stubber.add_response(
        "start_restore_job",
        {"RestoreJobId": "job-1"},
        {
            "RecoveryPointArn": POINT,
            "Metadata": {"TargetTableName": "drill-ledger-abc"},
            "IamRoleArn": RECOVERY["restore_role_arn"],
            "ResourceType": "DynamoDB",
            "IdempotencyToken": "20261201T020000Z-abc",
        },
    )
    stubber.add_response(
        "describe_restore_job", {"RestoreJobId": "job-1", "Status": "RUNNING"}, {"RestoreJobId": "job-1"}
    )
    stubber.add_response(
        "describe_restore_job",
        {"RestoreJobId": "job-1", "Status": "FAILED", "StatusMessage": "KMS key not usable"},
        {"RestoreJobId": "job-1"},
    )
    adapter = _adapter(client)
    located = LocatedBackup(
        source="native_backup", location=POINT, backup_arn=POINT, candidates_considered=1, selection={}
    )

    assert adapter._start(None, _spec(), located) == "job-1"
    assert adapter.restore_state("drill-ledger-abc", "job-1") == {"state": "running", "job_status": "RUNNING"}
    failed = adapter.restore_state("drill-ledger-abc", "job-1")
    assert failed["state"] == "failed" and "KMS key not usable" in failed["reason"]


def test_a_scratch_table_is_the_drills_only_when_restored_from_the_copy_it_chose():
    adapter = _adapter(None)
    claim = ScratchClaim(
        method="restore_from_backup",
        located=LocatedBackup(
            source="native_backup", location=POINT, backup_arn=POINT, candidates_considered=1, selection={}
        ),
    )
    assert adapter.made_by_drill({"RestoreSummary": {"SourceBackupArn": POINT}}, _spec(), claim) is True
    assert adapter.made_by_drill({"RestoreSummary": {"SourceBackupArn": POINT + "0"}}, _spec(), claim) is False
    assert adapter.made_by_drill({}, _spec(), claim) is False
