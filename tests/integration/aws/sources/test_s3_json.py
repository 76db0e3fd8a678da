"""The s3_json source against the moto server: located over every page, verified, and every bad input named."""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from demo.emulator import Emulator
from demo.sample_data import json_backup_document, json_backup_key, sample_items
from dr_drill.aws.s3 import open_object
from dr_drill.aws.sources import Clients
from dr_drill.aws.sources.s3_json import S3JsonSource
from dr_drill.contracts import BackupRef, VerifiedBackup
from dr_drill.core.plan.selection import SelectionPolicy
from dr_drill.errors import BackupCorrupt, BackupNotFound
from tests.drills import STARTED, drill_spec, source_adapter
from tests.snapshots import every_object

NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
LATEST = SelectionPolicy()


def _locate(aws, bucket, *, page_size=None):
    spec = drill_spec("app-users", backup_bucket=bucket)
    return source_adapter(aws, "s3_json", page_size=page_size).locate(spec, SelectionPolicy(), now=STARTED)


def test_locate_pages_to_the_end_of_the_listing_to_find_the_newest(aws):
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="many")
    start = datetime(2024, 1, 1, tzinfo=UTC)
    stamps = [start + timedelta(hours=hour) for hour in range(23)]
    for stamp in stamps:
        s3.put_object(Bucket="many", Key=json_backup_key("app-users", stamp), Body=b"{}")
    s3.put_object(Bucket="many", Key=json_backup_key("app-users-old", stamps[-1] + timedelta(days=9)), Body=b"{}")

    # Pages of 5 keys: the newest backup is on the fifth page, as it would be past S3's 1000 a page.
    located = _locate(aws, "many", page_size=5)

    assert located.candidates_considered == 23
    assert located.key == json_backup_key("app-users", stamps[-1])


@pytest.mark.parametrize(
    ("bucket", "message"),
    [
        pytest.param("no-such-bucket", "NoSuchBucket", id="no-bucket"),
        pytest.param("empty", "no backup of table app-users", id="no-backups"),
    ],
)
def test_locate_failures_are_named(aws, bucket, message):
    aws.client("s3").create_bucket(Bucket="empty")
    with pytest.raises(BackupNotFound, match=message):
        _locate(aws, bucket)


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
    before = every_object(json_bucket)
    with pytest.raises(BackupCorrupt, match=message) as caught:
        verify_json_object(json_bucket, "bkt", key, "app-users")
    assert "user-" not in caught.value.reason and "\\x" not in caught.value.reason  # no item contents
    assert every_object(json_bucket) == before


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
