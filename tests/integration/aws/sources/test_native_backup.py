"""The native_backup source against the moto server: the newest AVAILABLE backup, explicit ARNs, every page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from botocore.stub import Stubber

from demo.sample_exports import table_arn
from dr_drill.aws.sources.native_backup import select_native_backup, verify_native_backup
from dr_drill.core.plan.selection import SelectionPolicy
from dr_drill.errors import BackupCorrupt, BackupNotFound

NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
LATEST = SelectionPolicy()


def test_newest_available_native_backup_and_explicit_arns(tables):
    first = tables.create_backup(TableName="app-users", BackupName="nightly-1")["BackupDetails"]["BackupArn"]
    second = tables.create_backup(TableName="app-users", BackupName="nightly-2")["BackupDetails"]["BackupArn"]
    other = tables.create_backup(TableName="orders", BackupName="orders-1")["BackupDetails"]["BackupArn"]

    selection = select_native_backup(tables, "app-users", LATEST, now=datetime.now(UTC), seed_source="d")
    assert selection.considered == 2
    assert selection.chosen.ref["backup_arn"] == second and selection.fallbacks[0].ref["backup_arn"] == first
    assert selection.chosen.ref["source_table_name"] == "app-users"
    verified = verify_native_backup(tables, second, "app-users")
    assert verified.backup_arn == second and verified.checksum_verified is False

    explicit = SelectionPolicy.parse({"policy": "explicit", "backup": first})
    assert select_native_backup(tables, "app-users", explicit, now=NOW, seed_source="d").chosen.location == first
    with pytest.raises(BackupNotFound, match="is of table orders, not app-users"):
        select_native_backup(
            tables, "app-users", SelectionPolicy(policy="explicit", backup=other), now=NOW, seed_source="d"
        )
    with pytest.raises(BackupCorrupt, match="is of table orders, not app-users"):
        verify_native_backup(tables, other, "app-users")
    with pytest.raises(BackupNotFound, match="no AVAILABLE on-demand backup"):
        select_native_backup(tables, "no-backups", LATEST, now=NOW, seed_source="d")


def test_native_listing_follows_every_page_and_includes_aws_backup_ones(aws):
    """moto answers ListBackups in one page, so the pages AWS would send are stubbed here."""
    ddb = aws.client("dynamodb")

    def summary(n, kind="USER", status="AVAILABLE"):
        arn = f"{table_arn('app-users')}/backup/0{n:013d}-abcdef12"
        if kind == "AWS_BACKUP":
            arn = f"arn:aws:backup:us-east-1:123456789012:recovery-point:{n:08d}-aaaa-bbbb-cccc-dddddddddddd"
        return {
            "TableName": "app-users",
            "TableArn": table_arn("app-users"),
            "BackupArn": arn,
            "BackupName": f"backup-{n}",
            "BackupCreationDateTime": NOW - timedelta(days=10 - n),
            "BackupStatus": status,
            "BackupType": kind,
        }

    stubber = Stubber(ddb)
    expected = {"TableName": "app-users", "BackupType": "ALL"}
    stubber.add_response(
        "list_backups",
        {"BackupSummaries": [summary(1), summary(2)], "LastEvaluatedBackupArn": summary(2)["BackupArn"]},
        expected,
    )
    stubber.add_response(
        "list_backups",
        {"BackupSummaries": [summary(5, "AWS_BACKUP"), summary(7, status="CREATING")]},
        {**expected, "ExclusiveStartBackupArn": summary(2)["BackupArn"]},
    )
    with stubber:
        selection = select_native_backup(ddb, "app-users", LATEST, now=NOW, seed_source="d")
    stubber.assert_no_pending_responses()
    assert selection.considered == 4
    assert selection.chosen.ref["backup_type"] == "AWS_BACKUP"  # the newest AVAILABLE, whoever made it
