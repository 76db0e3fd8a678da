"""Evidence in S3 (a moto server): Object Lock retention, and the chain walked over every page.

What moto 5.2 enforces of Object Lock, and so what these tests can prove: deleting a locked
object version is refused (AccessDenied), in single and batch deletes. Like AWS, a PUT to the
same key of a versioned bucket is accepted as a NEW version and leaves the locked version's
bytes as they were; the chain verifier then sees the second version at that key. moto does NOT
refuse shortening or removing a COMPLIANCE retention with PutObjectRetention (AWS does), and
does not serve GetObjectRetention (HeadObject shows the retention instead), so no test relies
on those.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from botocore.exceptions import ClientError

from dr_drill.aws.evidence_store import (
    AlreadyStored,
    Retention,
    bucket_has_object_lock,
    chain_entries,
    latest_evidence,
    put_evidence,
)
from dr_drill.core.evidence.chain import record_sha256, verify_chain
from tests.integration.evidence_chain import LOCKED_BUCKET, PLAIN_BUCKET, TABLE, seed_chain


def test_object_lock_is_detected_per_bucket(evidence_s3):
    assert bucket_has_object_lock(evidence_s3, LOCKED_BUCKET) is True
    assert bucket_has_object_lock(evidence_s3, PLAIN_BUCKET) is False


def test_a_locked_record_cannot_be_deleted_and_an_overwrite_leaves_it_intact(evidence_s3):
    s3 = evidence_s3
    until = Retention("COMPLIANCE", 400).until(datetime.now(UTC))
    [key] = seed_chain(s3, LOCKED_BUCKET, 1, lock=("COMPLIANCE", until))
    head = s3.head_object(Bucket=LOCKED_BUCKET, Key=key)
    version, original = head["VersionId"], s3.get_object(Bucket=LOCKED_BUCKET, Key=key)["Body"].read()
    # moto does not serve GetObjectRetention; HeadObject shows the same retention.
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert head["ObjectLockRetainUntilDate"].date() == until.date()

    with pytest.raises(ClientError) as refused:
        s3.delete_object(Bucket=LOCKED_BUCKET, Key=key, VersionId=version)
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    batch = s3.delete_objects(Bucket=LOCKED_BUCKET, Delete={"Objects": [{"Key": key, "VersionId": version}]})
    assert [error["Code"] for error in batch["Errors"]] == ["AccessDenied"]

    # An overwrite becomes a new version; the locked one keeps its bytes, and the chain notices.
    s3.put_object(Bucket=LOCKED_BUCKET, Key=key, Body=original.replace(b'"failed"', b'"passed"'))
    assert s3.get_object(Bucket=LOCKED_BUCKET, Key=key, VersionId=version)["Body"].read() == original
    verdict = verify_chain(TABLE, chain_entries(s3, LOCKED_BUCKET, TABLE))
    assert (verdict.break_kind, verdict.break_key) == ("overwritten", key)
    assert verdict.detail.startswith("2 versions are stored at this key, with different contents")


def test_a_resealed_rewrite_of_the_newest_record_is_caught_and_a_second_write_refused(evidence_s3):
    # A retried record task once wrote a second, validly sealed version of the newest record at
    # its own key: every hash and link held, and only the versions tell.
    s3 = evidence_s3
    *_, newest = seed_chain(s3, LOCKED_BUCKET, 3)
    record = json.loads(s3.get_object(Bucket=LOCKED_BUCKET, Key=newest)["Body"].read())
    rewritten = {**record, "status": "passed", "generated_at": "2099-01-01T00:00:00+00:00"}
    rewritten["evidence_sha256"] = record_sha256(rewritten)
    with pytest.raises(AlreadyStored):
        put_evidence(s3, LOCKED_BUCKET, newest, rewritten)
    assert len(s3.list_object_versions(Bucket=LOCKED_BUCKET, Prefix=newest)["Versions"]) == 1
    assert verify_chain(TABLE, chain_entries(s3, LOCKED_BUCKET, TABLE)).intact

    s3.put_object(Bucket=LOCKED_BUCKET, Key=newest, Body=json.dumps(rewritten).encode())  # by hand, bypassing it
    verdict = verify_chain(TABLE, chain_entries(s3, LOCKED_BUCKET, TABLE))
    assert (verdict.intact, verdict.break_kind, verdict.break_key) == (False, "overwritten", newest)


def test_the_chain_is_walked_over_every_page_and_the_latest_record_found(evidence_s3):
    s3 = evidence_s3
    keys = seed_chain(s3, PLAIN_BUCKET, 5)
    s3.put_object(Bucket=PLAIN_BUCKET, Key=keys[0].replace(".json", ".html"), Body=b"<html></html>")
    entries = list(chain_entries(s3, PLAIN_BUCKET, TABLE, page_size=2))
    assert [entry.key for entry in entries] == keys
    assert verify_chain(TABLE, entries).intact
    latest = latest_evidence(s3, PLAIN_BUCKET, TABLE, exclude_key=keys[-1])
    assert latest["evidence_sequence"] == 4  # a retried record task never links to itself
