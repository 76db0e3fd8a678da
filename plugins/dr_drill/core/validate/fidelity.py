"""Source fidelity: do the restored items have the attribute types the live source has?

Items change after a backup is taken, so values may differ; a type that differs (a
number the backup holds as a string, say) is drift. Attributes present on one side only
(added or removed since) are changes, not drift. Only attribute names and type letters are
reported, never values.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from dr_drill.core.items.canonical import TypedItem, TypedValue
from dr_drill.core.items.digest import same_item

ATTRIBUTES_SHOWN = 20


def _kind(value: TypedValue) -> str:
    return next(iter(value))


def drifted_attributes(restored: TypedItem, source: TypedItem, prefix: str = "") -> list[tuple[str, str, str]]:
    """Return (attribute path, restored type, source type) for each attribute whose type differs; maps recurse."""
    drifted = []
    for name in sorted(restored.keys() & source.keys()):
        mine, theirs = _kind(restored[name]), _kind(source[name])
        path = f"{prefix}{name}"
        if mine != theirs:
            drifted.append((path, mine, theirs))
        elif mine == "M":
            drifted.extend(drifted_attributes(restored[name]["M"], source[name]["M"], f"{path}."))
    return drifted


@dataclass
class FidelityReport:
    """What comparing sampled restored items with the live source found."""

    compared: int = 0
    absent_from_source: int = 0
    changed_since_backup: int = 0
    drifted_items: int = 0
    attributes: Counter[tuple[str, str, str]] = field(default_factory=Counter)

    def add(self, restored: TypedItem, source: TypedItem | None) -> None:
        if source is None:
            self.count(absent=True)
            return
        self.count(absent=False, changed=not same_item(restored, source), drifted=drifted_attributes(restored, source))

    def count(self, *, absent: bool, changed: bool = False, drifted: Iterable[tuple[str, str, str]] = ()) -> None:
        """Count one compared item by what its comparison found (the item itself is not needed)."""
        if absent:
            self.absent_from_source += 1  # deleted since the backup: not drift
            return
        self.compared += 1
        self.changed_since_backup += int(changed)
        drifted = list(drifted)
        if drifted:
            self.drifted_items += 1
            self.attributes.update(drifted)

    def to_dict(self) -> dict[str, Any]:
        return {
            "items_compared": self.compared,
            "absent_from_source": self.absent_from_source,
            "changed_since_backup": self.changed_since_backup,
            "drifted_items": self.drifted_items,
            "attributes": [
                {"attribute": path, "restored_type": mine, "source_type": theirs, "items": count}
                for (path, mine, theirs), count in self.attributes.most_common(ATTRIBUTES_SHOWN)
            ],
        }
