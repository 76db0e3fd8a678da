"""The boto3 adapters against a real moto server process on loopback."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from botocore.config import Config

from demo.sample_data import SAMPLE_TABLES, create_source_table, json_backup_key, sample_items
from dr_drill.aws.batch_writer import restore_items
from dr_drill.aws.s3 import open_object
from dr_drill.aws.scratch_tables import (
    assert_scratch_table,
    create_scratch_table,
    delete_scratch_table,
    describe_table,
    scratch_definition,
    source_table_definition,
)
from dr_drill.core.plan.selection import SelectionPolicy
from dr_drill.core.restore.scratch import scratch_table_name
from dr_drill.core.sources.s3_json import iter_typed_items
from dr_drill.errors import BackupNotFound, RestoreIncomplete, UnsafeTarget
from tests.drills import STARTED, drill_spec, source_adapter
from tests.snapshots import table_items

RUN = "manual__2026-11-26T00:00:00+00:00"


def _locate(aws, bucket, *, page_size=None):
    spec = drill_spec("app-users", backup_bucket=bucket)
    return source_adapter(aws, "s3_json", page_size=page_size).locate(spec, SelectionPolicy(), now=STARTED)


def test_locate_pages_to_the_end_of_the_listing_to_find_the_newest(aws):
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="many")
    start = datetime(2024, 1, 1, tzinfo=UTC)
    stamps = [start + timedelta(hours=hour) for hour in range(23)]
    for stamp in stamps:
        s3.put_object(Bucket="many", Key=json_backup_key("app-users", stamp), Body=b"{}")
    s3.put_object(Bucket="many", Key=json_backup_key("app-users-old", stamps[-1] + timedelta(days=9)), Body=b"{}")

    # Pages of 5 keys: the newest backup is on the fifth page, as it would be past S3's 1000 a page.
    located = _locate(aws, "many", page_size=5)

    assert located.candidates_considered == 23
    assert located.key == json_backup_key("app-users", stamps[-1])


@pytest.mark.parametrize(
    ("bucket", "message"),
    [
        pytest.param("no-such-bucket", "NoSuchBucket", id="no-bucket"),
        pytest.param("empty", "no backup of table app-users", id="no-backups"),
    ],
)
def test_locate_failures_are_named(aws, bucket, message):
    aws.client("s3").create_bucket(Bucket="empty")
    with pytest.raises(BackupNotFound, match=message):
        _locate(aws, bucket)


def test_open_missing_backup_is_named(aws):
    aws.client("s3").create_bucket(Bucket="bkt")
    with pytest.raises(BackupNotFound, match="NoSuchKey"):
        open_object(aws.client("s3"), "bkt", "dynamodb-backups/x.json")


@pytest.fixture
def source(aws):
    ddb = aws.client("dynamodb")
    create_source_table(ddb, "orders", sample_items("orders", 60))
    return ddb


def _scratch(ddb, prefix="drill-"):
    name = scratch_table_name("orders", RUN, prefix)
    schema = source_table_definition(ddb, "orders", include_indexes=False)
    create_scratch_table(ddb, name, source_table="orders", schema=schema, prefix=prefix, run_id=RUN)
    return name


def test_scratch_table_copies_the_key_schema_on_demand_and_tagged(source):
    name = _scratch(source)
    table = describe_table(source, name)
    assert table["KeySchema"] == SAMPLE_TABLES["orders"]["key_schema"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    tags = {t["Key"]: t["Value"] for t in source.list_tags_of_resource(ResourceArn=table["TableArn"])["Tags"]}
    assert tags == {"dr-drill:scratch": "true", "dr-drill:source": "orders", "dr-drill:run-id": RUN}


def test_guards_refuse_the_source_table_and_leave_it_untouched(source):
    before = table_items(source, "orders")
    with pytest.raises(UnsafeTarget, match="refusing to touch table orders"):
        assert_scratch_table(source, "orders", prefix="drill-", run_id=RUN)
    with pytest.raises(UnsafeTarget, match="refusing to touch table orders"):
        delete_scratch_table(source, "orders", prefix="", run_id=RUN)
    with pytest.raises(UnsafeTarget, match="scratch table names start with"):
        create_scratch_table(
            source,
            "orders",
            source_table="orders",
            schema=source_table_definition(source, "orders"),
            prefix="drill-",
            run_id=RUN,
        )
    assert table_items(source, "orders") == before


def test_guards_refuse_another_runs_scratch_table(source):
    name = _scratch(source)
    with pytest.raises(UnsafeTarget):
        delete_scratch_table(source, name, prefix="drill-", run_id="another-run")
    assert describe_table(source, name) is not None


def test_a_retried_create_recreates_its_own_scratch_table_empty(source):
    name = _scratch(source)
    source.put_item(TableName=name, Item={"customer_id": {"S": "c"}, "order_id": {"N": "1"}})
    assert _scratch(source) == name
    assert len(table_items(source, name)) == 0


def test_restore_writes_every_item_exactly(source):
    name = _scratch(source)
    raw = json.dumps({"data": sample_items("orders", 60)}).encode()
    stats = restore_items(
        source, name, iter_typed_items(io.BytesIO(raw)), key_names=("customer_id", "order_id"), batch_size=7, workers=3
    )
    assert (stats.items_read, stats.items_restored, stats.items_failed) == (60, 60, 0)
    assert len(table_items(source, name)) == 60
    assert table_items(source, name) == table_items(source, "orders")
    assert delete_scratch_table(source, name, prefix="drill-", run_id=RUN) is True
    assert describe_table(source, name) is None


def test_restore_isolates_rejected_items_and_keeps_the_last_duplicate(source):
    name = _scratch(source)
    items = [
        {"customer_id": "c1", "order_id": 1, "v": "first"},
        {"customer_id": "c1", "order_id": 1, "v": "last"},  # same key in one batch
        {"customer_id": "c2", "order_id": "not-a-number", "v": "x"},  # wrong key type: rejected
        {"customer_id": "c3", "v": "x"},  # missing range key: rejected
        {"customer_id": "c4", "order_id": 4, "v": "x"},
    ]
    raw = json.dumps({"data": items}).encode()
    stats = restore_items(
        source, name, iter_typed_items(io.BytesIO(raw)), key_names=("customer_id", "order_id"), batch_size=25, workers=2
    )
    assert stats.duplicate_keys == 1
    assert stats.items_failed == 2 and len(stats.rejected_keys) == 2
    assert stats.items_restored == 2
    assert all("c2" not in reason and "c3" not in reason for reason in stats.rejection_reasons)
    item = source.get_item(TableName=name, Key={"customer_id": {"S": "c1"}, "order_id": {"N": "1"}})["Item"]
    assert item["v"] == {"S": "last"}


def test_items_dynamodb_cannot_read_or_store_are_isolated_without_client_side_validation(aws, source):
    """The restore's client skips botocore's parameter validation: DynamoDB's own refusals still isolate."""
    name = _scratch(source)
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
    assert len(table_items(source, name)) == 1


def test_source_schema_of_a_missing_table_is_a_clear_error(aws):
    with pytest.raises(RestoreIncomplete, match="source table gone does not exist"):
        scratch_definition(aws.client("dynamodb"), "gone", plan_key_schema=None)
