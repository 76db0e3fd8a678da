"""A backup far smaller than the live table it backs up: the sign of a broken backup job.

A well-formed backup with no items verifies, restores "0 of 0" and proves itself exactly,
while the table it should hold has hundreds: every proof of the restore compares the
scratch table with the backup, so only a look at the live table can tell. DynamoDB's
``ItemCount`` is approximate (refreshed about every six hours), which is enough to see a
backup that shrank by more than the plan tolerates.
"""

from __future__ import annotations

DEFAULT_MAX_SHRINK_PERCENT = 50


def backup_shrink_problem(backup_items: int | None, live_items: int | None, max_shrink_percent: float) -> str | None:
    """Return why the backup is too small for the live table, with both counts, or None when it is not.

    Nothing is found when either count is unknown (a PITR restore states none; a source table
    that is gone) or when the live table reports no items.
    """
    if backup_items is None or live_items is None or live_items <= 0:
        return None
    floor = live_items * (1 - max_shrink_percent / 100)
    if backup_items >= floor:
        return None
    shrink = 100 * (live_items - backup_items) / live_items
    return (
        f"the backup holds {backup_items} items, the live table about {live_items} (DescribeTable ItemCount): "
        f"{shrink:.1f}% fewer, more than the {max_shrink_percent:g}% the plan tolerates (max_backup_shrink_percent)"
    )
