"""The DAG imports cleanly, is shaped as the drill needs, and refuses bad conf before any task runs."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def bag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag()


def test_dag_folder_imports_without_errors(bag):
    assert bag.import_errors == {}
    assert "dynamodb_restore_drill" in bag.dag_ids


def test_schedule_is_nightly_one_run_at_a_time(dag):
    assert dag.schedule == "0 2 * * *"
    assert dag.catchup is False
    assert dag.max_active_runs == 1


def test_each_table_runs_the_drill_steps_in_order(dag):
    ids = set(dag.task_ids)
    steps = [
        "locate",
        "verify",
        "create_scratch_table",
        "restore",
        "validate",
        "drop_scratch_table",
        "record",
        "verdict",
    ]
    assert {f"drill.{step}" for step in steps} <= ids
    assert dag.get_task("drill.drop_scratch_table").is_teardown
    assert dag.get_task("drill.record").trigger_rule == "all_done"
    # The verdict is the only leaf that decides the run: on the default trigger rule.
    assert dag.get_task("drill.verdict").trigger_rule == "all_success"
    assert [t.task_id for t in dag.leaves] == ["drill.verdict"]


def test_the_restore_fans_out_to_fixed_tasks_that_one_task_combines(dag):
    combine = dag.get_task("drill.restore")
    parts = sorted(task_id for task_id in combine.upstream_task_ids if task_id.startswith("drill.restore_part_"))
    assert parts == [f"drill.restore_part_{n}" for n in range(1, 5)]
    assert "drill.create_scratch_table" not in combine.upstream_task_ids  # all_done may not follow a setup
    assert combine.trigger_rule == "all_done"  # a failed share is named by the combining task
    assert all(dag.get_task(part).upstream_task_ids >= {"drill.create_scratch_table"} for part in parts)
    assert dag.params["restore_tasks"] is None


def test_the_request_is_read_first_and_the_sweep_can_never_block_or_decide_the_drills(dag):
    # A refused request touches nothing: the plan comes before the sweep, and is never retried.
    assert [task.task_id for task in dag.roots] == ["plan_drills"]
    assert dag.get_task("plan_drills").downstream_task_ids == {"sweep_scratch_tables"}
    assert dag.get_task("drills_to_run").trigger_rule == "all_done"
    assert dag.get_task("drills_to_run").upstream_task_ids == {"sweep_scratch_tables"}
    assert [task.task_id for task in dag.leaves] == ["drill.verdict"]
    assert dag.params["sweep_max_age_hours"] == 24


def test_params_show_the_original_keys_in_the_trigger_form(dag):
    assert {"table_name", "backup_bucket", "backup_file", "batch_size"} <= set(dag.params)
    # Empty by default: a default would override the plan whenever the form is used.
    assert dag.params["batch_size"] is None
    assert dag.params["keep_scratch_table"] is None


@pytest.mark.parametrize(
    ("conf", "field"),
    [
        pytest.param({"batch_size": 0}, "batch_size", id="batch-size-zero"),
        pytest.param({"batch_size": 26}, "batch_size", id="batch-size-over-25"),
        pytest.param({"table_name": "orders/eu"}, "table_name", id="table-name-with-slash"),
        pytest.param({"table_name": "ab"}, "table_name", id="table-name-too-short"),
        pytest.param({"tables": ["ok-table", "bad name"]}, "tables", id="tables-entry-with-space"),
        pytest.param({"backup_source": "tape"}, "backup_source", id="unknown-source"),
    ],
)
def test_invalid_conf_is_refused_naming_the_field(dag, airflow_db, conf, field):
    from airflow.sdk.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError, match=field):
        dag.test(run_conf=conf)


def test_every_param_defaults_to_what_the_untouched_form_posts_so_the_plan_decides(dag):
    from tests.trigger_form import UNTOUCHED_FORM_CONF

    defaults = {name: dag.params[name] for name in dag.params}
    assert defaults == UNTOUCHED_FORM_CONF


def test_every_param_has_a_title_a_description_and_a_section(dag):
    for name in dag.params:
        param = dag.params.get_param(name)
        assert param.schema.get("title") and param.schema.get("title") != name, name
        assert len(param.description or "") > 20, name
        assert param.schema.get("section"), name
        # The form stars a field whose type does not allow null: only the sweep's age must be given.
        kinds = param.schema["type"] if isinstance(param.schema["type"], list) else [param.schema["type"]]
        assert ("null" in kinds) == (name != "sweep_max_age_hours"), name


def test_mapped_drills_are_labelled_by_their_table(dag):
    group_tasks = [task for task in dag.tasks if task.task_id.startswith("drill.")]
    assert {task.map_index_template for task in group_tasks if task.task_id != "drill.verdict"} == {
        "{{ task.spec.table_name }}"
    }
    assert "evidence_uri" in dag.get_task("drill.verdict").map_index_template
