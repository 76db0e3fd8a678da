"""Creating, checking and deleting scratch tables: the only tables a drill writes to."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from dr_drill.aws.client_errors import error_code
from dr_drill.core.restore.scratch import (
    RUN_ID_TAG,
    definition_from_plan_key_schema,
    is_scratch_of,
    is_stale_scratch,
    scratch_table_definition,
    scratch_tags,
)
from dr_drill.errors import RestoreIncomplete, UnsafeTarget

log = logging.getLogger(__name__)


def describe_table(ddb: Any, table_name: str) -> dict[str, Any] | None:
    """Return DescribeTable's ``Table``, or None when the table does not exist."""
    try:
        return ddb.describe_table(TableName=table_name)["Table"]
    except ClientError as err:
        if error_code(err) == "ResourceNotFoundException":
            return None
        raise


def table_tags(ddb: Any, table_arn: str) -> dict[str, str]:
    """Return every tag of a table, over every page."""
    pages = ddb.get_paginator("list_tags_of_resource").paginate(ResourceArn=table_arn)
    return {tag["Key"]: tag["Value"] for page in pages for tag in page.get("Tags", ())}


def assert_scratch_table(ddb: Any, name: str, *, prefix: str, run_id: str) -> dict[str, Any]:
    """Return the table's description if it is this run's scratch table.

    :raises UnsafeTarget: for any other table, the source above all.
    """
    table = describe_table(ddb, name)
    if table is None:
        raise UnsafeTarget(f"table {name} does not exist")
    if not is_scratch_of(name, table_tags(ddb, table["TableArn"]), prefix=prefix, run_id=run_id):
        raise UnsafeTarget(
            f"refusing to touch table {name}: it is not a scratch table of this drill "
            f"(needs the {prefix!r} prefix and the scratch tags of run {run_id})"
        )
    return table


def delete_scratch_table(ddb: Any, name: str, *, prefix: str, run_id: str, wait: bool = True) -> bool:
    """Delete this run's scratch table; return False when there was none.

    :raises UnsafeTarget: when ``name`` is not this run's scratch table.
    """
    if describe_table(ddb, name) is None:
        return False
    assert_scratch_table(ddb, name, prefix=prefix, run_id=run_id)
    try:
        ddb.delete_table(TableName=name)
    except ClientError as err:
        if error_code(err) == "ResourceNotFoundException":
            return False
        raise
    if wait:
        ddb.get_waiter("table_not_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 600})
    return True


def source_table_definition(ddb: Any, table_name: str, *, include_indexes: bool = True) -> dict[str, Any] | None:
    """Return the CreateTable schema (keys, and indexes unless left out) of the source table, None when it is gone."""
    table = describe_table(ddb, table_name)
    if table is None:
        return None
    return scratch_table_definition(table, include_indexes=include_indexes)


def scratch_definition(
    ddb: Any, table_name: str, *, plan_key_schema: list[dict[str, str]] | None, include_indexes: bool = True
) -> dict[str, Any]:
    """Return the scratch table's schema: the source table's, else the drill plan's ``key_schema``.

    :raises RestoreIncomplete: when the source table is gone and the plan gives no ``key_schema``.
    """
    definition = source_table_definition(ddb, table_name, include_indexes=include_indexes)
    if definition is not None:
        return definition
    if plan_key_schema:
        log.info("Source table %s does not exist: using the drill plan's key_schema", table_name)
        return definition_from_plan_key_schema(plan_key_schema)
    raise RestoreIncomplete(
        f"source table {table_name} does not exist and the drill plan gives no key_schema for it: "
        "the scratch table's key schema is unknown (set key_schema in the plan for file backups)"
    )


def tag_as_scratch(ddb: Any, table_arn: str, *, source_table: str, run_id: str) -> None:
    """Tag a table this run created (a server-side restore's target) as its scratch table."""
    ddb.tag_resource(ResourceArn=table_arn, Tags=scratch_tags(source_table, run_id))


def create_scratch_table(
    ddb: Any,
    name: str,
    *,
    source_table: str,
    schema: dict[str, Any],
    prefix: str,
    run_id: str,
) -> dict[str, Any]:
    """Create an empty, on-demand scratch table and wait until it is ACTIVE; return its description.

    ``schema`` is a CreateTable schema (``KeySchema``, ``AttributeDefinitions`` and optionally
    ``GlobalSecondaryIndexes``/``LocalSecondaryIndexes``). A table of the same
    name left by an earlier try of this run is deleted first; a table of that name that is not
    this run's scratch table is refused.
    """
    if not name.startswith(prefix):
        raise UnsafeTarget(f"refusing to create {name}: scratch table names start with {prefix!r}")
    if describe_table(ddb, name) is not None:
        log.info("Scratch table %s exists from an earlier try of this run; recreating it", name)
        delete_scratch_table(ddb, name, prefix=prefix, run_id=run_id)
    ddb.create_table(
        TableName=name,
        **schema,
        BillingMode="PAY_PER_REQUEST",
        DeletionProtectionEnabled=False,
        Tags=scratch_tags(source_table, run_id),
    )
    ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 600})
    return describe_table(ddb, name) or {}


def table_creation_time(table: dict[str, Any]) -> datetime:
    created = table["CreationDateTime"]
    if isinstance(created, datetime):
        return created if created.tzinfo else created.replace(tzinfo=UTC)
    return datetime.fromtimestamp(float(created), UTC)


def _prefixed_tables(ddb: Any, prefix: str) -> list[str]:
    names = []
    for page in ddb.get_paginator("list_tables").paginate():
        names.extend(name for name in page.get("TableNames", ()) if name.startswith(prefix))
    return names


def sweep_stale_scratch_tables(ddb: Any, *, prefix: str, max_age: timedelta, now: datetime) -> list[str]:
    """Delete scratch tables (name prefix AND scratch tag, of any run) older than ``max_age``; return their names.

    Crashed runs can leave scratch tables behind; nothing else is ever deleted here.
    """
    deleted = []
    for name in _prefixed_tables(ddb, prefix):
        table = describe_table(ddb, name)
        if table is None or table.get("TableStatus") != "ACTIVE":
            continue
        tags = table_tags(ddb, table["TableArn"])
        if not is_stale_scratch(name, tags, table_creation_time(table), prefix=prefix, now=now, max_age=max_age):
            continue
        log.info("Deleting stale scratch table %s (run %s)", name, tags.get(RUN_ID_TAG))
        try:
            ddb.delete_table(TableName=name)
        except ClientError as err:
            if error_code(err) not in ("ResourceNotFoundException", "ResourceInUseException"):
                raise
            continue
        deleted.append(name)
    return deleted
