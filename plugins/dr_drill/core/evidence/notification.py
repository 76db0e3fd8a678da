"""What a drill tells people and dashboards: the SNS message and the CloudWatch metrics."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

METRIC_NAMESPACE = "BackupDR/Recovery"
METRIC_NAMES = (
    "ItemsRestored",
    "FailedItems",
    "RecoveryValidationRate",
    "RecoveryTimeSeconds",
    "BackupAgeSeconds",
    "DrillSucceeded",
)
_SUBJECT_LIMIT = 99  # SNS allows 100; the contract says under 100


def _missed(objectives: dict[str, Any], recovery: dict[str, Any] | None = None) -> list[str]:
    missed = [name.upper() for name in ("rto", "rpo") if objectives.get(f"{name}_met") is False]
    return missed + (["copy lag"] if recovery and recovery["copy_lag_met"] is False else [])


def notification_subject(record: dict[str, Any]) -> str:
    """Return a subject under 100 characters naming the result, a missed RTO/RPO/copy lag target, and the table."""
    missed = _missed(record["objectives"], record.get("recovery"))
    head = f"DR drill {record['status'].upper()}"
    if missed:
        head += f" ({' and '.join(missed)} missed)"
    head += ": "
    table = record["table_name"]
    room = _SUBJECT_LIMIT - len(head)
    if len(table) > room:
        table = table[: room - 3] + "..."
    return head + table


def _summary(record: dict[str, Any], storage_problem: str | None = None) -> str:
    """One sentence a person reads first: the result, the failing step and reason, RTO and RPO, and the evidence."""
    objectives = record["objectives"]
    met = {True: "met", False: "MISSED", None: "not measured"}
    head = f"DR drill of {record['table_name']} {record['status'].upper()}"
    if record["failure"]:
        head += f" at step {record['failure']['step']}: {record['failure']['reason']}"

    def told(name: str) -> str:
        measured = objectives[f"{name}_seconds"]
        shown = "" if measured is None else f"{measured} s, "
        return (
            f"{name.upper()} {met[objectives[f'{name}_met']]} ({shown}target {objectives[f'{name}_target_seconds']} s)"
        )

    advisory = " (targets advisory)" if objectives.get("advisory") and _missed(objectives) else ""
    summary = f"{head}. {told('rto')}, {told('rpo')}{advisory}."
    recovery = record.get("recovery")
    if recovery:
        lag = recovery["copy_lag_seconds"]
        shown = "" if lag is None else f"{lag} s, "
        there, source = recovery["recovery"], recovery["source"]
        summary += (
            f" Restored on the recovery side: account {there['account']}, region {there['region']}, through"
            f" {there['aws_conn_id']}; copy lag {met[recovery['copy_lag_met']]} ({shown}target"
            f" {recovery['copy_lag_target_seconds']} s) behind the source (account {source['account']},"
            f" region {source['region']})."
        )
    if storage_problem:
        summary += f" Its evidence was NOT stored: {storage_problem}."
    return summary


def notification_message(
    record: dict[str, Any], evidence_uri: str | None, report_uri: str | None = None, storage_problem: str | None = None
) -> str:
    """Return the JSON body: identifiers, figures, the evidence's storage, the report link and the reason.

    Sent once the evidence is stored, or known not to be: ``storage_problem`` says why it is not,
    and then no link to evidence is given. Never item contents.
    """
    objectives = record["objectives"]
    stored = storage_problem is None
    message: dict[str, Any] = {
        "status": record["status"],
        "table_name": record["table_name"],
        "drill_id": record["drill_id"],
        "run_id": record["run_id"],
        "summary": _summary(record, storage_problem),
        "evidence_stored": stored,
        "evidence_uri": evidence_uri if stored else None,
        "report_uri": report_uri if stored else None,
        "evidence_sha256": record.get("evidence_sha256") if stored else None,
        "backup_location": record["backup"]["location"],
        "items_restored": record["restore"]["items_restored"],
        "items_restored_counted_by": record["restore"].get("items_restored_counted_by"),
        "items_failed": record["restore"]["items_failed"],
        "rto_seconds": objectives["rto_seconds"],
        "rto_target_seconds": objectives["rto_target_seconds"],
        "rto_met": objectives["rto_met"],
        "rpo_seconds": objectives["rpo_seconds"],
        "rpo_target_seconds": objectives["rpo_target_seconds"],
        "rpo_met": objectives["rpo_met"],
    }
    if record.get("recovery"):
        message["recovery"] = _recovery_summary(record["recovery"])
    if not stored:
        message["evidence_not_stored_reason"] = storage_problem
    if record["failure"]:
        message["failure_step"] = record["failure"]["step"]
        message["failure_reason"] = record["failure"]["reason"]
    return json.dumps(message, indent=2)


def _recovery_summary(recovery: dict[str, Any]) -> dict[str, Any]:
    """Both sides and the copy: accounts, regions, connection ids (never their secrets), the copy lag."""
    there, source = recovery["recovery"], recovery["source"]
    return {
        "recovery_account": there["account"],
        "recovery_region": there["region"],
        "recovery_aws_conn_id": there["aws_conn_id"],
        "source_account": source["account"],
        "source_region": source["region"],
        "copy_restored": recovery["copy_restored"],
        "uncopied_location": recovery["uncopied_location"],
        "copy_lag_seconds": recovery["copy_lag_seconds"],
        "copy_lag_target_seconds": recovery["copy_lag_target_seconds"],
        "copy_lag_met": recovery["copy_lag_met"],
    }


def notification_attributes(record: dict[str, Any]) -> dict[str, str]:
    """Return SNS message attributes, so subscribers can filter on status and table.

    Flat, as ``SnsHook.publish_to_target`` takes them (a string becomes a String attribute).
    """
    return {"status": record["status"], "table_name": record["table_name"]}


def notification_topic(status: str, success_topic: str | None, failure_topic: str | None) -> str | None:
    """Return the topic for ``status``; with only one topic configured, both outcomes go there."""
    if status == "passed":
        return success_topic or failure_topic
    return failure_topic or success_topic


def validation_rate(record: dict[str, Any]) -> float:
    """Return the percentage of the backup's items proven right in the scratch table.

    With a content digest, ``items_proven`` counts the items proven exact (all of them when
    the digests match; those in matching buckets and matching entries when they differ).
    Without one (server-side restores) only the exact count is proven, so the rate is the
    share of the expected items the count found.
    """
    validation = record["validation"]
    expected = validation["expected_items"]
    proven = validation.get("items_proven")
    if proven is None:
        proven = validation["restored_items"]
    if expected is None or proven is None:
        return 0.0
    if expected == 0:
        return 100.0 if validation["restored_items"] == 0 else 0.0
    return round(100.0 * min(proven, expected) / expected, 3)


def metric_data(record: dict[str, Any], timestamp: datetime) -> list[dict[str, Any]]:
    """Return the drill's metrics, per table: the original three, then time, backup age and the verdict.

    ``RecoveryTimeSeconds`` and ``BackupAgeSeconds`` are left out when not measured (a drill that
    failed before validation has no RTO); ``DrillSucceeded`` is always sent, so that an alarm
    treating missing data as breaching notices a drill that did not run at all.
    """
    dimensions = [{"Name": "TableName", "Value": record["table_name"]}]
    objectives = record["objectives"]
    values = (
        ("ItemsRestored", record["restore"]["items_restored"], "Count"),
        ("FailedItems", record["restore"]["items_failed"], "Count"),
        ("RecoveryValidationRate", validation_rate(record), "Percent"),
        ("RecoveryTimeSeconds", objectives["rto_seconds"], "Seconds"),
        ("BackupAgeSeconds", objectives["rpo_seconds"], "Seconds"),
        ("DrillSucceeded", 1 if record["status"] == "passed" else 0, "Count"),
    )
    return [
        {"MetricName": name, "Dimensions": dimensions, "Timestamp": timestamp, "Value": value, "Unit": unit}
        for name, value, unit in values
        if value is not None
    ]


def refusal_subject(tables: list[str] | tuple[str, ...]) -> str:
    """Return the subject of a refused request, naming its table when it named one."""
    head = "DR drill REFUSED: "
    what = tables[0] if tables else "request"
    room = _SUBJECT_LIMIT - len(head)
    if len(what) > room:
        what = what[: room - 3] + "..."
    return head + what


def refusal_message(
    *, dag_id: str, run_id: str, tables: list[str] | tuple[str, ...], field: str | None, reason: str
) -> str:
    """Return the JSON body of a refused request: what was refused and why; no drill ran, nothing was touched."""
    return json.dumps(
        {
            "status": "refused",
            "dag_id": dag_id,
            "run_id": run_id,
            "tables": list(tables),
            "field": field,
            "reason": reason,
            "summary": f"DR drill request refused before any work{f' (field {field})' if field else ''}: {reason}",
        },
        indent=2,
    )


def refusal_attributes(tables: list[str] | tuple[str, ...]) -> dict[str, str]:
    """Message attributes of a refusal, as ``notification_attributes`` gives them for a drill."""
    return {"status": "refused", "table_name": tables[0] if tables else "(request)"}
