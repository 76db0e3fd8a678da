"""A validation scan spread over tasks: its segments dealt out, and the tasks' shares added up exactly."""

from __future__ import annotations

import pytest

from dr_drill.core.items.digest import BucketedDigest
from dr_drill.core.validate.scan_parts import SampledOutcome, ScanTotals, chosen_outcomes, fidelity_of, scan_shares

SIZED = {"size_bytes": 10, "size_basis": "backup"}


@pytest.mark.parametrize(("segments", "tasks"), [(1, 1), (4, 1), (5, 2), (8, 2), (64, 16)])
def test_one_task_per_four_segments_each_segment_dealt_once(segments, tasks):
    shares = scan_shares(segments, SIZED)
    assert len(shares) == tasks
    assert [(share["part"], share["of"]) for share in shares] == [(n, tasks) for n in range(1, tasks + 1)]
    assert sorted(segment for share in shares for segment in share["segments"]) == list(range(segments))
    assert all(share["total_segments"] == segments and share["sized_from"] == SIZED for share in shares)
    assert max(len(share["segments"]) for share in shares) <= 4


def test_no_segments_is_refused():
    with pytest.raises(ValueError, match="at least one segment"):
        scan_shares(0, SIZED)


def _outcome(priority, key, **found):
    return SampledOutcome(priority=priority, key=key, absent=found.get("absent", False), **found).to_dict()


def test_the_merged_sample_is_the_lowest_priorities_over_every_task():
    first = [_outcome(5, "k5"), _outcome(1, "k1"), _outcome(9, "k9")]
    second = [_outcome(3, "k3"), _outcome(7, "k7")]
    chosen = chosen_outcomes([first, second], 3)
    assert [outcome.key for outcome in chosen] == ["k1", "k3", "k5"]


def test_the_fidelity_of_outcomes_counts_as_a_report_would():
    outcomes = [
        SampledOutcome(1, "a", absent=True),
        SampledOutcome(2, "b", absent=False, changed=True),
        SampledOutcome(3, "c", absent=False, drifted=(("price", "N", "S"),)),
        SampledOutcome(4, "d", absent=False, changed=True, drifted=(("price", "N", "S"), ("ok", "BOOL", "S"))),
    ]
    report = fidelity_of(SampledOutcome.from_dict(outcome.to_dict()) for outcome in outcomes)
    assert (report.compared, report.absent_from_source, report.changed_since_backup) == (3, 1, 2)
    assert report.drifted_items == 2 and report.attributes[("price", "N", "S")] == 2


def _share(segments, total, count, units):
    digest = BucketedDigest(("id",))
    digest.add({"id": {"S": f"item-{count}"}})
    return {
        "segments": segments,
        "total_segments": total,
        "count": count,
        "digest": digest.to_dict(),
        "lacking": {"name": count},
        "read_units": units,
    }


def test_the_shares_add_up_and_must_cover_every_segment_once():
    shape = BucketedDigest(("id",))
    totals = ScanTotals.of([_share([0, 2], 4, 2, 1.5), _share([1, 3], 4, 3, None)], shape)
    assert (totals.count, totals.segments, totals.tasks, totals.read_units) == (5, 4, 2, 1.5)
    assert totals.lacking == {"name": 5} and totals.digest.total().count == 2
    with pytest.raises(ValueError, match="cover segments"):
        ScanTotals.of([_share([0, 2], 4, 2, 1.0)], shape)
