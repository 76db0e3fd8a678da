"""Evidence in S3 (a moto server): Object Lock retention, and the verify-chain and pack commands.

What moto 5.2 enforces of Object Lock, and so what these tests can prove: deleting a locked
object version is refused (AccessDenied), in single and batch deletes. Like AWS, a PUT to the
same key of a versioned bucket is accepted as a NEW version and leaves the locked version's
bytes as they were; the chain verifier then sees the edited current version. moto does NOT
refuse shortening or removing a COMPLIANCE retention with PutObjectRetention (AWS does), and
does not serve GetObjectRetention (HeadObject shows the retention instead), so no test relies
on those.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError

from dr_drill.aws.evidence_store import (
    Retention,
    bucket_has_object_lock,
    chain_entries,
    latest_evidence,
    put_evidence,
)
from dr_drill.core.evidence.chain import verify_chain
from dr_drill.core.evidence.record import build_evidence, evidence_key, validate_evidence
from dr_drill.errors import InvalidDrillRequest
from dr_drill.evidence import main
from tests.conftest import ROOT
from tests.drills import drill_spec

BUCKET = "evidence-locked"
TABLE = "app-users"


def _record(night: int, previous):
    started = datetime(2026, 11, 1, 2, tzinfo=UTC) + timedelta(days=night)
    spec = drill_spec(TABLE, run_id=f"scheduled__{started.isoformat()}", started_at=started, backup_bucket="bkt")
    drill_id = spec.drill_id
    record = build_evidence(
        spec,
        located={
            "source": "s3_json",
            "location": "s3://b/k.json",
            "name_timestamp": (started - timedelta(hours=1)).isoformat(),
            "candidates_considered": 1,
            "selection": {"policy": "latest"},
        },
        verified=None,
        restored=None,
        validated=None,
        scratch_deleted=True,
        failure={"step": "verify", "reason": "checksum mismatch"} if night == 2 else None,
        generated_at=started,
        previous=previous,
        storage={
            "bucket": BUCKET,
            "key": evidence_key(TABLE, drill_id),
            "report_key": "r.html",
            "object_lock": False,
            "retention_mode": None,
            "retain_until": None,
        },
    )
    validate_evidence(record)
    return record


def _seed(s3, bucket: str, nights: int, lock=None) -> list[str]:
    keys, previous = [], None
    for night in range(nights):
        record = _record(night, previous)
        key = record["storage"]["key"]
        put_evidence(s3, bucket, key, record, lock)
        keys.append(key)
        previous = record
    return keys


@pytest.fixture
def s3(aws):
    client = aws.client("s3")
    client.create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True)
    client.create_bucket(Bucket="evidence-plain")
    return client


def test_object_lock_is_detected_per_bucket(s3):
    assert bucket_has_object_lock(s3, BUCKET) is True
    assert bucket_has_object_lock(s3, "evidence-plain") is False


def test_a_locked_record_cannot_be_deleted_and_an_overwrite_leaves_it_intact(s3):
    until = Retention("COMPLIANCE", 400).until(datetime.now(UTC))
    [key] = _seed(s3, BUCKET, 1, lock=("COMPLIANCE", until))
    head = s3.head_object(Bucket=BUCKET, Key=key)
    version, original = head["VersionId"], s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    # moto does not serve GetObjectRetention; HeadObject shows the same retention.
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert head["ObjectLockRetainUntilDate"].date() == until.date()

    with pytest.raises(ClientError) as refused:
        s3.delete_object(Bucket=BUCKET, Key=key, VersionId=version)
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    batch = s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": key, "VersionId": version}]})
    assert [error["Code"] for error in batch["Errors"]] == ["AccessDenied"]

    # An overwrite becomes a new version; the locked one keeps its bytes, and the chain notices.
    s3.put_object(Bucket=BUCKET, Key=key, Body=original.replace(b'"failed"', b'"passed"'))
    assert s3.get_object(Bucket=BUCKET, Key=key, VersionId=version)["Body"].read() == original
    verdict = verify_chain(TABLE, chain_entries(s3, BUCKET, TABLE))
    assert (verdict.break_kind, verdict.break_key) == ("edited", key)


def test_retention_settings_are_checked():
    assert Retention.from_settings(None, None) == Retention("COMPLIANCE", 400)
    assert Retention.from_settings("governance", "30") == Retention("GOVERNANCE", 30)
    with pytest.raises(InvalidDrillRequest, match="EVIDENCE_RETENTION_MODE"):
        Retention.from_settings("FOREVER", None)
    with pytest.raises(InvalidDrillRequest, match="EVIDENCE_RETENTION_DAYS"):
        Retention.from_settings(None, "a year")


def test_the_chain_is_walked_over_every_page_and_the_latest_record_found(s3):
    keys = _seed(s3, "evidence-plain", 5)
    s3.put_object(Bucket="evidence-plain", Key=keys[0].replace(".json", ".html"), Body=b"<html></html>")
    entries = list(chain_entries(s3, "evidence-plain", TABLE, page_size=2))
    assert [entry.key for entry in entries] == keys
    assert verify_chain(TABLE, entries).intact
    latest = latest_evidence(s3, "evidence-plain", TABLE, exclude_key=keys[-1])
    assert latest["evidence_sequence"] == 4  # a retried record task never links to itself


def _cli(capsys, *args) -> tuple[int, str]:
    code = main(["verify-chain", "--table", TABLE, "--bucket", "evidence-plain", *args])
    return code, capsys.readouterr().out


def test_verify_chain_passes_an_intact_chain(aws, s3, capsys):
    _seed(s3, "evidence-plain", 4)
    code, out = _cli(capsys, "--endpoint-url", aws.endpoint_url)
    assert code == 0 and "chain intact, 4 records" in out


def _edit(s3, key):
    record = json.loads(s3.get_object(Bucket="evidence-plain", Key=key)["Body"].read())
    record["status"] = "passed"
    s3.put_object(Bucket="evidence-plain", Key=key, Body=json.dumps(record).encode())


def _delete(s3, key):
    s3.delete_object(Bucket="evidence-plain", Key=key)


def _swap(s3, key, other):
    first, second = (s3.get_object(Bucket="evidence-plain", Key=k)["Body"].read() for k in (key, other))
    s3.put_object(Bucket="evidence-plain", Key=key, Body=second)
    s3.put_object(Bucket="evidence-plain", Key=other, Body=first)


@pytest.mark.parametrize(
    ("tamper", "kind", "at"),
    [
        pytest.param(lambda s3, keys: _edit(s3, keys[2]), "edited", 2, id="edited"),
        pytest.param(lambda s3, keys: _delete(s3, keys[1]), "missing", 2, id="missing"),
        pytest.param(lambda s3, keys: _swap(s3, keys[1], keys[2]), "reordered", 1, id="reordered"),
    ],
)
def test_verify_chain_reports_the_first_break_and_fails(aws, s3, capsys, tamper, kind, at):
    keys = _seed(s3, "evidence-plain", 4)
    tamper(s3, keys)
    code, out = _cli(capsys, "--endpoint-url", aws.endpoint_url, "--json")
    verdict = json.loads(out)[TABLE]
    assert code == 1
    assert verdict["intact"] is False and verdict["break_kind"] == kind and verdict["break_key"] == keys[at]


def test_the_commands_run_as_a_module(aws, s3, tmp_path):
    _seed(s3, "evidence-plain", 3)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "plugins"), "EVIDENCE_BUCKET": "evidence-plain"}
    base = [sys.executable, "-m", "dr_drill.evidence"]
    verify = subprocess.run(
        [*base, "verify-chain", "--table", TABLE, "--endpoint-url", aws.endpoint_url],
        env=env,
        capture_output=True,
        text=True,
    )
    assert verify.returncode == 0, verify.stderr
    assert f"{TABLE}: chain intact, 3 records" in verify.stdout
    pack = subprocess.run(
        [
            *base,
            "pack",
            "--table",
            TABLE,
            "--from",
            "2026-11-01",
            "--to",
            "2026-11-02",
            "--out",
            str(tmp_path),
            "--endpoint-url",
            aws.endpoint_url,
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    assert pack.returncode == 0, pack.stderr
    data = json.loads((tmp_path / "evidence-pack-2026-11-01-to-2026-11-02.json").read_text())
    assert data["drill_count"] == 2 and data["tables"][0]["chain"]["intact"] is True
    assert "<svg" in (tmp_path / "evidence-pack-2026-11-01-to-2026-11-02.html").read_text()
    bad = subprocess.run([*base, "verify-chain", "--table", "x"], env=env, capture_output=True, text=True)
    assert bad.returncode == 2 and "not a DynamoDB table name" in bad.stderr
