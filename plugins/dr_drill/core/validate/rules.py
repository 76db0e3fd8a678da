"""A table's own validation rules from the drill plan, and the check each one yields.

``min_items``/``max_items`` bound the exact count; ``required_attributes`` must be in every
item; ``probe_keys`` must exist, optionally with given attribute values; ``user_check`` is
a dotted path to ``callable(table_name, dynamodb_client)`` returning ``(passed, message)``.
Details name attributes and probes by position and hashed key, never by value.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from dr_drill.core.items.canonical import TypedItem, TypedValue, to_typed_value
from dr_drill.core.items.digest import canonical_value, key_hash, reported_key

DETAIL_LIMIT = 300
VALIDATION_DEFAULTS: dict[str, Any] = {
    "min_items": None,
    "max_items": None,
    "required_attributes": [],
    "probe_keys": [],
    "user_check": None,
    "sample_size": 100,
    "sample_seed": None,
    "fail_on_type_drift": False,
    # None: sized from the table's size (scan_segments_for), at most max_scan_segments.
    "scan_segments": None,
    "max_scan_segments": 64,
}


# DynamoDB's guide to parallel scans suggests one segment per 2 GB of table to begin with; below
# 4 segments a small table gains nothing; each segment is a thread of a scan_part task (4 per task).
BYTES_PER_SCAN_SEGMENT = 2 * 1024**3
MIN_SCAN_SEGMENTS = 4


def scan_segments_for(size_bytes: int | None, cap: int) -> int:
    """Return the segments of a scan of a table of ``size_bytes`` (None: unknown): one per 2 GB, 4 to ``cap``."""
    wanted = max(MIN_SCAN_SEGMENTS, math.ceil((size_bytes or 0) / BYTES_PER_SCAN_SEGMENT))
    return max(1, min(wanted, cap))


def scan_sized_from(table_size_bytes: int | None, backup_size_bytes: int | None) -> dict[str, Any]:
    """Return the size a scan of the scratch table is sized from, and whose size it is.

    The larger of the two: DynamoDB refreshes a table's ``TableSizeBytes`` about every six hours,
    so a table restored minutes ago often shows 0; the backup's size is what verify read (a file
    backup's, larger than DynamoDB's) or what AWS reports of it.
    """
    table, backup = table_size_bytes or 0, backup_size_bytes or 0
    if not table and not backup:
        return {"size_bytes": None, "size_basis": None}
    if table >= backup:
        return {"size_bytes": table, "size_basis": "scratch_table"}
    return {"size_bytes": backup, "size_basis": "backup"}


@dataclass(frozen=True)
class Check:
    """One rule's result, as the evidence lists it."""

    name: str
    passed: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "passed": self.passed, "detail": self.detail[:DETAIL_LIMIT]}


def plain_to_typed(value: Any) -> TypedValue:
    """Convert a value written in the plan (YAML or JSON, so maybe a float) to DynamoDB's typed form."""
    if isinstance(value, float):
        value = Decimal(repr(value))  # the shortest text that reads back as the float the plan wrote
    if isinstance(value, dict):
        return {"M": {key: plain_to_typed(inner) for key, inner in value.items()}}
    if isinstance(value, list):
        return {"L": [plain_to_typed(inner) for inner in value]}
    return to_typed_value(value)


@dataclass(frozen=True)
class ProbeKey:
    """A key that must exist in the restore, and the attribute values it must have."""

    key: TypedItem
    expect: TypedItem

    @classmethod
    def from_plan(cls, entry: Mapping[str, Any]) -> ProbeKey:
        return cls(
            key={name: plain_to_typed(value) for name, value in entry["key"].items()},
            expect={name: plain_to_typed(value) for name, value in (entry.get("expect") or {}).items()},
        )

    def check(self, number: int, found: TypedItem | None) -> Check:
        name = f"probe_keys[{number}]"
        shown = reported_key(key_hash(self.key, tuple(self.key)))
        if found is None:
            return Check(name, False, f"key {shown} is not in the restored table")
        wrong = sorted(
            attribute
            for attribute, value in self.expect.items()
            if attribute not in found or canonical_value(found[attribute]) != canonical_value(value)
        )
        if wrong:
            return Check(name, False, f"key {shown} found; attributes not as expected: {', '.join(wrong)}")
        return Check(name, True, f"key {shown} found" + (" with the expected values" if self.expect else ""))


@dataclass(frozen=True)
class ValidationRules:
    """The validation settings of one table, resolved from the plan and the conf."""

    min_items: int | None = None
    max_items: int | None = None
    required_attributes: tuple[str, ...] = ()
    probe_keys: tuple[ProbeKey, ...] = ()
    user_check: str | None = None
    sample_size: int = 100
    sample_seed: int | None = None
    fail_on_type_drift: bool = False
    scan_segments: int | None = None
    max_scan_segments: int = 64

    def segments_for(self, size_bytes: int | None) -> int:
        """The validation scan's segments: the plan's ``scan_segments``, else sized from the table's size."""
        if self.scan_segments is not None:
            return self.scan_segments
        return scan_segments_for(size_bytes, self.max_scan_segments)

    @classmethod
    def from_spec(cls, settings: Mapping[str, Any] | None) -> ValidationRules:
        merged = {**VALIDATION_DEFAULTS, **(settings or {})}
        return cls(
            min_items=merged["min_items"],
            max_items=merged["max_items"],
            required_attributes=tuple(merged["required_attributes"]),
            probe_keys=tuple(ProbeKey.from_plan(entry) for entry in merged["probe_keys"]),
            user_check=merged["user_check"],
            sample_size=merged["sample_size"],
            sample_seed=merged["sample_seed"],
            fail_on_type_drift=merged["fail_on_type_drift"],
            scan_segments=merged["scan_segments"],
            max_scan_segments=merged["max_scan_segments"],
        )

    def count_checks(self, count: int) -> list[Check]:
        checks = []
        if self.min_items is not None:
            checks.append(Check("min_items", count >= self.min_items, f"{count} items, at least {self.min_items}"))
        if self.max_items is not None:
            checks.append(Check("max_items", count <= self.max_items, f"{count} items, at most {self.max_items}"))
        return checks

    def required_attribute_checks(self, lacking: Mapping[str, int], count: int) -> list[Check]:
        """:param lacking: attribute name -> number of scanned items without it."""
        return [
            Check(
                f"required_attributes.{name}",
                not lacking.get(name),
                f"{lacking.get(name, 0)} of {count} items lack it",
            )
            for name in self.required_attributes
        ]


def load_user_check(path: str) -> Callable[..., Any]:
    """Import ``package.module.function`` (or ``package.module:function``).

    :raises ImportError: or AttributeError when the path names nothing callable.
    """
    module_name, _, attribute = path.replace(":", ".").rpartition(".")
    if not module_name:
        raise ImportError(f"{path!r} is not a dotted path to a callable")
    target = getattr(importlib.import_module(module_name), attribute)
    if not callable(target):
        raise TypeError(f"{path} is not callable")
    return target


def user_check_result(path: str, returned: Any) -> Check:
    """Turn what a user check returned, ``(passed, message)`` or a bare bool, into a check."""
    name = f"user_check:{path}"
    if isinstance(returned, bool):
        return Check(name, returned, "passed" if returned else "failed")
    if isinstance(returned, tuple) and len(returned) == 2 and isinstance(returned[0], bool):
        return Check(name, returned[0], str(returned[1]))
    return Check(name, False, f"returned {type(returned).__name__}, not (passed, message)")
