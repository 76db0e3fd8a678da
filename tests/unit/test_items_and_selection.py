"""Number handling, backup selection and scratch names: pure functions."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from dr_drill.core.items.canonical import canonical_number, to_typed_value
from dr_drill.core.plan.selection import SelectionPolicy, select_backup
from dr_drill.core.restore.scratch import is_scratch_of, scratch_table_name, scratch_tags
from dr_drill.core.sources.s3_json import json_backup_candidates, parse_json_backup_key
from dr_drill.errors import BackupNotFound


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(Decimal("1.50"), "1.5", id="trailing-zero"),
        pytest.param(Decimal("1E+2"), "100", id="exponent"),
        pytest.param(Decimal("-0"), "0", id="negative-zero"),
        pytest.param(Decimal("0.000"), "0", id="zero-with-scale"),
        pytest.param(Decimal("-12.3400"), "-12.34", id="negative"),
        pytest.param(Decimal("1.23E-10"), "0.000000000123", id="small"),
        pytest.param(12345678901234567890123456789012345678, "12345678901234567890123456789012345678", id="38-digits"),
        pytest.param(Decimal("9." + "9" * 37 + "E+125"), "9" * 38 + "0" * 88, id="dynamodb-max"),
    ],
)
def test_canonical_number_is_exact(value, expected):
    assert canonical_number(value) == expected


@pytest.mark.parametrize("bad", [Decimal("NaN"), Decimal("Infinity")])
def test_non_finite_numbers_are_refused(bad):
    with pytest.raises(ValueError, match="not a number DynamoDB can store"):
        canonical_number(bad)


def test_floats_are_refused_so_digits_are_never_lost():
    with pytest.raises(TypeError, match="floats lose digits"):
        to_typed_value(0.1)


def test_booleans_are_not_numbers():
    assert to_typed_value(True) == {"BOOL": True}
    assert to_typed_value(1) == {"N": "1"}


def _key(table, stamp):
    return f"dynamodb-backups/{table}-backup-{stamp}.json"


def test_latest_backup_is_chosen_by_the_name_timestamp():
    keys = [
        _key("app", "2025-01-02-01-00-00"),
        _key("app", "2025-01-10-01-00-00"),
        _key("app", "2025-01-03-01-00-00"),
        _key("app-backup", "2025-02-01-01-00-00"),  # another table whose name starts the same way
        "dynamodb-backups/app-backup-latest.json",
        _key("app", "2025-13-40-01-00-00"),  # not a date
    ]
    selection = _latest("b", keys, "app")
    latest = selection.chosen
    assert latest.ref["key"] == _key("app", "2025-01-10-01-00-00")
    assert latest.taken_at == datetime(2025, 1, 10, 1, tzinfo=UTC)
    assert latest.location == f"s3://b/{latest.ref['key']}"
    assert selection.considered == 3


def test_no_backup_names_the_table_and_prefix():
    with pytest.raises(BackupNotFound, match=r"no backup of table app under s3://b/dynamodb-backups/app-backup-\*"):
        _latest("b", [_key("other", "2025-01-01-00-00-00")], "app")


def _latest(bucket, keys, table):
    what = f"of table {table} under s3://{bucket}/dynamodb-backups/{table}-backup-*"
    candidates = json_backup_candidates(bucket, keys, table)
    return select_backup(candidates, SelectionPolicy(), now=datetime.now(UTC), seed_source="", what=what)


def test_explicit_backup_outside_the_convention_has_no_name_time():
    assert parse_json_backup_key("manual/snapshot.json", "app") is None
    assert parse_json_backup_key(_key("app", "2025-01-02-03-04-05"), "app") == datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    "run_id",
    [
        pytest.param("scheduled__2026-11-26T02:00:00+00:00", id="scheduled"),
        pytest.param("manual__2026-11-26T20:08:09.145587+00:00", id="manual"),
        pytest.param("a" * 250, id="long-run-id"),
        pytest.param("!!!", id="no-usable-characters"),
    ],
)
@pytest.mark.parametrize("table", ["app-users", "t" * 255])
def test_scratch_names_follow_dynamodb_rules_and_differ_per_run(run_id, table):
    name = scratch_table_name(table, run_id)
    assert re.fullmatch(r"[a-zA-Z0-9_.-]{3,255}", name)
    assert name.startswith("drill-")
    assert name == scratch_table_name(table, run_id)
    assert name != scratch_table_name(table, run_id + "x")
    assert name != scratch_table_name(table + "x", run_id)


def test_only_a_prefixed_table_tagged_for_this_run_is_scratch():
    tags = {tag["Key"]: tag["Value"] for tag in scratch_tags("app", "run-1")}
    assert is_scratch_of("drill-app-1", tags, prefix="drill-", run_id="run-1")
    assert not is_scratch_of("app", tags, prefix="drill-", run_id="run-1")
    assert not is_scratch_of("drill-app-1", tags, prefix="drill-", run_id="run-2")
    assert not is_scratch_of("drill-app-1", {}, prefix="drill-", run_id="run-1")
