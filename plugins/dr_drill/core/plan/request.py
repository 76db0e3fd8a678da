"""What a trigger asked for, with one meaning however it arrived.

The UI's trigger form posts every param, at its default when nobody touched it; the REST API
and the CLI post only the keys someone wrote. So a value counts as asked for only when it
is not empty (null, ``[]`` or ``""``): every param that can override the plan defaults to
empty, and an empty value leaves the plan's setting in force. A key that is no param at
all is refused, naming the closest known key: a misspelt key must never quietly drill
something other than what was asked.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from dr_drill.errors import InvalidDrillRequest

# Per-table settings a trigger may override (each is also a plan key).
CONF_SETTINGS = (
    "backup_source",
    "backup_bucket",
    "backup_file",
    "export_prefix",
    "selection",
    "batch_size",
    "restore_tasks",
    "keep_scratch_table",
    "rto_target_seconds",
    "rpo_target_seconds",
    "sample_size",
    "sample_seed",
    "recovery",
)
# What else a trigger may give: which tables, and the sweep's age (which is no table's setting).
CONF_KEYS = ("table_name", "tables", *CONF_SETTINGS, "sweep_max_age_hours")


def refused(field: str, reason: str) -> InvalidDrillRequest:
    """A refusal that names the field it is about (``details["field"]``, for the notification)."""
    return InvalidDrillRequest(f"conf field {field}: {reason}", details={"field": field})


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, str | list | dict) and not value)


def _refuse_unknown(conf: Mapping[str, Any], plan_only: frozenset[str]) -> None:
    for key in sorted(conf, key=str):
        if key in CONF_KEYS:
            continue
        if key in plan_only:
            raise refused(key, f"{key!r} is set in the drill plan only, not when triggering")
        closest = difflib.get_close_matches(str(key), CONF_KEYS, n=1, cutoff=0.6)
        hint = f"; did you mean {closest[0]!r}?" if closest else f"; the known keys are {', '.join(CONF_KEYS)}"
        raise refused(str(key), f"{key!r} is not a drill setting{hint}")


def _refuse_contradictions(asked: Mapping[str, Any]) -> None:
    """Refuse what cannot mean one drill, whatever the plan says."""
    if "backup_file" in asked:
        if "table_name" not in asked:
            raise refused("backup_file", "names one table's backup object: give table_name with it")
        others = [table for table in asked.get("tables", ()) if table != asked["table_name"]]
        if others:
            raise refused(
                "backup_file", f"names one object of {asked['table_name']}, but tables also names {others[0]}"
            )
        if "selection" in asked:
            raise refused("selection", "backup_file already names the backup: give one of backup_file and selection")


def requested(conf: Mapping[str, Any] | None, *, plan_only: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Return what the trigger really asked for: its non-empty values, after refusing what makes no sense.

    :param conf: the run's conf as it was posted (the form's, the API's or the CLI's).
    :param plan_only: keys the plan accepts but a trigger may not give (named as such when given).
    :raises InvalidDrillRequest: for an unknown key or a contradiction, naming the field.
    """
    conf = conf or {}
    _refuse_unknown(conf, plan_only)
    asked = {key: value for key, value in conf.items() if not _is_empty(value)}
    _refuse_contradictions(asked)
    return asked
