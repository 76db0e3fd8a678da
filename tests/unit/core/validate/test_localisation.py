"""Localisation: which items are missing, extra or different, within the buckets whose digests differ."""

from __future__ import annotations

from dr_drill.core.items.digest import BucketedDigest, digesting, item_hash, key_hash
from dr_drill.core.validate.localisation import BucketEntries, buckets_to_examine, localise

KEY = ("id",)


def _items(count: int) -> list[dict]:
    return [{"id": {"S": f"k{i}"}, "v": {"N": str(i)}} for i in range(count)]


def _entries(shape, buckets, items):
    entries = BucketEntries(shape, frozenset(buckets))
    for item in items:
        entries.offer(item)
    return entries


def test_localisation_counts_missing_extra_different_in_the_differing_buckets_only():
    backup = _items(2000)
    restored = [dict(item) for item in backup]
    restored[10] = {"id": {"S": "k10"}, "v": {"N": "-10"}}
    del restored[20]
    restored.append({"id": {"S": "new"}, "v": {"N": "0"}})
    expected, actual = BucketedDigest(KEY), BucketedDigest(KEY)
    assert list(digesting(backup, expected)) == backup  # items pass through unchanged while digested
    for item in restored:
        actual.add(item)
    differing, examined = buckets_to_examine(expected, actual)
    assert differing == examined and 1 <= len(differing) <= 3
    result = localise(_entries(expected, examined, backup), _entries(expected, examined, restored), len(differing))
    assert (result.missing, result.extra, result.different, result.complete) == (1, 1, 1, True)
    assert result.first_different == [key_hash(backup[10], KEY).hex()[:16]]


def test_localisation_within_a_small_budget_says_its_counts_are_lower_bounds():
    backup = _items(2000)
    restored = [dict(item, v={"N": "0"}) for item in backup]  # every item differs
    expected, actual = BucketedDigest(KEY), BucketedDigest(KEY)
    for item in backup:
        expected.add(item)
    for item in restored:
        actual.add(item)
    differing, examined = buckets_to_examine(expected, actual, entry_budget=100)
    assert len(differing) == 256 and 1 <= len(examined) < 256
    result = localise(_entries(expected, examined, backup), _entries(expected, examined, restored), len(differing))
    assert result.complete is False and 0 < result.different < 2000
    assert result.to_dict()["localisation_complete"] is False


def test_duplicate_keys_are_counted_on_the_backup_side():
    shape = BucketedDigest(KEY)
    items = _items(3)
    entries = _entries(shape, range(256), [*items, items[1]])
    assert entries.duplicate_keys == 1 and len(entries.entries) == 3


def test_a_key_the_backup_holds_twice_matches_either_version_restored():
    # Twins in different batches are written concurrently: either may be the one restored.
    shape = BucketedDigest(KEY)
    items = _items(3)
    twin = {"id": {"S": "k1"}, "v": {"N": "99"}}
    backup = _entries(shape, range(256), [*items, twin])
    for restored_twin in (items[1], twin):
        restored = _entries(shape, range(256), [items[0], restored_twin, items[2]])
        result = localise(backup, restored, 1)
        assert (result.missing, result.extra, result.different, result.backup_duplicate_keys) == (0, 0, 0, 1)
    other = _entries(shape, range(256), [items[0], {"id": {"S": "k1"}, "v": {"N": "5"}}, items[2]])
    assert localise(backup, other, 1).different == 1  # content neither twin has


def test_merged_entries_keep_every_version_of_a_key_seen_on_both_sides():
    shape = BucketedDigest(KEY)
    items, later = _items(2), {"id": {"S": "k1"}, "v": {"N": "7"}}
    merged = _entries(shape, range(256), items).merge(_entries(shape, range(256), [later]))
    hashed = key_hash(later, KEY)
    assert merged.duplicate_keys == 1
    assert merged.holds(hashed, item_hash(items[1])) and merged.holds(hashed, item_hash(later))
    assert not merged.holds(hashed, item_hash({"id": {"S": "k1"}, "v": {"N": "8"}}))
