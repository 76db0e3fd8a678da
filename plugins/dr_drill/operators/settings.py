"""Deployment settings: Airflow Variables first, then environment variables of the same name."""

from __future__ import annotations

import os

from airflow.sdk import Variable

from dr_drill.core.plan.drill_plan import Settings
from dr_drill.core.restore.scratch import DEFAULT_SCRATCH_PREFIX


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
