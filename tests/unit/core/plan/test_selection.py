"""Selection policies: the newest by the backup's own time, the newest before a time, a replayable random draw."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dr_drill.core.plan.selection import Candidate, SelectionPolicy, select_backup
from dr_drill.errors import BackupNotFound, InvalidDrillRequest

NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)


def _candidates(hours: list[int]) -> list[Candidate]:
    # Locations sort the opposite way to the times: ordering must follow the backup's own time.
    return [Candidate(location=f"s3://b/{9999 - h:05d}", taken_at=NOW - timedelta(hours=h)) for h in hours]


def _select(policy, hours=(50, 1, 30, 2, 100, 3, 4), **kwargs):
    return select_backup(_candidates(list(hours)), policy, now=NOW, seed_source="drill-1", what="of t", **kwargs)


def test_latest_is_by_the_backups_own_time_and_keeps_a_bounded_look_back():
    selection = _select(SelectionPolicy())
    assert selection.chosen.taken_at == NOW - timedelta(hours=1)
    assert [c.taken_at for c in selection.fallbacks] == [NOW - timedelta(hours=h) for h in (2, 3, 4)]
    assert selection.considered == 7 and selection.record == {"policy": "latest", "choice": selection.chosen.location}
    assert _select(SelectionPolicy(), lookback=1).fallbacks == selection.fallbacks[:1]


def test_latest_before_a_time():
    policy = SelectionPolicy.parse({"policy": "latest_before", "before": (NOW - timedelta(hours=10)).isoformat()})
    assert _select(policy).chosen.taken_at == NOW - timedelta(hours=30)
    too_early = SelectionPolicy.parse({"policy": "latest_before", "before": "2020-01-01T00:00:00Z"})
    with pytest.raises(BackupNotFound, match="no backup of t taken before 2020-01-01T00:00:00"):
        _select(too_early)


def test_random_within_days_records_a_seed_that_replays_the_choice():
    policy = SelectionPolicy.parse({"policy": "random_within_days", "days": 3})
    first = _select(policy)
    assert first.record["seed"] == _select(policy).record["seed"]  # derived from the drill id: stable
    assert first.record["candidates_in_window"] == 6  # 100 hours ago is outside the 3 days
    seeded = SelectionPolicy.parse({"policy": "random_within_days", "days": 3, "seed": first.record["seed"]})
    other_drill = select_backup(_candidates([50, 1, 30, 2, 100, 3, 4]), seeded, now=NOW, seed_source="x", what="")
    assert other_drill.chosen == first.chosen
    choices = {_select(SelectionPolicy(policy="random_within_days", days=3, seed=s)).chosen.location for s in range(40)}
    assert len(choices) > 1  # it really is random across seeds


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param("newest", "selection must be", id="unknown-string"),
        pytest.param({"policy": "oldest"}, "not one of", id="unknown-policy"),
        pytest.param({"policy": "latest_before"}, "lacks its argument", id="no-time"),
        pytest.param({"policy": "latest_before", "before": "yesterday"}, "not an ISO 8601 time", id="bad-time"),
        pytest.param({"policy": "explicit"}, "lacks its argument", id="no-backup"),
    ],
)
def test_bad_selection_is_refused(value, message):
    with pytest.raises(InvalidDrillRequest, match=message):
        SelectionPolicy.parse(value)
