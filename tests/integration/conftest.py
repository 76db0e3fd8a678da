"""Fixtures of the integration tests: evidence buckets on the emulator."""

from __future__ import annotations

import pytest

from tests.integration.evidence_chain import LOCKED_BUCKET, PLAIN_BUCKET


@pytest.fixture
def evidence_s3(aws):
    """The emulator's S3 client, with an evidence bucket under Object Lock and one without."""
    client = aws.client("s3")
    client.create_bucket(Bucket=LOCKED_BUCKET, ObjectLockEnabledForBucket=True)
    client.create_bucket(Bucket=PLAIN_BUCKET)
    return client
