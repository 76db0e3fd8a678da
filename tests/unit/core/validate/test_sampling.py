"""The seeded sample: the same whatever the order or split of the items, another with another seed."""

from __future__ import annotations

import random

from dr_drill.core.items.digest import key_hash
from dr_drill.core.validate.sampling import SeededSample, sample_seed_for

KEY = ("id",)


def _items(count: int) -> list[dict]:
    return [{"id": {"S": f"k{i}"}, "v": {"N": str(i)}} for i in range(count)]


def test_the_sample_is_the_same_whatever_the_order_or_the_split():
    items = _items(1000)
    whole = SeededSample(20, 99, KEY)
    for item in items:
        whole.offer(item)
    shuffled = items[:]
    random.Random(3).shuffle(shuffled)
    left, right = SeededSample(20, 99, KEY), SeededSample(20, 99, KEY)
    for number, item in enumerate(shuffled):
        (left if number % 3 else right).offer(item)
    assert left.merge(right).items() == whole.items()
    assert len(whole) == 20
    other = SeededSample(20, 100, KEY)
    for item in items:
        other.offer(item)
    assert {k for k, _ in other.items()} != {k for k, _ in whole.items()}
    assert sample_seed_for("drill-a") == sample_seed_for("drill-a") != sample_seed_for("drill-b")


def test_a_later_item_of_a_sampled_key_replaces_it_and_size_zero_samples_nothing():
    sample = SeededSample(5, 1, KEY)
    for item in _items(5):
        sample.offer(item)
    sample.offer({"id": {"S": "k2"}, "v": {"N": "-1"}})
    assert len(sample) == 5 and {"id": {"S": "k2"}, "v": {"N": "-1"}} in [item for _, item in sample.items()]
    hashed = key_hash(_items(5)[2], KEY)
    assert sample.versions(hashed) == [{"id": {"S": "k2"}, "v": {"N": "-1"}}, _items(5)[2]]  # the latest first
    empty = SeededSample(0, 1, KEY)
    empty.offer(_items(1)[0])
    assert len(empty) == 0
