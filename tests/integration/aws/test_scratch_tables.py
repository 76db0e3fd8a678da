"""Scratch tables on the moto server: the source's keys and indexes, the guards and retries.

Who may touch which table (forged tags, the sweep) is tested in test_scratch_ownership.py.
"""

from __future__ import annotations

import pytest

from demo.sample_data import SAMPLE_TABLES
from dr_drill.aws.scratch_tables import (
    assert_scratch_table,
    create_scratch_table,
    delete_scratch_table,
    describe_table,
    scratch_definition,
    source_table_definition,
)
from dr_drill.aws.scratch_tables import table_tags as _tags
from dr_drill.core.items.canonical import to_typed_item
from dr_drill.core.restore.ownership import OWNERSHIP_TAGS
from dr_drill.core.restore.scratch import RUN_ID_TAG, SCRATCH_TAG, SOURCE_TAG, scratch_table_name
from dr_drill.errors import RestoreIncomplete, UnsafeTarget
from tests.drills import DAG_ID, OWNER_KEY, RUN
from tests.integration.aws.tables import INDEXED_SOURCE as SOURCE
from tests.integration.aws.tables import create_indexed_source, create_orders_scratch
from tests.snapshots import table_items

SCHEDULED_RUN = "scheduled__2026-11-26T02:00:00+00:00"
PREFIX = "drill-"


def test_scratch_table_copies_the_key_schema_on_demand_and_tagged(orders):
    name = create_orders_scratch(orders)
    table = describe_table(orders, name)
    assert table["KeySchema"] == SAMPLE_TABLES["orders"]["key_schema"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    tags = {t["Key"]: t["Value"] for t in orders.list_tags_of_resource(ResourceArn=table["TableArn"])["Tags"]}
    assert {
        key: tags[key] for key in ("dr-drill:scratch", "dr-drill:source", "dr-drill:run-id", "dr-drill:dag-id")
    } == {
        "dr-drill:scratch": "true",
        "dr-drill:source": "orders",
        "dr-drill:run-id": RUN,
        "dr-drill:dag-id": DAG_ID,
    }
    assert tags["dr-drill:owner"].startswith("v1:") and tags["dr-drill:kept"] == "false"


def test_scratch_table_copies_keys_and_indexes_on_demand_without_protection_tagged_and_warm(aws):
    ddb = aws.client("dynamodb")
    create_indexed_source(ddb)
    name = scratch_table_name(SOURCE, SCHEDULED_RUN)

    created = create_scratch_table(
        ddb,
        name,
        source_table=SOURCE,
        schema=scratch_definition(ddb, SOURCE, plan_key_schema=None),
        prefix=PREFIX,
        dag_id=DAG_ID,
        run_id=SCHEDULED_RUN,
        key=OWNER_KEY,
        warm_throughput={"WriteUnitsPerSecond": 20_000},
    )

    table = describe_table(ddb, name)
    # The warm throughput asked, as DescribeTable reports it for the table and its GSI (what the create step records).
    assert created["WarmThroughput"]["WriteUnitsPerSecond"] == 20_000
    assert table["GlobalSecondaryIndexes"][0]["WarmThroughput"]["WriteUnitsPerSecond"] == 20_000
    assert [index["IndexName"] for index in table["GlobalSecondaryIndexes"]] == ["by-status"]
    assert [index["IndexName"] for index in table["LocalSecondaryIndexes"]] == ["by-placed"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table.get("DeletionProtectionEnabled") is False
    tags = _tags(ddb, table["TableArn"])
    assert {SCRATCH_TAG: "true", SOURCE_TAG: SOURCE, RUN_ID_TAG: SCHEDULED_RUN}.items() <= tags.items()
    assert set(tags) == set(OWNERSHIP_TAGS)


def test_plan_can_leave_the_indexes_out(aws):
    ddb = aws.client("dynamodb")
    create_indexed_source(ddb)
    name = scratch_table_name(SOURCE, SCHEDULED_RUN)
    definition = scratch_definition(ddb, SOURCE, plan_key_schema=None, include_indexes=False)

    create_scratch_table(
        ddb,
        name,
        source_table=SOURCE,
        schema=definition,
        prefix=PREFIX,
        dag_id=DAG_ID,
        run_id=SCHEDULED_RUN,
        key=OWNER_KEY,
    )

    table = describe_table(ddb, name)
    assert not table.get("GlobalSecondaryIndexes") and not table.get("LocalSecondaryIndexes")
    assert {a["AttributeName"] for a in table["AttributeDefinitions"]} == {"pk", "sk"}


def test_source_gone_uses_the_plan_key_schema_else_fails_clearly(aws):
    ddb = aws.client("dynamodb")
    plan_keys = [{"name": "customer_id", "type": "S"}, {"name": "order_id", "type": "N"}]

    definition = scratch_definition(ddb, "gone-table", plan_key_schema=plan_keys)
    create_scratch_table(
        ddb,
        scratch_table_name("gone-table", SCHEDULED_RUN),
        source_table="gone-table",
        schema=definition,
        prefix=PREFIX,
        dag_id=DAG_ID,
        run_id=SCHEDULED_RUN,
        key=OWNER_KEY,
    )
    assert describe_table(ddb, scratch_table_name("gone-table", SCHEDULED_RUN))["KeySchema"] == [
        {"AttributeName": "customer_id", "KeyType": "HASH"},
        {"AttributeName": "order_id", "KeyType": "RANGE"},
    ]
    with pytest.raises(RestoreIncomplete, match="does not exist and the drill plan gives no key_schema"):
        scratch_definition(ddb, "gone-table", plan_key_schema=None)


def test_source_schema_of_a_missing_table_is_a_clear_error(aws):
    with pytest.raises(RestoreIncomplete, match="source table gone does not exist"):
        scratch_definition(aws.client("dynamodb"), "gone", plan_key_schema=None)


# --- the guards and retries ---


def test_guards_refuse_the_source_table_and_leave_it_untouched(orders):
    before = table_items(orders, "orders")
    with pytest.raises(UnsafeTarget, match="refusing to touch table orders"):
        assert_scratch_table(orders, "orders", prefix="drill-", run_id=RUN, key=OWNER_KEY)
    with pytest.raises(UnsafeTarget, match="refusing to touch table orders"):
        delete_scratch_table(orders, "orders", prefix="", run_id=RUN, key=OWNER_KEY)
    with pytest.raises(UnsafeTarget, match="scratch table names start with"):
        create_scratch_table(
            orders,
            "orders",
            source_table="orders",
            schema=source_table_definition(orders, "orders"),
            prefix="drill-",
            dag_id=DAG_ID,
            run_id=RUN,
            key=OWNER_KEY,
        )
    assert table_items(orders, "orders") == before


def test_guards_refuse_another_runs_scratch_table(orders):
    name = create_orders_scratch(orders)
    with pytest.raises(UnsafeTarget):
        delete_scratch_table(orders, name, prefix="drill-", run_id="another-run", key=OWNER_KEY)
    assert describe_table(orders, name) is not None


def test_a_retried_create_recreates_its_own_scratch_table_empty(orders):
    name = create_orders_scratch(orders)
    orders.put_item(TableName=name, Item={"customer_id": {"S": "c"}, "order_id": {"N": "1"}})
    assert create_orders_scratch(orders) == name
    assert len(table_items(orders, name)) == 0


def test_a_retry_recreates_its_own_table_but_never_takes_another_runs(aws):
    ddb = aws.client("dynamodb")
    create_indexed_source(ddb)
    definition = scratch_definition(ddb, SOURCE, plan_key_schema=None)
    name = scratch_table_name(SOURCE, SCHEDULED_RUN)
    create_scratch_table(
        ddb,
        name,
        source_table=SOURCE,
        schema=definition,
        prefix=PREFIX,
        dag_id=DAG_ID,
        run_id=SCHEDULED_RUN,
        key=OWNER_KEY,
    )
    ddb.put_item(TableName=name, Item=to_typed_item({"pk": "x", "sk": 1, "status": "s", "placed": "p"}))

    create_scratch_table(
        ddb,
        name,
        source_table=SOURCE,
        schema=definition,
        prefix=PREFIX,
        dag_id=DAG_ID,
        run_id=SCHEDULED_RUN,
        key=OWNER_KEY,
    )
    assert len(table_items(ddb, name)) == 0  # recreated empty

    with pytest.raises(UnsafeTarget, match="not a scratch table of this drill"):
        create_scratch_table(
            ddb,
            name,
            source_table=SOURCE,
            schema=definition,
            prefix=PREFIX,
            dag_id=DAG_ID,
            run_id="another-run",
            key=OWNER_KEY,
        )
    assert describe_table(ddb, name) is not None
