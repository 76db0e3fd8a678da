"""The FastAPI app behind the drill-history page, mounted by the api-server at ``/dr-drill``.

Every route asks Airflow's auth manager first (``drill_reader``): without a valid token or
session cookie it answers 401 (the page itself redirects to the login), and a user who may not
read the drill DAG gets 403 and nothing of it. It reads the per-table indexes and, for one
drill, the record and report the drill stored; it writes nothing. No item contents are in any
record, so none can be shown.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import yaml
from airflow.api_fastapi.auth.managers.models.resource_details import DagDetails
from airflow.api_fastapi.common.types import Mimetype
from airflow.api_fastapi.core_api.security import GetUserDep
from airflow.configuration import conf
from botocore.exceptions import ClientError
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response

from dr_drill.aws.client_errors import error_code
from dr_drill.aws.evidence_index import IndexReader, evidence_tables
from dr_drill.core.evidence.history import (
    DEFAULT_COVERAGE_DAYS,
    HistoryFilter,
    TableState,
    index_key,
    overview_row,
    summary_key,
    table_history,
)
from dr_drill.core.evidence.record import evidence_key, report_key
from dr_drill.core.report.html import render_pack
from dr_drill.evidence import evidence_pack
from dr_drill.ui.links import page_url

DAG_ID = "dynamodb_restore_drill"
AWS_CONN_ID = "aws_default"
_TABLE_NAME = re.compile(r"^[a-zA-Z0-9_.-]{3,255}$")
_DRILL_ID = re.compile(r"^[0-9A-Za-z_.:+-]{1,200}$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
# Reports are whole pages of their own: shown in a sandbox with no script and nothing fetched.
_REPORT_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox"

_indexes = IndexReader()


def _auth_manager():
    from airflow.api_fastapi.app import get_auth_manager

    return get_auth_manager()


def drill_reader(user: GetUserDep) -> Any:
    """Let through only a user whom the auth manager allows to read the drill DAG."""
    if not _auth_manager().is_authorized_dag(method="GET", details=DagDetails(id=DAG_ID), user=user):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"You may not read the {DAG_ID} DAG")
    return user


Reader = Annotated[Any, Depends(drill_reader)]


@cache
def _s3() -> Any:
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    return AwsBaseHook(aws_conn_id=AWS_CONN_ID, client_type="s3").get_conn()


def _region() -> str | None:
    return _s3().meta.region_name


def _setting(name: str) -> str | None:
    from dr_drill.operators.settings import setting

    return setting(name)


def _bucket() -> str:
    bucket = _setting("EVIDENCE_BUCKET")
    if not bucket:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "EVIDENCE_BUCKET is not set")
    return bucket


def planned_tables() -> list[str]:
    """The tables of the drill plan the DAG reads (``DRILL_PLAN_PATH``, else the DAG folder's ``drill_plan.yaml``)."""
    path = Path(_setting("DRILL_PLAN_PATH") or Path(conf.get("core", "dags_folder")) / "drill_plan.yaml")
    plan = yaml.safe_load(path.read_text()) if path.exists() else None
    return sorted((plan or {}).get("tables") or {})


def _table(table_name: str) -> str:
    if not _TABLE_NAME.match(table_name):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such table")
    return table_name


def _index(table_name: str) -> dict[str, Any]:
    index = _indexes.read(_s3(), _bucket(), index_key(_table(table_name)))
    if index is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no drill history of {table_name}")
    return index


def _entry(table_name: str, drill_id: str) -> dict[str, Any]:
    found = [e for e in _index(table_name)["entries"] if e["drill_id"] == drill_id]
    if not _DRILL_ID.match(drill_id) or not found:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no drill {drill_id} of {table_name}")
    return found[0]


def _object(key: str) -> bytes:
    try:
        return _s3().get_object(Bucket=_bucket(), Key=key)["Body"].read()
    except ClientError as err:
        if error_code(err) in ("NoSuchKey", "404", "NotFound"):
            raise HTTPException(status.HTTP_404_NOT_FOUND, "not stored") from None
        raise


def _period(date_from: date | None, date_to: date | None, status_: str | None = None) -> HistoryFilter:
    try:
        return HistoryFilter(status=status_ or None, date_from=date_from, date_to=date_to)
    except ValueError as err:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, str(err)) from None


router = APIRouter()


async def _refused(request: Request, err: HTTPException) -> Response:
    # The page sends a person without a session to the login, and back here after it.
    if err.status_code == status.HTTP_401_UNAUTHORIZED and request.url.path.rstrip("/").endswith("/dr-drill"):
        return RedirectResponse(_auth_manager().get_url_login(next_url=str(request.url)))
    return JSONResponse({"detail": err.detail}, status_code=err.status_code)


@router.get("/", response_class=HTMLResponse)
def page(_: Reader) -> HTMLResponse:
    html = resources.files("dr_drill.ui").joinpath("static/history.html").read_text()
    return HTMLResponse(html.replace("{{BASE}}", page_url()), headers={"Cache-Control": "no-store"})


@router.get("/static/{name}")
def static_file(name: str, _: Reader) -> Response:
    types = {"history.js": "text/javascript", "history.css": "text/css"}
    if name not in types:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not found")
    return Response(resources.files("dr_drill.ui").joinpath(f"static/{name}").read_bytes(), media_type=types[name])


@router.get("/api/overview")
def overview(_: Reader, coverage_days: Annotated[int, Query(ge=1, le=3650)] = DEFAULT_COVERAGE_DAYS) -> dict:
    bucket, s3 = _bucket(), _s3()
    planned = set(planned_tables())
    with_evidence = set(evidence_tables(s3, bucket))
    tables = sorted(planned | with_evidence)
    summaries = _indexes.read_many(s3, bucket, [summary_key(name) for name in tables])
    now = datetime.now(UTC)
    rows = [
        overview_row(
            TableState(name, name in planned, summaries[summary_key(name)], name in with_evidence),
            now=now,
            coverage_days=coverage_days,
        )
        for name in tables
    ]
    return {"generated_at": now.isoformat(), "coverage_days": coverage_days, "dag_id": DAG_ID, "tables": rows}


@router.get("/api/tables/{table_name}/history")
def history(
    table_name: str,
    _: Reader,
    status_: Annotated[str | None, Query(alias="status")] = None,
    date_from: date | None = None,
    date_to: date | None = None,
) -> dict:
    return table_history(_index(table_name), _period(date_from, date_to, status_))


@router.get("/tables/{table_name}/drills/{drill_id}/report", response_class=HTMLResponse)
def report(table_name: str, drill_id: str, _: Reader) -> HTMLResponse:
    key = report_key(_entry(table_name, drill_id)["evidence_key"] or evidence_key(table_name, drill_id))
    return HTMLResponse(_object(key).decode(), headers={"Content-Security-Policy": _REPORT_POLICY})


@router.get("/tables/{table_name}/drills/{drill_id}/evidence")
def evidence(table_name: str, drill_id: str, _: Reader) -> Response:
    body = _object(_entry(table_name, drill_id)["evidence_key"] or evidence_key(table_name, drill_id))
    return Response(body, media_type=Mimetype.JSON)


@router.get("/tables/{table_name}/drills/{drill_id}/scratch-table", response_model=None)
def scratch_table(table_name: str, drill_id: str, _: Reader, name: str = "") -> Response:
    try:
        entry = _entry(table_name, drill_id)
    except HTTPException:
        entry = None  # the drill is still running: its table may well exist
    if entry and entry["scratch_deleted"]:
        return PlainTextResponse(f"The scratch table {entry['scratch_table']} was deleted by the drill's teardown.")
    region = _region() or ""
    if not _REGION.match(region):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "the AWS region is not known")
    name = (entry or {}).get("scratch_table") or _table(name)
    return RedirectResponse(
        f"https://{region}.console.aws.amazon.com/dynamodbv2/home?region={region}#table?name={name}"
    )


@router.get("/api/pack")
def pack(
    _: Reader,
    table: Annotated[list[str], Query()],
    date_from: date,
    date_to: date,
) -> Response:
    _period(date_from, date_to)
    built, _ = evidence_pack(_s3(), _bucket(), [_table(name) for name in table], date_from, date_to)
    filename = f"evidence-pack-{date_from}-to-{date_to}.html"
    return HTMLResponse(
        render_pack(built),
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Content-Security-Policy": _REPORT_POLICY,
        },
    )


def create_app() -> FastAPI:
    """The app the plugin gives the api-server: the page, its JSON and one drill's stored files."""
    app = FastAPI(title="dr-drill history", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_exception_handler(HTTPException, _refused)
    app.include_router(router)
    return app
