"""The trigger form as a person uses it, in headless Chromium against a real ``airflow api-server``.

It shows every param by its title, with a description, in sections, stars only what must be
given, offers ``selection`` as a JSON field, and posts a conf that drills what the plan says
unless a person typed something. Screenshots go to test-artifacts/ (git-ignored).
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime

import pytest

from demo.run_demo import EVIDENCE_BUCKET, airflow_environment, seed_account
from dr_drill.core.plan.drill_plan import Settings, resolve_drill_specs
from tests.browser.airflow_ui import api_server
from tests.browser.cdp import browser_page
from tests.conftest import ROOT
from tests.drills import NightlyDrill
from tests.trigger_form import UNTOUCHED_FORM_CONF, form_conf

ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = next((path for name in ("chromium", "chromium-browser") if (path := shutil.which(name))), None)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (apt-get install -y chromium): the form was not looked at"
)
DAG_ID = "dynamodb_restore_drill"
TABLE_DAG_ID = "dynamodb_restore_drill_table"
DIALOG = "[...document.querySelectorAll('[role=dialog]')].pop()"
STARTED = datetime(2026, 12, 1, 2, tzinfo=UTC)
SECTIONS = ("What to drill", "Which backup", "Restore", "Targets and sample", "Housekeeping")


def _button(text: str, within: str = "document") -> str:
    return f"[...{within}.querySelectorAll('button')].find(b => b.innerText.trim() === {json.dumps(text)})"


@pytest.fixture(scope="module")
def dagbag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag()


@pytest.fixture(scope="module")
def dag(dagbag):
    return dagbag.get_dag(DAG_ID)


@pytest.fixture(scope="module")
def table_dag(dagbag):
    return dagbag.get_dag(TABLE_DAG_ID)


@pytest.fixture(scope="module")
def ui(airflow_db, tmp_path_factory):
    # The drill-history page of this server reads the evidence the table runs below record.
    env = {"EVIDENCE_BUCKET": EVIDENCE_BUCKET}
    with api_server(tmp_path_factory.mktemp("api-server") / "api-server.log", env=env) as url:
        yield url


@pytest.fixture
def page(tmp_path):
    with browser_page(CHROMIUM, tmp_path / "profile") as opened:
        yield opened


def _open_trigger_form(page, ui):
    page.navigate(f"{ui}/dags/{DAG_ID}")
    page.wait_for(f"!!{_button('Trigger')}")
    page.click(_button("Trigger"))
    page.wait_for(f"!!{_button(SECTIONS[0], DIALOG)}")


def _open_section(page, name):
    """Open one section of the form (they open one at a time) and return its fields as a person reads them."""
    page.click(_button(name, DIALOG))
    page.wait_for(f"{_button(name, DIALOG)}.getAttribute('aria-expanded') === 'true'")
    page.pump(0.5)
    return page.evaluate(
        f"[...{DIALOG}.querySelectorAll('[role=group].chakra-field__root')]"
        ".filter(field => field.offsetParent !== null)"
        ".map(field => ({label: field.querySelector('label').innerText.replace(/\\*\\s*$/, '').trim(),"
        " starred: !!field.querySelector('.chakra-field__requiredIndicator'),"
        " text: field.innerText}))"
    )


def test_the_form_shows_titled_described_params_in_sections_and_stars_only_what_must_be_given(page, ui, dag):
    _open_trigger_form(page, ui)
    fields = {}
    for section in SECTIONS:
        shown = _open_section(page, section)
        assert shown, f"section {section} shows no field"
        fields.update({field["label"]: {**field, "section": section} for field in shown})
        page.screenshot(ARTIFACTS / f"trigger-form-{section.lower().replace(' ', '-')}.png")

    for name in dag.params:
        param = dag.params.get_param(name)
        title = param.schema["title"]
        assert title in fields, f"{name} is not shown by its title {title!r}"
        assert fields[title]["section"] == param.schema["section"]
        assert param.description.split(".")[0] in fields[title]["text"]
    assert not set(dag.params) & set(fields), "a param is shown by its raw key"
    assert {label for label, field in fields.items() if field["starred"]} == {"Sweep scratch tables older than (hours)"}

    _open_section(page, "Which backup")
    assert page.evaluate("!!document.querySelector('#element_selection [data-mode-id=json]')"), "selection is no JSON"


def test_the_form_posts_empty_values_that_leave_the_plan_in_force(page, ui):
    _open_trigger_form(page, ui)
    _open_section(page, "What to drill")
    page.type_text("document.querySelector('#element_table_name')", "orders")

    page.click(_button("Trigger", DIALOG))
    posted = None
    for _ in range(40):
        page.pump(0.25)
        sent = [r for r in page.requests if r["method"] == "POST" and r["url"].endswith(f"/dags/{DAG_ID}/dagRuns")]
        if sent:
            posted = json.loads(sent[0]["postData"])["conf"]
            break
    page.screenshot(ARTIFACTS / "trigger-form-posted.png")

    assert posted == form_conf(table_name="orders")
    assert {key: value for key, value in posted.items() if key != "table_name"} == {
        key: value for key, value in UNTOUCHED_FORM_CONF.items() if key != "table_name"
    }
    # What the form posted drills what the plan says, exactly as the API's one key does.
    plan = {"tables": {"orders": {"backup_source": "native_backup", "keep_scratch_table": True}}}
    settings = Settings(backup_bucket=None, evidence_bucket="evidence", success_topic_arn=None, failure_topic_arn=None)

    def resolved(conf):
        return resolve_drill_specs(
            plan=plan, conf=conf, settings=settings, dag_id=DAG_ID, run_id="manual__x", started_at=STARTED
        )

    [from_form] = resolved(posted)
    assert from_form == resolved({"table_name": "orders"})[0]
    assert (from_form.backup_source, from_form.keep_scratch_table) == ("native_backup", True)


def test_each_table_run_labels_its_restore_parts_and_links_its_report_and_scratch_table(
    page, ui, dag, table_dag, aws, airflow_db, monkeypatch, tmp_path
):
    account = seed_account(aws, {"app-users": 40, "orders": 30}, now=datetime.now(UTC), nights=1)
    env = airflow_environment(aws, account, airflow_db)
    for name in ("BACKUP_BUCKET", "EVIDENCE_BUCKET", "SUCCESS_TOPIC_ARN", "FAILURE_TOPIC_ARN"):
        monkeypatch.setenv(name, env[name])
    plan = tmp_path / "plan.yaml"
    plan.write_text("tables:\n  app-users: {}\n  orders: {}\n")
    monkeypatch.setenv("DRILL_PLAN_PATH", str(plan))
    runs = NightlyDrill(dag, table_dag).test()
    assert sorted(runs.tables) == ["app-users", "orders"] and runs.state == "success"

    # The nightly run shows one drill task per table (dag.test() marks them done without running them,
    # so their table labels are the deployment test's to check).
    page.navigate(f"{ui}/dags/{DAG_ID}/runs/{runs.nightly.run_id}/tasks/drill/mapped")
    page.wait_for("!!document.body && document.querySelectorAll('tbody tr').length === 2")
    for table, run in runs.tables.items():
        page.navigate(f"{ui}/dags/{TABLE_DAG_ID}/runs/{run.run_id}/tasks/restore_part/mapped")
        page.wait_for("!!document.body && document.querySelectorAll('tbody tr').length === 1")
        labels = page.evaluate("[...document.querySelectorAll('tbody tr')].map(row => row.cells[1].innerText.trim())")
        assert labels == ["part 1 of 1"], table  # not 0
    page.screenshot(ARTIFACTS / "restore-parts-labelled.png")

    # The record task links to its drill's report, which the history page serves.
    run = runs.table_run("app-users")
    page.navigate(f"{ui}/dags/{TABLE_DAG_ID}/runs/{run.run_id}/tasks/record/details")
    page.wait_for(f"!!{_link('Drill report')} && !!{_link('Evidence record')}")
    page.screenshot(ARTIFACTS / "record-task-extra-links.png")
    page.click(_link("Drill report"))
    page.wait_for("document.body && /DR drill report: app-users/.test(document.body.innerText)")
    assert "PASSED" in page.evaluate("document.body.innerText")
    page.screenshot(ARTIFACTS / "record-task-report-link-followed.png")
    # Each restore task links to its scratch table; once the teardown deleted it, the link says so.
    page.navigate(f"{ui}/dags/{TABLE_DAG_ID}/runs/{run.run_id}/tasks/restore_part/mapped/0/details")
    page.wait_for(f"!!{_link('Scratch table')}")
    page.navigate(page.evaluate(f"{_link('Scratch table')}.href"))
    page.wait_for('document.body && document.body.innerText.includes("was deleted by the drill\'s teardown")')


def _link(text: str) -> str:
    return f"[...document.querySelectorAll('a')].find(a => a.innerText.trim() === {json.dumps(text)})"
