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


@pytest.fixture(scope="module")
def nightly(bag):
    return bag.get_dag("dynamodb_restore_drill")


@pytest.fixture(scope="module")
def table_run(bag):
    return bag.get_dag("dynamodb_restore_drill_table")


def test_schedule_is_nightly_one_run_at_a_time(nightly, table_run):
    assert nightly.schedule == "0 2 * * *"
    assert nightly.catchup is False
    assert nightly.max_active_runs == 1
    # The table runs are started by the nightly run only, at most MAX_PARALLEL_TABLES at once.
    assert table_run.schedule is None and table_run.max_active_runs == 4


def test_each_table_runs_the_drill_steps_in_order(table_run):
    steps = [
        "locate",
        "verify",
        "create_scratch_table",
        "plan_restore",
        "restore_part",
        "restore",
        "plan_scan",
        "scan_part",
        "validate",
        "drop_scratch_table",
        "record",
        "verdict",
    ]
    assert set(table_run.task_ids) == set(steps)
    assert table_run.get_task("drop_scratch_table").is_teardown
    assert table_run.get_task("record").trigger_rule == "all_done"
    # The verdict is the only leaf that decides the run: on the default trigger rule.
    assert table_run.get_task("verdict").trigger_rule == "all_success"
    assert [t.task_id for t in table_run.leaves] == ["verdict"]


def test_the_restore_is_mapped_over_its_shares_and_one_task_combines_them(table_run):
    from airflow.sdk.definitions.mappedoperator import MappedOperator

    parts = table_run.get_task("restore_part")
    assert isinstance(parts, MappedOperator)  # as many instances as shares: none exists to be skipped
    assert parts.upstream_task_ids >= {"create_scratch_table", "plan_restore"}
    combine = table_run.get_task("restore")
    assert combine.upstream_task_ids >= {"restore_part"}
    assert "create_scratch_table" not in combine.upstream_task_ids  # all_done may not follow a setup
    assert combine.trigger_rule == "all_done"  # a failed share is named by the combining task


def test_the_content_scan_is_mapped_over_its_shares_and_validate_merges_them(table_run):
    from airflow.sdk.definitions.mappedoperator import MappedOperator

    scans = table_run.get_task("scan_part")
    assert isinstance(scans, MappedOperator)
    assert scans.upstream_task_ids >= {"plan_scan"} and "restore" in table_run.get_task("plan_scan").upstream_task_ids
    validate = table_run.get_task("validate")
    assert validate.upstream_task_ids >= {"scan_part"}
    assert validate.trigger_rule == "all_done"  # a failed share is named by validate
    assert scans.map_index_template == "part {{ task.share.part }} of {{ task.share.of }}"


def test_the_request_is_read_first_and_the_sweep_can_never_block_or_decide_the_drills(nightly):
    from airflow.sdk.definitions.mappedoperator import MappedOperator

    # A refused request touches nothing: the plan comes before the sweep, and is never retried.
    assert [task.task_id for task in nightly.roots] == ["plan_drills"]
    assert nightly.get_task("plan_drills").downstream_task_ids == {"sweep_scratch_tables"}
    assert nightly.get_task("drills_to_run").trigger_rule == "all_done"
    assert nightly.get_task("drills_to_run").upstream_task_ids == {"sweep_scratch_tables"}
    # One table run per table, waited for in the triggerer; a failed drill fails the nightly run.
    drill = nightly.get_task("drill")
    assert isinstance(drill, MappedOperator) and [task.task_id for task in nightly.leaves] == ["drill"]
    assert drill.partial_kwargs["trigger_dag_id"] == "dynamodb_restore_drill_table"
    assert drill.partial_kwargs["wait_for_completion"] is True and drill.partial_kwargs["deferrable"] is True
    assert drill.partial_kwargs["failed_states"] == ["failed"]
    assert nightly.params["sweep_max_age_hours"] == 24
    assert nightly.params["restore_tasks"] is None


def test_params_show_the_original_keys_in_the_trigger_form(nightly):
    assert {"table_name", "backup_bucket", "backup_file", "batch_size"} <= set(nightly.params)
    # Empty by default: a default would override the plan whenever the form is used.
    assert nightly.params["batch_size"] is None
    assert nightly.params["keep_scratch_table"] is None


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
def test_invalid_conf_is_refused_naming_the_field(nightly, airflow_db, conf, field):
    from airflow.sdk.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError, match=field):
        nightly.test(run_conf=conf)


def test_every_param_defaults_to_what_the_untouched_form_posts_so_the_plan_decides(nightly):
    from tests.trigger_form import UNTOUCHED_FORM_CONF

    defaults = {name: nightly.params[name] for name in nightly.params}
    assert defaults == UNTOUCHED_FORM_CONF


def test_every_param_has_a_title_a_description_and_a_section(nightly):
    for name in nightly.params:
        param = nightly.params.get_param(name)
        assert param.schema.get("title") and param.schema.get("title") != name, name
        assert len(param.description or "") > 20, name
        assert param.schema.get("section"), name
        # The form stars a field whose type does not allow null: only the sweep's age must be given.
        kinds = param.schema["type"] if isinstance(param.schema["type"], list) else [param.schema["type"]]
        assert ("null" in kinds) == (name != "sweep_max_age_hours"), name


def test_table_runs_and_restore_tasks_are_labelled(nightly, table_run):
    assert nightly.get_task("drill").map_index_template == "{{ task.conf.spec.table_name }}"
    assert table_run.get_task("restore_part").map_index_template == "part {{ task.share.part }} of {{ task.share.of }}"
