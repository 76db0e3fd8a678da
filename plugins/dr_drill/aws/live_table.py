"""What verify reads of the live source table: its approximate item count and its key schema. Read-only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from dr_drill.aws.client_errors import error_code


@dataclass(frozen=True)
class LiveTable:
    """The source table as DescribeTable shows it.

    :param item_count: DynamoDB's approximate ``ItemCount`` (refreshed about every six hours).
    :param key_schema: ``[{name, type}]``, partition key first, as the plan's ``key_schema`` is written.
    """

    item_count: int | None
    key_schema: tuple[dict[str, str], ...]


def describe_live_table(ddb: Any, table_name: str) -> LiveTable | None:
    """Return the live source table, or None when it does not exist (a drill of a lost table)."""
    try:
        table = ddb.describe_table(TableName=table_name)["Table"]
    except ClientError as err:
        if error_code(err) == "ResourceNotFoundException":
            return None
        raise
    types = {entry["AttributeName"]: entry["AttributeType"] for entry in table.get("AttributeDefinitions", ())}
    ordered = sorted(table.get("KeySchema", ()), key=lambda entry: entry["KeyType"] != "HASH")
    key_schema = tuple({"name": entry["AttributeName"], "type": types.get(entry["AttributeName"])} for entry in ordered)
    # A key whose type DescribeTable does not state cannot be checked: better no key schema than a wrong one.
    if any(entry["type"] is None for entry in key_schema):
        key_schema = ()
    return LiveTable(item_count=table.get("ItemCount"), key_schema=key_schema)
