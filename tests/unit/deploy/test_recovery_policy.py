"""The recovery role's policy (deploy/iam/dr-drill-recovery-role-policy.json): the copies are read, never changed.

What a recovery drill calls on the recovery side is proven allowed by the whole-DAG run in
tests/dag/test_recovery_drills.py (S3 copies); AWS Backup copies, which the emulator does not
serve, are checked here against the requests tests/iam.py maps their calls to.
"""

from __future__ import annotations

import pytest

from tests.iam import ALLOW, DENY, RECOVERY_POLICY_PATH, Request, evaluate, load_policy, requests_for

REGION, ACCOUNT = "us-west-2", "222222222222"
VAULT, REPLICA = "dr-vault", "ledger-backups-replica"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/dr-drill-backup-restore"
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0f6c1b2a-3d4e-4f5a-8b9c-0d1e2f3a4b5c"
POINT = f"arn:aws:backup:{REGION}:{ACCOUNT}:recovery-point:7f0e3c1a-1b2c-4d5e-8f90-123456789abc"
SOURCE_TABLE = "arn:aws:dynamodb:us-east-1:111111111111:table/ledger"


def recovery_policy() -> dict:
    return load_policy(
        RECOVERY_POLICY_PATH,
        **{"AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "ScratchPrefix": "drill-"},
        RecoveryBackupBucket=REPLICA,
        RecoveryVault=VAULT,
        RestoreRoleArn=ROLE,
        RecoveryKeyArn=KEY,
    )


def _requests(service: str, operation: str, params: dict) -> list[Request]:
    return requests_for(service, operation, params, region=REGION, account=ACCOUNT)


@pytest.mark.parametrize(
    ("service", "operation", "params"),
    [
        pytest.param(
            "backup",
            "ListRecoveryPointsByBackupVault",
            {"BackupVaultName": VAULT, "ByResourceArn": SOURCE_TABLE},
            id="list-copies",
        ),
        pytest.param(
            "backup", "DescribeRecoveryPoint", {"BackupVaultName": VAULT, "RecoveryPointArn": POINT}, id="verify-copy"
        ),
        pytest.param(
            "backup",
            "StartRestoreJob",
            {"RecoveryPointArn": POINT, "Metadata": {"TargetTableName": "drill-ledger-x"}, "IamRoleArn": ROLE},
            id="restore-copy",
        ),
        pytest.param("backup", "DescribeRestoreJob", {"RestoreJobId": "job-1"}, id="follow-restore"),
        pytest.param("s3", "ListObjectsV2", {"Bucket": REPLICA, "Prefix": "dynamodb-backups/"}, id="list-replica"),
        pytest.param(
            "s3", "GetObject", {"Bucket": REPLICA, "Key": "dynamodb-backups/ledger-backup.json"}, id="read-replica"
        ),
        pytest.param("dynamodb", "DescribeTable", {"TableName": "drill-ledger-x"}, id="describe-scratch"),
        pytest.param("dynamodb", "DeleteTable", {"TableName": "drill-ledger-x"}, id="delete-scratch"),
    ],
)
def test_the_recovery_role_may_find_verify_and_restore_its_copies_into_scratch_tables(service, operation, params):
    policy = recovery_policy()
    assert {(r.action, evaluate(policy, r)) for r in _requests(service, operation, params)} == {
        (r.action, ALLOW) for r in _requests(service, operation, params)
    }


@pytest.mark.parametrize(
    "request_",
    [
        pytest.param(Request("s3:DeleteObject", f"arn:aws:s3:::{REPLICA}/dynamodb-backups/x.json"), id="delete-copy"),
        pytest.param(Request("s3:PutObject", f"arn:aws:s3:::{REPLICA}/dynamodb-backups/x.json"), id="overwrite-copy"),
        pytest.param(Request("backup:DeleteRecoveryPoint", POINT), id="delete-recovery-point"),
        pytest.param(Request("backup:StartCopyJob", POINT), id="copy-elsewhere"),
        pytest.param(
            Request("dynamodb:DeleteTable", f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/ledger"),
            id="delete-a-real-table",
        ),
        pytest.param(
            Request("dynamodb:Scan", f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/ledger"), id="read-a-real-table"
        ),
        pytest.param(
            Request(
                "iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/admin", {"iam:PassedToService": "backup.amazonaws.com"}
            ),
            id="pass-another-role",
        ),
        pytest.param(
            Request("iam:PassRole", ROLE, {"iam:PassedToService": "ec2.amazonaws.com"}), id="pass-to-another-service"
        ),
    ],
)
def test_the_recovery_role_never_changes_a_copy_nor_touches_a_table_it_did_not_make(request_):
    assert evaluate(recovery_policy(), request_) != ALLOW


def test_changing_a_copy_is_denied_outright_not_only_left_unallowed():
    assert evaluate(recovery_policy(), Request("backup:DeleteRecoveryPoint", POINT)) == DENY
