"""The Airflow plugin that an installed dr-drill registers through the ``airflow.plugins`` entry point.

Installing the package (``pip install dr-drill``) is enough for Airflow to list it in
``airflow plugins`` and ``GET /api/v2/plugins``, with nothing copied into the plugins folder.

What it registers today: its name, nothing else. The operators, hooks and triggers are ordinary
importable classes and need no registration in Airflow 3; the UI page, the FastAPI app and the
operator extra links are not written yet and are not pretended here.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

PLUGIN_NAME = "dr_drill"


class DrDrillPlugin(AirflowPlugin):
    """dr-drill as Airflow sees it: listed by name so an operator can tell it is installed."""

    name = PLUGIN_NAME
