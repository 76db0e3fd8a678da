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
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from dr_drill.aws.scratch_tables import _tags, assert_scratch_table, describe_table, tag_as_scratch
from dr_drill.core.errors import BackupNotFound, RestoreIncomplete, UnsafeTarget
from dr_drill.core.restore import IMPORT_TABLE, RESTORE_FROM_BACKUP, RESTORE_TO_POINT_IN_TIME
from dr_drill.core.scratch import SCRATCH_TAG

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


def import_table_request(name: str, located: dict[str, Any], definition: dict[str, Any]) -> dict[str, Any]:
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
        # The same drill retried gets the same import, not a second one.
        "ClientToken": hashlib.sha256(f"{name}\0{located['export_arn']}".encode()).hexdigest()[:36],
        "S3BucketSource": {"S3Bucket": located["bucket"], "S3KeyPrefix": _export_data_prefix(located)},
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
        response = ddb.import_table(**import_table_request(name, located, definition))
        return {"import_arn": response["ImportTableDescription"]["ImportArn"]}
    raise ValueError(f"{method} is not a server-side restore")


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
        return ddb.describe_import(ImportArn=import_arn)["ImportTableDescription"].get("TableArn") == table["TableArn"]
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
