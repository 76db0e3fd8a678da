"""`make demo`: one real drill, end to end, against a local AWS emulator.

Starts a moto server on 127.0.0.1, seeds sample tables with several nightly backups, runs
the nightly DAG once and then the table run it asks for each table, under dag.test() on a
project-local SQLite Airflow home (demo/nightly_drill.py), prints what happened, and stops the
emulator.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from demo.emulator import Emulator
from demo.nightly_drill import DAG_ID
from demo.sample_data import (
    create_notification_queue,
    create_source_table,
    json_backup_document,
    put_json_backup,
    receive_notifications,
    sample_items,
)

ROOT = Path(__file__).resolve().parent.parent
BACKUP_BUCKET = "dr-drill-demo-backups"
EVIDENCE_BUCKET = "dr-drill-demo-evidence"
DEMO_TABLES = {"app-users": 3000, "orders": 2000}


@dataclass(frozen=True)
class DemoAccount:
    success_topic_arn: str
    failure_topic_arn: str
    queue_url: str


def nightly_backup_times(now: datetime, nights: int) -> list[datetime]:
    """The last ``nights`` nightly backups' times (01:30 each night, none after ``now``), newest first."""
    newest = now.replace(hour=1, minute=30, second=0, microsecond=0)
    if newest > now:
        newest -= timedelta(days=1)
    return [newest - timedelta(days=night) for night in range(nights)]


def seed_account(emulator: Emulator, tables: dict[str, int], now: datetime, nights: int = 3) -> DemoAccount:
    """Create the source tables, ``nights`` nightly backups of each, two topics with a queue, and the buckets."""
    s3 = emulator.client("s3")
    for bucket in (BACKUP_BUCKET, EVIDENCE_BUCKET):
        s3.create_bucket(Bucket=bucket)
    ddb = emulator.client("dynamodb")
    for table_name, count in tables.items():
        items = sample_items(table_name, count)
        create_source_table(ddb, table_name, items)
        # Oldest first, as the nights came; the table grew a little every night.
        for nights_ago, taken_at in reversed(list(enumerate(nightly_backup_times(now, nights)))):
            nightly = items[: count - nights_ago * 10]
            put_json_backup(s3, BACKUP_BUCKET, json_backup_document(table_name, nightly, taken_at), taken_at)
    (success, failure), queue_url = create_notification_queue(
        emulator.client("sns"),
        emulator.client("sqs"),
        ["dr-drill-success", "dr-drill-failure"],
        "dr-drill-notifications",
    )
    return DemoAccount(success_topic_arn=success, failure_topic_arn=failure, queue_url=queue_url)


def airflow_environment(emulator: Emulator, account: DemoAccount, airflow_home: Path) -> dict[str, str]:
    """Return the environment for a project-local Airflow pointed at the emulator."""
    return {
        **os.environ,
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{airflow_home / 'airflow.db'}",
        "AIRFLOW_CONN_AWS_DEFAULT": emulator.airflow_connection(),
        "BACKUP_BUCKET": BACKUP_BUCKET,
        "EVIDENCE_BUCKET": EVIDENCE_BUCKET,
        "SUCCESS_TOPIC_ARN": account.success_topic_arn,
        "FAILURE_TOPIC_ARN": account.failure_topic_arn,
        # A deployment keeps this in a secrets backend; the demo makes a new one each time.
        "DR_DRILL_OWNERSHIP_SECRET": os.environ.get("DR_DRILL_OWNERSHIP_SECRET") or secrets.token_hex(32),
        "PYTHONPATH": os.pathsep.join([str(ROOT / "plugins"), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
    }


def evidence_records(emulator: Emulator) -> list[dict[str, Any]]:
    s3 = emulator.client("s3")
    records = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=EVIDENCE_BUCKET, Prefix="dr-drill-evidence/"):
        for entry in page.get("Contents", ()):
            if not entry["Key"].endswith(".json"):
                continue  # the HTML report beside each record
            body = s3.get_object(Bucket=EVIDENCE_BUCKET, Key=entry["Key"])["Body"].read()
            records.append({**json.loads(body), "_uri": f"s3://{EVIDENCE_BUCKET}/{entry['Key']}"})
    return records


def _seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f} s"


def _proofs(validation: dict[str, Any]) -> str:
    ran = ", ".join(validation.get("proofs") or []) or "none"
    digest = {True: "content digest matches", False: "content digest DIFFERS", None: "no digest"}
    samples = f"{validation.get('samples_checked', 0)} samples, {validation.get('sample_mismatches', 0)} mismatched"
    return f"{ran} ({digest[validation.get('digest_match')]}; {samples})"


def keep_copies(emulator: Emulator, records: list[dict[str, Any]], folder: Path) -> None:
    """Copy each record and its HTML report out of the emulator, which forgets everything when it stops."""
    s3 = emulator.client("s3")
    for record in records:
        copy = folder / record["table_name"] / f"{record['drill_id']}.json"
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_text(json.dumps({k: v for k, v in record.items() if k != "_uri"}, indent=2, sort_keys=True))
        report_key = (record.get("storage") or {}).get("report_key")
        if report_key:
            report = s3.get_object(Bucket=EVIDENCE_BUCKET, Key=report_key)["Body"].read()
            copy.with_suffix(".html").write_bytes(report)
        record["_copy"] = str(copy.relative_to(ROOT))


def summary(records: list[dict[str, Any]], notifications: list[dict[str, Any]]) -> str:
    """Return the few lines a person reads after the demo."""
    lines = ["", "dr-drill demo: results", "=" * 22]
    for record in sorted(records, key=lambda r: r["table_name"]):
        objectives = record["objectives"]
        met = {True: "met", False: "MISSED", None: "not measured"}
        lines += [
            f"{record['table_name']}: {record['status'].upper()}",
            f"  backup used      {record['backup']['location']}",
            f"  items restored   {record['restore']['items_restored']} of {record['backup']['item_count']}"
            f" (scan counted {record['validation']['restored_items']})",
            f"  RTO              {_seconds(objectives['rto_seconds'])} "
            f"(target {objectives['rto_target_seconds']} s, {met[objectives['rto_met']]})",
            f"  RPO              {_seconds(objectives['rpo_seconds'])} "
            f"(target {objectives['rpo_target_seconds']} s, {met[objectives['rpo_met']]})",
            f"  proven           {_proofs(record['validation'])}",
            f"  scratch table    {record['scratch_table']['name']} "
            f"({'deleted' if record['scratch_table']['deleted'] else 'still exists'})",
            f"  evidence         {record['_uri']}",
            f"                   (copies kept: {record['_copy']} and its .html report)",
        ]
        if record["failure"]:
            lines.append(f"  failed at        {record['failure']['step']}: {record['failure']['reason']}")
    lines.append(f"Notifications received on the SQS queue: {len(notifications)}")
    for envelope in notifications:
        body = json.loads(envelope["Message"])
        lines.append(f"  [{envelope.get('Subject')}] status={body['status']} evidence={body['evidence_uri']}")
    return "\n".join(lines)


def main() -> int:
    airflow_home = ROOT / ".airflow"
    airflow_home.mkdir(exist_ok=True)
    with Emulator(log_path=airflow_home / "moto.log") as emulator:
        print(f"AWS emulator (moto) listening on {emulator.endpoint_url}")
        account = seed_account(emulator, DEMO_TABLES, now=datetime.now(UTC))
        print(f"Seeded tables {', '.join(DEMO_TABLES)} with 3 nightly backups each in s3://{BACKUP_BUCKET}")
        env = airflow_environment(emulator, account, airflow_home)
        airflow = str(Path(sys.executable).with_name("airflow"))
        subprocess.run([airflow, "db", "migrate"], env=env, check=True, stdout=subprocess.DEVNULL)
        print(
            f"Running {DAG_ID} and its table runs under dag.test() (task logs in {airflow_home / 'dags-test.log'}) ..."
        )
        with open(airflow_home / "dags-test.log", "w") as log:
            run = subprocess.run(
                [sys.executable, "-m", "demo.nightly_drill"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        records = evidence_records(emulator)
        keep_copies(emulator, records, airflow_home / "demo-evidence")
        print(summary(records, receive_notifications(emulator.client("sqs"), account.queue_url)))
    print(f"\nThe drill runs exited {run.returncode}; the emulator is stopped.")
    passed = run.returncode == 0 and records and all(r["status"] == "passed" for r in records)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
