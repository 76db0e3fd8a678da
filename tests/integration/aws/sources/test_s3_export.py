"""The s3_export source against the moto server: the newest completed export, its data files, and damage named."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest

from demo.sample_data import sample_items
from demo.sample_exports import put_export, put_started_only, typed_items
from dr_drill.aws.sources import Clients
from dr_drill.aws.sources.s3_export import S3ExportSource, read_data_files, select_export, verify_export
from dr_drill.contracts import BackupRef
from dr_drill.core.plan.selection import SelectionPolicy
from dr_drill.errors import BackupCorrupt, BackupNotFound
from tests.snapshots import every_object

NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
LATEST = SelectionPolicy()


@pytest.fixture
def exports(aws):
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="exp")
    return s3


def _export(s3, count=40, hours_ago=1, table="app-users", prefix="exports/app-users", **kwargs):
    items = typed_items(sample_items("app-users", count))
    return put_export(s3, "exp", prefix, table, items, NOW - timedelta(hours=hours_ago), **kwargs)


def _locate(s3, policy=LATEST, prefix="exports/app-users", page_size=None):
    selection, incomplete = select_export(
        s3, "exp", prefix, "app-users", policy, now=NOW, seed_source="d", page_size=page_size
    )
    return selection, incomplete


def test_newest_completed_export_over_every_page_of_the_listing(exports):
    older = _export(exports, count=30, hours_ago=30)
    newest = _export(exports, count=40, hours_ago=5, checksum_suffix=".md5")
    _export(exports, count=10, hours_ago=1, table="orders", exported_table="orders")  # another table, same prefix
    running = [put_started_only(exports, "exp", "exports/app-users", NOW, salt=str(n)) for n in range(40)]

    # Pages of 7 keys: the completed exports' summaries are spread over many pages of _started markers.
    selection, incomplete = _locate(exports, page_size=7)

    chosen = selection.chosen.ref
    assert chosen["export_id"] == newest.export_id and chosen["export_arn"] == newest.export_arn
    assert selection.considered == 2 and selection.fallbacks[0].ref["export_id"] == older.export_id
    assert sorted(incomplete) == sorted(running)
    verified = verify_export(exports, selection.chosen.backup_ref(), "app-users")
    assert verified.item_count == 40 and verified.checksum_verified is True
    assert verified.backup_timestamp == (NOW - timedelta(hours=5)).isoformat()
    assert verified.data_file_count == 4  # three with items, one empty partition
    assert len(verified.data_files) == 4


def test_export_items_stream_typed_and_can_be_split_by_data_file(exports):
    stored = _export(exports, count=25, empty_files=2)
    source = S3ExportSource(Clients(s3=lambda: exports, dynamodb=lambda: None))
    backup = _locate(exports)[0].chosen.backup_ref()
    verified = verify_export(exports, backup, "app-users")
    assert verified.data_file_count == 5 and sorted(verified.data_files) == sorted(stored.data_keys)
    expected = typed_items(sample_items("app-users", 25))
    items = list(source.iter_items(backup, verified))
    assert sorted(json.dumps(i, sort_keys=True) for i in items) == sorted(
        json.dumps(i, sort_keys=True) for i in expected
    )
    first = list(source.iter_items(backup, verified, data_files=stored.data_keys[:1]))
    assert 0 < len(first) < 25


def _rewrite(s3, key, body):
    s3.put_object(Bucket="exp", Key=key, Body=body)


def _recompressed(s3, stored):
    """Same items, other bytes: only the MD5 can tell."""
    key = stored.data_keys[0]
    lines = gzip.decompress(s3.get_object(Bucket="exp", Key=key)["Body"].read())
    _rewrite(s3, key, gzip.compress(lines, compresslevel=1, mtime=1))


def _mismatched_count(s3, stored):
    key = stored.data_keys[0]
    lines = gzip.decompress(s3.get_object(Bucket="exp", Key=key)["Body"].read()).splitlines(keepends=True)
    body = gzip.compress(b"".join(lines[:-1]))
    manifest_key = f"{stored.folder}manifest-files.json"
    manifest = s3.get_object(Bucket="exp", Key=manifest_key)["Body"].read()
    first = json.loads(manifest.splitlines()[0])
    fixed = {**first, "md5Checksum": base64.b64encode(hashlib.md5(body).digest()).decode()}
    manifest = manifest.replace(manifest.splitlines()[0], json.dumps(fixed).encode())
    _rewrite(s3, key, body)
    _rewrite(s3, manifest_key, manifest)
    _rewrite(s3, f"{stored.folder}manifest-files.checksum", hashlib.md5(manifest).hexdigest().encode())


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        pytest.param(_recompressed, "MD5", id="md5-mismatch"),
        pytest.param(lambda s3, e: _rewrite(s3, e.data_keys[1], b"\x1f\x8b garbage"), "MD5", id="damaged-bytes"),
        pytest.param(lambda s3, e: s3.delete_object(Bucket="exp", Key=e.data_keys[0]), "is missing", id="file-missing"),
        pytest.param(
            lambda s3, e: _rewrite(s3, f"{e.folder}manifest-files.json", b'{"itemCount": 1}\n'),
            "does not match its checksum",
            id="manifest-checksum",
        ),
        pytest.param(_mismatched_count, "the manifest says", id="count-mismatch"),
    ],
)
def test_damaged_exports_are_named_and_left_untouched(exports, damage, message):
    stored = _export(exports)
    damage(exports, stored)
    before = every_object(exports)
    located, _ = _locate(exports)
    with pytest.raises(BackupCorrupt, match=message):
        verify_export(exports, located.chosen.backup_ref(), "app-users")
    assert every_object(exports) == before


def test_export_in_progress_or_failed_is_never_chosen_and_named_when_asked_for(exports):
    running = put_started_only(exports, "exp", "exports/app-users", NOW)
    with pytest.raises(BackupNotFound, match=rf"no completed export.*1 in progress or failed: {running}"):
        _locate(exports)
    explicit = SelectionPolicy.parse({"policy": "explicit", "backup": running})
    with pytest.raises(BackupNotFound, match=f"export {running} .* is in progress or failed"):
        _locate(exports, explicit)


def test_export_of_another_table_is_refused(exports):
    other = _export(exports, table="orders", exported_table="orders")
    with pytest.raises(BackupNotFound, match=rf"1 of other tables: {other.export_id}"):
        _locate(exports)
    by_arn = SelectionPolicy.parse({"policy": "explicit", "backup": other.export_arn})
    with pytest.raises(BackupNotFound, match="is of table orders, not app-users"):
        _locate(exports, by_arn)
    ref = BackupRef(location="x", bucket="exp", export_root="exports/app-users/AWSDynamoDB/", export_id=other.export_id)
    with pytest.raises(BackupCorrupt, match="is of table orders, not app-users"):
        verify_export(exports, ref, "app-users")


def test_explicit_export_by_id_and_its_data_files(exports):
    older = _export(exports, count=30, hours_ago=30)
    _export(exports, count=40, hours_ago=5)
    selection, _ = _locate(exports, SelectionPolicy.parse({"policy": "explicit", "backup": older.export_id}))
    ref = selection.chosen.ref
    assert ref["export_id"] == older.export_id
    assert [f.key for f in read_data_files(exports, "exp", ref["export_root"], ref["export_id"])] == older.data_keys
