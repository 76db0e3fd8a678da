"""Without the ownership secret the drill makes, writes and deletes nothing, and says which setting is missing."""

from __future__ import annotations

import os

import pytest

from dr_drill.aws.scratch_tables import create_scratch_table, describe_table
from dr_drill.core.restore.scratch import scratch_table_name
from dr_drill.errors import InvalidDrillRequest
from tests.dag.step_dags import SOURCE, FakeTI, create_source
from tests.drills import DAG_ID, OWNER_KEY, drill_spec

OWNER_SECRET = os.environ["DR_DRILL_OWNERSHIP_SECRET"]
KEYS = {
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
}


@pytest.mark.parametrize(
    ("secret", "reason"),
    [
        pytest.param(None, "DR_DRILL_OWNERSHIP_SECRET is not set", id="unset"),
        pytest.param("too-short", "DR_DRILL_OWNERSHIP_SECRET: the ownership secret has 9 bytes", id="too-short"),
    ],
)
def test_the_create_step_refuses_before_any_table_exists(aws, monkeypatch, secret, reason):
    from dr_drill.operators.scratch import CreateScratchTableOperator

    if secret is None:
        monkeypatch.delenv("DR_DRILL_OWNERSHIP_SECRET")
    else:
        monkeypatch.setenv("DR_DRILL_OWNERSHIP_SECRET", secret)
    ddb = aws.client("dynamodb")
    create_source(ddb)
    # s3_json: with the secret, this step would create the empty scratch table itself.
    spec = drill_spec(SOURCE, run_id="manual__no-secret", backup_source="s3_json", backup_bucket="backups").to_xcom()
    create = CreateScratchTableOperator(task_id="create", spec=spec, located=None)

    with pytest.raises(InvalidDrillRequest, match=reason):
        create.run({"ti": FakeTI({})})

    assert describe_table(ddb, spec["scratch_table"]) is None


class FinishedRunsTI(FakeTI):
    """A task instance to which Airflow says every run it is asked about is over."""

    @staticmethod
    def get_dagrun_state(dag_id, run_id):
        return "success"


def test_the_sweep_without_the_secret_deletes_nothing_and_says_why(aws, monkeypatch):
    from dr_drill.operators.scratch import SweepScratchTablesOperator

    ddb = aws.client("dynamodb")
    name = scratch_table_name(SOURCE, "manual__finished")
    create_scratch_table(
        ddb,
        name,
        source_table=SOURCE,
        schema=KEYS,
        prefix="drill-",
        dag_id=DAG_ID,
        run_id="manual__finished",
        key=OWNER_KEY,
    )
    sweep = SweepScratchTablesOperator(task_id="sweep", max_age_hours=1)
    monkeypatch.delenv("DR_DRILL_OWNERSHIP_SECRET")

    result = sweep.execute({"ti": FinishedRunsTI({})})

    assert result["deleted"] == [] and "DR_DRILL_OWNERSHIP_SECRET is not set" in result["error"]
    assert describe_table(ddb, name) is not None
    monkeypatch.setenv("DR_DRILL_OWNERSHIP_SECRET", OWNER_SECRET)  # with it, the orphan of a finished run goes
    assert sweep.execute({"ti": FinishedRunsTI({})}) == {"deleted": [name], "error": None}
