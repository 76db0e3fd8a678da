"""Deployment settings: Airflow Variables first, then environment variables of the same name."""

from __future__ import annotations

import os

from airflow.sdk import Variable
from airflow.sdk.log import mask_secret

from dr_drill.core.plan.drill_plan import Settings
from dr_drill.core.restore.ownership import MIN_SECRET_BYTES, OwnershipKey
from dr_drill.core.restore.scratch import DEFAULT_SCRATCH_PREFIX
from dr_drill.errors import InvalidDrillRequest

# The name of the Variable (or environment variable) holding the ownership secret.
OWNERSHIP_SECRET = "DR_DRILL_OWNERSHIP_SECRET"


def setting(name: str) -> str | None:
    """Return Variable ``name`` or, failing that, environment variable ``name``; empty means unset."""
    value = Variable.get(name, default=None)
    if value in (None, ""):
        value = os.environ.get(name)
    return value or None


def read_settings() -> Settings:
    """Read the settings the original function took from its environment, plus the evidence bucket."""
    return Settings(
        backup_bucket=setting("BACKUP_BUCKET"),
        evidence_bucket=setting("EVIDENCE_BUCKET"),
        success_topic_arn=setting("SUCCESS_TOPIC_ARN"),
        failure_topic_arn=setting("FAILURE_TOPIC_ARN"),
        scratch_prefix=setting("SCRATCH_TABLE_PREFIX") or DEFAULT_SCRATCH_PREFIX,
    )


def ownership_key() -> OwnershipKey:
    """Read the secret that signs and proves the drill's scratch tables (``DR_DRILL_OWNERSHIP_SECRET``).

    It is masked in task logs. Without it the drill can prove no table is its own, so it
    creates, writes to and deletes none.

    :raises InvalidDrillRequest: when it is unset or too short.
    """
    secret = setting(OWNERSHIP_SECRET)
    if secret is None:
        raise InvalidDrillRequest(
            f"{OWNERSHIP_SECRET} is not set: the drill signs the scratch tables it makes with this secret and "
            "touches no table it cannot prove it made; set it as an Airflow Variable (from a secrets backend) "
            f"of at least {MIN_SECRET_BYTES} random characters"
        )
    mask_secret(secret, OWNERSHIP_SECRET)
    try:
        return OwnershipKey(secret)
    except ValueError as err:
        raise InvalidDrillRequest(f"{OWNERSHIP_SECRET}: {err}") from None


# The name of the setting that turns the restore's reading process off (dr_drill.aws.read_apart).
READER_PROCESS = "DR_DRILL_READER_PROCESS"


def reader_process() -> bool:
    """Whether a streamed restore reads its backup in a process of its own (``DR_DRILL_READER_PROCESS``).

    ``on`` (the default) or ``off``: off reads in the task's own process, at about two thirds
    of the rate a task writes at otherwise, for a platform where forking the task is unwelcome.

    :raises InvalidDrillRequest: for any other value.
    """
    value = (setting(READER_PROCESS) or "on").strip().lower()
    if value not in ("on", "off"):
        raise InvalidDrillRequest(f"{READER_PROCESS} is {value!r}: it is 'on' (the default) or 'off'")
    return value == "on"
