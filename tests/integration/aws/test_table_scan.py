"""Scans of a restored table: the parallel scan's sample and digest, and batch gets past one request."""

from __future__ import annotations

from dr_drill.aws.consumed_capacity import CapacityMeter
from dr_drill.aws.table_scan import get_items, summarise_table
from dr_drill.core.items.digest import BucketedDigest, key_hash
from tests.integration.aws.tables import SCRATCH, create_things_table, thing

BACKUP = [thing(number) for number in range(120)]


def test_the_sample_replays_with_the_same_seed_and_changes_with_another(ddb):
    create_things_table(ddb, SCRATCH, BACKUP)
    shape = BucketedDigest(("id",))

    def sampled(segments: int, seed: int) -> list[bytes]:
        summary = summarise_table(ddb, SCRATCH, shape=shape, segments=segments, sample_size=10, sample_seed=seed)
        return [key for key, _ in summary.sample.items()]

    assert sampled(1, 7) == sampled(4, 7)  # same seed, other segmentation: the same sample, same order
    assert sampled(4, 7) != sampled(4, 8)
    assert len(sampled(3, 7)) == 10


def test_parallel_scan_and_batch_get_past_one_request(ddb):
    items = [thing(number) for number in range(250)]
    create_things_table(ddb, SCRATCH, items)
    shape = BucketedDigest(("id",))
    meters = {n: CapacityMeter() for n in (1, 5)}
    one, five = (summarise_table(ddb, SCRATCH, shape=shape, segments=n, capacity=meters[n]) for n in (1, 5))
    assert one.count == five.count == 250 and one.digest == five.digest
    # The emulator accepts ReturnConsumedCapacity and answers 1.0 per page (one page per segment here),
    # not DynamoDB's units per 4 KB read: the real shapes are tested in tests/unit/aws/test_consumed_capacity.py.
    assert (meters[1].units, meters[5].units) == (1.0, 5.0)
    keys = [{"id": item["id"]} for item in items] + [{"id": {"S": "absent"}}]
    found = get_items(ddb, SCRATCH, keys)
    # moto keeps a number's text as written (DynamoDB would store 200.5): why comparisons are canonical
    assert len(found) == 250 and found[key_hash(items[200], ("id",))]["price"] == {"N": "200.50"}
