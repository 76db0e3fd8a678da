"""Point-in-time recovery: which second of the table's window to restore, and the request that restores it."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from dr_drill.contracts import BackupRef
from dr_drill.core.plan.selection import SelectionPolicy, seed_for
from dr_drill.core.restore.scratch import index_overrides
from dr_drill.core.times import parse_time
from dr_drill.errors import BackupNotFound, InvalidDrillRequest


def choose_restore_time(
    earliest: datetime, latest: datetime, policy: SelectionPolicy, *, seed_source: str
) -> tuple[datetime, dict[str, Any]]:
    """Pick a point in a point-in-time-recovery window [``earliest``, ``latest``].

    ``latest``: the latest restorable time; ``latest_before``/``explicit``: that time, which must
    lie inside the window (a time after the window's end means its end for ``latest_before``);
    ``random_within_days``: a seeded random second of the window's last N days.

    :raises BackupNotFound: when the requested time lies outside the window.
    """
    record: dict[str, Any] = {
        **policy.to_dict(),
        "window_start": earliest.isoformat(),
        "window_end": latest.isoformat(),
    }
    if policy.policy == "latest":
        chosen = latest
    elif policy.policy == "random_within_days":
        start = max(earliest, latest - timedelta(days=policy.days))
        seed = policy.seed if policy.seed is not None else seed_for(seed_source)
        offset = random.Random(seed).randint(0, max(0, int((latest - start).total_seconds())))
        chosen = start + timedelta(seconds=offset)
        record["seed"] = seed
    else:
        if policy.policy == "explicit":
            try:
                chosen = parse_time(policy.backup)
            except ValueError as err:
                raise InvalidDrillRequest(f"pitr: explicit backup {policy.backup!r} is not an ISO 8601 time") from err
        else:
            chosen = min(policy.before, latest)
        if not earliest <= chosen <= latest:
            raise BackupNotFound(
                f"requested time {chosen.isoformat()} is outside the point-in-time window "
                f"{earliest.isoformat()} .. {latest.isoformat()}"
            )
    record["choice"] = chosen.isoformat()
    return chosen, record


def restore_to_point_in_time_request(name: str, point: BackupRef, *, include_indexes: bool) -> dict[str, Any]:
    """RestoreTableToPointInTime of the chosen second into the scratch name, on demand."""
    # The name when known (the locate step always gives it; moto reads only the name), else the ARN.
    source = (
        {"SourceTableName": point.source_table_name}
        if point.source_table_name
        else {"SourceTableArn": point.source_table_arn}
    )
    return {
        **source,
        "TargetTableName": name,
        "RestoreDateTime": datetime.fromisoformat(point.restore_time or ""),
        "BillingModeOverride": "PAY_PER_REQUEST",
        **index_overrides(include_indexes),
    }
