"""The content digest: order-independent, additive, DynamoDB's idea of equal, and unchanged by the fast paths."""

from __future__ import annotations

import hashlib
import json
import random
from decimal import Decimal

import pytest

from demo.sample_data import sample_items
from dr_drill.core.items.canonical import CanonicalItem, to_typed_item
from dr_drill.core.items.digest import BucketedDigest, ContentDigest, canonical_bytes, digesting, item_hash


def _items(count: int) -> list[dict]:
    return [
        {"id": {"S": f"k{i}"}, "n": {"N": str(i * 1.5)}, "tags": {"SS": ["b", "a"]}, "m": {"M": {"x": {"L": []}}}}
        for i in range(count)
    ]


def _digest(items) -> ContentDigest:
    digest = ContentDigest()
    for item in items:
        digest.add(item)
    return digest


def test_order_does_not_matter_and_chunks_add_up():
    items = _items(100)
    shuffled = items[:]
    random.Random(1).shuffle(shuffled)
    whole = _digest(items)
    assert _digest(shuffled) == whole
    assert _digest(items[:37]).merge(_digest(items[37:])) == whole
    assert ContentDigest.from_dict(whole.to_dict()) == whole


@pytest.mark.parametrize(
    ("left", "right"),
    [
        pytest.param({"N": "1.50"}, {"N": "1.5"}, id="trailing-zero"),
        pytest.param({"N": "1E+2"}, {"N": "100"}, id="exponent"),
        pytest.param({"N": "-0"}, {"N": "0"}, id="negative-zero"),
        pytest.param({"SS": ["b", "a"]}, {"SS": ["a", "b"]}, id="string-set-order"),
        pytest.param({"NS": ["10", "9.0"]}, {"NS": ["9", "1E+1"]}, id="number-set"),
        pytest.param({"B": b"\x00\xff"}, {"B": "AP8="}, id="binary-bytes-or-base64"),
        pytest.param({"BS": [b"\x01", b"\x00"]}, {"BS": ["AA==", "AQ=="]}, id="binary-set"),
        pytest.param({"M": {"b": {"S": "1"}, "a": {"N": "2"}}}, {"M": {"a": {"N": "2.0"}, "b": {"S": "1"}}}, id="map"),
    ],
)
def test_values_dynamodb_considers_equal_hash_equal(left, right):
    assert item_hash({"id": {"S": "x"}, "v": left}) == item_hash({"id": {"S": "x"}, "v": right})


@pytest.mark.parametrize(
    ("left", "right"),
    [
        pytest.param({"N": "1"}, {"S": "1"}, id="number-vs-string"),
        pytest.param({"L": [{"N": "1"}, {"N": "2"}]}, {"L": [{"N": "2"}, {"N": "1"}]}, id="list-order-matters"),
        pytest.param({"N": "0.1"}, {"N": "0.10000000000000001"}, id="exact-decimals"),
        pytest.param({"S": "é"}, {"S": "e\u0301"}, id="no-unicode-normalisation"),
    ],
)
def test_different_values_hash_differently(left, right):
    assert item_hash({"id": {"S": "x"}, "v": left}) != item_hash({"id": {"S": "x"}, "v": right})


def test_canonical_bytes_are_stable_utf8_json():
    assert canonical_bytes({"b": {"N": "1.0"}, "a": {"S": "ü"}}) == '{"a":{"S":"ü"},"b":{"N":"1"}}'.encode()


def test_buckets_point_at_the_items_that_differ():
    items = _items(500)
    backup, restored = BucketedDigest(("id",)), BucketedDigest(("id",))
    for item in items:
        backup.add(item)
    altered = dict(items[7], n={"N": "999"})
    for item in [altered, *items[8:]]:
        restored.add(item)
    differing = backup.differing_buckets(restored)
    assert sorted(differing) == sorted(
        {backup.bucket_of(items[7]), backup.bucket_of(items[0])} | {backup.bucket_of(item) for item in items[:7]}
    )
    assert backup.total() == _digest(items)
    assert BucketedDigest.from_dict(backup.to_dict()) == backup


# --- the fast path for items the reader built gives what the full canonicalisation gives ---


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
