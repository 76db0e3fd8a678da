"""S3 reads against the moto server: a missing object is named; a body cut off mid-stream is resumed."""

from __future__ import annotations

import os

import pytest
from botocore.exceptions import ResponseStreamingError

from dr_drill.aws.retries import UnprocessedBackoff
from dr_drill.aws.s3 import TransferInterrupted, open_object
from dr_drill.errors import BackupNotFound

_NO_WAIT = UnprocessedBackoff(max_attempts=4, sleep=lambda _: None)


def test_open_missing_backup_is_named(aws):
    aws.client("s3").create_bucket(Bucket="bkt")
    with pytest.raises(BackupNotFound, match="NoSuchKey"):
        open_object(aws.client("s3"), "bkt", "dynamodb-backups/x.json")


class _CutOff:
    """A body that breaks off after ``after`` bytes, as a reset connection does."""

    def __init__(self, body, after):
        self.body, self.left = body, after

    def read(self, size=-1):
        if self.left <= 0:
            raise ResponseStreamingError(error="Connection broken: IncompleteRead")
        chunk = self.body.read(min(size, self.left) if size is not None and size >= 0 else self.left)
        self.left -= len(chunk)
        return chunk

    def close(self):
        self.body.close()


class _CuttingS3:
    """The emulator's S3 client, whose first ``cuts`` GetObject bodies break off after 1,000 bytes."""

    def __init__(self, s3, cuts):
        self.s3, self.cuts, self.requests = s3, cuts, []

    def get_object(self, **kwargs):
        self.requests.append(kwargs)
        response = self.s3.get_object(**kwargs)
        if self.cuts:
            self.cuts -= 1
            response["Body"] = _CutOff(response["Body"], 1000)
        return response


@pytest.fixture
def stored(aws):
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="bkt")
    content = os.urandom(5000)
    s3.put_object(Bucket="bkt", Key="backup.json", Body=content)
    return s3, content


def test_a_body_cut_off_is_resumed_from_where_it_stopped_with_the_same_object(stored):
    s3, content = stored
    cutting = _CuttingS3(s3, cuts=2)
    with open_object(cutting, "bkt", "backup.json", backoff=_NO_WAIT).body as body:
        read = b"".join(iter(lambda: body.read(700), b""))
    assert read == content
    assert [request.get("Range") for request in cutting.requests] == [None, "bytes=1000-", "bytes=2000-"]
    assert all(request.get("IfMatch") for request in cutting.requests[1:])  # never a different object's bytes


def test_a_body_that_always_breaks_off_fails_the_read_and_says_where(stored):
    s3, _ = stored
    with (
        pytest.raises(TransferInterrupted, match=r"s3://bkt/backup.json: the transfer broke off 4 times") as caught,
        open_object(_CuttingS3(s3, cuts=99), "bkt", "backup.json", backoff=_NO_WAIT).body as body,
    ):
        while body.read(700):
            pass
    assert caught.value.__cause__ is None
