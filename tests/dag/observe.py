"""What the whole-DAG tests look at after a run: evidence, untouched sources, leftover scratch tables."""

from __future__ import annotations

from typing import Any

from demo.run_demo import BACKUP_BUCKET
from demo.run_demo import evidence_records as stored_evidence_records
from dr_drill.core.evidence.record import validate_evidence
from tests.snapshots import table_items


def evidence_records(aws) -> list[dict[str, Any]]:
    """Every evidence record in the bucket, each checked against the published JSON Schema."""
    records = stored_evidence_records(aws)
    for record in records:
        validate_evidence({key: value for key, value in record.items() if key != "_uri"})
    return records


def source_and_backups(aws, table: str) -> dict[str, Any]:
    """What a drill must never change: the source table's items and the backups' bytes."""
    ddb, s3 = aws.client("dynamodb"), aws.client("s3")
    backups = {
        entry["Key"]: s3.get_object(Bucket=BACKUP_BUCKET, Key=entry["Key"])["Body"].read()
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BACKUP_BUCKET)
        for entry in page.get("Contents", ())
    }
    return {"items": table_items(ddb, table), "backups": backups}


def scratch_tables(aws) -> list[str]:
    return [name for name in aws.client("dynamodb").list_tables()["TableNames"] if name.startswith("drill-")]


def drill_succeeded(aws, table: str) -> list[tuple[float, float]]:
    """The hour's DrillSucceeded datapoints of ``table``, as (maximum, sample count): one sample per drill."""
    from datetime import UTC, datetime, timedelta

    points = aws.client("cloudwatch").get_metric_statistics(
        Namespace="BackupDR/Recovery",
        MetricName="DrillSucceeded",
        Dimensions=[{"Name": "TableName", "Value": table}],
        StartTime=datetime.now(UTC) - timedelta(hours=1),
        EndTime=datetime.now(UTC) + timedelta(hours=1),
        Period=3600,
        Statistics=["Maximum", "SampleCount"],
    )["Datapoints"]
    return [(point["Maximum"], point["SampleCount"]) for point in points]
