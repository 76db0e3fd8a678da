"""The Airflow plugin that an installed dr-drill registers through the ``airflow.plugins`` entry point.

Installing the package (``pip install dr-drill``) is enough for Airflow to list it in
``airflow plugins`` and ``GET /api/v2/plugins``, with nothing copied into the plugins folder.

It registers the drill-history page: a FastAPI app the api-server mounts at ``/dr-drill``, shown
in the UI's navigation as an external view (the UI frames it at ``/plugin/dr-drill``), and the
extra links of the record and restore tasks, which the api-server must know to show them.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from dr_drill.ui.links import URL_PREFIX, DrillEvidenceLink, DrillReportLink, ScratchTableLink

PLUGIN_NAME = "dr_drill"


def _history_app():
    from dr_drill.ui.app import create_app

    return create_app()


class DrDrillPlugin(AirflowPlugin):
    """dr-drill as Airflow sees it: the drill-history page and the drill tasks' extra links."""

    name = PLUGIN_NAME
    fastapi_apps = [{"app": _history_app(), "url_prefix": URL_PREFIX, "name": "DR drill history"}]
    external_views = [
        {
            "name": "DR drills",
            "href": f"{URL_PREFIX}/",
            "destination": "nav",
            "url_route": "dr-drill",
            "nav_top_level": True,
        }
    ]
    operator_extra_links = [DrillReportLink(), DrillEvidenceLink(), ScratchTableLink()]
