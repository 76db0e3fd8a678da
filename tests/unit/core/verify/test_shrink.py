"""A backup far smaller than the live table is a finding that names both counts."""

from __future__ import annotations

import pytest

from dr_drill.core.verify.shrink import DEFAULT_MAX_SHRINK_PERCENT, backup_shrink_problem


@pytest.mark.parametrize(
    ("backup", "live", "tolerated", "found"),
    [
        pytest.param(0, 200, DEFAULT_MAX_SHRINK_PERCENT, True, id="empty-backup-of-a-full-table"),
        pytest.param(99, 200, 50, True, id="just-over-half-gone"),
        pytest.param(100, 200, 50, False, id="half-gone-is-tolerated"),
        pytest.param(190, 200, 0, True, id="strict-plan"),
        pytest.param(0, 200, 100, False, id="plan-tolerates-anything"),
        pytest.param(0, 0, 50, False, id="empty-live-table"),
        pytest.param(250, 200, 50, False, id="backup-larger-than-live"),
        pytest.param(None, 200, 50, False, id="backup-count-unknown"),
        pytest.param(0, None, 50, False, id="source-table-gone"),
    ],
)
def test_backup_shrink(backup, live, tolerated, found):
    assert (backup_shrink_problem(backup, live, tolerated) is not None) == found


def test_the_finding_gives_both_counts_and_the_tolerance():
    assert backup_shrink_problem(0, 200, 50) == (
        "the backup holds 0 items, the live table about 200 (DescribeTable ItemCount): 100.0% fewer, "
        "more than the 50% the plan tolerates (max_backup_shrink_percent)"
    )
