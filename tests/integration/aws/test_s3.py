"""S3 reads against the moto server: a missing object is named."""

from __future__ import annotations

import pytest

from dr_drill.aws.s3 import open_object
from dr_drill.errors import BackupNotFound


def test_open_missing_backup_is_named(aws):
    aws.client("s3").create_bucket(Bucket="bkt")
    with pytest.raises(BackupNotFound, match="NoSuchKey"):
        open_object(aws.client("s3"), "bkt", "dynamodb-backups/x.json")
