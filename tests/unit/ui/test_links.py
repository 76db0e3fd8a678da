"""The plugin as the api-server reads it, and the links a drill's tasks show."""

from __future__ import annotations

from types import SimpleNamespace

from airflow.api_fastapi.app import RESERVED_URL_PREFIXES

from dr_drill.plugin import DrDrillPlugin
from dr_drill.ui.links import DrillEvidenceLink, DrillReportLink, ScratchTableLink


def test_the_plugin_mounts_the_page_outside_airflow_s_own_paths_and_puts_it_in_the_nav():
    [app] = DrDrillPlugin.fastapi_apps
    assert not any(app["url_prefix"].startswith(reserved) for reserved in RESERVED_URL_PREFIXES)
    [view] = DrDrillPlugin.external_views
    assert view["href"] == f"{app['url_prefix']}/" and view["destination"] == "nav"
    assert {type(link) for link in DrDrillPlugin.operator_extra_links} == {
        DrillReportLink,
        DrillEvidenceLink,
        ScratchTableLink,
    }


def test_each_link_names_its_own_drill_and_escapes_what_it_carries():
    spec = SimpleNamespace(table_name="app-users", drill_id="20261201T020000Z-abc", scratch_table="drill-app users")
    task = SimpleNamespace(drill=spec)
    drill = "/dr-drill/tables/app-users/drills/20261201T020000Z-abc"
    assert DrillReportLink().get_link(task, ti_key=None) == f"{drill}/report"
    assert DrillEvidenceLink().get_link(task, ti_key=None) == f"{drill}/evidence"
    assert ScratchTableLink().get_link(task, ti_key=None) == f"{drill}/scratch-table?name=drill-app%20users"
