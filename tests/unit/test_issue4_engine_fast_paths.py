"""The restore engine's fast paths give what the slow paths gave: same numbers, same digest, same bounds."""

from __future__ import annotations

import gc
import hashlib
import json
import threading
import time
from decimal import Decimal
from types import SimpleNamespace

import pytest
from botocore.exceptions import ClientError
from botocore.hooks import HierarchicalEmitter

from demo.sample_data import sample_items
from dr_drill.aws.batch_writer import RestoreStats, batches, restore_items
from dr_drill.core.items.canonical import CanonicalItem, canonical_number, to_typed_item
from dr_drill.core.items.digest import BucketedDigest, canonical_bytes, digesting, item_hash


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("4713.26", "4713.26", id="plain-fraction"),
        pytest.param("1.50", "1.5", id="trailing-zero"),
        pytest.param("1E+2", "100", id="exponent"),
        pytest.param("100", "100", id="integer-text"),
        pytest.param("-0", "0", id="negative-zero"),
        pytest.param("-0.0", "0", id="negative-zero-fraction"),
        pytest.param("0E-5", "0", id="zero-with-exponent"),
        pytest.param("1E-7", "0.0000001", id="small-exponent"),
        pytest.param("007", "7", id="leading-zeros"),
        pytest.param("-12.3400", "-12.34", id="negative-trailing-zeros"),
        pytest.param("123456789012345678901234567890.5", "123456789012345678901234567890.5", id="beyond-28-digits"),
    ],
)
def test_canonical_number_of_decimals(text, expected):
    assert canonical_number(Decimal(text)) == expected


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity"])
def test_canonical_number_still_refuses_what_dynamodb_cannot_store(text):
    with pytest.raises(ValueError):
        canonical_number(Decimal(text))


def _plain(table: str, count: int) -> list[dict]:
    """Items as the reader parses them: fractions as Decimal, with every JSON type."""
    items = json.loads(json.dumps(sample_items(table, count)), parse_float=Decimal)
    items.append({"user_id": "odd", "n": Decimal("1.50"), "e": Decimal("1E+2"), "z": Decimal("-0.0"), "b": True})
    return items


@pytest.mark.parametrize("table", ["app-users", "orders"])
def test_items_the_reader_builds_hash_as_the_full_canonicalisation_does(table):
    for plain in _plain(table, 200):
        typed = to_typed_item(plain)
        assert type(typed) is CanonicalItem
        rebuilt = dict(typed)  # a plain dict takes the full canonicalisation
        assert canonical_bytes(typed) == canonical_bytes(rebuilt)
        assert item_hash(typed) == item_hash(rebuilt)


@pytest.mark.parametrize(
    ("table", "key_names", "pinned"),
    [
        # Computed before the fast paths existed: the validate step compares against digests like these.
        pytest.param(
            "app-users",
            ("user_id",),
            "b7505f40fa02af848a822bd866f6e006809cffca3aaf0d92e60cbd7fdcb593cd",
            id="app-users",
        ),
        pytest.param(
            "orders",
            ("customer_id", "order_id"),
            "81112fe730ac7b0acdfbad42ed0bb5ef31f25240f49ab02bc8f2f143e935f8e0",
            id="orders",
        ),
    ],
)
def test_backup_digest_is_unchanged(table, key_names, pinned):
    plain = json.loads(json.dumps(sample_items(table, 500)), parse_float=Decimal)
    digest = BucketedDigest(key_names)
    for _ in digesting((to_typed_item(item) for item in plain), digest):
        pass
    assert hashlib.sha256(json.dumps(digest.to_dict()).encode()).hexdigest() == pinned


class _FakeDynamoDB:
    """BatchWriteItem that succeeds, optionally after a gate opens, or fails on the ``fail_on``-th call."""

    def __init__(self, fail_on: int | None = None, gate: threading.Event | None = None):
        self.meta = SimpleNamespace(events=HierarchicalEmitter())  # what the writer registers its counters on
        self.fail_on = fail_on
        self.gate = gate
        self.calls = 0
        self.lock = threading.Lock()

    def batch_write_item(self, RequestItems):
        with self.lock:
            self.calls += 1
            call = self.calls
        if self.gate is not None:
            self.gate.wait(10)
        if call == self.fail_on:
            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "BatchWriteItem")
        return {}


def _counted_items(count: int, read: list[int]):
    for number in range(count):
        read[0] += 1
        yield {"id": {"S": f"k{number}"}}


def test_a_failed_batch_stops_the_reading_and_is_raised():
    read = [0]
    with pytest.raises(ClientError, match="AccessDenied"):
        restore_items(
            _FakeDynamoDB(fail_on=3), "t", _counted_items(100_000, read), key_names=("id",), batch_size=25, workers=4
        )
    assert read[0] < 100_000


def test_batches_waiting_for_slow_writers_stay_bounded():
    gate = threading.Event()
    read = [0]
    ddb = _FakeDynamoDB(gate=gate)
    result = {}
    restore = threading.Thread(
        target=lambda: result.setdefault(
            "stats",
            restore_items(ddb, "t", _counted_items(5_000, read), key_names=("id",), batch_size=25, workers=4),
        )
    )
    restore.start()
    time.sleep(0.5)
    held = read[0]
    gate.set()
    restore.join(30)
    # 2 x 4 batches in flight or queued, plus the one being filled when the reader stopped.
    assert held <= (2 * 4 + 1) * 25
    assert result["stats"].items_restored == 5_000


def test_the_garbage_collector_is_left_as_it_was():
    assert gc.get_freeze_count() == 0
    restore_items(_FakeDynamoDB(), "t", _counted_items(100, [0]), key_names=("id",), batch_size=25, workers=2)
    assert gc.get_freeze_count() == 0
    gc.freeze()  # as an executor does before forking: not ours to undo
    try:
        frozen = gc.get_freeze_count()
        restore_items(_FakeDynamoDB(), "t", _counted_items(100, [0]), key_names=("id",), batch_size=25, workers=2)
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()


def test_duplicates_are_found_for_number_keys_and_malformed_keys_alike():
    stats = RestoreStats()
    items = [
        {"pk": {"S": "a"}, "sk": {"N": "1"}},
        {"pk": {"S": "a"}, "sk": {"N": "1"}, "v": {"S": "later"}},
        {"pk": {"S": "a"}, "sk": {"N": "2"}},
        {"pk": {"S": "b"}},  # no sort key: DynamoDB will refuse it, the batching must not
        {"pk": {"S": "b"}},
    ]
    [batch] = list(batches(items, ("pk", "sk"), 25, stats))
    assert stats.duplicate_keys == 2 and len(batch) == 3
    assert batch[0]["v"] == {"S": "later"}
