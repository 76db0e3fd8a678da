"""The batch writer against the moto server: every item written exactly, rejected items isolated and counted."""

from __future__ import annotations

import io
import json

from botocore.config import Config

from demo.sample_data import sample_items
from dr_drill.aws.batch_writer import restore_items
from dr_drill.aws.scratch_tables import delete_scratch_table, describe_table
from dr_drill.core.sources.s3_json import iter_typed_items
from tests.drills import OWNER_KEY, RUN
from tests.integration.aws.tables import create_orders_scratch
from tests.snapshots import table_items


def test_restore_writes_every_item_exactly(orders):
    name = create_orders_scratch(orders)
    raw = json.dumps({"data": sample_items("orders", 60)}).encode()
    stats = restore_items(
        orders, name, iter_typed_items(io.BytesIO(raw)), key_names=("customer_id", "order_id"), batch_size=7, workers=3
    )
    assert (stats.items_read, stats.items_restored, stats.items_failed) == (60, 60, 0)
    assert len(table_items(orders, name)) == 60
    assert table_items(orders, name) == table_items(orders, "orders")
    assert delete_scratch_table(orders, name, prefix="drill-", run_id=RUN, key=OWNER_KEY) is True
    assert describe_table(orders, name) is None


def test_restore_isolates_rejected_items_and_keeps_the_last_duplicate(orders):
    name = create_orders_scratch(orders)
    items = [
        {"customer_id": "c1", "order_id": 1, "v": "first"},
        {"customer_id": "c1", "order_id": 1, "v": "last"},  # same key in one batch
        {"customer_id": "c2", "order_id": "not-a-number", "v": "x"},  # wrong key type: rejected
        {"customer_id": "c3", "v": "x"},  # missing range key: rejected
        {"customer_id": "c4", "order_id": 4, "v": "x"},
    ]
    raw = json.dumps({"data": items}).encode()
    stats = restore_items(
        orders, name, iter_typed_items(io.BytesIO(raw)), key_names=("customer_id", "order_id"), batch_size=25, workers=2
    )
    assert stats.duplicate_keys == 1
    assert stats.items_failed == 2 and len(stats.rejected_keys) == 2
    assert stats.items_restored == 2
    assert all("c2" not in reason and "c3" not in reason for reason in stats.rejection_reasons)
    item = orders.get_item(TableName=name, Key={"customer_id": {"S": "c1"}, "order_id": {"N": "1"}})["Item"]
    assert item["v"] == {"S": "last"}


def test_items_dynamodb_cannot_read_or_store_are_isolated_without_client_side_validation(aws, orders):
    """The restore's client skips botocore's parameter validation: DynamoDB's own refusals still isolate."""
    name = create_orders_scratch(orders)
    ddb = aws.client("dynamodb", config=Config(parameter_validation=False))
    items = [
        {"customer_id": {"S": "c1"}, "order_id": {"N": "1"}, "note": {"S": 5}},  # a number where text belongs
        {"customer_id": {"S": "c2"}, "order_id": {"N": "2"}, "note": {"S": "x" * 500_000}},  # over 400 KB
        {"customer_id": {"S": "c3"}, "order_id": {"N": "3"}, "note": {"S": "fine"}},
    ]

    stats = restore_items(ddb, name, items, key_names=("customer_id", "order_id"), batch_size=25, workers=1)

    assert (stats.items_restored, stats.items_failed, len(stats.rejected_keys)) == (1, 2, 2)
    assert set(stats.rejection_reasons) == {
        "NUMBER_VALUE cannot be converted to String",
        "Item size has exceeded the maximum allowed size",
    }
    assert len(table_items(orders, name)) == 1
