"""Where the history page lives, and the links a drill's tasks show in the Airflow UI (its extra links).

Airflow 3 works a task's extra links out on the worker when the task ends and keeps them in
XCom: here the task's rendered spec names the table and the drill, and the links point at the
page's own endpoints, which check the viewer's access before they show anything.
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit

from airflow.configuration import conf
from airflow.sdk import BaseOperatorLink

URL_PREFIX = "/dr-drill"


def page_url(path: str = "") -> str:
    """Return the page's URL path for ``path``, under the api-server's ``[api] base_url``."""
    root = urlsplit(conf.get("api", "base_url", fallback="") or "/").path.rstrip("/")
    return f"{root}{URL_PREFIX}/{path}"


def drill_url(table_name: str, drill_id: str, what: str) -> str:
    """The page's URL of one drill's ``report``, ``evidence`` or ``scratch-table``."""
    return page_url(f"tables/{quote(table_name, safe='')}/drills/{quote(drill_id, safe='')}/{what}")


class _DrillLink(BaseOperatorLink):
    """A link to one of the drill's own pages, named by the task's spec (a drill step operator's)."""

    name = ""
    what = ""

    def get_link(self, operator, *, ti_key) -> str:
        spec = operator.drill
        return drill_url(spec.table_name, spec.drill_id, self.what)


class DrillReportLink(_DrillLink):
    """The drill's HTML report, as stored beside its evidence record."""

    name = "Drill report"
    what = "report"


class DrillEvidenceLink(_DrillLink):
    """The drill's evidence record (JSON)."""

    name = "Evidence record"
    what = "evidence"


class ScratchTableLink(_DrillLink):
    """The drill's scratch table in the AWS console, while the record does not say it was deleted."""

    name = "Scratch table"
    what = "scratch-table"

    def get_link(self, operator, *, ti_key) -> str:
        return f"{super().get_link(operator, ti_key=ti_key)}?name={quote(operator.drill.scratch_table, safe='')}"
