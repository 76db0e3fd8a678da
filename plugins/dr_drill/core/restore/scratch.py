"""Scratch table names and tags: the only tables a drill ever writes to or deletes."""

from __future__ import annotations

import hashlib
import math
import re
from typing import Any

DEFAULT_SCRATCH_PREFIX = "drill-"
SCRATCH_TAG = "dr-drill:scratch"
SOURCE_TAG = "dr-drill:source"
RUN_ID_TAG = "dr-drill:run-id"
_MAX_TABLE_NAME = 255
_RUN_PART_MAX = 40


def scratch_table_name(table_name: str, run_id: str, prefix: str = DEFAULT_SCRATCH_PREFIX) -> str:
    """Return the scratch table name for ``table_name`` in run ``run_id``.

    ``{prefix}{table}-{run}-{hash}``: readable, unique per (table, run) thanks to the hash,
    within DynamoDB's 255 characters and ``[a-zA-Z0-9_.-]``. The same inputs always give the
    same name, so a retried task finds its own table and never another run's.
    """
    digest = hashlib.sha256(f"{table_name}\0{run_id}".encode()).hexdigest()[:10]
    run_part = re.sub(r"[^a-zA-Z0-9_.-]+", "-", run_id).strip("-")[:_RUN_PART_MAX]
    suffix = f"-{run_part}-{digest}" if run_part else f"-{digest}"
    room = _MAX_TABLE_NAME - len(prefix) - len(suffix)
    return f"{prefix}{table_name[:room]}{suffix}"


def scratch_tags(table_name: str, run_id: str) -> list[dict[str, str]]:
    """Return the tags that mark a table as this drill's scratch table."""
    return [
        {"Key": SCRATCH_TAG, "Value": "true"},
        {"Key": SOURCE_TAG, "Value": table_name[:256]},
        {"Key": RUN_ID_TAG, "Value": run_id[:256]},
    ]


def _projection(index: dict[str, Any]) -> dict[str, Any]:
    projection = index.get("Projection") or {"ProjectionType": "ALL"}
    return {key: value for key, value in projection.items() if key in ("ProjectionType", "NonKeyAttributes")}


def _index_definitions(indexes: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    return [
        {
            "IndexName": index["IndexName"],
            "KeySchema": [dict(entry) for entry in index["KeySchema"]],
            "Projection": _projection(index),
        }
        for index in indexes or ()
    ]


def scratch_table_definition(
    description: dict[str, Any], *, include_indexes: bool = True
) -> dict[str, list[dict[str, Any]]]:
    """Return the schema part of CreateTable for a scratch copy of a table.

    ``description`` is DescribeTable's ``Table``, or a backup's source table details with
    its ``GlobalSecondaryIndexes``/``LocalSecondaryIndexes``. Throughput settings are not
    copied: scratch tables are on demand. Attribute definitions are kept only for the
    attributes the key schema and the kept indexes use, as CreateTable requires.
    """
    definition: dict[str, list[dict[str, Any]]] = {"KeySchema": [dict(entry) for entry in description["KeySchema"]]}
    if include_indexes:
        for kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            indexes = _index_definitions(description.get(kind))
            if indexes:
                definition[kind] = indexes
    used = {
        entry["AttributeName"]
        for schema in [definition["KeySchema"]]
        + [
            index["KeySchema"]
            for kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes")
            for index in definition.get(kind, ())
        ]
        for entry in schema
    }
    definition["AttributeDefinitions"] = [
        dict(entry) for entry in description["AttributeDefinitions"] if entry["AttributeName"] in used
    ]
    return definition


def definition_from_plan_key_schema(key_schema: list[dict[str, str]]) -> dict[str, list[dict[str, Any]]]:
    """Return a scratch table definition from the plan's ``key_schema`` (partition key first, then sort key)."""
    return {
        "KeySchema": [
            {"AttributeName": entry["name"], "KeyType": "HASH" if position == 0 else "RANGE"}
            for position, entry in enumerate(key_schema)
        ],
        "AttributeDefinitions": [
            {"AttributeName": entry["name"], "AttributeType": entry["type"]} for entry in key_schema
        ],
    }


def index_names(definition: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Return the names of the secondary indexes a definition creates."""
    return [
        index["IndexName"]
        for kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes")
        for index in definition.get(kind, ())
    ]


def index_overrides(include_indexes: bool) -> dict[str, Any]:
    """The index overrides of a server-side restore: none, or empty lists to restore without indexes (faster)."""
    return {} if include_indexes else {"GlobalSecondaryIndexOverride": [], "LocalSecondaryIndexOverride": []}


# Warm throughput ---------------------------------------------------------------------------------

# What a new on-demand table serves at once before it scales (DynamoDB developer guide, "Understanding
# DynamoDB warm throughput"): 4,000 write units/s (and 12,000 read units/s). A restore faster than that
# is throttled until the table has scaled, unless the table is created warm.
NEW_ON_DEMAND_WRITE_UNITS_PER_SECOND = 4_000
# The share of the RTO target the restore may take: the validation scan needs the rest.
RESTORE_SHARE_OF_RTO = 0.5
WRITE_UNIT_BYTES = 1024


def write_units_needed(item_count: int | None, size_bytes: int | None) -> int | None:
    """Write units a restore consumes, at least: one per item, and one per KB of the backup (None: unknown).

    A backup file's size overstates DynamoDB's item sizes, so this errs on the warm side.
    """
    by_size = math.ceil(size_bytes / WRITE_UNIT_BYTES) if size_bytes else 0
    return max(item_count or 0, by_size) or None


def warm_throughput_plan(
    *, item_count: int | None, size_bytes: int | None, rto_target_seconds: int, max_write_units: int
) -> dict[str, Any]:
    """Return the warm throughput to ask of a new scratch table for the restore, and what it is sized from.

    The restore should write its units within half the RTO target. When that rate is above what
    a new on-demand table serves at once, the table is asked for it, up to ``max_write_units``
    (the plan's cap; a cap at or below the new table's own rate never warms). ``requested`` is
    CreateTable's ``WarmThroughput``, or None when nothing is asked.
    """
    needed = write_units_needed(item_count, size_bytes)
    seconds = max(1, int(rto_target_seconds * RESTORE_SHARE_OF_RTO))
    rate = math.ceil(needed / seconds) if needed else None
    asked = min(rate, max_write_units) if rate else None
    if asked is not None and asked <= NEW_ON_DEMAND_WRITE_UNITS_PER_SECOND:
        asked = None
    return {
        "write_units_needed": needed,
        "write_units_per_second_needed": rate,
        "max_write_units_per_second": max_write_units,
        "requested": {"WriteUnitsPerSecond": asked} if asked else None,
    }


def with_warm_throughput(definition: dict[str, Any], requested: dict[str, int] | None) -> dict[str, Any]:
    """Return a CreateTable schema whose table and GSIs ask for ``requested`` warm throughput.

    Every write to the table is also written to each GSI, which has its own warm throughput: a
    cold index would throttle the warm table by back-pressure.
    """
    if not requested:
        return definition
    warmed = {**definition, "WarmThroughput": dict(requested)}
    if definition.get("GlobalSecondaryIndexes"):
        warmed["GlobalSecondaryIndexes"] = [
            {**index, "WarmThroughput": dict(requested)} for index in definition["GlobalSecondaryIndexes"]
        ]
    return warmed
