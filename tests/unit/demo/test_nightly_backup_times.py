"""The demo's and the DAG tests' nightly backups: one a night, never two at the same time."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from demo.run_demo import nightly_backup_times


@pytest.mark.parametrize(
    ("now", "newest"),
    [
        # Before 01:30 tonight's backup is not taken yet. Seeding used to shift only that night
        # back a day, onto the night before it: two backups with one key, the older one lost
        # (found by a CI run at 00:06 UTC).
        (datetime(2026, 12, 2, 0, 6, tzinfo=UTC), datetime(2026, 12, 1, 1, 30, tzinfo=UTC)),
        (datetime(2026, 12, 2, 1, 30, tzinfo=UTC), datetime(2026, 12, 2, 1, 30, tzinfo=UTC)),
        (datetime(2026, 12, 2, 23, 59, tzinfo=UTC), datetime(2026, 12, 2, 1, 30, tzinfo=UTC)),
    ],
)
def test_three_nights_are_three_distinct_nights_ending_with_the_last_one_taken(now, newest):
    times = nightly_backup_times(now, 3)

    assert times[0] == newest <= now
    assert [(times[0] - t).days for t in times] == [0, 1, 2]
