"""Where a restore differs from its backup, found in bounded memory.

The backup's and the scratch table's bucketed digests say which key-hash buckets differ.
Only the items of those buckets are read again, each side kept as ``key hash -> item
hash``, and compared: missing (in the backup, not restored), extra (restored, not in the
backup), different (same key, content unlike any of the backup's versions of it: a key the
backup holds twice may be restored as either, since batches are written concurrently and
nothing says which twin is the true one). When the differing buckets hold more items
than the memory budget allows, the buckets that fit are examined and the report says the
counts are lower bounds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dr_drill.core.items.canonical import TypedItem
from dr_drill.core.items.digest import BucketedDigest, item_hash, key_hash, reported_key

FIRST_KEYS_SHOWN = 5
DEFAULT_ENTRY_BUDGET = 200_000


def buckets_to_examine(
    expected: BucketedDigest, actual: BucketedDigest, entry_budget: int = DEFAULT_ENTRY_BUDGET
) -> tuple[list[int], list[int]]:
    """Return (differing buckets, the ones to examine): smallest first, within ``entry_budget`` items."""
    differing = expected.differing_buckets(actual)
    chosen, used = [], 0
    for bucket in sorted(differing, key=lambda b: max(expected.buckets[b].count, actual.buckets[b].count)):
        size = expected.buckets[bucket].count + actual.buckets[bucket].count
        if used + size > entry_budget and chosen:
            break
        chosen.append(bucket)
        used += size
    return differing, sorted(chosen)


@dataclass
class BucketEntries:
    """``key hash -> item hash`` of the items that fall in some buckets; a later duplicate key replaces it.

    ``versions`` keeps every item hash of a key seen more than once, so a duplicated key is
    matched by any of its versions.
    """

    shape: BucketedDigest
    buckets: frozenset[int]
    entries: dict[bytes, int] = field(default_factory=dict)
    duplicate_keys: int = 0
    versions: dict[bytes, set[int]] = field(default_factory=dict)

    def offer(self, item: TypedItem, hashed_key: bytes | None = None) -> None:
        hashed_key = key_hash(item, self.shape.key_names) if hashed_key is None else hashed_key
        if self.shape.bucket_of_key_hash(hashed_key) not in self.buckets:
            return
        hashed = item_hash(item)
        if hashed_key in self.entries:
            self.duplicate_keys += 1
            self.versions.setdefault(hashed_key, {self.entries[hashed_key]}).add(hashed)
        self.entries[hashed_key] = hashed

    def holds(self, hashed_key: bytes, hashed_item: int) -> bool:
        """Whether this side has the item: the key with this content, in any of its versions."""
        if hashed_key in self.versions:
            return hashed_item in self.versions[hashed_key]
        return self.entries.get(hashed_key) == hashed_item

    def merge(self, other: BucketEntries) -> BucketEntries:
        # Scan segments hold disjoint keys; merging them finds no duplicates.
        shared = self.entries.keys() & other.entries.keys()
        self.duplicate_keys += other.duplicate_keys + len(shared)
        for hashed_key in shared:
            self.versions[hashed_key] = self._versions_of(hashed_key) | other._versions_of(hashed_key)
        self.versions = {**other.versions, **self.versions}
        self.entries.update(other.entries)
        return self

    def _versions_of(self, hashed_key: bytes) -> set[int]:
        return self.versions.get(hashed_key, {self.entries[hashed_key]})


@dataclass(frozen=True)
class Localisation:
    """Counts of the items that differ, and the hashed keys of the first few of each kind."""

    missing: int
    extra: int
    different: int
    backup_duplicate_keys: int
    first_missing: list[str]
    first_extra: list[str]
    first_different: list[str]
    differing_buckets: int
    examined_buckets: int

    @property
    def complete(self) -> bool:
        return self.examined_buckets == self.differing_buckets

    def to_dict(self) -> dict[str, Any]:
        return {
            "missing_items": self.missing,
            "extra_items": self.extra,
            "different_items": self.different,
            "backup_duplicate_keys": self.backup_duplicate_keys,
            "first_missing_keys": self.first_missing,
            "first_extra_keys": self.first_extra,
            "first_different_keys": self.first_different,
            "differing_buckets": self.differing_buckets,
            "examined_buckets": self.examined_buckets,
            "localisation_complete": self.complete,
        }


def localise(backup: BucketEntries, restored: BucketEntries, differing_buckets: int) -> Localisation:
    """Compare the two sides' entries of the examined buckets."""
    missing = sorted(backup.entries.keys() - restored.entries.keys())
    extra = sorted(restored.entries.keys() - backup.entries.keys())
    different = sorted(
        key for key in backup.entries.keys() & restored.entries.keys() if not backup.holds(key, restored.entries[key])
    )
    return Localisation(
        missing=len(missing),
        extra=len(extra),
        different=len(different),
        backup_duplicate_keys=backup.duplicate_keys,
        first_missing=[reported_key(key) for key in missing[:FIRST_KEYS_SHOWN]],
        first_extra=[reported_key(key) for key in extra[:FIRST_KEYS_SHOWN]],
        first_different=[reported_key(key) for key in different[:FIRST_KEYS_SHOWN]],
        differing_buckets=differing_buckets,
        examined_buckets=len(backup.buckets),
    )
