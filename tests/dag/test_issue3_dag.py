"""Issue 3, whole DAG: an s3_export drill end to end, and the effective RPO when the newest backup fails."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from airflow.sdk import DagRunState

from demo.run_demo import BACKUP_BUCKET
from demo.sample_data import json_backup_document, put_json_backup, sample_items
from demo.sample_exports import put_export, typed_items
from tests.dag.conftest import TABLE
from tests.dag.observe import evidence_records, scratch_tables, source_and_backups

pytestmark = pytest.mark.slow


def test_an_s3_export_drill_passes_end_to_end(dag, aws, account):
    s3 = aws.client("s3")
    now = datetime.now(UTC).replace(microsecond=0)
    put_export(
        s3, BACKUP_BUCKET, "exports/app-users", TABLE, typed_items(sample_items(TABLE, 250)), now - timedelta(days=2)
    )
    newest = put_export(
        s3, BACKUP_BUCKET, "exports/app-users", TABLE, typed_items(sample_items(TABLE, 300)), now - timedelta(hours=3)
    )
    before = source_and_backups(aws, TABLE)

    run = dag.test(run_conf={"table_name": TABLE, "backup_source": "s3_export", "export_prefix": "exports/app-users"})

    assert run.state == DagRunState.SUCCESS
    [record] = evidence_records(aws)
    backup = record["backup"]
    assert record["status"] == "passed"
    assert backup["source"] == "s3_export" and backup["export_arn"] == newest.export_arn
    assert backup["item_count"] == 300 and backup["checksum_verified"] is True
    assert backup["candidates_considered"] == 2 and backup["selection"]["policy"] == "latest"
    assert backup["backup_timestamp"] == (now - timedelta(hours=3)).isoformat()
    assert backup["size_bytes"] > 0 and backup["effective_rpo_seconds"] is None
    assert record["restore"]["items_restored"] == 300
    assert record["validation"]["restored_items"] == 300
    assert 3 * 3600 <= record["objectives"]["rpo_seconds"] < 3 * 3600 + 600
    assert scratch_tables(aws) == []
    assert source_and_backups(aws, TABLE) == before


def test_a_failing_newest_backup_fails_the_drill_and_records_the_effective_rpo(dag, aws, account):
    s3 = aws.client("s3")
    newest_good = max(e["Key"] for e in s3.list_objects_v2(Bucket=BACKUP_BUCKET)["Contents"])
    taken_at = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=1)
    document = json_backup_document(TABLE, sample_items(TABLE, 50), taken_at)
    document["item_count"] = 49
    bad = put_json_backup(s3, BACKUP_BUCKET, document, taken_at)
    before = source_and_backups(aws, TABLE)

    run = dag.test(run_conf={"table_name": TABLE})

    assert run.state == DagRunState.FAILED
    [record] = evidence_records(aws)
    backup = record["backup"]
    assert record["failure"]["step"] == "verify" and "item_count says 49" in record["failure"]["reason"]
    assert backup["location"] == f"s3://{BACKUP_BUCKET}/{bad}" == backup["selection"]["choice"]
    assert backup["newest_verified_location"] == f"s3://{BACKUP_BUCKET}/{newest_good}"
    assert newest_good in record["failure"]["reason"]
    started = datetime.fromisoformat(record["generated_at"])
    good_time = datetime.strptime(newest_good[-24:-5], "%Y-%m-%d-%H-%M-%S").replace(tzinfo=UTC)
    assert backup["effective_rpo_seconds"] == pytest.approx((started - good_time).total_seconds(), abs=600)
    assert backup["effective_rpo_seconds"] > record["objectives"]["rpo_seconds"]
    assert record["restore"]["items_restored"] == 0
    assert scratch_tables(aws) == []
    assert source_and_backups(aws, TABLE) == before


def test_a_random_choice_is_recorded_so_it_can_be_replayed(dag, aws, account):
    run = dag.test(run_conf={"table_name": TABLE, "selection": {"policy": "random_within_days", "days": 5, "seed": 42}})

    assert run.state == DagRunState.SUCCESS
    [record] = evidence_records(aws)
    selection = record["backup"]["selection"]
    assert selection["policy"] == "random_within_days" and selection["seed"] == 42
    assert selection["choice"] == record["backup"]["location"]
    assert selection["candidates_in_window"] == 2
