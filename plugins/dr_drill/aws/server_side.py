"""What every server-side restore shares: its table's state, claiming it as scratch, and removing it.

RestoreTableFromBackup, RestoreTableToPointInTime and ImportTable create the target table
themselves and none of them takes tags, so the restored table is untagged until it is
ACTIVE (TagResource is refused while a table is being created). Until then only
:func:`claim_restored_table` may touch it: it tags a table only when its name is this run's
scratch name AND DynamoDB itself says this drill's restore made it (the source adapter's
``made_by_drill``: RestoreSummary, or the import's TableArn). Its tags then carry the owner
tag (``dr-drill:owner``, signed with the drill's ownership secret over the table's name, run
and ``CreationDateTime``), which every later write and delete, and the sweep, check.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from dr_drill.aws.client_errors import error_code, error_message
from dr_drill.aws.scratch_tables import (
    assert_scratch_table,
    delete_scratch_table,
    describe_table,
    prove_tags_applied,
    table_tags,
    tag_as_scratch,
)
from dr_drill.contracts import DrillSpec
from dr_drill.core.restore.ownership import OwnershipKey
from dr_drill.core.restore.scratch import SCRATCH_TAG
from dr_drill.errors import BackupNotFound, RestoreIncomplete, UnsafeTarget

log = logging.getLogger(__name__)
# Whether DynamoDB shows that this drill's restore made a table (its DescribeTable ``Table``).
MadeByDrill = Callable[[dict[str, Any]], bool]
# The teardown waits up to an hour for a restore to settle before it can tag and delete its table.
ACTIVE_WAIT = {"Delay": 10, "MaxAttempts": 360}
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


def backup_refused(err: ClientError, what: str) -> BackupNotFound | None:
    """Return the named error when AWS refuses to restore the backup (gone, or outside its window)."""
    code = error_code(err)
    if code in _BACKUP_GONE_CODES:
        return BackupNotFound(f"{what} refused by DynamoDB: {code}: {error_message(err)}")
    return None


def table_restore_state(ddb: Any, name: str) -> dict[str, Any]:
    """Return ``{"state": "running" | "done" | "failed", ...}`` of the table a server-side restore fills."""
    table = describe_table(ddb, name)
    if table is None:
        return {"state": "failed", "reason": f"the restore's target table {name} does not exist"}
    in_progress = (table.get("RestoreSummary") or {}).get("RestoreInProgress", False)
    state = "done" if table["TableStatus"] == "ACTIVE" and not in_progress else "running"
    return {"state": state, "table_status": table["TableStatus"]}


def claim_restored_table(
    ddb: Any, name: str, *, spec: DrillSpec, made_by_drill: MadeByDrill, key: OwnershipKey
) -> dict[str, Any]:
    """Tag the ACTIVE table a server-side restore of this drill created as this run's scratch table.

    Already provably this run's: nothing to do. Tagged as any other table's (or by hand), not
    named with the prefix, or not made by this drill's restore: refused. Once tagged, the tags
    are read back; a table DynamoDB did not keep them on is deleted (the drill made it).

    :raises UnsafeTarget: for any table this drill did not create.
    :raises RestoreIncomplete: when the tags did not stick (the table is deleted).
    """
    table = describe_table(ddb, name)
    if table is None:
        raise UnsafeTarget(f"table {name} does not exist")
    if not name.startswith(spec.scratch_prefix):
        raise UnsafeTarget(f"refusing to tag {name}: scratch table names start with {spec.scratch_prefix!r}")
    tags = table_tags(ddb, table["TableArn"])
    if SCRATCH_TAG in tags:
        return assert_scratch_table(ddb, name, prefix=spec.scratch_prefix, run_id=spec.run_id, key=key)
    if tags or not made_by_drill(table):
        raise UnsafeTarget(f"refusing to tag {name}: DynamoDB does not show it as restored by this drill")
    try:
        tag_as_scratch(ddb, table, spec=spec, key=key)
    except ClientError as err:
        if error_code(err) == "ResourceInUseException":
            raise RestoreIncomplete(f"scratch table {name} cannot be tagged yet: it is still being created") from err
        raise
    log.info("Tagged %s, restored by this drill, as scratch table of run %s", name, spec.run_id)
    return prove_tags_applied(ddb, name, prefix=spec.scratch_prefix, run_id=spec.run_id, key=key)


def remove_scratch_table(
    ddb: Any, spec: DrillSpec, *, made_by_drill: MadeByDrill | None, key: OwnershipKey, wait: bool = True
) -> bool:
    """Delete this run's scratch table; an untagged one only when this drill's server-side restore made it.

    Such a table is untagged until it is ACTIVE: wait for that, tag it (the claim checks
    DynamoDB's own record of where it came from), then delete it guarded.

    :param made_by_drill: None for a streamed restore, whose table is tagged from its creation.
    :param wait: wait until the table is gone (a retry that makes it anew needs that; the teardown does not).
    """
    name = spec.scratch_table
    table = describe_table(ddb, name)
    if table is None:
        return False
    if SCRATCH_TAG not in table_tags(ddb, table["TableArn"]) and made_by_drill is not None:
        # Checked before waiting: a table that is not this drill's is refused at once, not in an hour.
        if not made_by_drill(table):
            raise UnsafeTarget(
                f"refusing to delete {name}: it is untagged and DynamoDB does not show this drill's restore made it"
            )
        log.info("Scratch table %s is a server-side restore not yet tagged: waiting for it to be ACTIVE", name)
        ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig=ACTIVE_WAIT)
        claim_restored_table(ddb, name, spec=spec, made_by_drill=made_by_drill, key=key)
    return delete_scratch_table(ddb, name, prefix=spec.scratch_prefix, run_id=spec.run_id, key=key, wait=wait)
