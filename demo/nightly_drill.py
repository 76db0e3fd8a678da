"""The nightly drill under dag.test(): the nightly DAG's run, then each table run it asked for.

dag.test() (and ``airflow dags test``) runs one DAG run and no scheduler, so it cannot run the
table runs that the nightly run's ``drill`` tasks (the standard provider's TriggerDagRunOperator,
awaited in the triggerer) start. Here those tasks are marked done and their requests
(``drills_to_run``) are run one after the other, as the scheduler would run them; a real
deployment (tests/deployment/) runs the real thing.

``python -m demo.nightly_drill [--conf JSON]`` does this in the Airflow its environment names,
prints each run's state and exits 1 when a drill failed: ``make demo`` runs it.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

DAG_ID = "dynamodb_restore_drill"
TABLE_DAG_ID = "dynamodb_restore_drill_table"
# The nightly run's tasks that start and await a table run: marked done under dag.test().
TRIGGER_TASK_PATTERN = r"drill"


class DrillRuns:
    """A nightly run and the table runs it asked for, as dag.test() left them.

    ``state`` is what the nightly run's own state is once its ``drill`` tasks have waited for the
    table runs: failed when it failed or any table run failed.
    """

    def __init__(self, nightly: Any, tables: dict[str, Any], nightly_task_ids: set[str]) -> None:
        self.nightly = nightly
        self.tables = tables
        self.nightly_task_ids = nightly_task_ids

    @property
    def state(self) -> str:
        from airflow.utils.state import DagRunState

        runs = [self.nightly, *self.tables.values()]
        return DagRunState.FAILED if any(run.state == DagRunState.FAILED for run in runs) else self.nightly.state

    def get_task_instances(self) -> list[Any]:
        """Every task instance of the nightly run and of the table runs."""
        return [ti for run in (self.nightly, *self.tables.values()) for ti in run.get_task_instances()]

    def get_task_instance(self, task_id: str, map_index: int = -1) -> Any:
        """The nightly run's task instance ``task_id``; else the one table run's (a drill of one table)."""
        if task_id in self.nightly_task_ids:
            return self.nightly.get_task_instance(task_id, map_index=map_index)
        [table_run] = self.tables.values()
        return table_run.get_task_instance(task_id, map_index=map_index)

    def table_run(self, table: str) -> Any:
        return self.tables[table]


class NightlyDrill:
    """The nightly DAG under dag.test(), then each table run it asked for, one after the other."""

    def __init__(self, dag: Any, table_dag: Any) -> None:
        self.dag = dag
        self.table_dag = table_dag
        self.dag_id = dag.dag_id

    def test(self, run_conf: dict[str, Any] | None = None) -> DrillRuns:
        nightly = self.dag.test(run_conf=run_conf, mark_success_pattern=TRIGGER_TASK_PATTERN)
        tables = {
            request["conf"]["spec"]["table_name"]: self.table_dag.test(run_conf=request["conf"])
            for request in drill_requests(nightly)
        }
        return DrillRuns(nightly, tables, set(self.dag.task_ids))


def drill_requests(nightly: Any) -> list[dict[str, Any]]:
    """What the nightly run's ``drills_to_run`` asked for: one table run's id and conf each (none if it failed)."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter_by(dag_id=nightly.dag_id, run_id=nightly.run_id, task_id="drills_to_run", key="return_value")
            .one_or_none()
        )
        return XComModel.deserialize_value(row) if row is not None else []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo.nightly_drill", description=__doc__.splitlines()[0])
    parser.add_argument("--conf", type=json.loads, default=None, help="the nightly run's conf, as JSON")
    args = parser.parse_args(argv)
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag()
    runs = NightlyDrill(bag.get_dag(DAG_ID), bag.get_dag(TABLE_DAG_ID)).test(run_conf=args.conf)
    print(f"{DAG_ID} {runs.nightly.run_id}: {runs.nightly.state}")
    for table, run in runs.tables.items():
        print(f"{TABLE_DAG_ID} {run.run_id} ({table}): {run.state}")
    return 1 if runs.state == "failed" else 0


if __name__ == "__main__":
    sys.exit(main())
