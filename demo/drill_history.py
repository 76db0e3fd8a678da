"""A table's drill history, made with the record code itself, for the history page's tests and benchmark.

Each night's record is built by ``build_evidence`` from step results like a real drill's (with
RTO and RPO measured from them), chained to the night before, and stored by the evidence store
with its report; the index is then kept as the record step keeps it, or rebuilt at once.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from dr_drill.aws.evidence_index import add_to_index, write_index
from dr_drill.aws.evidence_store import put_evidence, put_report
from dr_drill.core.evidence.history import index_from_records
from dr_drill.core.evidence.record import build_evidence, evidence_key, report_key
from dr_drill.core.plan.drill_plan import drill_id_for
from dr_drill.core.report.html import render_drill_report

DAG_ID = "dynamodb_restore_drill"
TABLE_DAG_ID = "dynamodb_restore_drill_table"
_SOFTWARE = {"apache-airflow": "3.3.2", "dr_drill": "0.1.0"}


def night_record(
    table: str, bucket: str, started: datetime, previous: dict[str, Any] | None, failure: dict[str, str] | None
) -> dict[str, Any]:
    """Return the record of ``table``'s drill started at ``started`` (failed at ``failure`` when given)."""
    run_id = f"scheduled__{started.isoformat()}"
    drill_id = drill_id_for(DAG_ID, run_id, table, started)
    backup_at = started - timedelta(hours=1, minutes=started.day % 50)
    location = f"s3://backups/dynamodb-backups/{table}-backup-{backup_at:%Y-%m-%d-%H-%M-%S}.json"
    spend = 20 + started.day % 17  # seconds of restore, different each night
    key = evidence_key(table, drill_id)
    return build_evidence(
        {
            "drill_id": drill_id,
            "dag_id": DAG_ID,
            "run_id": run_id,
            "started_at": started.isoformat(),
            "table_name": table,
            "backup_source": "s3_json",
            "scratch_table": f"drill-{table}-{drill_id[-12:]}",
            "rto_target_seconds": 60,
            "rpo_target_seconds": 93600,
            "backup_bucket": "backups",
            "backup_file": None,
            "batch_size": 25,
            "keep_scratch_table": False,
            "scratch_prefix": "drill-",
            "evidence_bucket": bucket,
            "success_topic_arn": None,
            "failure_topic_arn": None,
        },
        located={
            "source": "s3_json",
            "location": location,
            "name_timestamp": backup_at.isoformat(),
            "candidates_considered": 3,
            "selection": {"policy": "latest", "choice": location},
        },
        verified={"backup_timestamp": backup_at.isoformat(), "item_count": 400, "checksum_verified": True},
        restored={
            "method": "batch_write",
            "items_restored": 400,
            "items_failed": 0,
            "started_at": (started + timedelta(seconds=5)).isoformat(),
            "finished_at": (started + timedelta(seconds=5 + spend)).isoformat(),
        },
        validated=None
        if failure
        else {
            "passed": True,
            "expected_items": 400,
            "restored_items": 400,
            "finished_at": (started + timedelta(seconds=10 + spend)).isoformat(),
        },
        scratch_deleted=True,
        failure=failure,
        # The table run the nightly run started, named as its drill task names it.
        run={"table_dag_id": TABLE_DAG_ID, "table_run_id": f"{table}__{run_id}"},
        generated_at=started + timedelta(seconds=15 + spend),
        software=_SOFTWARE,
        previous=previous,
        storage={
            "bucket": bucket,
            "key": key,
            "report_key": report_key(key),
            "object_lock": False,
            "retention_mode": None,
            "retain_until": None,
        },
    )


def table_history(
    table: str, bucket: str, last_night: datetime, nights: int, failures: dict[int, dict[str, str]]
) -> list[dict[str, Any]]:
    """Return ``nights`` chained records of ``table``, a night each up to ``last_night``; ``failures`` by night."""
    records, previous = [], None
    for night in range(nights):
        started = last_night - timedelta(days=nights - 1 - night)
        previous = night_record(table, bucket, started, previous, failures.get(night))
        records.append(previous)
    return records


def store_history(s3: Any, bucket: str, records: list[dict[str, Any]], *, index_each: bool = True) -> None:
    """Store records and reports write-once and index them: each as the record step does, or all at the end."""
    for record in records:
        storage = record["storage"]
        put_evidence(s3, bucket, storage["key"], record)
        put_report(s3, bucket, storage["report_key"], render_drill_report(record))
        if index_each:
            add_to_index(s3, bucket, record)
    if not index_each and records:
        write_index(s3, bucket, index_from_records(records[0]["table_name"], records), None)
