"""Backups that would fail a real disaster fail the drill at verify, before any table is made; missed targets fail it.

An empty backup of a full table, and items real DynamoDB refuses (which the emulator would
restore "fine"), are findings of verify; a proven restore from a backup older than the RPO
target fails the drill at its objectives.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from airflow.sdk import DagRunState

from demo.run_demo import BACKUP_BUCKET
from demo.sample_data import json_backup_document, put_json_backup, receive_notifications, sample_items
from tests.dag.conftest import TABLE
from tests.dag.observe import drill_succeeded, evidence_records, scratch_tables, source_and_backups

pytestmark = pytest.mark.slow


def _newest_backup(aws, items):
    taken_at = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=1)
    return put_json_backup(aws.client("s3"), BACKUP_BUCKET, json_backup_document(TABLE, items, taken_at), taken_at)


def _nested(levels):
    value = "leaf"
    for _ in range(levels):
        value = {"a": value}
    return value


def _failed_at_verify(dag, aws, account, before):
    run = dag.test(run_conf={"table_name": TABLE})

    assert run.state == DagRunState.FAILED
    [record] = evidence_records(aws)
    assert record["status"] == "failed" and record["failure"]["step"] == "verify"
    assert record["restore"]["started_at"] is None  # nothing was restored
    assert scratch_tables(aws) == []  # no table was made
    assert source_and_backups(aws, TABLE) == before
    [envelope] = receive_notifications(aws.client("sqs"), account.queue_url)
    assert envelope["TopicArn"] == account.failure_topic_arn
    return record, envelope


def test_an_empty_backup_of_a_full_table_fails_verify_with_both_counts(dag, aws, account):
    key = _newest_backup(aws, [])  # well formed, checksum right, item_count 0
    before = source_and_backups(aws, TABLE)

    record, envelope = _failed_at_verify(dag, aws, account, before)

    assert record["backup"]["location"].endswith(key)
    assert "the backup holds 0 items, the live table about 300" in record["failure"]["reason"]
    assert record["backup"]["item_count"] == 0 and record["backup"]["live_item_count"] == 300
    assert "holds 0 items, the live table about 300" in json.loads(envelope["Message"])["failure_reason"]


def test_items_real_dynamodb_refuses_fail_verify_by_hashed_key_and_limit(dag, aws, account):
    items = sample_items(TABLE, 300)
    items[3]["balance"] = 10**39 + 1  # 40 significant digits
    items[7]["profile"] = _nested(33)
    _newest_backup(aws, items)
    before = source_and_backups(aws, TABLE)

    record, envelope = _failed_at_verify(dag, aws, account, before)

    reason = record["failure"]["reason"]
    assert "2 of 300 items break DynamoDB's limits and would be refused by a real restore" in reason
    assert "balance: number with 40 significant digits (at most 38)" in reason
    assert "nested more than 32 levels deep" in reason
    assert reason.count("key ") >= 2 and items[3]["user_id"] not in reason  # hashed keys, never values
    assert record["backup"]["dynamodb_limits_checked"] is True
    assert record["backup"]["dynamodb_limit_violations"] == 2
    assert items[3]["user_id"] not in envelope["Message"]


def test_a_proven_restore_from_a_backup_older_than_the_rpo_target_fails_the_drill(dag, aws, account):
    run = dag.test(run_conf={"table_name": TABLE, "rpo_target_seconds": 60})  # the newest backup is hours old

    assert run.state == DagRunState.FAILED
    [record] = evidence_records(aws)
    assert record["validation"]["passed"] is True  # the restore itself was proven
    assert record["status"] == "failed" and record["failure"]["step"] == "objectives"
    assert record["failure"]["reason"].startswith("RPO target missed: the backup was ")
    assert record["failure"]["reason"].endswith(" s old at the drill's start, target 60 s")
    assert record["objectives"]["rpo_met"] is False and record["objectives"]["rto_met"] is True
    [envelope] = receive_notifications(aws.client("sqs"), account.queue_url)
    assert envelope["TopicArn"] == account.failure_topic_arn
    assert envelope["Subject"] == f"DR drill FAILED (RPO missed): {TABLE}"
    body = json.loads(envelope["Message"])
    assert f"RPO MISSED ({record['objectives']['rpo_seconds']} s, target 60 s)" in body["summary"]
    assert drill_succeeded(aws, TABLE) == [(0.0, 1.0)]
    assert scratch_tables(aws) == []
