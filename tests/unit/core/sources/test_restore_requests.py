"""The requests that start a server-side restore, as each source builds them, against botocore's service model."""

from __future__ import annotations

import botocore.session
import pytest
from botocore.validate import ParamValidator

from dr_drill.contracts import BackupRef
from dr_drill.core.sources.native_backup import restore_from_backup_request
from dr_drill.core.sources.pitr import restore_to_point_in_time_request
from dr_drill.core.sources.s3_export import import_table_request


@pytest.mark.parametrize(
    ("operation", "build"),
    [
        pytest.param(
            "RestoreTableFromBackup",
            lambda: restore_from_backup_request(
                "drill-t-1",
                BackupRef(
                    location="x",
                    backup_arn="arn:aws:dynamodb:us-east-1:123456789012:table/t/backup/01795724925717-4e4986fc",
                ),
                include_indexes=False,
            ),
            id="restore-from-backup",
        ),
        pytest.param(
            "RestoreTableToPointInTime",
            lambda: restore_to_point_in_time_request(
                "drill-t-1",
                BackupRef(
                    location="x",
                    source_table_arn="arn:aws:dynamodb:us-east-1:123456789012:table/t",
                    restore_time="2026-11-26T01:00:00+00:00",
                ),
                include_indexes=True,
            ),
            id="pitr",
        ),
        pytest.param(
            "ImportTable",
            lambda: import_table_request(
                "drill-t-1",
                BackupRef(location="x", bucket="b", export_root="p/AWSDynamoDB/", export_id="e", export_arn="arn:e"),
                {
                    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                },
            ),
            id="import-table",
        ),
    ],
)
def test_server_side_requests_match_the_botocore_model(operation, build):
    model = botocore.session.get_session().get_service_model("dynamodb").operation_model(operation)
    report = ParamValidator().validate(build(), model.input_shape)

    assert not report.has_errors(), report.generate_report()
