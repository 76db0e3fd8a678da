"""Which backup a drill uses, chosen by the backup's own time, never by LastModified.

Every source lists its backups as ``Candidate`` s (where, when taken, and the keys the
later steps need); a ``SelectionPolicy`` picks one. Besides the chosen backup the
selection keeps a few older candidates, newest first, so that verification can tell how
old the newest backup that does verify is, without listing or restoring again.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from dr_drill.constants import BackupSource
from dr_drill.contracts import BackupRef, LocatedBackup
from dr_drill.core.times import parse_time
from dr_drill.errors import BackupNotFound, InvalidDrillRequest

POLICIES = ("latest", "latest_before", "random_within_days", "explicit")
# How many older backups verification may try when the chosen one fails: bounded, as each costs a full read.
DEFAULT_LOOKBACK = 3

# The JSON Schema of the ``selection`` plan key and param (shared with the DAG's Params).
SELECTION_SCHEMA: dict[str, Any] = {
    "oneOf": [
        {"type": "null"},
        {"const": "latest"},
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["policy"],
            "properties": {"policy": {"const": "latest"}},
        },
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["policy", "before"],
            "properties": {"policy": {"const": "latest_before"}, "before": {"type": "string", "minLength": 10}},
        },
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["policy", "days"],
            "properties": {
                "policy": {"const": "random_within_days"},
                "days": {"type": "integer", "minimum": 1, "maximum": 3650},
                "seed": {"type": "integer", "minimum": 0},
            },
        },
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["policy", "backup"],
            "properties": {
                "policy": {"const": "explicit"},
                "backup": {"type": "string", "minLength": 1, "maxLength": 2048},
            },
        },
    ]
}


@dataclass(frozen=True)
class SelectionPolicy:
    """How to pick the backup: ``latest``, ``latest_before``, ``random_within_days`` or ``explicit``."""

    policy: str = "latest"
    before: datetime | None = None
    days: int | None = None
    seed: int | None = None
    backup: str | None = None

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise InvalidDrillRequest(f"selection policy {self.policy!r} is not one of {', '.join(POLICIES)}")
        needs = {"latest_before": self.before, "random_within_days": self.days, "explicit": self.backup}
        if self.policy in needs and needs[self.policy] is None:
            raise InvalidDrillRequest(f"selection policy {self.policy} lacks its argument")

    @classmethod
    def parse(cls, value: str | Mapping[str, Any] | None) -> SelectionPolicy:
        """Return the policy a plan or conf value describes (None and ``"latest"`` mean latest).

        :raises InvalidDrillRequest: naming what is wrong.
        """
        if value is None or value == "latest":
            return cls()
        if not isinstance(value, Mapping):
            raise InvalidDrillRequest(f"selection must be 'latest' or an object with a policy, not {value!r}")
        before = value.get("before")
        try:
            before_time = parse_time(before) if before is not None else None
        except (TypeError, ValueError) as err:
            raise InvalidDrillRequest(f"selection.before is not an ISO 8601 time: {before!r}") from err
        return cls(
            policy=value.get("policy", "latest"),
            before=before_time,
            days=value.get("days"),
            seed=value.get("seed"),
            backup=value.get("backup"),
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the policy as the plan and the evidence write it."""
        described: dict[str, Any] = {"policy": self.policy}
        if self.before is not None:
            described["before"] = self.before.isoformat()
        if self.days is not None:
            described["days"] = self.days
        if self.seed is not None:
            described["seed"] = self.seed
        if self.backup is not None:
            described["backup"] = self.backup
        return described


@dataclass(frozen=True)
class Candidate:
    """One backup a source listed: where it is, when it was taken, and the keys later steps need."""

    location: str
    taken_at: datetime
    ref: dict[str, Any] = field(default_factory=dict)

    def backup_ref(self) -> BackupRef:
        return BackupRef(**self.ref, location=self.location, backup_time=self.taken_at.isoformat())


@dataclass(frozen=True)
class Selection:
    """The chosen backup, a few older ones to fall back on for the RPO finding, and what was done."""

    chosen: Candidate
    fallbacks: tuple[Candidate, ...]
    considered: int
    record: dict[str, Any]

    def located(self, source: BackupSource, **extra: Any) -> LocatedBackup:
        """Return the locate step's result for this selection; ``extra`` holds the source's own fields."""
        return LocatedBackup(
            **self.chosen.ref,
            **extra,
            location=self.chosen.location,
            backup_time=self.chosen.taken_at.isoformat(),
            source=source,
            candidates_considered=self.considered,
            selection=self.record,
            fallbacks=tuple(fallback.backup_ref() for fallback in self.fallbacks),
        )


def seed_for(seed_source: str) -> int:
    """Return a replayable seed derived from ``seed_source`` (the drill id)."""
    return int(hashlib.sha256(seed_source.encode()).hexdigest()[:8], 16)


def _eligible(
    ordered: list[Candidate], policy: SelectionPolicy, now: datetime
) -> tuple[list[Candidate], dict[str, Any]]:
    if policy.policy == "latest_before":
        return [c for c in ordered if c.taken_at < policy.before], {}
    if policy.policy == "random_within_days":
        window_start = now - timedelta(days=policy.days)
        window = [c for c in ordered if window_start <= c.taken_at <= now]
        return window, {"window_start": window_start.isoformat(), "window_end": now.isoformat()}
    return ordered, {}


def select_backup(
    candidates: Iterable[Candidate],
    policy: SelectionPolicy,
    *,
    now: datetime,
    seed_source: str,
    what: str,
    lookback: int = DEFAULT_LOOKBACK,
) -> Selection:
    """Pick one of ``candidates`` by ``policy``, ordering by each backup's own time.

    :param what: how a person would name the place searched, for the error ("of table t under s3://b/p").
    :param seed_source: what a random choice's seed derives from when the policy gives none.
    :raises BackupNotFound: when no candidate fits the policy.
    """
    if policy.policy == "explicit":
        raise ValueError("an explicit backup is located by its source, not chosen from a listing")
    ordered = sorted(candidates, key=lambda c: (c.taken_at, c.location))
    eligible, record = _eligible(ordered, policy, now)
    record = {**policy.to_dict(), **record}
    if not eligible:
        raise BackupNotFound(f"no backup {what}{_policy_clause(policy, len(ordered))}")
    if policy.policy == "random_within_days":
        seed = policy.seed if policy.seed is not None else seed_for(seed_source)
        index = random.Random(seed).randrange(len(eligible))
        record.update(seed=seed, candidates_in_window=len(eligible), choice_index=index)
    else:
        index = len(eligible) - 1
    chosen = eligible[index]
    record["choice"] = chosen.location
    fallbacks = tuple(reversed(eligible[max(0, index - lookback) : index]))
    return Selection(chosen=chosen, fallbacks=fallbacks, considered=len(ordered), record=record)


def _policy_clause(policy: SelectionPolicy, listed: int) -> str:
    if policy.policy == "latest_before":
        return f" taken before {policy.before.isoformat()} ({listed} listed)"
    if policy.policy == "random_within_days":
        return f" taken within the last {policy.days} days ({listed} listed)"
    return ""
