"""What every fault case checks after its runs: the drill's one true, recorded outcome, and nothing harmed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from demo.run_demo import BACKUP_BUCKET, ROOT
from demo.sample_data import receive_notifications
from dr_drill.core.evidence.record import EVIDENCE_FOLDER, validate_evidence
from dr_drill.evidence import main as evidence_cli
from tests.drills import DrillRuns, NightlyDrill, drill_requests
from tests.faults.canary import (
    EVIDENCE_BUCKET,
    TABLE,
    CanaryAccount,
    Leak,
    leaks_in,
    leaks_in_evidence_bucket,
    leaks_in_files,
    leaks_in_xcom,
)
from tests.faults.proxy import FaultProxy
from tests.snapshots import table_items

DAG_ID = "dynamodb_restore_drill"
TABLE_DAG_ID = "dynamodb_restore_drill_table"


def untouched(aws: Any) -> dict[str, Any]:
    """What a drill must never change: the source table's items and every backup object's bytes."""
    s3 = aws.client("s3")
    backups = {
        entry["Key"]: s3.get_object(Bucket=BACKUP_BUCKET, Key=entry["Key"])["Body"].read()
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BACKUP_BUCKET)
        for entry in page.get("Contents", ())
    }
    return {"items": table_items(aws.client("dynamodb"), TABLE), "backups": backups}


def scratch_tables(aws: Any) -> list[str]:
    return [name for name in aws.client("dynamodb").list_tables()["TableNames"] if name.startswith("drill-")]


def task_tries(dag_id: str, run_id: str) -> dict[str, tuple[str, int]]:
    """Each task instance of the run, as Airflow recorded it: (state, try number); a mapped one's as ``task[i]``."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.scalars(
            select(TaskInstance).where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id)
        ).all()
        return {
            row.task_id + (f"[{row.map_index}]" if row.map_index >= 0 else ""): (
                getattr(row.state, "value", row.state),
                row.try_number,
            )
            for row in rows
        }


def dag_runs(runs: DrillRuns) -> list[tuple[str, Any]]:
    """The nightly run (named ``""``) and each table run (named by its table) of one drill."""
    return [("", runs.nightly), *runs.tables.items()]


def retried_tasks(runs: DrillRuns) -> dict[str, int]:
    """The tasks Airflow ran more than once (a whole-task retry): the last resort, not the way faults are met.

    Those of the nightly run by task id, those of the table runs as ``<table>/<task id>``.
    """
    assert runs.tables, "the nightly run started no table run: its tries alone prove nothing"
    retried = {}
    for name, run in dag_runs(runs):
        tries = task_tries(run.dag_id, run.run_id)
        assert tries, f"no task instance of {run.dag_id} {run.run_id} in Airflow's records"
        retried.update({f"{name}/{task}" if name else task: n for task, (_, n) in tries.items() if n > 1})
    return retried


@dataclass(frozen=True)
class Truth:
    """What a case's drill must end in.

    :param run: the DAG run's final state.
    :param status: the record's status; None when the evidence store refused the record.
    :param failure_step: the record's (or, with no record, the notification's) failing step.
    :param topic: ``success`` or ``failure``: where the one notification goes; None when SNS itself is down.
    :param reason: a word the failure reason must name.
    """

    run: str
    status: str | None
    failure_step: str | None = None
    topic: str | None = None
    reason: str | None = None


@dataclass
class Observed:
    records: list[dict[str, Any]]
    versions: dict[str, int]
    notifications: list[dict[str, Any]]
    metric_calls: int
    leaks: list[Leak] = field(default_factory=list)

    @property
    def record(self) -> dict[str, Any]:
        [record] = self.records
        return record


def stored_records(aws: Any) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Every evidence record (its newest version), schema-checked, and how many versions each key has."""
    s3 = aws.client("s3")
    records, versions = [], {}
    # Records only: the drill-history index beside them (dr-drill-index/) is derived data, not evidence.
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=EVIDENCE_BUCKET, Prefix=f"{EVIDENCE_FOLDER}/"):
        for version in page.get("Versions", ()):
            if version["Key"].endswith(".json"):
                versions[version["Key"]] = versions.get(version["Key"], 0) + 1
    for key in sorted(versions):
        record = json.loads(s3.get_object(Bucket=EVIDENCE_BUCKET, Key=key)["Body"].read())
        validate_evidence(record)
        records.append(record)
    return records, versions


def observe(aws: Any, proxy: FaultProxy, account: CanaryAccount) -> Observed:
    records, versions = stored_records(aws)
    notifications = receive_notifications(aws.client("sqs"), account.queue_url)
    metric_calls = sum(1 for call, _ in proxy.sent if call.operation == "PutMetricData")
    return Observed(records, versions, notifications, metric_calls)


def canary_leaks(
    aws: Any, proxy: FaultProxy, observed: Observed, airflow_home: Path, captured: str, *extra: Path
) -> list[Leak]:
    """The canary anywhere a drill's outputs go: logs, output, XCom, notifications, metrics, evidence, reports."""
    leaks = leaks_in_files(airflow_home / "logs") if (airflow_home / "logs").exists() else []
    for path in extra:
        leaks += leaks_in_files(path)
    leaks += leaks_in("captured stdout/stderr/logging", captured)
    leaks += leaks_in_xcom(airflow_home / "airflow.db")
    leaks += leaks_in("SNS notifications received", observed.notifications)
    for call, body in proxy.sent:
        leaks += leaks_in(f"{call.service} {call.operation} request body", body)
    metrics = aws.client("cloudwatch").list_metrics(Namespace="BackupDR/Recovery")["Metrics"]
    leaks += leaks_in("CloudWatch metrics", metrics)
    leaks += leaks_in_evidence_bucket(aws.client("s3"), EVIDENCE_BUCKET)
    return leaks


def check_truth(observed: Observed, truths: list[Truth], account: CanaryAccount) -> None:
    """One record per drill, written once, with the true outcome; one notification per drill, on the right topic.

    ``truths`` are the drills of the case in the order they ran.
    """
    recorded = [truth for truth in truths if truth.status is not None]
    failures = [record["failure"] for record in observed.records]
    assert [record["status"] for record in observed.records] == [truth.status for truth in recorded], failures
    assert all(count == 1 for count in observed.versions.values()), f"stored more than once: {observed.versions}"
    assert observed.metric_calls == len(truths), f"PutMetricData sent {observed.metric_calls} times for {len(truths)}"
    for record, truth in zip(observed.records, recorded, strict=True):
        assert (record["failure"] or {}).get("step") == truth.failure_step, record["failure"]
        if truth.reason:
            assert truth.reason in record["failure"]["reason"], record["failure"]
    notified = [truth for truth in truths if truth.topic]
    envelopes = sorted(observed.notifications, key=lambda envelope: json.loads(envelope["Message"])["drill_id"])
    assert len(envelopes) == len(notified), [envelope.get("Subject") for envelope in envelopes]
    records = {record["drill_id"]: record for record in observed.records}
    for envelope, truth in zip(envelopes, notified, strict=True):
        body = json.loads(envelope["Message"])
        topic = account.success_topic_arn if truth.topic == "success" else account.failure_topic_arn
        assert envelope["TopicArn"] == topic, envelope.get("Subject")
        assert body["status"] == (truth.status or "failed"), body.get("summary")
        assert body.get("failure_step") == truth.failure_step, body.get("summary")
        if truth.reason:
            assert truth.reason in (body.get("failure_reason") or ""), body.get("summary")
        if truth.status is not None:
            assert body["evidence_sha256"] == records[body["drill_id"]]["evidence_sha256"]


def chain_intact(aws: Any) -> bool:
    return (
        evidence_cli(
            ["verify-chain", "--table", TABLE, "--bucket", EVIDENCE_BUCKET, "--endpoint-url", aws.endpoint_url]
        )
        == 0
    )


# --- a run in its own process, to be killed -----------------------------------------------------


def start_table_drill(drill: NightlyDrill, conf: dict[str, Any], log_path: Path) -> tuple[Any, subprocess.Popen[bytes]]:
    """The nightly run here, then the one table run it asks for under ``airflow dags test`` in a process of its own.

    The nightly run's ``drill`` task is marked done (as ``NightlyDrill`` does); it would be
    waiting in the triggerer while the table run's tasks run. Returns the nightly run and the process.
    """
    nightly = drill.dag.test(run_conf=conf, mark_success_pattern=r"drill")
    [request] = drill_requests(nightly)
    return nightly, start_dags_test(TABLE_DAG_ID, request["conf"], log_path)


def start_dags_test(dag_id: str, conf: dict[str, Any], log_path: Path) -> subprocess.Popen[bytes]:
    """``airflow dags test`` in a process of its own: its tasks run in it, so killing it kills the task."""
    airflow = str(Path(sys.executable).with_name("airflow"))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "plugins"), str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    with open(log_path, "wb") as log:
        return subprocess.Popen(
            [airflow, "dags", "test", dag_id, "-c", json.dumps(conf)], env=env, stdout=log, stderr=subprocess.STDOUT
        )


def kill(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL: no finally, no teardown, no on_kill; what a lost worker or the OOM killer does."""
    if process.poll() is None:
        os.kill(process.pid, signal.SIGKILL)


def mark_killed_run_over(table_run_id: str, nightly_run_id: str) -> None:
    """What Airflow records once the killed task's heartbeat times out: the table run failed, and so the nightly run.

    The scheduler fails the killed task and the table run; the nightly run's ``drill`` task,
    waiting for that run in the triggerer, then fails, and with it the nightly run.
    """
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState, TaskInstanceState
    from sqlalchemy import select

    finished = (TaskInstanceState.SUCCESS, TaskInstanceState.FAILED, TaskInstanceState.SKIPPED)
    with create_session() as session:
        for ti in session.scalars(
            select(TaskInstance).where(TaskInstance.dag_id == TABLE_DAG_ID, TaskInstance.run_id == table_run_id)
        ):
            if ti.state not in finished:
                ti.state = TaskInstanceState.FAILED
        for ti in session.scalars(
            select(TaskInstance).where(
                TaskInstance.dag_id == DAG_ID, TaskInstance.run_id == nightly_run_id, TaskInstance.task_id == "drill"
            )
        ):
            ti.state = TaskInstanceState.FAILED  # the one table run it waited for failed
        for dag_id, run_id in ((TABLE_DAG_ID, table_run_id), (DAG_ID, nightly_run_id)):
            run = session.scalars(select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id)).one()
            run.state = DagRunState.FAILED


def running_run_ids(dag_id: str) -> list[str]:
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from sqlalchemy import select

    with create_session() as session:
        return list(
            session.scalars(select(DagRun.run_id).where(DagRun.dag_id == dag_id, DagRun.state == DagRunState.RUNNING))
        )


def figures(
    case: str, runs: list[DrillRuns], proxy: FaultProxy, observed: Observed, leaks: list[Leak], left: list[str]
):
    """What a case recorded, beside what the proxy injected: the fault matrix's row, for the issue's closing note."""
    records = [
        {
            "status": record["status"],
            "failure": record["failure"],
            "restore": {
                name: (record.get("restore") or {}).get(name)
                for name in ("items_restored", "retries", "throttled_requests", "duration_seconds", "items_per_second")
            },
            "try_number": (record.get("run") or {}).get("try_number"),
            "checks_not_passed": {c["name"]: c["result"] for c in record.get("checks", ()) if c["result"] != "passed"},
        }
        for record in observed.records
    ]
    notifications = [
        {
            "topic": envelope["TopicArn"].rsplit(":", 1)[-1],
            "subject": envelope.get("Subject"),
            "failure_step": json.loads(envelope["Message"]).get("failure_step"),
            "failure_reason": (json.loads(envelope["Message"]).get("failure_reason") or "")[:300],
        }
        for envelope in observed.notifications
    ]
    return {
        "case": case,
        "runs": [
            {
                "state": getattr(run.state, "value", run.state),
                "run_states": {
                    name or "nightly": getattr(one.state, "value", one.state) for name, one in dag_runs(run)
                },
                "retried_tasks": retried_tasks(run),
            }
            for run in runs
        ],
        "injected": {
            rule.name: {"total": rule.injected, "by_operation": dict(rule.by_operation), "by_code": dict(rule.by_code)}
            for rule in [*proxy.retired, *proxy.rules]
        },
        "records": records,
        "record_versions": observed.versions,
        "notifications": notifications,
        "put_metric_data_calls": observed.metric_calls,
        "publish_calls_seen": proxy.seen[("sns", "Publish")],
        "put_object_calls_seen": proxy.seen[("s3", "PutObject")],
        "leaks": [str(leak)[:300] for leak in leaks[:5]],
        "scratch_tables_left": left,
    }
