"""Server-side restores into the scratch name: RestoreTableFromBackup, RestoreTableToPointInTime, ImportTable.

DynamoDB creates the target table itself and none of these calls takes tags, so the
restored table is untagged until it is ACTIVE (TagResource is refused while a table is
being created). Until then only :func:`claim_restored_table` may touch it: it tags a
table only when its name is this run's scratch name AND DynamoDB itself says it was
restored from this drill's backup (RestoreSummary, or the import's TableArn).
"""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from dr_drill.aws.scratch_tables import (
    _tags,
    assert_scratch_table,
    delete_scratch_table,
    describe_table,
    tag_as_scratch,
)
from dr_drill.core.errors import BackupNotFound, RestoreIncomplete, UnsafeTarget
from dr_drill.core.restore import IMPORT_TABLE, RESTORE_FROM_BACKUP, RESTORE_TO_POINT_IN_TIME
from dr_drill.core.scratch import SCRATCH_TAG, scratch_table_name

log = logging.getLogger(__name__)


def _index_overrides(include_indexes: bool) -> dict[str, Any]:
    # An empty override list restores the table without those indexes, which is faster.
    return {} if include_indexes else {"GlobalSecondaryIndexOverride": [], "LocalSecondaryIndexOverride": []}


def restore_from_backup_request(name: str, located: dict[str, Any], *, include_indexes: bool) -> dict[str, Any]:
    return {
        "TargetTableName": name,
        "BackupArn": located["backup_arn"],
        "BillingModeOverride": "PAY_PER_REQUEST",
        **_index_overrides(include_indexes),
    }


def restore_to_point_in_time_request(name: str, located: dict[str, Any], *, include_indexes: bool) -> dict[str, Any]:
    # The name when known (the contract always gives it; moto reads only the name), else the ARN.
    source = (
        {"SourceTableName": located["source_table_name"]}
        if located.get("source_table_name")
        else {"SourceTableArn": located["source_table_arn"]}
    )
    return {
        **source,
        "TargetTableName": name,
        "RestoreDateTime": datetime.fromisoformat(located["restore_time"]),
        "BillingModeOverride": "PAY_PER_REQUEST",
        **_index_overrides(include_indexes),
    }


def _export_data_prefix(located: dict[str, Any]) -> str:
    # The export may sit under any S3 prefix: its data files' folder says where.
    if located.get("data_files"):
        return located["data_files"][0].rsplit("/", 1)[0] + "/"
    return f"AWSDynamoDB/{located['export_id']}/data/"


# ImportTable is idempotent on ClientToken for 8 hours: a retried setup sending the same token gets
# back the import an earlier try started instead of a second one. A token whose import finished and
# whose table is gone (an earlier, torn-down attempt of this run) moves on to the next generation.
IMPORT_TOKEN_GENERATIONS = 5
_IMPORT_DONE = ("COMPLETED", "FAILED", "CANCELLED")
_REPLAY_SLACK = timedelta(minutes=1)


def import_client_token(name: str, located: dict[str, Any], generation: int = 0) -> str:
    """The ImportTable ClientToken of this drill: scratch name, export and generation, nothing try-dependent."""
    seed = f"{name}\0{located['export_arn']}" + (f"\0{generation}" if generation else "")
    return hashlib.sha256(seed.encode()).hexdigest()[:36]


def import_source(located: dict[str, Any]) -> dict[str, str]:
    """The S3BucketSource an import of this drill's located export names."""
    return {"S3Bucket": located["bucket"], "S3KeyPrefix": _export_data_prefix(located)}


def import_table_request(
    name: str, located: dict[str, Any], definition: dict[str, Any], *, generation: int = 0
) -> dict[str, Any]:
    """ImportTable of an s3_export's data files; ImportTable cannot create local secondary indexes."""
    parameters = {
        "TableName": name,
        "KeySchema": definition["KeySchema"],
        "AttributeDefinitions": definition["AttributeDefinitions"],
        "BillingMode": "PAY_PER_REQUEST",
    }
    if definition.get("GlobalSecondaryIndexes"):
        parameters["GlobalSecondaryIndexes"] = definition["GlobalSecondaryIndexes"]
    used = {entry["AttributeName"] for entry in definition["KeySchema"]} | {
        entry["AttributeName"] for index in parameters.get("GlobalSecondaryIndexes", ()) for entry in index["KeySchema"]
    }
    parameters["AttributeDefinitions"] = [e for e in definition["AttributeDefinitions"] if e["AttributeName"] in used]
    return {
        "ClientToken": import_client_token(name, located, generation),
        "S3BucketSource": import_source(located),
        "InputFormat": "DYNAMODB_JSON",
        "InputCompressionType": "GZIP",
        "TableCreationParameters": parameters,
    }


# What AWS answers when the backup the locate step found cannot be restored (any more).
_BACKUP_GONE_CODES = frozenset(
    {
        "BackupNotFoundException",
        "SourceTableNotFoundException",
        "PointInTimeRecoveryUnavailableException",
        "InvalidRestoreTimeException",
        "BackupInUseException",
    }
)


def start_server_side_restore(
    ddb: Any,
    *,
    method: str,
    name: str,
    located: dict[str, Any],
    include_indexes: bool,
    definition: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Start the restore into ``name``; return what waiting for it needs (``import_arn`` for an import).

    :raises BackupNotFound: when AWS says the backup (or PITR window) cannot be restored.
    """
    try:
        return _start(
            ddb, method=method, name=name, located=located, include_indexes=include_indexes, definition=definition
        )
    except ClientError as err:
        code = err.response.get("Error", {}).get("Code", "")
        if code == "ImportConflictException":
            raise RestoreIncomplete(
                f"ImportTable into {name} refused: an earlier try of this run sent other parameters "
                f"with the same client token (did the source's schema change?): {err}"[:500]
            ) from err
        if code in _BACKUP_GONE_CODES:
            message = err.response.get("Error", {}).get("Message", "")[:300]
            raise BackupNotFound(
                f"{method} of {located.get('location')} refused by DynamoDB: {code}: {message}"
            ) from err
        raise


def _start(
    ddb: Any,
    *,
    method: str,
    name: str,
    located: dict[str, Any],
    include_indexes: bool,
    definition: dict[str, Any] | None,
) -> dict[str, Any]:
    if method == RESTORE_FROM_BACKUP:
        ddb.restore_table_from_backup(**restore_from_backup_request(name, located, include_indexes=include_indexes))
        return {}
    if method == RESTORE_TO_POINT_IN_TIME:
        ddb.restore_table_to_point_in_time(
            **restore_to_point_in_time_request(name, located, include_indexes=include_indexes)
        )
        return {}
    if method == IMPORT_TABLE:
        if definition is None:
            raise RestoreIncomplete("ImportTable needs the table's key schema and none is known")
        return _import(ddb, name=name, located=located, definition=definition)
    raise ValueError(f"{method} is not a server-side restore")


def _import(ddb: Any, *, name: str, located: dict[str, Any], definition: dict[str, Any]) -> dict[str, str]:
    called_at = datetime.now(UTC)
    for generation in range(IMPORT_TOKEN_GENERATIONS):
        request = import_table_request(name, located, definition, generation=generation)
        description = ddb.import_table(**request)["ImportTableDescription"]
        if not _is_replay(ddb, description, name=name, called_at=called_at):
            return {"import_arn": description["ImportArn"]}
        log.info(
            "ImportTable token %d of %s names finished import %s whose table is gone: using the next token",
            generation,
            name,
            description["ImportArn"],
        )
    raise RestoreIncomplete(
        f"ImportTable into {name}: all {IMPORT_TOKEN_GENERATIONS} client tokens of this run name finished "
        "imports whose table is gone (DynamoDB keeps a token for 8 hours); start a new run"
    )


def _is_replay(ddb: Any, description: dict[str, Any], *, name: str, called_at: datetime) -> bool:
    """True when DynamoDB answered with an earlier import of the same token whose table was since deleted."""
    status = description.get("ImportStatus")
    if status not in _IMPORT_DONE or describe_table(ddb, name) is not None:
        return False
    # A completed import always leaves its table; a failed one may not, so only its start time tells.
    started = description.get("StartTime")
    return status == "COMPLETED" or (isinstance(started, datetime) and started < called_at - _REPLAY_SLACK)


def resume_or_start_import(
    ddb: Any,
    *,
    name: str,
    located: dict[str, Any],
    definition: dict[str, Any] | None,
    prefix: str,
    run_id: str,
    source_table: str,
) -> dict[str, Any]:
    """Start this drill's ImportTable into ``name``, or resume the one an earlier try of the setup started.

    An untagged table of that name is resumed only when its import is provably this drill's
    (:func:`find_drill_import`); this run's tagged scratch table is deleted (guarded) and imported anew.

    :raises UnsafeTarget: when a table of that name exists that this drill did not make.
    """
    table = describe_table(ddb, name)
    if table is not None:
        if SCRATCH_TAG in _tags(ddb, table["TableArn"]):
            log.info("Scratch table %s exists from an earlier try of this run; importing it anew", name)
            delete_scratch_table(ddb, name, prefix=prefix, run_id=run_id)
        else:
            import_arn = find_drill_import(
                ddb, table, located=located, prefix=prefix, run_id=run_id, source_table=source_table
            )
            if import_arn is None:
                raise UnsafeTarget(
                    f"refusing to import into {name}: an untagged table of that name exists "
                    "and no import of this drill's export created it"
                )
            log.info("Resuming import %s into %s, started by an earlier try of this run", import_arn, name)
            return {"import_arn": import_arn, "resumed": True}
    return start_server_side_restore(
        ddb, method=IMPORT_TABLE, name=name, located=located, include_indexes=True, definition=definition
    )


def _import_names_this_drill(
    description: dict[str, Any], *, table_arn: str, name: str, located: dict[str, Any], require_source: bool
) -> bool:
    """The import went into ``table_arn``, from this drill's export, with one of this drill's client tokens."""
    if description.get("TableArn") != table_arn:
        return False
    source = description.get("S3BucketSource")
    if source is None:
        if require_source:
            return False
    elif not located.get("bucket") or {key: source.get(key) for key in ("S3Bucket", "S3KeyPrefix")} != import_source(
        located
    ):
        return False
    token = description.get("ClientToken")
    tokens = {import_client_token(name, located, generation) for generation in range(IMPORT_TOKEN_GENERATIONS)}
    return token is None or token in tokens


def _imports_into(ddb: Any, table_arn: str) -> list[dict[str, Any]]:
    summaries: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableArn": table_arn, "PageSize": 25}
    while True:
        page = ddb.list_imports(**kwargs)
        summaries.extend(page.get("ImportSummaryList", ()))
        if not page.get("NextToken"):
            return summaries
        kwargs["NextToken"] = page["NextToken"]


def find_drill_import(
    ddb: Any, table: dict[str, Any], *, located: dict[str, Any], prefix: str, run_id: str, source_table: str
) -> str | None:
    """Return the ARN of the import that made ``table`` when it is provably this drill's, else None.

    For when the setup died between ImportTable and saving its ARN. The table must carry this
    run's scratch name; the newest import into its ARN (ListImports) must name this drill's
    export (bucket and key prefix) and, where DescribeImport gives it, one of this drill's tokens.
    """
    name = table["TableName"]
    if not name.startswith(prefix) or name != scratch_table_name(source_table, run_id, prefix):
        log.warning("Not looking for an import into %s: it is not this run's scratch table name", name)
        return None
    summaries = _imports_into(ddb, table["TableArn"])
    if not summaries or not all(isinstance(summary.get("StartTime"), datetime) for summary in summaries):
        log.warning("No import into %s can be told to be the one that made it", name)
        return None
    # The newest import into this ARN made the table that now carries the name.
    newest = max(summaries, key=lambda summary: summary["StartTime"])
    checks = {"table_arn": table["TableArn"], "name": name, "located": located}
    if not _import_names_this_drill(newest, **checks, require_source=True):
        log.warning("Import %s into %s does not name this drill's export", newest.get("ImportArn"), name)
        return None
    description = ddb.describe_import(ImportArn=newest["ImportArn"])["ImportTableDescription"]
    if not _import_names_this_drill(description, **checks, require_source=False):
        log.warning("Import %s into %s was not started by this drill", newest["ImportArn"], name)
        return None
    return newest["ImportArn"]


def _import_status(ddb: Any, import_arn: str) -> dict[str, Any]:
    description = ddb.describe_import(ImportArn=import_arn)["ImportTableDescription"]
    status = description["ImportStatus"]
    progress = {"processed_items": description.get("ProcessedItemCount"), "items": description.get("ImportedItemCount")}
    if status == "COMPLETED":
        return {"state": "done", **progress, "error_count": description.get("ErrorCount", 0)}
    if status in ("FAILED", "CANCELLED", "CANCELLING"):
        code, message = description.get("FailureCode") or "", description.get("FailureMessage") or ""
        reason = f"ImportTable {status.lower()}: {code} {message}"
        return {"state": "failed", "reason": reason.strip()[:500], **progress}
    return {"state": "running", **progress}


def server_side_status(ddb: Any, *, method: str, name: str, import_arn: str | None = None) -> dict[str, Any]:
    """Return ``{"state": "running" | "done" | "failed", ...}`` for a server-side restore into ``name``."""
    imported: dict[str, Any] = {}
    if method == IMPORT_TABLE:
        imported = _import_status(ddb, import_arn or "")
        if imported["state"] != "done":
            return imported
    table = describe_table(ddb, name)
    if table is None:
        if method == IMPORT_TABLE:
            return {**imported, "state": "running"}
        return {"state": "failed", "reason": f"the restore's target table {name} does not exist"}
    in_progress = (table.get("RestoreSummary") or {}).get("RestoreInProgress", False)
    state = "done" if table["TableStatus"] == "ACTIVE" and not in_progress else "running"
    return {**imported, "state": state, "table_status": table["TableStatus"]}


def _restored_from_this_drill(
    ddb: Any, table: dict[str, Any], *, method: str, located: dict[str, Any], import_arn: str | None
) -> bool:
    summary = table.get("RestoreSummary") or {}
    if method == RESTORE_FROM_BACKUP:
        return bool(located.get("backup_arn")) and summary.get("SourceBackupArn") == located["backup_arn"]
    if method == RESTORE_TO_POINT_IN_TIME:
        source_arn = summary.get("SourceTableArn") or ""
        if located.get("source_table_arn"):
            return source_arn == located["source_table_arn"]
        return source_arn.endswith(f":table/{located['source_table_name']}")
    if method == IMPORT_TABLE and import_arn:
        description = ddb.describe_import(ImportArn=import_arn)["ImportTableDescription"]
        return _import_names_this_drill(
            description, table_arn=table["TableArn"], name=table["TableName"], located=located, require_source=False
        )
    return False


def claim_restored_table(
    ddb: Any,
    name: str,
    *,
    prefix: str,
    run_id: str,
    source_table: str,
    method: str,
    located: dict[str, Any],
    import_arn: str | None = None,
) -> dict[str, Any]:
    """Tag the ACTIVE table a server-side restore of this drill created as this run's scratch table.

    Already tagged as this run's: nothing to do. Tagged as any other table's, not named with
    the prefix, or not restored from this drill's backup: refused.

    :raises UnsafeTarget: for any table this drill did not create.
    """
    table = describe_table(ddb, name)
    if table is None:
        raise UnsafeTarget(f"table {name} does not exist")
    if not name.startswith(prefix):
        raise UnsafeTarget(f"refusing to tag {name}: scratch table names start with {prefix!r}")
    tags = _tags(ddb, table["TableArn"])
    if SCRATCH_TAG in tags:
        return assert_scratch_table(ddb, name, prefix=prefix, run_id=run_id)
    if method == IMPORT_TABLE and not import_arn and not tags:
        # The setup died before saving the import's ARN: find it, and prove it is this drill's.
        import_arn = find_drill_import(
            ddb, table, located=located, prefix=prefix, run_id=run_id, source_table=source_table
        )
    if tags or not _restored_from_this_drill(ddb, table, method=method, located=located, import_arn=import_arn):
        raise UnsafeTarget(f"refusing to tag {name}: DynamoDB does not show it as restored by this drill")
    try:
        tag_as_scratch(ddb, table["TableArn"], source_table=source_table, run_id=run_id)
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") == "ResourceInUseException":
            raise RestoreIncomplete(f"scratch table {name} cannot be tagged yet: it is still being created") from err
        raise
    log.info("Tagged %s, restored by %s, as scratch table of run %s", name, method, run_id)
    return assert_scratch_table(ddb, name, prefix=prefix, run_id=run_id)
