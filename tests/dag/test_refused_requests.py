"""A request that cannot mean one drill is refused by the first task, within seconds, without retry, loudly.

Nothing is touched: no sweep, no scratch table, no evidence; the failure topic hears which field is wrong.
"""

from __future__ import annotations

import json
import time

import pytest
from airflow.sdk import DagRunState

from demo.sample_data import receive_notifications
from tests.dag.conftest import TABLE
from tests.dag.observe import evidence_records
from tests.trigger_form import form_conf

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    ("conf", "field", "says"),
    [
        pytest.param(
            {"table_name": TABLE, "batch_sise": 25}, "batch_sise", "did you mean 'batch_size'?", id="misspelt"
        ),
        pytest.param(
            form_conf(backup_file=f"dynamodb-backups/{TABLE}-backup-2026-11-30-01-30-00.json"),
            "backup_file",
            "give table_name with it",
            id="backup-file-without-table-from-the-form",
        ),
    ],
)
def test_a_refused_request_fails_at_once_touches_nothing_and_names_the_field(dag, aws, account, conf, field, says):
    ddb = aws.client("dynamodb")
    tables_before = ddb.list_tables()["TableNames"]
    started = time.monotonic()

    run = dag.test(run_conf=conf)

    assert time.monotonic() - started < 60
    assert run.state == DagRunState.FAILED
    states = {ti.task_id: (ti.state, ti.try_number) for ti in run.get_task_instances()}
    assert states["plan_drills"] == ("failed", 1)  # refused once, never retried
    assert states["sweep_scratch_tables"][0] == "upstream_failed"  # nothing touched
    assert ddb.list_tables()["TableNames"] == tables_before
    assert evidence_records(aws) == []
    [envelope] = receive_notifications(aws.client("sqs"), account.queue_url)
    assert envelope["TopicArn"] == account.failure_topic_arn
    assert envelope["Subject"].startswith("DR drill REFUSED")
    body = json.loads(envelope["Message"])
    assert body["status"] == "refused" and body["field"] == field
    assert says in body["reason"] and field in body["summary"]
    assert envelope["MessageAttributes"]["status"]["Value"] == "refused"
