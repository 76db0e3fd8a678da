"""Scratch tables: names within DynamoDB's rules and unique per run, tags, the definition copied from the source."""

from __future__ import annotations

import re

import botocore.session
import pytest
from botocore.validate import ParamValidator

from dr_drill.core.restore.scratch import (
    definition_from_plan_key_schema,
    index_names,
    scratch_table_definition,
    scratch_table_name,
    warm_throughput_plan,
    with_warm_throughput,
)

SOURCE_DESCRIPTION = {
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    "AttributeDefinitions": [
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "sk", "AttributeType": "N"},
        {"AttributeName": "status", "AttributeType": "S"},
        {"AttributeName": "placed", "AttributeType": "S"},
    ],
    "GlobalSecondaryIndexes": [
        {
            "IndexName": "by-status",
            "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["total"]},
            "ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5},
            "IndexStatus": "ACTIVE",
            "ItemCount": 3,
        }
    ],
    "LocalSecondaryIndexes": [
        {
            "IndexName": "by-placed",
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "placed", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "ALL"},
            "IndexSizeBytes": 10,
        }
    ],
}


def test_scratch_definition_copies_indexes_without_throughput_or_status():
    definition = scratch_table_definition(SOURCE_DESCRIPTION)

    assert definition["GlobalSecondaryIndexes"] == [
        {
            "IndexName": "by-status",
            "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["total"]},
        }
    ]
    assert definition["LocalSecondaryIndexes"][0]["IndexName"] == "by-placed"
    assert len(definition["AttributeDefinitions"]) == 4
    assert index_names(definition) == ["by-status", "by-placed"]


def test_leaving_indexes_out_also_drops_their_attribute_definitions():
    definition = scratch_table_definition(SOURCE_DESCRIPTION, include_indexes=False)

    assert set(definition) == {"KeySchema", "AttributeDefinitions"}
    assert [a["AttributeName"] for a in definition["AttributeDefinitions"]] == ["pk", "sk"]


def test_plan_key_schema_gives_partition_then_sort_key():
    definition = definition_from_plan_key_schema([{"name": "id", "type": "S"}, {"name": "at", "type": "N"}])

    assert definition["KeySchema"] == [
        {"AttributeName": "id", "KeyType": "HASH"},
        {"AttributeName": "at", "KeyType": "RANGE"},
    ]


@pytest.mark.parametrize(
    ("table", "run_id"),
    [
        pytest.param("a" * 255, "manual__2026-11-26T20:16:57.290203+00:00", id="longest-table-name"),
        pytest.param("orders", "x" * 500, id="very-long-run-id"),
        pytest.param("orders", "::::", id="run-id-of-only-bad-characters"),
    ],
)
def test_scratch_names_stay_within_dynamodb_rules(table, run_id):
    name = scratch_table_name(table, run_id, "drill-")

    assert len(name) <= 255 and re.fullmatch(r"[a-zA-Z0-9_.-]{3,255}", name)
    assert name.startswith("drill-")
    assert name != scratch_table_name(table, run_id + "-retry", "drill-")
    assert name == scratch_table_name(table, run_id, "drill-")


@pytest.mark.parametrize(
    "run_id",
    [
        pytest.param("scheduled__2026-11-26T02:00:00+00:00", id="scheduled"),
        pytest.param("manual__2026-11-26T20:08:09.145587+00:00", id="manual"),
        pytest.param("a" * 250, id="long-run-id"),
        pytest.param("!!!", id="no-usable-characters"),
    ],
)
@pytest.mark.parametrize("table", ["app-users", "t" * 255])
def test_scratch_names_follow_dynamodb_rules_and_differ_per_run(run_id, table):
    name = scratch_table_name(table, run_id)
    assert re.fullmatch(r"[a-zA-Z0-9_.-]{3,255}", name)
    assert name.startswith("drill-")
    assert name == scratch_table_name(table, run_id)
    assert name != scratch_table_name(table, run_id + "x")
    assert name != scratch_table_name(table + "x", run_id)


@pytest.mark.parametrize(
    ("item_count", "size_bytes", "rto", "cap", "needed", "rate", "asked"),
    [
        pytest.param(300, 100_322, 3600, 40_000, 300, 1, None, id="small-table-cold"),
        # 100 million items of about 2 KB within half an hour: far beyond a new table's 4,000/s.
        pytest.param(10**8, 2 * 10**11, 3600, 40_000, 195_312_500, 108_507, 40_000, id="large-table-capped"),
        pytest.param(10**8, None, 7200, 80_000, 10**8, 27_778, 27_778, id="large-table-within-cap"),
        pytest.param(10**7, 2 * 10**10, 3600, 4_000, 19_531_250, 10_851, None, id="cap-at-new-table-rate"),
        pytest.param(10**8, 10**11, 3600, 0, 10**8, 55_556, None, id="cap-zero-never-warms"),
        pytest.param(None, None, 3600, 40_000, None, None, None, id="nothing-known"),
    ],
)
def test_warm_throughput_is_sized_from_the_backup_and_the_rto_within_the_cap(
    item_count, size_bytes, rto, cap, needed, rate, asked
):
    plan = warm_throughput_plan(
        item_count=item_count, size_bytes=size_bytes, rto_target_seconds=rto, max_write_units=cap
    )
    assert plan == {
        "write_units_needed": needed,
        "write_units_per_second_needed": rate,
        "max_write_units_per_second": cap,
        "requested": {"WriteUnitsPerSecond": asked} if asked else None,
    }


def test_warm_throughput_is_asked_of_the_table_and_each_gsi_but_not_the_lsis():
    definition = scratch_table_definition(SOURCE_DESCRIPTION)
    warmed = with_warm_throughput(definition, {"WriteUnitsPerSecond": 20_000})
    assert warmed["WarmThroughput"] == {"WriteUnitsPerSecond": 20_000}
    assert [index["WarmThroughput"] for index in warmed["GlobalSecondaryIndexes"]] == [{"WriteUnitsPerSecond": 20_000}]
    assert "WarmThroughput" not in warmed["LocalSecondaryIndexes"][0]  # LSIs share the table's partitions
    assert "WarmThroughput" not in definition  # the definition handed on is left as it was
    assert with_warm_throughput(definition, None) is definition


def test_a_warm_create_table_request_matches_the_botocore_model():
    definition = scratch_table_definition(SOURCE_DESCRIPTION)
    request = {
        "TableName": "drill-orders-1",
        **with_warm_throughput(definition, {"WriteUnitsPerSecond": 20_000}),
        "BillingMode": "PAY_PER_REQUEST",
    }
    model = botocore.session.get_session().get_service_model("dynamodb").operation_model("CreateTable")
    report = ParamValidator().validate(request, model.input_shape)
    assert not report.has_errors(), report.generate_report()
