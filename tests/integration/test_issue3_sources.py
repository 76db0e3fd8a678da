"""Issue 3: every backup source located and verified against the moto server, and every bad input named."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from datetime import UTC, datetime, timedelta

import pytest
from botocore.stub import Stubber

from demo.emulator import Emulator
from demo.sample_data import json_backup_document, json_backup_key, sample_items
from demo.sample_exports import put_export, put_started_only, table_arn, typed_items
from dr_drill.aws.s3 import open_object
from dr_drill.aws.sources import Clients
from dr_drill.aws.sources.native_backup import select_native_backup, verify_native_backup
from dr_drill.aws.sources.pitr import locate_restore_point, verify_restore_point
from dr_drill.aws.sources.s3_export import S3ExportSource, read_data_files, select_export, verify_export
from dr_drill.aws.sources.s3_json import S3JsonSource
from dr_drill.contracts import BackupRef, VerifiedBackup
from dr_drill.core.plan.selection import SelectionPolicy
from dr_drill.errors import BackupCorrupt, BackupNotFound
from tests.drills import drill_spec

NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
LATEST = SelectionPolicy()


def _everything(s3) -> dict[str, bytes]:
    """Every object of every bucket, by bytes: what a drill must never change."""
    return {
        f"{bucket['Name']}/{entry['Key']}": s3.get_object(Bucket=bucket["Name"], Key=entry["Key"])["Body"].read()
        for bucket in s3.list_buckets()["Buckets"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket["Name"])
        for entry in page.get("Contents", ())
    }


# --- s3_json -----------------------------------------------------------------------------------------------


@pytest.fixture
def json_bucket(aws):
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="bkt")
    return s3


def _put_raw(s3, raw: bytes, taken_at=NOW - timedelta(hours=1)) -> str:
    key = json_backup_key("app-users", taken_at)
    s3.put_object(Bucket="bkt", Key=key, Body=raw)
    return key


def _json_source(s3, page_size=None):
    return S3JsonSource(Clients(s3=lambda: s3, dynamodb=lambda: None), page_size=page_size)


def verify_json_object(s3, bucket, key, table):
    return _json_source(s3).verify(BackupRef(location=f"s3://{bucket}/{key}", bucket=bucket, key=key), table)


def select_json_backup(s3, bucket, table, policy, *, now, run_id="manual__d", page_size=None):
    spec = drill_spec(table, backup_bucket=bucket, run_id=run_id)
    return _json_source(s3, page_size).locate(spec, policy, now=now)


def _good_document(count=20):
    return json_backup_document("app-users", sample_items("app-users", count), NOW - timedelta(hours=1))


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        pytest.param(lambda raw: raw[: len(raw) // 2], "not valid JSON", id="truncated"),
        pytest.param(lambda raw: raw.replace(b'"data": [', b'"data": [}', 1), "not valid JSON", id="invalid-json"),
        pytest.param(lambda raw: raw.replace(b"user-000003", b"user-\xff\xfe0003", 1), "not UTF-8", id="non-utf8"),
        pytest.param(
            lambda raw: raw.replace(b'"checksum": "', b'"checksum": "00', 1)[:-4] + b'"}', "checksum", id="checksum"
        ),
        pytest.param(lambda raw: raw.replace(b'"item_count": 20', b'"item_count": 21'), "item_count", id="count"),
        pytest.param(lambda raw: raw.replace(b'"table_name": "app-users"', b'"table_name": "app"'), "of table 'app'"),
    ],
)
def test_bad_json_backups_are_named_and_left_untouched(json_bucket, mangle, message):
    raw = json.dumps(_good_document()).encode()
    key = _put_raw(json_bucket, mangle(raw))
    before = _everything(json_bucket)
    with pytest.raises(BackupCorrupt, match=message) as caught:
        verify_json_object(json_bucket, "bkt", key, "app-users")
    assert "user-" not in caught.value.reason and "\\x" not in caught.value.reason  # no item contents
    assert _everything(json_bucket) == before


def test_a_good_json_backup_reports_size_etag_and_version(json_bucket):
    json_bucket.put_bucket_versioning(Bucket="bkt", VersioningConfiguration={"Status": "Enabled"})
    raw = json.dumps(_good_document()).encode()
    key = _put_raw(json_bucket, raw)
    verified = verify_json_object(json_bucket, "bkt", key, "app-users")
    assert verified.item_count == 20 and verified.checksum_verified is True
    assert verified.size_bytes == len(raw)
    assert verified.etag == hashlib.md5(raw).hexdigest()
    assert verified.version_id == json_bucket.head_object(Bucket="bkt", Key=key)["VersionId"]


def test_no_bucket_and_no_backups_are_named(json_bucket):
    with pytest.raises(BackupNotFound, match="NoSuchBucket"):
        select_json_backup(json_bucket, "nope-bucket", "app-users", LATEST, now=NOW)
    with pytest.raises(BackupNotFound, match="no backup of table app-users under s3://bkt/"):
        select_json_backup(json_bucket, "bkt", "app-users", LATEST, now=NOW)


@pytest.fixture
def locked_down(tmp_path, monkeypatch):
    """A moto server of its own that enforces IAM after its first actions (moto's INITIAL_NO_AUTH_ACTION_COUNT)."""
    monkeypatch.setenv("INITIAL_NO_AUTH_ACTION_COUNT", "4")
    with Emulator(log_path=tmp_path / "moto.log") as server:
        monkeypatch.delenv("INITIAL_NO_AUTH_ACTION_COUNT")
        s3, iam = server.client("s3"), server.client("iam")
        s3.create_bucket(Bucket="bkt")
        s3.put_object(Bucket="bkt", Key=json_backup_key("app-users", NOW), Body=b"{}")
        iam.create_user(UserName="drill")
        key = iam.create_access_key(UserName="drill")["AccessKey"]  # a user with no policy: every S3 call is denied
        import boto3

        yield boto3.client(
            "s3",
            endpoint_url=server.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id=key["AccessKeyId"],
            aws_secret_access_key=key["SecretAccessKey"],
        )
    assert os.environ.get("INITIAL_NO_AUTH_ACTION_COUNT") is None


def test_access_denied_is_named(locked_down):
    with pytest.raises(BackupNotFound, match="access denied"):
        select_json_backup(locked_down, "bkt", "app-users", LATEST, now=NOW)
    with pytest.raises(BackupNotFound, match="access denied"):
        open_object(locked_down, "bkt", json_backup_key("app-users", NOW))


def test_selection_policies_over_every_page_of_backups(json_bucket):
    start = NOW - timedelta(hours=200)
    stamps = [start + timedelta(hours=hour) for hour in range(200)]
    for stamp in reversed(stamps):
        json_bucket.put_object(Bucket="bkt", Key=json_backup_key("app-users", stamp), Body=b"{}")
    # Pages of 25 keys: every policy must see all eight pages, as it would past S3's 1000 a page.
    paged = {"now": NOW, "page_size": 25}

    latest = select_json_backup(json_bucket, "bkt", "app-users", LATEST, **paged)
    assert latest.candidates_considered == 200
    assert latest.key == json_backup_key("app-users", stamps[-1])
    assert [c.backup_time for c in latest.fallbacks] == [s.isoformat() for s in (stamps[-2], stamps[-3], stamps[-4])]

    before = SelectionPolicy.parse({"policy": "latest_before", "before": stamps[5].isoformat()})
    assert select_json_backup(json_bucket, "bkt", "app-users", before, **paged).backup_time == stamps[4].isoformat()

    draw = SelectionPolicy.parse({"policy": "random_within_days", "days": 7})
    first = select_json_backup(json_bucket, "bkt", "app-users", draw, run_id="manual__1", **paged)
    assert datetime.fromisoformat(first.backup_time) >= NOW - timedelta(days=7)
    assert first.selection["candidates_in_window"] == 7 * 24
    replay = SelectionPolicy.parse({"policy": "random_within_days", "days": 7, "seed": first.selection["seed"]})
    again = select_json_backup(json_bucket, "bkt", "app-users", replay, run_id="manual__2", **paged)
    assert again.location == first.location


def test_json_items_keep_exact_decimals(json_bucket):
    document = _good_document(3)
    document["data"][0]["balance"] = 0.1  # as the original wrote it
    raw = json.dumps(document).encode().replace(b'"balance": 0.1,', b'"balance": 0.10000000000000000001,')
    document_key = _put_raw(json_bucket, raw)
    backup = BackupRef(location=document_key, bucket="bkt", key=document_key)
    items = list(_json_source(json_bucket).iter_items(backup, VerifiedBackup()))
    assert items[0]["balance"] == {"N": "0.10000000000000000001"}


# --- s3_export ---------------------------------------------------------------------------------------------


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
    import base64

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
    before = _everything(exports)
    located, _ = _locate(exports)
    with pytest.raises(BackupCorrupt, match=message):
        verify_export(exports, located.chosen.backup_ref(), "app-users")
    assert _everything(exports) == before


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


# --- native_backup -----------------------------------------------------------------------------------------


@pytest.fixture
def tables(aws):
    from demo.sample_data import create_source_table

    ddb = aws.client("dynamodb")
    create_source_table(ddb, "app-users", sample_items("app-users", 5))
    create_source_table(ddb, "orders", sample_items("orders", 5))
    return ddb


def test_newest_available_native_backup_and_explicit_arns(tables):
    first = tables.create_backup(TableName="app-users", BackupName="nightly-1")["BackupDetails"]["BackupArn"]
    second = tables.create_backup(TableName="app-users", BackupName="nightly-2")["BackupDetails"]["BackupArn"]
    other = tables.create_backup(TableName="orders", BackupName="orders-1")["BackupDetails"]["BackupArn"]

    selection = select_native_backup(tables, "app-users", LATEST, now=datetime.now(UTC), seed_source="d")
    assert selection.considered == 2
    assert selection.chosen.ref["backup_arn"] == second and selection.fallbacks[0].ref["backup_arn"] == first
    assert selection.chosen.ref["source_table_name"] == "app-users"
    verified = verify_native_backup(tables, second, "app-users")
    assert verified.backup_arn == second and verified.checksum_verified is False

    explicit = SelectionPolicy.parse({"policy": "explicit", "backup": first})
    assert select_native_backup(tables, "app-users", explicit, now=NOW, seed_source="d").chosen.location == first
    with pytest.raises(BackupNotFound, match="is of table orders, not app-users"):
        select_native_backup(
            tables, "app-users", SelectionPolicy(policy="explicit", backup=other), now=NOW, seed_source="d"
        )
    with pytest.raises(BackupCorrupt, match="is of table orders, not app-users"):
        verify_native_backup(tables, other, "app-users")
    with pytest.raises(BackupNotFound, match="no AVAILABLE on-demand backup"):
        select_native_backup(tables, "no-backups", LATEST, now=NOW, seed_source="d")


def test_native_listing_follows_every_page_and_includes_aws_backup_ones(aws):
    """moto answers ListBackups in one page, so the pages AWS would send are stubbed here."""
    ddb = aws.client("dynamodb")

    def summary(n, kind="USER", status="AVAILABLE"):
        arn = f"{table_arn('app-users')}/backup/0{n:013d}-abcdef12"
        if kind == "AWS_BACKUP":
            arn = f"arn:aws:backup:us-east-1:123456789012:recovery-point:{n:08d}-aaaa-bbbb-cccc-dddddddddddd"
        return {
            "TableName": "app-users",
            "TableArn": table_arn("app-users"),
            "BackupArn": arn,
            "BackupName": f"backup-{n}",
            "BackupCreationDateTime": NOW - timedelta(days=10 - n),
            "BackupStatus": status,
            "BackupType": kind,
        }

    stubber = Stubber(ddb)
    expected = {"TableName": "app-users", "BackupType": "ALL"}
    stubber.add_response(
        "list_backups",
        {"BackupSummaries": [summary(1), summary(2)], "LastEvaluatedBackupArn": summary(2)["BackupArn"]},
        expected,
    )
    stubber.add_response(
        "list_backups",
        {"BackupSummaries": [summary(5, "AWS_BACKUP"), summary(7, status="CREATING")]},
        {**expected, "ExclusiveStartBackupArn": summary(2)["BackupArn"]},
    )
    with stubber:
        selection = select_native_backup(ddb, "app-users", LATEST, now=NOW, seed_source="d")
    stubber.assert_no_pending_responses()
    assert selection.considered == 4
    assert selection.chosen.ref["backup_type"] == "AWS_BACKUP"  # the newest AVAILABLE, whoever made it


# --- pitr --------------------------------------------------------------------------------------------------


def test_pitr_window_latest_requested_disabled_and_outside(tables):
    with pytest.raises(BackupNotFound, match="point-in-time recovery is not enabled for table app-users"):
        locate_restore_point(tables, "app-users", LATEST, seed_source="d")
    tables.update_continuous_backups(
        TableName="app-users", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    window = tables.describe_continuous_backups(TableName="app-users")["ContinuousBackupsDescription"]
    latest = window["PointInTimeRecoveryDescription"]["LatestRestorableDateTime"].astimezone(UTC)

    located = locate_restore_point(tables, "app-users", LATEST, seed_source="d")
    assert located.restore_time == latest.isoformat()
    assert located.source_table_name == "app-users" and located.source_table_arn.endswith(":table/app-users")
    assert verify_restore_point(tables, "app-users", located.restore_time).restore_time == latest.isoformat()

    inside = SelectionPolicy.parse({"policy": "explicit", "backup": latest.isoformat()})
    assert locate_restore_point(tables, "app-users", inside, seed_source="d").restore_time == latest.isoformat()
    outside = SelectionPolicy.parse({"policy": "explicit", "backup": (latest - timedelta(days=1)).isoformat()})
    with pytest.raises(BackupNotFound, match="outside the point-in-time window"):
        locate_restore_point(tables, "app-users", outside, seed_source="d")
    with pytest.raises(BackupCorrupt, match="has left the point-in-time window"):
        verify_restore_point(tables, "app-users", (latest + timedelta(hours=1)).isoformat())
    with pytest.raises(BackupNotFound, match="table gone does not exist"):
        locate_restore_point(tables, "gone", LATEST, seed_source="d")
