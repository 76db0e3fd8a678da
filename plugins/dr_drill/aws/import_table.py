"""ImportTable of an s3_export into the scratch name: start it, resume it, find it, and follow it.

A retried restore must never import twice nor import into a table it did not make: the
request carries a client token derived from the drill (``import_client_token``), and an
untagged table of the scratch name is resumed only when DynamoDB shows this drill's import
made it (:func:`find_drill_import`).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from dr_drill.aws.scratch_tables import delete_scratch_table, describe_table, table_tags
from dr_drill.aws.server_side import table_restore_state
from dr_drill.contracts import BackupRef, DrillSpec
from dr_drill.core.restore.ownership import OwnershipKey
from dr_drill.core.restore.scratch import SCRATCH_TAG, scratch_table_name
from dr_drill.core.sources.s3_export import IMPORT_TOKEN_GENERATIONS, import_is_this_drills, import_table_request
from dr_drill.errors import RestoreIncomplete, UnsafeTarget

log = logging.getLogger(__name__)
_IMPORT_DONE = ("COMPLETED", "FAILED", "CANCELLED")
_REPLAY_SLACK = timedelta(minutes=1)


def _is_replay(ddb: Any, description: dict[str, Any], *, name: str, called_at: datetime) -> bool:
    """True when DynamoDB answered with an earlier import of the same token whose table was since deleted."""
    status = description.get("ImportStatus")
    if status not in _IMPORT_DONE or describe_table(ddb, name) is not None:
        return False
    # A completed import always leaves its table; a failed one may not, so only its start time tells.
    started = description.get("StartTime")
    return status == "COMPLETED" or (isinstance(started, datetime) and started < called_at - _REPLAY_SLACK)


def start_import(ddb: Any, *, name: str, export: BackupRef, definition: dict[str, Any]) -> str:
    """Start this drill's ImportTable into ``name``; return its ARN (an earlier try's, for the same token)."""
    called_at = datetime.now(UTC)
    for generation in range(IMPORT_TOKEN_GENERATIONS):
        request = import_table_request(name, export, definition, generation=generation)
        description = ddb.import_table(**request)["ImportTableDescription"]
        if not _is_replay(ddb, description, name=name, called_at=called_at):
            return description["ImportArn"]
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


def resume_or_start_import(
    ddb: Any, *, spec: DrillSpec, export: BackupRef, definition: dict[str, Any], key: OwnershipKey
) -> str:
    """Start this drill's ImportTable into the scratch name, or resume the one an earlier try started.

    An untagged table of that name is resumed only when its import is provably this drill's
    (:func:`find_drill_import`); this run's owned scratch table is deleted (guarded) and imported anew.

    :raises UnsafeTarget: when a table of that name exists that this drill did not make.
    """
    name = spec.scratch_table
    table = describe_table(ddb, name)
    if table is not None:
        if SCRATCH_TAG in table_tags(ddb, table["TableArn"]):
            log.info("Scratch table %s exists from an earlier try of this run; importing it anew", name)
            delete_scratch_table(ddb, name, prefix=spec.scratch_prefix, run_id=spec.run_id, key=key)
        else:
            import_arn = find_drill_import(ddb, table, spec=spec, export=export)
            if import_arn is None:
                raise UnsafeTarget(
                    f"refusing to import into {name}: an untagged table of that name exists "
                    "and no import of this drill's export created it"
                )
            log.info("Resuming import %s into %s, started by an earlier try of this run", import_arn, name)
            return import_arn
    return start_import(ddb, name=name, export=export, definition=definition)


def _imports_into(ddb: Any, table_arn: str) -> list[dict[str, Any]]:
    # ListImports has no botocore paginator.
    summaries: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableArn": table_arn, "PageSize": 25}
    while True:
        page = ddb.list_imports(**kwargs)
        summaries.extend(page.get("ImportSummaryList", ()))
        if not page.get("NextToken"):
            return summaries
        kwargs["NextToken"] = page["NextToken"]


def find_drill_import(ddb: Any, table: dict[str, Any], *, spec: DrillSpec, export: BackupRef) -> str | None:
    """Return the ARN of the import that made ``table`` when it is provably this drill's, else None.

    For when a restore died between ImportTable and saving its ARN. The table must carry this
    run's scratch name; the newest import into its ARN (ListImports) must name this drill's
    export (bucket and key prefix) and, where DescribeImport gives it, one of this drill's tokens.
    """
    name = table["TableName"]
    prefix = spec.scratch_prefix
    if not name.startswith(prefix) or name != scratch_table_name(spec.table_name, spec.run_id, prefix):
        log.warning("Not looking for an import into %s: it is not this run's scratch table name", name)
        return None
    summaries = _imports_into(ddb, table["TableArn"])
    if not summaries or not all(isinstance(summary.get("StartTime"), datetime) for summary in summaries):
        log.warning("No import into %s can be told to be the one that made it", name)
        return None
    # The newest import into this ARN made the table that now carries the name.
    newest = max(summaries, key=lambda summary: summary["StartTime"])
    checks = {"table_arn": table["TableArn"], "name": name, "export": export}
    if not import_is_this_drills(newest, **checks, require_source=True):
        log.warning("Import %s into %s does not name this drill's export", newest.get("ImportArn"), name)
        return None
    description = ddb.describe_import(ImportArn=newest["ImportArn"])["ImportTableDescription"]
    if not import_is_this_drills(description, **checks, require_source=False):
        log.warning("Import %s into %s was not started by this drill", newest["ImportArn"], name)
        return None
    return newest["ImportArn"]


def import_made(ddb: Any, table: dict[str, Any], *, import_arn: str, export: BackupRef) -> bool:
    """Whether DescribeImport shows that import ``import_arn`` of this drill's export made ``table``."""
    description = ddb.describe_import(ImportArn=import_arn)["ImportTableDescription"]
    return import_is_this_drills(
        description, table_arn=table["TableArn"], name=table["TableName"], export=export, require_source=False
    )


def import_state(ddb: Any, *, name: str, import_arn: str) -> dict[str, Any]:
    """Return ``{"state": "running" | "done" | "failed", ...}`` of an import and then of its table."""
    description = ddb.describe_import(ImportArn=import_arn)["ImportTableDescription"]
    status = description["ImportStatus"]
    progress = {"processed_items": description.get("ProcessedItemCount"), "items": description.get("ImportedItemCount")}
    if status in ("FAILED", "CANCELLED", "CANCELLING"):
        code, message = description.get("FailureCode") or "", description.get("FailureMessage") or ""
        reason = f"ImportTable {status.lower()}: {code} {message}"
        return {"state": "failed", "reason": reason.strip()[:500], **progress}
    if status != "COMPLETED":
        return {"state": "running", **progress}
    imported = {**progress, "error_count": description.get("ErrorCount", 0)}
    if describe_table(ddb, name) is None:
        return {**imported, "state": "running"}
    return {**imported, **table_restore_state(ddb, name)}
