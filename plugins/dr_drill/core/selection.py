"""Which backup a drill uses, chosen by the backup's own time, never by LastModified.

Every source lists its backups as ``Candidate`` s (where, when taken, and the keys the
later steps need); a ``SelectionPolicy`` picks one. Besides the chosen backup the
selection keeps a few older candidates, newest first, so that verification can tell how
old the newest backup that does verify is, without listing or restoring again.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from dr_drill.core.errors import BackupNotFound, InvalidDrillRequest

JSON_BACKUP_FOLDER = "dynamodb-backups/"
_TIMESTAMP_FORMAT = "%Y-%m-%d-%H-%M-%S"
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


def parse_time(text: str) -> datetime:
    """Parse an ISO 8601 time (``Z`` allowed; naive means UTC) into an aware UTC datetime.

    :raises ValueError: when ``text`` is not such a time.
    """
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


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

    def to_dict(self) -> dict[str, Any]:
        return {**self.ref, "location": self.location, "backup_time": self.taken_at.isoformat()}


@dataclass(frozen=True)
class Selection:
    """The chosen backup, a few older ones to fall back on for the RPO finding, and what was done."""

    chosen: Candidate
    fallbacks: tuple[Candidate, ...]
    considered: int
    record: dict[str, Any]


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


# The original JSON format: dynamodb-backups/{table}-backup-YYYY-MM-DD-HH-MM-SS.json


@dataclass(frozen=True)
class BackupRef:
    """One backup object of the original JSON format."""

    bucket: str
    key: str
    timestamp: datetime | None  # from the name; None for an explicit key outside the convention

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def json_backup_prefix(table_name: str) -> str:
    """Return the S3 prefix under which the original function wrote ``table_name``'s backups."""
    return f"{JSON_BACKUP_FOLDER}{table_name}-backup-"


def parse_json_backup_key(key: str, table_name: str) -> datetime | None:
    """Return the timestamp in a backup key of ``table_name``, or None if the key is not one.

    The match is exact, so table ``app`` never picks up a backup of table ``app-backup``.
    """
    pattern = rf"{re.escape(json_backup_prefix(table_name))}(\d{{4}}(?:-\d{{2}}){{5}})\.json"
    match = re.fullmatch(pattern, key)
    if not match:
        return None
    try:
        return datetime.strptime(match.group(1), _TIMESTAMP_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


def json_backup_candidates(bucket: str, keys: Iterable[str], table_name: str) -> Iterable[Candidate]:
    """Yield the keys that are backups of ``table_name`` as candidates timed by their names."""
    for key in keys:
        timestamp = parse_json_backup_key(key, table_name)
        if timestamp is not None:
            yield Candidate(location=f"s3://{bucket}/{key}", taken_at=timestamp, ref={"bucket": bucket, "key": key})


def choose_latest_backup(bucket: str, keys: Iterable[str], table_name: str) -> tuple[BackupRef, int]:
    """Return the newest backup of ``table_name`` among ``keys`` and how many backups were considered.

    :raises BackupNotFound: when no key is a backup of the table.
    """
    selection = select_backup(
        json_backup_candidates(bucket, keys, table_name),
        SelectionPolicy(),
        now=datetime.now(UTC),
        seed_source="",
        what=f"of table {table_name} under s3://{bucket}/{json_backup_prefix(table_name)}*",
    )
    chosen = selection.chosen
    return BackupRef(bucket=bucket, key=chosen.ref["key"], timestamp=chosen.taken_at), selection.considered


def explicit_backup(bucket: str, key: str, table_name: str) -> BackupRef:
    """Return the backup the user named; its time comes from its name when it follows the convention."""
    return BackupRef(bucket=bucket, key=key, timestamp=parse_json_backup_key(key, table_name))


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
