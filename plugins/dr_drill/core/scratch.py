"""Scratch table names and tags: the only tables a drill ever writes to or deletes."""

from __future__ import annotations

import hashlib
import re

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


def is_scratch_of(name: str, tags: dict[str, str], *, prefix: str, run_id: str) -> bool:
    """Return True only for a table named with ``prefix`` AND tagged as scratch of ``run_id``."""
    return name.startswith(prefix) and tags.get(SCRATCH_TAG) == "true" and tags.get(RUN_ID_TAG) == run_id[:256]
