"""The JSON backup format: the original checksum, streamed, the typed items it feeds the restore, and its key names."""

from __future__ import annotations

import hashlib
import io
import json
import random
import traceback
from datetime import UTC, datetime

import pytest

from demo.sample_data import json_backup_document, original_checksum, sample_items
from dr_drill.core.plan.selection import SelectionPolicy, select_backup
from dr_drill.core.sources.s3_json import (
    iter_typed_items,
    json_backup_candidates,
    parse_json_backup_key,
    verify_json_backup,
)
from dr_drill.core.times import parse_backup_timestamp
from dr_drill.errors import BackupCorrupt, BackupNotFound


def _original_algorithm(raw: bytes) -> str:
    """The Lambda's own code, verbatim in effect."""
    backup_data = json.loads(raw)
    return hashlib.sha256(json.dumps(backup_data["data"], sort_keys=True, default=str).encode()).hexdigest()


def _awkward_items(count: int) -> list[dict]:
    rng = random.Random(3)
    return [
        {
            "id": f"k{i}",
            "fraction": rng.random() * 10 ** rng.randint(-8, 20),
            "big": 123456789012345678901234567890 * (i + 1),
            "neg_zero": -0.0,
            "text": 'Nguyễn Zoë 李 \u2028 "quoted" \\ tab\t',
            "nested": {"z": [1, 2.5, None, True, {"b": 1, "a": 2}], "a": {}},
            "empty": [],
        }
        for i in range(count)
    ]


def _doc(items, **overrides) -> bytes:
    data = {"table_name": "t-1", "backup_timestamp": "2025-01-28T10:30:00", "item_count": len(items), "data": items}
    data["checksum"] = original_checksum(items)
    data.update(overrides)
    return json.dumps(data).encode()


@pytest.mark.parametrize("count", [0, 1, 2, 500])
def test_streamed_checksum_equals_the_original_algorithm(count):
    raw = _doc(_awkward_items(count))
    verified = verify_json_backup(io.BytesIO(raw), "t-1")
    assert verified.checksum == _original_algorithm(raw)
    assert verified.item_count == count


def test_field_order_in_the_object_does_not_matter():
    items = _awkward_items(3)
    raw = json.dumps(
        {
            "checksum": original_checksum(items),
            "data": items,
            "item_count": 3,
            "backup_timestamp": "x",
            "table_name": "t-1",
        }
    ).encode()
    assert verify_json_backup(io.BytesIO(raw), "t-1").item_count == 3


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        pytest.param(_doc(_awkward_items(3), checksum="0" * 64), "checksum mismatch", id="wrong-checksum"),
        pytest.param(_doc(_awkward_items(3), item_count=4), "item_count says 4 items but data holds 3", id="count"),
        pytest.param(_doc(_awkward_items(3), table_name="other"), "backup is of table 'other'", id="other-table"),
        pytest.param(_doc(_awkward_items(3))[:-40], "not valid JSON", id="truncated"),
        pytest.param(b'{"table_name": "t-1", "data": []}', "lacks required fields: backup_timestamp", id="fields"),
        pytest.param(b"[1, 2]", "not a JSON object", id="not-object"),
        pytest.param(_doc([1, 2]), "item 0 of data is not a JSON object", id="scalar-items"),
        pytest.param(_doc([], data={"a": 1}), "data is not a list", id="data-not-list"),
        pytest.param(_doc([], item_count="0"), "item_count is not a non-negative integer", id="count-type"),
    ],
)
def test_bad_backups_are_refused_with_the_reason(raw, message):
    with pytest.raises(BackupCorrupt, match=message):
        verify_json_backup(io.BytesIO(raw), "t-1")


_CANARY = "CANARY-SSN-123-45-6789"
_MALFORMED = (
    b'{"table_name": "t-1", "data": [{"secret": "%s", "n": 1.5.5}]}' % _CANARY.encode(),
    b'{"table_name": "t-1", "data": [{"secret": "%s" oops %s not}]}' % (_CANARY.encode(), _CANARY.encode()),
    b'{"table_name": "t-1", "data": [{"secret": "%s", "n": NaN}]}' % _CANARY.encode(),
    b'{"table_name": "t-1", "data": [{"secret": "%s\xff\xfe"}]}' % _CANARY.encode(),
)


@pytest.mark.parametrize("raw", _MALFORMED, ids=["bad-number", "bare-words", "nan", "not-utf8"])
@pytest.mark.parametrize(
    "read",
    [
        pytest.param(lambda raw: verify_json_backup(io.BytesIO(raw), "t-1"), id="verify"),
        pytest.param(lambda raw: list(iter_typed_items(io.BytesIO(raw))), id="restore"),
    ],
)
def test_parse_errors_print_no_backup_bytes_even_in_the_traceback(raw, read):
    # Airflow logs the whole traceback of a failed task, chained causes included: the parser's
    # own exception quotes the bytes around the error, so it must not be chained.
    with pytest.raises(BackupCorrupt) as caught:
        read(raw)
    printed = "".join(traceback.format_exception(caught.value))
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert _CANARY not in printed and "secret" not in printed
    assert "after 0 items" in caught.value.reason or "item 0 of data" in caught.value.reason


def test_typed_items_keep_exact_decimals_never_floats():
    raw = b'{"data": [{"id": "a", "price": 19.90, "tiny": 1E-7, "big": 123456789012345678901234567890, "x": 1.0}]}'
    [item] = list(iter_typed_items(io.BytesIO(raw)))
    assert item == {
        "id": {"S": "a"},
        "price": {"N": "19.9"},
        "tiny": {"N": "0.0000001"},
        "big": {"N": "123456789012345678901234567890"},
        "x": {"N": "1"},
    }


def test_sample_backup_items_are_all_restorable_types():
    items = sample_items("app-users", 50)
    raw = json.dumps(json_backup_document("app-users", items, parse_backup_timestamp("2025-01-01T00:00:00"))).encode()
    typed = list(iter_typed_items(io.BytesIO(raw)))
    assert len(typed) == 50
    assert {kind for item in typed for value in item.values() for kind in value} >= {"S", "N", "BOOL", "NULL", "L", "M"}


# --- backup key names: the name's timestamp, the newest, and a table whose name starts the same way ---


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
