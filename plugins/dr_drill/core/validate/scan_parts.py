"""A validation scan spread over tasks: how its segments are dealt out, and how the tasks' shares add up.

Each task scans some of the scan's segments and hands on what they hold: the count, the
bucketed content digest (a sum, so the shares merge exactly), the attributes lacking, and,
for a restore with no backup file, what its own seeded sample found against the live source.
No item's content leaves a task: a sampled item is handed on as its hashed key, its sample
priority and what the comparison found, and the merge keeps the ``size`` of lowest priority
among all tasks, which is the very sample one task scanning everything would have drawn.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from dr_drill.core.items.digest import BucketedDigest
from dr_drill.core.validate.fidelity import FidelityReport

# Segments each scan task runs as threads: a table of up to 8 GB (four 2 GB segments) is one task.
SEGMENTS_PER_TASK = 4


def scan_shares(total_segments: int, sized_from: dict[str, Any]) -> list[dict[str, Any]]:
    """Deal ``total_segments`` out to one task per :data:`SEGMENTS_PER_TASK` (round-robin); one share each."""
    if total_segments < 1:
        raise ValueError("a scan has at least one segment")
    tasks = math.ceil(total_segments / SEGMENTS_PER_TASK)
    return [
        {
            "part": task + 1,
            "of": tasks,
            "segments": list(range(task, total_segments, tasks)),
            "total_segments": total_segments,
            "sized_from": dict(sized_from),
        }
        for task in range(tasks)
    ]


@dataclass(frozen=True)
class SampledOutcome:
    """What comparing one sampled restored item with the live source found, without the item.

    :param key: the item's reported (hashed) key.
    :param absent: the source no longer holds the key.
    :param drifted: (attribute path, restored type, source type) of each attribute whose type differs.
    """

    priority: int
    key: str
    absent: bool
    changed: bool = False
    drifted: tuple[tuple[str, str, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "priority": self.priority,
            "key": self.key,
            "absent": self.absent,
            "changed": self.changed,
            "drifted": [list(entry) for entry in self.drifted],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SampledOutcome:
        return cls(
            priority=int(data["priority"]),
            key=data["key"],
            absent=bool(data["absent"]),
            changed=bool(data["changed"]),
            drifted=tuple(tuple(entry) for entry in data["drifted"]),  # type: ignore[misc]
        )


def chosen_outcomes(shares: Iterable[Sequence[dict[str, Any]]], size: int) -> list[SampledOutcome]:
    """The ``size`` sampled outcomes of lowest priority over every task's, in priority order."""
    outcomes = {}
    for share in shares:
        for entry in share:
            outcome = SampledOutcome.from_dict(entry)
            outcomes[outcome.key] = outcome
    return sorted(outcomes.values(), key=lambda outcome: outcome.priority)[:size]


def fidelity_of(outcomes: Iterable[SampledOutcome]) -> FidelityReport:
    """The fidelity report of these sampled outcomes, as ``FidelityReport.add`` would have made it."""
    report = FidelityReport()
    for outcome in outcomes:
        report.count(absent=outcome.absent, changed=outcome.changed, drifted=outcome.drifted)
    return report


@dataclass
class ScanTotals:
    """The scan's shares added up: count, digest, attributes lacking, read units, and the sampled outcomes."""

    digest: BucketedDigest
    count: int = 0
    lacking: Counter[str] = field(default_factory=Counter)
    read_units: float | None = None
    segments: int = 0
    tasks: int = 0
    sampled: list[list[dict[str, Any]]] = field(default_factory=list)
    fidelity_skipped: str | None = None

    @classmethod
    def of(cls, shares: Sequence[dict[str, Any]], shape: BucketedDigest) -> ScanTotals:
        """Add up the scan tasks' results (``RestoreProof.scan_share``); every segment must be there once."""
        totals = cls(digest=BucketedDigest.like(shape), tasks=len(shares))
        seen: list[int] = []
        for share in shares:
            totals.digest.merge(BucketedDigest.from_dict(share["digest"]))
            totals.count += share["count"]
            totals.lacking.update(share["lacking"])
            if share["read_units"] is not None:
                totals.read_units = (totals.read_units or 0.0) + share["read_units"]
            totals.sampled.append(share.get("sampled") or [])
            totals.fidelity_skipped = totals.fidelity_skipped or share.get("fidelity_skipped")
            totals.segments = share["total_segments"]
            seen += share["segments"]
        if sorted(seen) != list(range(totals.segments)):
            raise ValueError(f"the scan's shares cover segments {sorted(seen)} of {totals.segments}")
        return totals
