"""ImportTable drills under dag.test(): setup, restore in the triggerer, teardown; and a restore that died.

The plain drill runs against the moto server alone (ImportTable, DescribeImport). The crashed
setup needs ListImports and ClientToken idempotency, which moto lacks: those runs give the
operators ``tests.imports_like_aws.ImportsLikeAws`` around the moto client.
"""

from __future__ import annotations

import gzip
import json
import time

import pytest

from dr_drill.aws.import_table import start_import
from dr_drill.aws.scratch_tables import describe_table
from dr_drill.contracts import LocatedBackup
from dr_drill.core.items.canonical import to_typed_item
from dr_drill.operators.base import DrillStepOperator
from tests.dag.step_dags import SOURCE, FakeTI, create_source, server_side_dag, step_spec
from tests.imports_like_aws import ImportsLikeAws
from tests.snapshots import table_items

EXPORT_ID = "01700000000000-feedface"
ITEMS = 12


def _located(s3):
    s3.create_bucket(Bucket="exports")
    key = f"nightly/AWSDynamoDB/{EXPORT_ID}/data/part-0.json.gz"
    lines = "".join(json.dumps({"Item": to_typed_item({"pk": f"k{n}", "n": n})}) + "\n" for n in range(ITEMS))
    s3.put_object(Bucket="exports", Key=key, Body=gzip.compress(lines.encode()))
    return {
        "source": "s3_export",
        "location": f"s3://exports/nightly/AWSDynamoDB/{EXPORT_ID}/",
        "candidates_considered": 1,
        "selection": {"policy": "latest"},
        "bucket": "exports",
        "export_root": "nightly/AWSDynamoDB/",
        "export_id": EXPORT_ID,
        "export_arn": f"arn:aws:dynamodb:us-east-1:123456789012:table/{SOURCE}/export/{EXPORT_ID}",
        "item_count": ITEMS,
    }


def _import_spec(run_id, keep=False):
    return {**step_spec(run_id, keep=keep), "backup_source": "s3_export", "import_table": True}


def _operators_use(monkeypatch, ddb):
    monkeypatch.setattr(DrillStepOperator, "dynamodb_client", lambda self, max_pool_connections=10, **_: ddb)


def _import_died_before_its_arn_was_saved(ddb, spec, located):
    definition = {"KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}]}
    definition["AttributeDefinitions"] = [{"AttributeName": "pk", "AttributeType": "S"}]
    arn = start_import(ddb, name=spec["scratch_table"], export=LocatedBackup.from_xcom(located), definition=definition)
    for _ in range(100):  # moto imports in a thread of the server
        if describe_table(ddb, spec["scratch_table"]) is not None:
            return arn
        time.sleep(0.05)
    raise AssertionError("the import made no table")


def test_an_import_table_drill_restores_counts_and_drops_its_table(aws):
    ddb = aws.client("dynamodb")
    create_source(ddb)
    located = _located(aws.client("s3"))
    spec = _import_spec("import-drill")
    before = table_items(ddb, SOURCE)

    run = server_side_dag("import_drill", spec, located).test()

    assert run.state == "success"
    restored = run.get_task_instance("restore").xcom_pull(task_ids="restore")
    assert restored["method"] == "import_table"
    assert restored["items_restored"] == ITEMS and restored["items_counted_by"] == "restore"
    assert describe_table(ddb, spec["scratch_table"]) is None
    assert table_items(ddb, SOURCE) == before


@pytest.mark.parametrize("keep", [pytest.param(True, id="kept"), pytest.param(False, id="dropped")])
def test_a_retried_restore_resumes_the_import_an_earlier_try_started(aws, monkeypatch, keep):
    ddb = ImportsLikeAws(aws.client("dynamodb"))
    create_source(ddb)
    located = _located(aws.client("s3"))
    spec = _import_spec(f"import-retried-{keep}", keep=keep)
    first = _import_died_before_its_arn_was_saved(ddb, spec, located)
    _operators_use(monkeypatch, ddb)

    run = server_side_dag(f"import_retried_{keep}", spec, located).test()

    assert run.state == "success"
    restored = run.get_task_instance("restore").xcom_pull(task_ids="restore")
    assert restored["import_arn"] == first
    assert ddb.import_calls == 1  # the earlier try's import, not a second one
    assert restored["items_restored"] == ITEMS
    assert (describe_table(ddb, spec["scratch_table"]) is not None) is keep


def test_the_teardown_deletes_the_table_of_an_import_whose_arn_was_lost(aws, monkeypatch):
    from dr_drill.operators.scratch import DropScratchTableOperator

    ddb = ImportsLikeAws(aws.client("dynamodb"))
    create_source(ddb)
    located = _located(aws.client("s3"))
    spec = _import_spec("import-crashed")
    _import_died_before_its_arn_was_saved(ddb, spec, located)
    _operators_use(monkeypatch, ddb)
    drop = DropScratchTableOperator(task_id="drop", spec=spec, claim_task_ids=["create", "restore"])

    claim = {"method": "import_table", "located": located}  # saved before the ImportTable call
    assert drop.run({"ti": FakeTI({"scratch_claim": claim})})["deleted"] is True
    assert describe_table(ddb, spec["scratch_table"]) is None
    assert describe_table(ddb, SOURCE) is not None
