"""The pitr source against the moto server: the recovery window, the latest or a requested time, or refused."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest

from dr_drill.aws.sources.pitr import locate_restore_point, verify_restore_point
from dr_drill.core.plan.selection import SelectionPolicy
from dr_drill.errors import BackupCorrupt, BackupNotFound

LATEST = SelectionPolicy()


def test_pitr_window_latest_requested_disabled_and_outside(tables):
    with pytest.raises(BackupNotFound, match="point-in-time recovery is not enabled for table app-users"):
        locate_restore_point(tables, "app-users", LATEST, seed_source="d")
    tables.update_continuous_backups(
        TableName="app-users", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    window = tables.describe_continuous_backups(TableName="app-users")["ContinuousBackupsDescription"]
    latest = window["PointInTimeRecoveryDescription"]["LatestRestorableDateTime"].astimezone(UTC)

    located = locate_restore_point(tables, "app-users", LATEST, seed_source="d")
    assert located.restore_time == latest.isoformat()
    assert located.source_table_name == "app-users" and located.source_table_arn.endswith(":table/app-users")
    assert verify_restore_point(tables, "app-users", located.restore_time).restore_time == latest.isoformat()

    inside = SelectionPolicy.parse({"policy": "explicit", "backup": latest.isoformat()})
    assert locate_restore_point(tables, "app-users", inside, seed_source="d").restore_time == latest.isoformat()
    outside = SelectionPolicy.parse({"policy": "explicit", "backup": (latest - timedelta(days=1)).isoformat()})
    with pytest.raises(BackupNotFound, match="outside the point-in-time window"):
        locate_restore_point(tables, "app-users", outside, seed_source="d")
    with pytest.raises(BackupCorrupt, match="has left the point-in-time window"):
        verify_restore_point(tables, "app-users", (latest + timedelta(hours=1)).isoformat())
    with pytest.raises(BackupNotFound, match="table gone does not exist"):
        locate_restore_point(tables, "gone", LATEST, seed_source="d")
