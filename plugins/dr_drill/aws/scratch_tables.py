"""Creating, checking and deleting scratch tables: the only tables a drill writes to."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from dr_drill.aws.client_errors import error_code
from dr_drill.contracts import DrillSpec
from dr_drill.core.restore.ownership import (
    OWNERSHIP_TAGS,
    OwnershipKey,
    ScratchOwner,
    ownership_tags,
    proven_owner,
    scratch_owner,
    sweep_reason,
)
from dr_drill.core.restore.scratch import (
    definition_from_plan_key_schema,
    scratch_table_definition,
    with_warm_throughput,
)
from dr_drill.errors import RestoreIncomplete, UnsafeTarget

log = logging.getLogger(__name__)
# The state of DAG run (dag_id, run_id) in Airflow's records, or None when it has none.
RunState = Callable[[str, str], str | None]
# How long the tags of a table the drill just tagged may take to show (TagResource is eventually consistent).
TAGS_SETTLE_ATTEMPTS = 10
TAGS_SETTLE_SECONDS = 1.0


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


def owner_of(ddb: Any, table: dict[str, Any], *, prefix: str, key: OwnershipKey) -> ScratchOwner | None:
    """Return the owner a table's tags prove under ``key`` (DescribeTable's ``Table``), or None."""
    tags = table_tags(ddb, table["TableArn"])
    return proven_owner(table["TableName"], tags, table_creation_time(table), key, prefix=prefix)


def assert_scratch_table(ddb: Any, name: str, *, prefix: str, run_id: str, key: OwnershipKey) -> dict[str, Any]:
    """Return the table's description if it is provably this run's scratch table.

    :raises UnsafeTarget: for any other table: the source above all, and any table whose
        scratch tags were written by hand (they carry no owner tag signed with ``key``).
    """
    table = describe_table(ddb, name)
    if table is None:
        raise UnsafeTarget(f"table {name} does not exist")
    owner = owner_of(ddb, table, prefix=prefix, key=key)
    if owner is None or owner.run_id != run_id[:256]:
        raise UnsafeTarget(
            f"refusing to touch table {name}: it is not a scratch table of this drill "
            f"(needs the {prefix!r} prefix and an owner tag, signed with the drill's ownership secret, "
            f"naming run {run_id})"
        )
    return table


def _delete(ddb: Any, name: str, *, wait: bool) -> bool:
    try:
        ddb.delete_table(TableName=name)
    except ClientError as err:
        if error_code(err) == "ResourceNotFoundException":
            return False
        raise
    if wait:
        ddb.get_waiter("table_not_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 600})
    return True


def delete_scratch_table(
    ddb: Any, name: str, *, prefix: str, run_id: str, key: OwnershipKey, wait: bool = True
) -> bool:
    """Delete this run's scratch table; return False when there was none.

    :raises UnsafeTarget: when ``name`` is not provably this run's scratch table.
    """
    if describe_table(ddb, name) is None:
        return False
    assert_scratch_table(ddb, name, prefix=prefix, run_id=run_id, key=key)
    return _delete(ddb, name, wait=wait)


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


def tag_as_scratch(ddb: Any, table: dict[str, Any], *, spec: DrillSpec, key: OwnershipKey) -> None:
    """Tag a table this run made (a server-side restore's target) as its owned scratch table.

    The owner tag covers the table's own ``CreationDateTime``, from ``table`` (DescribeTable's).
    """
    owner = scratch_owner(
        table["TableName"],
        source_table=spec.table_name,
        dag_id=spec.dag_id,
        run_id=spec.run_id,
        created_at=table_creation_time(table),
        kept=spec.keep_scratch_table,
    )
    ddb.tag_resource(ResourceArn=table["TableArn"], Tags=ownership_tags(key, owner))


def _read_back_tags(
    ddb: Any, table: dict[str, Any], *, prefix: str, run_id: str, key: OwnershipKey
) -> tuple[dict[str, str], bool]:
    # TagResource is eventually consistent: for a few seconds ListTagsOfResource may still
    # answer with the previous (empty) tag set, which must not pass for tags that were lost.
    for attempt in range(TAGS_SETTLE_ATTEMPTS):
        tags = table_tags(ddb, table["TableArn"])
        owner = proven_owner(table["TableName"], tags, table_creation_time(table), key, prefix=prefix)
        if owner is not None and owner.run_id == run_id[:256]:
            return tags, True
        if attempt + 1 < TAGS_SETTLE_ATTEMPTS:
            time.sleep(TAGS_SETTLE_SECONDS)
    return tags, False


def prove_tags_applied(ddb: Any, name: str, *, prefix: str, run_id: str, key: OwnershipKey) -> dict[str, Any]:
    """Check that the table this drill has just made carries its ownership tags; delete it if not.

    Without them no later step, and no sweep, could ever prove the table is the drill's, so it
    would be refused by the restore and left behind. The drill knows it made this table (its
    own CreateTable, restore or import did), so it may delete it without the tag guard.

    :raises RestoreIncomplete: naming the tags that are missing, once the table is deleted.
    """
    table = describe_table(ddb, name)
    if table is None:
        raise RestoreIncomplete(f"scratch table {name} vanished right after it was made")
    tags, proven = _read_back_tags(ddb, table, prefix=prefix, run_id=run_id, key=key)
    if proven:
        return table
    missing = [tag for tag in OWNERSHIP_TAGS if not tags.get(tag)]
    why = f"tags missing: {', '.join(missing)}" if missing else "its owner tag does not prove it is this drill's"
    log.error("Scratch table %s lacks its ownership tags (%s): deleting the table this drill made", name, why)
    _delete(ddb, name, wait=True)
    raise RestoreIncomplete(
        f"scratch table {name} was made but DynamoDB did not keep its ownership tags ({why}); "
        "the drill deleted it, as no later step could prove it is this drill's"
    )


def create_scratch_table(
    ddb: Any,
    name: str,
    *,
    source_table: str,
    schema: dict[str, Any],
    prefix: str,
    dag_id: str,
    run_id: str,
    key: OwnershipKey,
    kept: bool = False,
    warm_throughput: dict[str, int] | None = None,
) -> dict[str, Any]:
    """Create an empty, on-demand scratch table and wait until it is ACTIVE; return its description.

    ``schema`` is a CreateTable schema (``KeySchema``, ``AttributeDefinitions`` and optionally
    ``GlobalSecondaryIndexes``/``LocalSecondaryIndexes``); ``warm_throughput``, when given, is
    asked of the table and its GSIs (DescribeTable's ``WarmThroughput`` says what they got). The
    table is tagged at creation with its owner tag, and the tags are checked once it is ACTIVE
    (:func:`prove_tags_applied`). A
    table of the same name left by an earlier try of this run is deleted first; a table of that
    name that is not provably this run's scratch table is refused.

    :raises UnsafeTarget: for a name without the prefix, or another table under the name.
    :raises RestoreIncomplete: when DynamoDB did not keep the tags (the table is deleted).
    """
    if not name.startswith(prefix):
        raise UnsafeTarget(f"refusing to create {name}: scratch table names start with {prefix!r}")
    if describe_table(ddb, name) is not None:
        log.info("Scratch table %s exists from an earlier try of this run; recreating it", name)
        delete_scratch_table(ddb, name, prefix=prefix, run_id=run_id, key=key)
    owner = scratch_owner(
        name, source_table=source_table, dag_id=dag_id, run_id=run_id, created_at=datetime.now(UTC), kept=kept
    )
    ddb.create_table(
        TableName=name,
        **with_warm_throughput(schema, warm_throughput),
        BillingMode="PAY_PER_REQUEST",
        DeletionProtectionEnabled=False,
        Tags=ownership_tags(key, owner),
    )
    ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 600})
    return prove_tags_applied(ddb, name, prefix=prefix, run_id=run_id, key=key)


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


def sweep_scratch_tables(
    ddb: Any,
    *,
    prefix: str,
    key: OwnershipKey,
    max_age: timedelta,
    now: datetime,
    run_state: RunState,
) -> list[str]:
    """Delete the scratch tables drills left behind; return their names.

    Only tables whose owner tag proves a drill made them are considered (:func:`owner_of`);
    a table tagged by hand is never touched, whatever it claims. Of those, a table is deleted
    when the run that made it is over by Airflow's own records (``run_state`` of the DAG and
    run its tags name, unless it was kept on purpose), or when it is older than ``max_age``.
    """
    deleted = []
    for name in _prefixed_tables(ddb, prefix):
        table = describe_table(ddb, name)
        if table is None or table.get("TableStatus") != "ACTIVE":
            continue
        owner = owner_of(ddb, table, prefix=prefix, key=key)
        if owner is None:
            log.info("Leaving %s alone: its tags do not prove a drill made it", name)
            continue
        state = run_state(owner.dag_id, owner.run_id)
        reason = sweep_reason(owner, table_creation_time(table), now=now, max_age=max_age, run_state=state)
        if reason is None:
            continue
        log.info("Deleting scratch table %s: %s", name, reason)
        try:
            ddb.delete_table(TableName=name)
        except ClientError as err:
            if error_code(err) not in ("ResourceNotFoundException", "ResourceInUseException"):
                raise
            continue
        deleted.append(name)
    return deleted
