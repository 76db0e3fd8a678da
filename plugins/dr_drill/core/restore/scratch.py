"""Scratch table names and tags: the only tables a drill ever writes to or deletes."""

from __future__ import annotations

import hashlib
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
