"""Whole-DAG runs of the validate step: what the evidence proves, and a tampered backup or a failing rule."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from airflow.sdk import DagRunState

from demo.run_demo import BACKUP_BUCKET
from demo.sample_data import json_backup_document, put_json_backup, receive_notifications, sample_items
from tests.dag.conftest import TABLE
from tests.dag.observe import evidence_records, scratch_tables

pytestmark = pytest.mark.slow


def failing_check(table_name, ddb):
    """The plan's user check in these tests: it looks at the scratch table, then says no."""
    count = ddb.scan(TableName=table_name, Select="COUNT")["Count"]
    return False, f"saw {count} items; the business rule wants none"


def test_a_passing_drill_records_which_proofs_ran_and_replays_its_sample_seed(dag, aws, account, tmp_path, monkeypatch):
    # 8 segments: the content scan is spread over two scan tasks, merged exactly by validate.
    plan = tmp_path / "segments.yaml"
    plan.write_text(json.dumps({"tables": {TABLE: {"scan_segments": 8}}}))
    monkeypatch.setenv("DRILL_PLAN_PATH", str(plan))

    run = dag.test(run_conf={"table_name": TABLE, "sample_size": 25, "sample_seed": 12345})

    assert run.state == DagRunState.SUCCESS
    scans = [ti for ti in run.table_run(TABLE).get_task_instances() if ti.task_id == "scan_part"]
    assert sorted((ti.map_index, ti.state) for ti in scans) == [(0, "success"), (1, "success")]
    [record] = evidence_records(aws)
    assert (record["validation"]["scan"]["segments"], record["validation"]["scan"]["tasks"]) == (8, 2)
    assert record["run"]["step_tries"]["scan_part_2"] == 1
    validation = record["validation"]
    assert validation["digest_match"] is True
    assert validation["content_digest_expected"] == validation["content_digest_actual"]
    assert validation["items_proven"] == validation["expected_items"] == 300
    assert (validation["sample_seed"], validation["samples_checked"], validation["sample_mismatches"]) == (12345, 25, 0)
    assert validation["proofs"] == ["count", "digest", "sample", "fidelity", "rules"]  # min_items is 1 by default
    assert validation["type_drift"]["drifted_items"] == 0 and validation["type_drift"]["items_compared"] == 25
    assert validation["missing_items"] is None and validation["localisation"] is None
    assert validation["proofs_skipped"] == {}
    assert {"name": "min_items", "passed": True, "detail": "300 items, at least 1"} in validation["checks"]
    assert scratch_tables(aws) == []


def test_a_backup_with_a_duplicate_key_fails_validation_with_the_counts(dag, aws, account):
    taken_at = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=1)
    items = sample_items(TABLE, 300)
    twin = dict(items[40], balance=1234.5)  # same user_id, other content, far from the first in the stream
    document = json_backup_document(TABLE, [*items, twin], taken_at)  # item_count and checksum agree: verify passes
    put_json_backup(aws.client("s3"), BACKUP_BUCKET, document, taken_at)

    run = dag.test(run_conf={"table_name": TABLE})

    assert run.state == DagRunState.FAILED
    [record] = evidence_records(aws)
    assert record["failure"]["step"] == "validate"
    assert "scratch table holds 300 items, the backup 301" in record["failure"]["reason"]
    assert "content digest differs" in record["failure"]["reason"]
    validation = record["validation"]
    assert validation["passed"] is False and validation["digest_match"] is False
    assert (validation["expected_items"], validation["restored_items"]) == (301, 300)
    assert validation["localisation"]["backup_duplicate_keys"] == 1
    assert validation["missing_items"] == validation["extra_items"] == 0
    assert validation["different_items"] == 0  # either twin restored is one of the backup's versions
    assert validation["items_proven"] == 300  # every key, the twins' once
    assert validation["sample_mismatches"] == 0
    assert "localisation" in validation["proofs"]
    [envelope] = receive_notifications(aws.client("sqs"), account.queue_url)
    assert "user-000040" not in envelope["Message"]
    assert scratch_tables(aws) == []


def test_failing_plan_rules_and_type_drift_fail_the_drill_each_named(dag, aws, account, tmp_path, monkeypatch):
    ddb = aws.client("dynamodb")
    for number in (1, 2):  # the live source now keeps the balance of two users as text
        key = {"user_id": {"S": f"user-{number:06d}"}}
        ddb.update_item(
            TableName=TABLE,
            Key=key,
            UpdateExpression="SET balance = :b",
            ExpressionAttributeValues={":b": {"S": "n/a"}},
        )
    plan = tmp_path / "rules.yaml"
    plan.write_text(
        json.dumps(
            {
                "tables": {
                    TABLE: {
                        "min_items": 300,
                        "required_attributes": ["user_id", "email"],
                        "probe_keys": [{"key": {"user_id": "user-000007"}}],
                        "user_check": f"{__name__}.failing_check",
                        "sample_size": 300,
                        "fail_on_type_drift": True,
                    }
                }
            }
        )
    )
    monkeypatch.setenv("DRILL_PLAN_PATH", str(plan))

    run = dag.test()

    assert run.state == DagRunState.FAILED
    [record] = evidence_records(aws)
    validation = record["validation"]
    assert validation["digest_match"] is True  # the content is right; the rules are what fail
    checks = {check["name"]: check for check in validation["checks"]}
    assert checks["min_items"]["passed"] and checks["probe_keys[0]"]["passed"]
    assert checks["required_attributes.user_id"]["passed"]
    assert checks["required_attributes.email"] == {
        "name": "required_attributes.email",
        "passed": False,
        "detail": "300 of 300 items lack it",
    }
    user = checks[f"user_check:{__name__}.failing_check"]
    assert user["passed"] is False and user["detail"] == "saw 300 items; the business rule wants none"
    assert validation["type_drift"]["drifted_items"] == 2 and validation["type_drift"]["fails_drill"] is True
    assert validation["type_drift"]["attributes"] == [
        {"attribute": "balance", "restored_type": "N", "source_type": "S", "items": 2}
    ]
    reason = record["failure"]["reason"]
    assert "2 sampled items have other attribute types than the source" in reason
    assert f"plan rules failed: required_attributes.email, user_check:{__name__}.failing_check" in reason
    assert validation["proofs"] == ["count", "digest", "sample", "fidelity", "rules"]
    assert scratch_tables(aws) == []
