"""Scratch tables: names within DynamoDB's rules and unique per run, tags, the definition copied from the source."""

from __future__ import annotations

import re

import pytest

from dr_drill.core.restore.scratch import (
    definition_from_plan_key_schema,
    index_names,
    scratch_table_definition,
    scratch_table_name,
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
