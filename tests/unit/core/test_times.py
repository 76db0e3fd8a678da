"""Backup timestamps: naive times are UTC, offsets are kept, and what is not a time is None."""

from __future__ import annotations

import pytest

from dr_drill.core.times import parse_backup_timestamp


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("2025-01-28T10:30:00", "2025-01-28T10:30:00+00:00", id="naive-is-utc"),
        pytest.param("2025-01-28T10:30:00+07:00", "2025-01-28T10:30:00+07:00", id="offset-kept"),
        pytest.param("yesterday", None, id="unparseable"),
    ],
)
def test_backup_timestamp_parsing(text, expected):
    parsed = parse_backup_timestamp(text)
    assert (parsed.isoformat() if parsed else None) == expected
