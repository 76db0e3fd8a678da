"""The point in time a pitr drill restores: chosen by the policy, inside the recovery window or refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dr_drill.core.plan.selection import SelectionPolicy
from dr_drill.core.sources.pitr import choose_restore_time
from dr_drill.errors import BackupNotFound

NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)


def test_pitr_times_inside_and_outside_the_window():
    earliest, latest = NOW - timedelta(days=35), NOW - timedelta(minutes=5)
    assert choose_restore_time(earliest, latest, SelectionPolicy(), seed_source="d")[0] == latest
    asked = SelectionPolicy(policy="explicit", backup=(NOW - timedelta(days=2)).isoformat())
    assert choose_restore_time(earliest, latest, asked, seed_source="d")[0] == NOW - timedelta(days=2)
    before = SelectionPolicy(policy="latest_before", before=NOW + timedelta(days=1))
    assert choose_restore_time(earliest, latest, before, seed_source="d")[0] == latest
    drawn, record = choose_restore_time(
        earliest, latest, SelectionPolicy(policy="random_within_days", days=7), seed_source="d"
    )
    assert latest - timedelta(days=7) <= drawn <= latest and record["seed"] >= 0
    with pytest.raises(BackupNotFound, match="outside the point-in-time window"):
        choose_restore_time(
            earliest, latest, SelectionPolicy(policy="explicit", backup="2020-01-01T00:00:00Z"), seed_source="d"
        )
