"""An ImportTable whose ARN the restore never saved is found, proven this drill's, and cleaned up.

Against the moto server through ``tests.imports_like_aws.ImportsLikeAws``, which adds what moto
lacks (ListImports, ClientToken idempotency, DescribeImport's source, token and start time); a
test here checks its answers against botocore's output shapes.
"""

from __future__ import annotations

import gzip
import json
import logging
import time
from typing import Any

import pytest

from dr_drill.aws.import_table import find_drill_import, resume_or_start_import, start_import
from dr_drill.aws.scratch_tables import describe_table
from dr_drill.aws.scratch_tables import table_tags as _tags
from dr_drill.aws.server_side import claim_restored_table, remove_scratch_table
from dr_drill.aws.sources import Clients
from dr_drill.aws.sources.s3_export import S3ExportSource
from dr_drill.constants import RestoreMethod
from dr_drill.contracts import LocatedBackup, ScratchClaim
from dr_drill.core.items.canonical import to_typed_item
from dr_drill.core.restore.scratch import RUN_ID_TAG, scratch_table_name
from dr_drill.core.sources.s3_export import import_client_token
from dr_drill.errors import UnsafeTarget
from tests.drills import OWNER_KEY, drill_spec
from tests.imports_like_aws import ImportsLikeAws

RUN = "scheduled__2026-11-26T02:00:00+00:00"
PREFIX = "drill-"
SOURCE = "orders"
EXPORT_ID = "01700000000000-abcdef12"
NAME = scratch_table_name(SOURCE, RUN, PREFIX)
DEFINITION = {
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
}
SPEC = drill_spec(SOURCE, run_id=RUN, backup_source="s3_export", backup_bucket="exports", import_table=True)
assert SPEC.scratch_table == NAME
log = logging.getLogger(__name__)


def _export(s3, prefix: str = "", bucket: str = "exports", items: int = 12) -> LocatedBackup:
    if bucket not in {entry["Name"] for entry in s3.list_buckets()["Buckets"]}:
        s3.create_bucket(Bucket=bucket)
    key = f"{prefix}AWSDynamoDB/{EXPORT_ID}/data/part-0.json.gz"
    lines = "".join(json.dumps({"Item": to_typed_item({"pk": f"k{n}"})}) + "\n" for n in range(items))
    s3.put_object(Bucket=bucket, Key=key, Body=gzip.compress(lines.encode()))
    return LocatedBackup(
        source="s3_export",
        location=f"s3://{bucket}/{prefix}AWSDynamoDB/{EXPORT_ID}/",
        bucket=bucket,
        export_root=f"{prefix}AWSDynamoDB/",
        export_id=EXPORT_ID,
        export_arn=f"arn:aws:dynamodb:us-east-1:123456789012:table/{SOURCE}/export/{EXPORT_ID}",
        item_count=items,
        candidates_considered=1,
        selection={"policy": "latest"},
    )


def _made_by_drill(ddb: ImportsLikeAws, located: LocatedBackup, spec=SPEC):
    """The teardown's provenance check, from a claim saved before ImportTable was called (no ARN)."""
    source = S3ExportSource(Clients(s3=lambda: None, dynamodb=lambda: ddb))
    return source.made_by_drill_of(spec, ScratchClaim(method=RestoreMethod.IMPORT_TABLE, located=located))


def _settled(ddb: ImportsLikeAws, import_arn: str) -> str:
    for _ in range(100):  # moto imports in a thread of the server
        status = ddb.describe_import(ImportArn=import_arn)["ImportTableDescription"]["ImportStatus"]
        if status != "IN_PROGRESS" and describe_table(ddb, NAME) is not None:
            return status
        time.sleep(0.05)
    raise AssertionError(f"import {import_arn} did not settle")


def _setup_died_after_import(ddb: ImportsLikeAws, located: LocatedBackup) -> str:
    """What the restore did before dying: ImportTable called, its ARN never saved anywhere."""
    arn = start_import(ddb, name=NAME, export=located, definition=DEFINITION)
    _settled(ddb, arn)
    return arn


@pytest.fixture
def ddb(aws) -> ImportsLikeAws:
    return ImportsLikeAws(aws.client("dynamodb"))


def test_the_teardown_finds_the_lost_import_proves_it_and_deletes_the_table(aws, ddb):
    located = _export(aws.client("s3"))
    _setup_died_after_import(ddb, located)
    assert _tags(ddb, describe_table(ddb, NAME)["TableArn"]) == {}  # untagged: the sweep cannot see it

    deleted = remove_scratch_table(ddb, SPEC, made_by_drill=_made_by_drill(ddb, located), key=OWNER_KEY)

    assert deleted is True and describe_table(ddb, NAME) is None


def test_a_retried_setup_resumes_the_import_instead_of_starting_another(aws, ddb):
    located = _export(aws.client("s3"))
    first = _setup_died_after_import(ddb, located)

    resumed = resume_or_start_import(ddb, spec=SPEC, export=located, definition=DEFINITION, key=OWNER_KEY)

    assert resumed == first
    assert ddb.import_calls == 1
    claim_restored_table(ddb, NAME, spec=SPEC, made_by_drill=_made_by_drill(ddb, located), key=OWNER_KEY)
    assert _tags(ddb, describe_table(ddb, NAME)["TableArn"])[RUN_ID_TAG] == RUN


def test_the_same_token_repeats_the_same_import_while_the_table_is_being_made(aws, ddb):
    located = _export(aws.client("s3"))
    first = start_import(ddb, name=NAME, export=located, definition=DEFINITION)
    again = start_import(ddb, name=NAME, export=located, definition=DEFINITION)
    assert again == first and len(ddb.imports) == 1


def test_a_run_cleared_after_its_teardown_imports_anew_with_the_next_token(aws, ddb):
    located = _export(aws.client("s3"))
    first = _setup_died_after_import(ddb, located)
    assert remove_scratch_table(ddb, SPEC, made_by_drill=_made_by_drill(ddb, located), key=OWNER_KEY)

    # Within 8 hours the first token answers with the finished import whose table is gone.
    second = resume_or_start_import(ddb, spec=SPEC, export=located, definition=DEFINITION, key=OWNER_KEY)

    assert second != first
    assert ddb.imports[second]["ClientToken"] == import_client_token(NAME, located, 1)
    assert _settled(ddb, second) == "COMPLETED"
    assert find_drill_import(ddb, describe_table(ddb, NAME), spec=SPEC, export=located) == second


def _foreign_import(ddb: ImportsLikeAws, located: LocatedBackup, **changes: Any) -> None:
    """An import into this run's scratch name that this drill did not start."""
    request = {
        "ClientToken": "someone-else",
        "S3BucketSource": {"S3Bucket": located.bucket, "S3KeyPrefix": f"{located.export_root}{EXPORT_ID}/data"},
        "InputFormat": "DYNAMODB_JSON",
        "InputCompressionType": "GZIP",
        "TableCreationParameters": {"TableName": NAME, **DEFINITION, "BillingMode": "PAY_PER_REQUEST"},
    } | changes
    arn = ddb.import_table(**request)["ImportTableDescription"]["ImportArn"]
    _settled(ddb, arn)


@pytest.mark.parametrize(
    "made_by",
    [
        pytest.param("other-export", id="import-of-another-export"),
        pytest.param("other-token", id="import-with-another-client-token"),
        pytest.param("create-table", id="created-not-imported"),
        pytest.param("newer-import", id="our-import-then-someone-elses-into-the-same-name"),
    ],
)
def test_a_table_under_the_scratch_name_that_this_drill_did_not_import_is_never_claimed(aws, ddb, made_by):
    s3 = aws.client("s3")
    located = _export(s3)
    other = _export(s3, prefix="elsewhere/", bucket="other-exports")
    if made_by == "other-export":
        _foreign_import(
            ddb,
            other,
            ClientToken=import_client_token(NAME, located),
            S3BucketSource={"S3Bucket": "other-exports", "S3KeyPrefix": f"elsewhere/AWSDynamoDB/{EXPORT_ID}/data/"},
        )
    elif made_by == "other-token":
        _foreign_import(
            ddb, located, S3BucketSource={"S3Bucket": "exports", "S3KeyPrefix": f"AWSDynamoDB/{EXPORT_ID}/data/"}
        )
    elif made_by == "create-table":
        ddb.create_table(TableName=NAME, **DEFINITION, BillingMode="PAY_PER_REQUEST")
    else:
        _setup_died_after_import(ddb, located)
        ddb.delete_table(TableName=NAME)
        ddb.get_waiter("table_not_exists").wait(TableName=NAME)
        _foreign_import(ddb, other, S3BucketSource={"S3Bucket": "other-exports", "S3KeyPrefix": "elsewhere/"})

    with pytest.raises(UnsafeTarget, match="untagged and DynamoDB does not show this drill's restore made it"):
        remove_scratch_table(ddb, SPEC, made_by_drill=_made_by_drill(ddb, located), key=OWNER_KEY)
    with pytest.raises(UnsafeTarget, match="no import of this drill's export created it"):
        resume_or_start_import(ddb, spec=SPEC, export=located, definition=DEFINITION, key=OWNER_KEY)
    with pytest.raises(UnsafeTarget):
        claim_restored_table(ddb, NAME, spec=SPEC, made_by_drill=_made_by_drill(ddb, located), key=OWNER_KEY)

    table = describe_table(ddb, NAME)
    assert table is not None and _tags(ddb, table["TableArn"]) == {}


def test_an_import_of_this_export_into_another_runs_name_is_not_this_runs(aws, ddb):
    located = _export(aws.client("s3"))
    _setup_died_after_import(ddb, located)
    table = describe_table(ddb, NAME)

    other_run = drill_spec(SOURCE, run_id="manual__other", backup_source="s3_export", backup_bucket="exports")
    assert find_drill_import(ddb, table, spec=SPEC, export=located) is not None
    assert find_drill_import(ddb, table, spec=other_run, export=located) is None


@pytest.mark.parametrize(
    ("operation", "answer"),
    [
        pytest.param("ListImports", "list_imports", id="list-imports"),
        pytest.param("DescribeImport", "describe_import", id="describe-import"),
        pytest.param("ImportTable", "import_table", id="import-table-replay"),
    ],
)
def test_the_fakes_answers_match_botocores_output_model(aws, ddb, operation, answer):
    import botocore.session
    from botocore.validate import ParamValidator

    located = _export(aws.client("s3"))
    arn = _setup_died_after_import(ddb, located)
    table_arn = describe_table(ddb, NAME)["TableArn"]
    calls = {
        "list_imports": lambda: ddb.list_imports(TableArn=table_arn, PageSize=25),
        "describe_import": lambda: ddb.describe_import(ImportArn=arn),
        "import_table": lambda: ddb.import_table(
            ClientToken=import_client_token(NAME, located),
            S3BucketSource={},
            InputFormat="DYNAMODB_JSON",
            TableCreationParameters={},
        ),
    }
    model = botocore.session.get_session().get_service_model("dynamodb").operation_model(operation)

    report = ParamValidator().validate(calls[answer](), model.output_shape)

    assert not report.has_errors(), report.generate_report()


def test_a_retried_setup_deletes_its_own_tagged_table_and_imports_anew(aws, ddb):
    located = _export(aws.client("s3"))
    first = _setup_died_after_import(ddb, located)
    # The restore step got as far as tagging it.
    claim_restored_table(ddb, NAME, spec=SPEC, made_by_drill=_made_by_drill(ddb, located), key=OWNER_KEY)

    second = resume_or_start_import(ddb, spec=SPEC, export=located, definition=DEFINITION, key=OWNER_KEY)

    assert second != first and ddb.import_calls == 3  # token 0 answered with the first import
    assert ddb.imports[second]["ClientToken"] == import_client_token(NAME, located, 1)
    assert _settled(ddb, second) == "COMPLETED"
    assert _tags(ddb, describe_table(ddb, NAME)["TableArn"]) == {}  # the new table awaits its own claim
