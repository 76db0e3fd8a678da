"""The drill-history page as a person uses it: headless Chromium against a real ``airflow api-server``.

The api-server runs with named users (a login form, not every visitor an admin) and a test
auth manager that refuses the drill DAG to the user ``outsider``. The history is written with
the record code and the evidence store (``demo.drill_history``), so the page reads what real
drills leave. Screenshots go to test-artifacts/ (git-ignored).
"""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest

from demo.drill_history import store_history, table_history
from tests.browser.airflow_ui import api_server
from tests.browser.cdp import browser_page
from tests.browser.denying_auth_manager import OUTSIDER
from tests.conftest import ROOT

ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = next((path for name in ("chromium", "chromium-browser") if (path := shutil.which(name))), None)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (apt-get install -y chromium): the page was not looked at"
)
BUCKET = "dr-drill-history-evidence"
PASSWORDS = {"admin": "admin-password", OUTSIDER: "outsider-password"}
FRAME = "document.querySelector('iframe')"
NAV_LINK = "[...document.querySelectorAll('a')].find(a => a.innerText.trim() === 'DR drills')"
IN_FRAME = f"{FRAME}.contentDocument"
LAST_NIGHT = datetime.now(UTC).replace(hour=2, minute=0, second=0, microsecond=0) - timedelta(days=1)
COUNT_DIFFERS = {"step": "validate", "reason": "count differs: 398 of 400 items in the scratch table"}
NO_BACKUP = {"step": "locate", "reason": "no backup of orders newer than 26 h"}


@pytest.fixture
def history(aws):
    """Three planned tables: app-users (20 nights, two failed), orders (the last two failed), payments (none)."""
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    app_users = table_history("app-users", BUCKET, LAST_NIGHT, 20, {6: COUNT_DIFFERS, 13: COUNT_DIFFERS})
    orders = table_history("orders", BUCKET, LAST_NIGHT, 8, {6: NO_BACKUP, 7: NO_BACKUP})
    store_history(s3, BUCKET, app_users, index_each=False)  # indexed at once (the record step's way is tested apart)
    store_history(s3, BUCKET, orders, index_each=False)
    return {"app-users": app_users, "orders": orders}


@pytest.fixture(scope="module")
def ui(airflow_db, emulator, tmp_path_factory):
    folder = tmp_path_factory.mktemp("history-ui")
    (folder / "passwords.json").write_text(json.dumps(PASSWORDS))
    (folder / "plan.yaml").write_text("tables:\n  app-users: {}\n  orders: {}\n  payments: {}\n")
    env = {
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
        "AIRFLOW__CORE__AUTH_MANAGER": "tests.browser.denying_auth_manager.DenyingAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"admin:admin,{OUTSIDER}:viewer",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(folder / "passwords.json"),
        "EVIDENCE_BUCKET": BUCKET,
        "DRILL_PLAN_PATH": str(folder / "plan.yaml"),
    }
    with api_server(folder / "api-server.log", env=env) as url:
        yield url


def _get(url: str, token: str | None = None) -> tuple[int, str, str]:
    """GET without following redirects; return (status, Location, body)."""

    class _NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.build_opener(_NoRedirect).open(request, timeout=30) as answer:
            return answer.status, "", answer.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get("Location", ""), err.read().decode()


def _token(ui: str, user: str) -> str:
    body = json.dumps({"username": user, "password": PASSWORDS[user]}).encode()
    request = urllib.request.Request(
        f"{ui}/auth/token", data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.load(answer)["access_token"]


def _endpoints(history) -> list[str]:
    drill = history["app-users"][-1]["drill_id"]
    return [
        "/dr-drill/api/overview",
        "/dr-drill/api/tables/app-users/history",
        f"/dr-drill/tables/app-users/drills/{drill}/report",
        f"/dr-drill/tables/app-users/drills/{drill}/evidence",
        f"/dr-drill/tables/app-users/drills/{drill}/scratch-table",
        "/dr-drill/api/pack?table=app-users&date_from=2026-01-01&date_to=2027-01-01",
        "/dr-drill/static/history.js",
    ]


def test_nothing_is_shown_without_a_login_or_to_a_user_who_may_not_read_the_dag(ui, history):
    for path in _endpoints(history):
        code, _, body = _get(ui + path)
        assert code == 401, path
        assert "app-users" not in body, path
        code, _, body = _get(ui + path, token="not-a-token")
        assert code in (401, 403), path
        code, _, body = _get(ui + path, token=_token(ui, OUTSIDER))
        assert code == 403, path
        assert "app-users" not in body and "count differs" not in body, path
    code, location, body = _get(f"{ui}/dr-drill/")
    assert code in (302, 303, 307) and "/auth/login" in location and "app-users" not in body
    # The admin's token gets the data the page shows.
    code, _, body = _get(f"{ui}/dr-drill/api/overview", token=_token(ui, "admin"))
    assert code == 200 and {row["table_name"] for row in json.loads(body)["tables"]} == {
        "app-users",
        "orders",
        "payments",
    }


@pytest.fixture
def page(tmp_path):
    with browser_page(CHROMIUM, tmp_path / "profile", height=1400) as opened:
        yield opened


def _log_in(page, ui: str) -> None:
    page.navigate(f"{ui}/")
    page.wait_for("!!document.querySelector('input[name=username]')")
    page.type_text("document.querySelector('input[name=username]')", "admin")
    page.type_text("document.querySelector('input[name=password]')", PASSWORDS["admin"])
    page.click("[...document.querySelectorAll('button')].find(b => /sign in|log ?in/i.test(b.innerText))")
    page.wait_for(f"location.pathname.indexOf('/auth/') < 0 && !!{NAV_LINK}")


def _click_in_frame(page, element: str) -> None:
    """Click an element of the framed page with the mouse: its box is relative to the frame, so add the frame's."""
    box = page.evaluate(
        f"(() => {{ const e = {element}; e.scrollIntoView({{block: 'center'}}); const r = e.getBoundingClientRect();"
        f" const f = {FRAME}.getBoundingClientRect(); return [f.x + r.x + r.width / 2, f.y + r.y + r.height / 2]; }})()"
    )
    for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
        page.send("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left", clickCount=1)


def _rows(selector: str) -> list[list[str]]:
    return (
        f"[...{IN_FRAME}.querySelectorAll('{selector} tbody tr')]"
        ".map(row => [...row.cells].map(cell => cell.innerText.trim()))"
    )


def test_a_person_logs_in_opens_the_page_from_the_nav_and_reads_a_table_s_history(page, ui, history):
    _log_in(page, ui)
    page.click(NAV_LINK)
    page.wait_for(f"!!{FRAME} && !!{IN_FRAME} && {IN_FRAME}.querySelectorAll('#tables tbody tr').length === 3")
    page.pump(0.5)
    page.screenshot(ARTIFACTS / "drill-history-overview.png")
    rows = {row[0].split("\n")[0]: row for row in page.evaluate(_rows("#tables"))}
    assert rows["app-users"][1] == "PASSED" and rows["orders"][1] == "FAILED" and rows["payments"][1] == "NO DRILL"
    assert "the last 2 drills failed" in rows["orders"][8]
    assert "no passing drill in the last 2 days" in rows["payments"][8] and rows["payments"][6] == "never"
    assert rows["app-users"][7].startswith("intact") and "20 records" in rows["app-users"][7]
    assert history["app-users"][-1]["backup"]["location"].removeprefix("s3://") in rows["app-users"][3]

    _click_in_frame(page, f"[...{IN_FRAME}.querySelectorAll('#tables a')].find(a => a.innerText === 'app-users')")
    page.wait_for(f"{IN_FRAME}.querySelectorAll('#drills tbody tr').length === 20")
    page.pump(0.5)
    page.screenshot(ARTIFACTS / "drill-history-table.png")
    assert (
        page.evaluate(f"{IN_FRAME}.querySelector('#summary').innerText") == "20 drills shown, 18 passed: 90 % passed."
    )
    assert page.evaluate(f"{IN_FRAME}.querySelectorAll('#rto-chart svg, #rpo-chart svg').length") == 2
    assert page.evaluate(f"{IN_FRAME}.querySelector('#rto-chart').textContent").count("target") >= 1
    failures = page.evaluate(f"{IN_FRAME}.querySelector('#failures').innerText")
    assert failures.count("at validate: count differs") == 2

    # Only the failed drills, then one drill's report.
    page.evaluate(
        f"(() => {{ const s = {IN_FRAME}.querySelector('#status'); s.value = 'failed';"
        " s.dispatchEvent(new Event('change')); })()"
    )
    page.wait_for(f"{IN_FRAME}.querySelectorAll('#drills tbody tr').length === 2")
    pack = page.evaluate(f"{IN_FRAME}.querySelector('#pack').href")
    assert "table=app-users" in pack and "date_from=" in pack
    report = page.evaluate(f"[...{IN_FRAME}.querySelectorAll('#drills a')].find(a => a.innerText === 'report').href")
    page.navigate(report)
    page.wait_for("document.body && document.body.innerText.includes('DR drill report: app-users')")
    assert "Failed at step validate" in page.evaluate("document.body.innerText")
    page.screenshot(ARTIFACTS / "drill-history-report.png")
