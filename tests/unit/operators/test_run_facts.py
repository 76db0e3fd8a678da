"""Who and what ran a drill, as the record step tells it: the table run's, or the nightly run's that asked for it."""

from __future__ import annotations

from types import SimpleNamespace

from airflow.utils.types import DagRunType

from dr_drill.operators.record import run_facts

TABLE_DAG_ID = "dynamodb_restore_drill_table"
TABLE_RUN_ID = "app-users__manual__2026-11-26T02:00:00+00:00"


def _context(*, params=None, run_type=DagRunType.MANUAL, user=None, try_number=2):
    dag_run = SimpleNamespace(dag_id=TABLE_DAG_ID, run_id=TABLE_RUN_ID, run_type=run_type, triggering_user_name=user)
    context = {"dag_run": dag_run, "ti": SimpleNamespace(try_number=try_number)}
    if params is not None:
        context["params"] = params
    return context


def test_a_table_run_tells_who_asked_for_it_and_names_itself():
    requested = {"run_type": "scheduled", "triggering_user": None}
    # The table run itself is always triggered (manual, by the nightly run's task): not what the record says.
    context = _context(params={"spec": {}, "requested": requested}, run_type=DagRunType.MANUAL, user="airflow")

    facts = run_facts(context, {"locate": 1, "restore_part_1": 2})

    assert facts == {
        "try_number": 2,
        "run_type": "scheduled",
        "triggering_user": None,
        "step_tries": {"locate": 1, "restore_part_1": 2},
        "table_dag_id": TABLE_DAG_ID,
        "table_run_id": TABLE_RUN_ID,
    }


def test_a_manual_nightly_run_s_user_reaches_the_table_run_s_record():
    context = _context(params={"requested": {"run_type": "manual", "triggering_user": "alice"}}, user="airflow")

    facts = run_facts(context)

    assert (facts["run_type"], facts["triggering_user"]) == ("manual", "alice")
    assert (facts["table_dag_id"], facts["table_run_id"], facts["step_tries"]) == (TABLE_DAG_ID, TABLE_RUN_ID, {})


def test_without_a_request_the_run_tells_of_itself_as_before():
    for params in (None, {}, {"requested": None}):
        facts = run_facts(_context(params=params, run_type=DagRunType.SCHEDULED, user=None, try_number=1))

        assert facts == {"try_number": 1, "run_type": "scheduled", "triggering_user": None, "step_tries": {}}
