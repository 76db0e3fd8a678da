"""The sweep covers every side of the plan: scratch tables a drill left in a recovery region are removed there too.

The operator runs against the moto server through Airflow connections (``aws_default`` in
us-east-1 and ``aws_recovery_region`` in us-west-2), as plan_drills hands it the sides; a side
whose connection cannot be assumed is named in the sweep's error and the other sides are
still swept.
"""

from __future__ import annotations

from demo.emulator import aws_connection, emulator_client
from dr_drill.aws.scratch_tables import create_scratch_table
from dr_drill.core.restore.scratch import scratch_table_name
from dr_drill.operators.plan import SWEEP_SIDES_XCOM_KEY
from dr_drill.operators.scratch import SweepScratchTablesOperator
from tests.drills import DAG_ID, OWNER_KEY

FINISHED_RUN = "scheduled__2026-11-25T02:00:00+00:00"
KEYS = {
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
}


class _TaskInstance:
    """What the sweep asks of its task instance: the sides plan_drills pushed, and Airflow's run states."""

    def __init__(self, sides):
        self.sides = sides

    def xcom_pull(self, *, task_ids, key):
        assert (task_ids, key) == ("plan_drills", SWEEP_SIDES_XCOM_KEY)
        return self.sides

    def get_dagrun_state(self, dag_id, run_id):
        return "success"  # every orphan here is of a finished run


def _connection(aws, **extra) -> str:
    return aws_connection(aws.endpoint_url, region_name="us-west-2", **extra)


def _orphan(ddb, source: str) -> str:
    name = scratch_table_name(source, FINISHED_RUN, "drill-")
    create_scratch_table(
        ddb, name, source_table=source, schema=KEYS, prefix="drill-", dag_id=DAG_ID, run_id=FINISHED_RUN, key=OWNER_KEY
    )
    return name


def test_the_sweep_removes_orphans_on_every_side_and_names_a_side_it_cannot_reach(aws, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_AWS_RECOVERY_REGION", _connection(aws))
    role = "arn:aws:iam::222222222222:role/dr-drill-recovery"
    monkeypatch.setenv(
        "AIRFLOW_CONN_AWS_LOCKED_OUT",
        _connection(aws, role_arn=role, assume_role_kwargs={"RoleSessionName": "s" * 65}),
    )
    east = aws.client("dynamodb")
    west = emulator_client(aws.endpoint_url, "dynamodb", region_name="us-west-2")
    here, there = _orphan(east, "orders"), _orphan(west, "ledger")
    sides = [
        {"aws_conn_id": "aws_default", "region_name": None},
        {"aws_conn_id": "aws_locked_out", "region_name": "us-west-2"},
        {"aws_conn_id": "aws_recovery_region", "region_name": "us-west-2"},
    ]
    sweep = SweepScratchTablesOperator(task_id="sweep_scratch_tables", max_age_hours=24)

    result = sweep.execute({"ti": _TaskInstance(sides)})

    assert sorted(result["deleted"]) == sorted([here, there])
    assert result["error"].startswith("aws_locked_out: ClientError") and "AssumeRole" in result["error"]
    assert result["error"].count("aws_") == 1  # only the side it could not reach
