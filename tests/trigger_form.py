"""What the UI's trigger form posts when a person changes nothing but the table.

Captured from the real form in headless Chromium (tests/browser/test_trigger_form_in_chromium.py,
which fails when the form posts anything else), so that fast tests can drill with the exact conf.
"""

from __future__ import annotations

from typing import Any

UNTOUCHED_FORM_CONF: dict[str, Any] = {
    "table_name": None,
    "tables": None,
    "backup_source": None,
    "backup_bucket": None,
    "backup_file": None,
    "export_prefix": None,
    "selection": None,
    "recovery": None,
    "batch_size": None,
    "restore_tasks": None,
    "keep_scratch_table": None,
    "rto_target_seconds": None,
    "rpo_target_seconds": None,
    "sample_size": None,
    "sample_seed": None,
    "sweep_max_age_hours": 24,
}


def form_conf(**typed: Any) -> dict[str, Any]:
    """The form's conf after a person typed ``typed`` into its fields."""
    return {**UNTOUCHED_FORM_CONF, **typed}
