"""The HTML a person reads: one report per drill, and the evidence pack over many drills.

Pages are self-contained (inline CSS and SVG, no script, nothing fetched), every value is
HTML-escaped, and they show only what the evidence record holds: never item contents.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from html import escape
from typing import Any

from dr_drill.core.report.charts import Point, daily_pass_rate, time_series

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:980px;color:#1f2328;
padding:0 16px;line-height:1.4}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:24px 0 8px;border-bottom:1px solid #d0d7de}
table{border-collapse:collapse;width:100%;font-size:13px} th,td{text-align:left;padding:4px 8px;
border-bottom:1px solid #eaeef2;vertical-align:top} th{background:#f6f8fa;font-weight:600}
.badge{display:inline-block;padding:2px 10px;border-radius:12px;color:#fff;font-weight:600;font-size:13px}
.passed,.ok{background:#1a7f37} .failed,.broken{background:#cf222e} .not_run{background:#6e7781}
.fail-box{border:2px solid #cf222e;background:#ffebe9;padding:8px 12px;margin:12px 0;border-radius:6px}
.warn-box{border:2px solid #bc4c00;background:#fff8c5;padding:8px 12px;margin:12px 0;border-radius:6px}
code,.mono{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;word-break:break-all}
.muted{color:#656d76;font-size:12px} .chart{margin:8px 0}
"""
_MET = {True: "met", False: "MISSED", None: "not measured"}


def _text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return escape(str(value))


def _badge(result: str, label: str | None = None) -> str:
    return f'<span class="badge {escape(result)}">{escape(label or result.upper())}</span>'


def _rows(pairs: list[tuple[str, Any]], mono: tuple[str, ...] = ()) -> str:
    cells = []
    for name, value in pairs:
        shown = f'<span class="mono">{_text(value)}</span>' if name in mono else _text(value)
        cells.append(f"<tr><th>{escape(name)}</th><td>{shown}</td></tr>")
    return "<table>" + "".join(cells) + "</table>"


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>{body}</body></html>"
    )


def _seconds(value: float | None) -> str:
    return "not measured" if value is None else f"{value:,.1f} s"


def _items_restored(restore: dict[str, Any]) -> Any:
    if restore["items_restored"] is None:
        return "not counted"
    if restore.get("items_restored_counted_by") == "validate":
        return f"{restore['items_restored']} (counted by the validate step's scan)"
    return restore["items_restored"]


def _restore_how(restore: dict[str, Any]) -> str | None:
    if restore.get("method") is None:
        return None
    how = [restore["method"]]
    if restore.get("tasks", 1) > 1:
        how.append(f"split over {restore['tasks']} tasks")
    if restore.get("workers"):
        how.append(f"{restore['workers']} concurrent writers")
    return ", ".join(how)


def _objectives(record: dict[str, Any]) -> str:
    o = record["objectives"]
    rows = []
    for name, measured, target, met in (
        ("RTO (recovery time)", o["rto_seconds"], o["rto_target_seconds"], o["rto_met"]),
        ("RPO (backup age)", o["rpo_seconds"], o["rpo_target_seconds"], o["rpo_met"]),
    ):
        result = {True: "passed", False: "failed", None: "not_run"}[met]
        rows.append(
            f"<tr><th>{name}</th><td>{escape(_seconds(measured))}</td><td>target {target:,} s</td>"
            f"<td>{_badge(result, _MET[met])}</td></tr>"
        )
    return "<table>" + "".join(rows) + "</table>"


def _checks_table(record: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><td>{escape(c['name'])}</td><td>{_badge(c['result'], c['result'].replace('_', ' '))}</td>"
        f"<td>{escape(c['detail'])}</td></tr>"
        for c in record.get("checks", ())
    )
    return f"<table><tr><th>check</th><th>result</th><th>detail</th></tr>{rows}</table>"


def _storage_rows(record: dict[str, Any]) -> list[tuple[str, Any]]:
    storage = record.get("storage") or {}
    lock = storage.get("object_lock")
    locked = f"yes: {storage['retention_mode']} until {storage['retain_until']}" if lock else "NO (not write-once)"
    return [
        ("evidence sequence", record.get("evidence_sequence")),
        ("evidence_sha256", record.get("evidence_sha256")),
        ("previous_evidence_sha256", record.get("previous_evidence_sha256") or "none: first record of this table"),
        ("stored at", f"s3://{storage['bucket']}/{storage['key']}" if storage else None),
        ("S3 Object Lock", locked if storage else None),
    ]


def render_drill_report(record: dict[str, Any]) -> str:
    """Return the HTML report of one drill, rendered from its evidence record."""
    table, status = record["table_name"], record["status"]
    run, timeline, backup = record.get("run", {}), record.get("timeline", {}), record["backup"]
    failure = record["failure"]
    parts = [
        f"<h1>DR drill report: {escape(table)} {_badge(status)}</h1>",
        f'<p class="muted">drill {escape(record["drill_id"])} · recorded {escape(record["generated_at"])}</p>',
    ]
    if failure:
        parts.append(
            f'<div class="fail-box"><strong>Failed at step {escape(failure["step"])}:</strong> '
            f"{escape(failure['reason'])}</div>"
        )
    if record.get("storage") and not record["storage"]["object_lock"]:
        parts.append(
            '<div class="warn-box">The evidence bucket has no S3 Object Lock: this record is not write-once.</div>'
        )
    parts += [
        "<h2>Recovery objectives</h2>",
        _objectives(record),
        "<h2>Checks</h2>",
        _checks_table(record),
        "<h2>Backup</h2>",
        _rows(
            [
                ("source", backup["source"]),
                ("location", backup["location"]),
                ("taken at", backup["backup_timestamp"]),
                ("items", backup["item_count"]),
                ("checksum verified", backup["checksum_verified"]),
                *sorted((record.get("backup_identity") or {}).items()),
            ],
            mono=("location", "etag", "key"),
        ),
        "<h2>Scratch table and timeline</h2>",
        _rows(
            [
                ("scratch table", record["scratch_table"]["name"]),
                ("deleted", record["scratch_table"]["deleted"]),
                *[(name.replace("_", " "), value) for name, value in timeline.items()],
                ("restored by", _restore_how(record["restore"])),
                ("items restored", _items_restored(record["restore"])),
                ("items rejected", record["restore"]["items_failed"]),
                ("items counted in scratch table", record["validation"]["restored_items"]),
            ]
        ),
        "<h2>Who and what ran it</h2>",
        _rows(
            [
                ("dag_id", record["dag_id"]),
                ("run_id", record["run_id"]),
                ("run type", run.get("run_type")),
                ("try", run.get("try_number")),
                ("triggered by", run.get("triggering_user")),
                *sorted((record.get("software") or {}).items()),
            ]
        ),
        "<h2>Drill plan entry used</h2>",
        _rows([*sorted((record.get("plan_entry") or {}).items()), ("sha256", record.get("plan_entry_sha256"))]),
        "<h2>Evidence integrity</h2>",
        _rows(_storage_rows(record), mono=("evidence_sha256", "previous_evidence_sha256", "stored at")),
        '<p class="muted">Rendered from the JSON evidence record stored beside this page; the record is'
        " authoritative. No item contents are shown.</p>",
    ]
    return _page(f"DR drill {status}: {table}", "".join(parts))


# The evidence pack ------------------------------------------------------------------------------


def _in_range(record: dict[str, Any], date_from: date, date_to: date) -> bool:
    return date_from <= datetime.fromisoformat(record["started_at"]).date() <= date_to


def _drill_row(record: dict[str, Any]) -> dict[str, Any]:
    o, failure, storage = record["objectives"], record["failure"] or {}, record.get("storage") or {}
    return {
        "drill_id": record["drill_id"],
        "started_at": record["started_at"],
        "status": record["status"],
        "rto_seconds": o["rto_seconds"],
        "rto_target_seconds": o["rto_target_seconds"],
        "rto_met": o["rto_met"],
        "rpo_seconds": o["rpo_seconds"],
        "rpo_target_seconds": o["rpo_target_seconds"],
        "rpo_met": o["rpo_met"],
        "failure_step": failure.get("step"),
        "failure_reason": failure.get("reason"),
        "evidence_key": storage.get("key"),
        "object_lock": storage.get("object_lock"),
        "evidence_sha256": record.get("evidence_sha256"),
    }


def _rate(passed: int, total: int) -> float | None:
    return None if total == 0 else round(100.0 * passed / total, 1)


def build_pack(
    records: dict[str, list[dict[str, Any]]],
    chains: dict[str, dict[str, Any]],
    *,
    date_from: date,
    date_to: date,
    generated_at: datetime,
) -> dict[str, Any]:
    """Return the evidence pack as JSON-able data: per table, every drill in the range and its chain.

    :param records: each table's records (any order; those outside the range are left out).
    :param chains: each table's chain verdict (``ChainVerdict.to_dict()``), over all its records.
    """
    tables = []
    for table_name in sorted(records):
        drills = sorted(
            (_drill_row(r) for r in records[table_name] if _in_range(r, date_from, date_to)),
            key=lambda row: row["started_at"],
        )
        passed = sum(row["status"] == "passed" for row in drills)
        tables.append(
            {
                "table_name": table_name,
                "drill_count": len(drills),
                "passed": passed,
                "pass_rate_percent": _rate(passed, len(drills)),
                "chain": chains.get(table_name),
                "drills": drills,
            }
        )
    total = sum(t["drill_count"] for t in tables)
    passed = sum(t["passed"] for t in tables)
    return {
        "title": "dr-drill evidence pack",
        "date_from": date_from.isoformat(),
        "date_to": date_to.isoformat(),
        "generated_at": generated_at.isoformat(),
        "drill_count": total,
        "passed": passed,
        "pass_rate_percent": _rate(passed, total),
        "chains_intact": all((t["chain"] or {}).get("intact") for t in tables),
        "tables": tables,
    }


def _chain_cell(chain: dict[str, Any] | None) -> str:
    if not chain:
        return _badge("not_run", "not verified")
    if chain["intact"]:
        return f"{_badge('ok', 'intact')} {chain['records_checked']} records"
    return (
        f'{_badge("broken", chain["break_kind"].upper())} at <span class="mono">{escape(chain["break_key"])}</span>:'
        f" {escape(chain['detail'])}"
    )


def _daily(tables: list[dict[str, Any]]) -> list[tuple[datetime, int, int]]:
    counts: dict[date, list[int]] = defaultdict(lambda: [0, 0])
    for table in tables:
        for row in table["drills"]:
            day = datetime.fromisoformat(row["started_at"]).date()
            counts[day][0] += row["status"] == "passed"
            counts[day][1] += 1
    return [(datetime.combine(day, time(12), UTC), p, t) for day, (p, t) in sorted(counts.items())]


def _table_section(table: dict[str, Any], start: datetime, end: datetime) -> str:
    name, drills = table["table_name"], table["drills"]
    rto = [Point(datetime.fromisoformat(d["started_at"]), d["rto_seconds"], d["status"] == "passed") for d in drills]
    rpo = [Point(datetime.fromisoformat(d["started_at"]), d["rpo_seconds"], d["status"] == "passed") for d in drills]
    rto_target = drills[-1]["rto_target_seconds"] if drills else None
    rpo_target = drills[-1]["rpo_target_seconds"] if drills else None
    rows = "".join(
        f"<tr><td>{escape(d['started_at'])}</td><td>{_badge(d['status'])}</td>"
        f"<td>{escape(_seconds(d['rto_seconds']))} / {d['rto_target_seconds']:,} s ({_MET[d['rto_met']]})</td>"
        f"<td>{escape(_seconds(d['rpo_seconds']))} / {d['rpo_target_seconds']:,} s ({_MET[d['rpo_met']]})</td>"
        f"<td>{escape(d['failure_step'] + ': ' + d['failure_reason']) if d['failure_step'] else ''}</td>"
        f'<td class="mono">{_text(d["evidence_key"])}</td></tr>'
        for d in drills
    )
    return (
        f"<h2>{escape(name)}</h2>"
        f"<p>{table['passed']} of {table['drill_count']} drills passed"
        f" ({'n/a' if table['pass_rate_percent'] is None else str(table['pass_rate_percent']) + ' %'})."
        f" Evidence chain: {_chain_cell(table['chain'])}</p>"
        f'<div class="chart">{time_series(f"RTO of {name}", "seconds", rto, rto_target, start, end)}</div>'
        f'<div class="chart">{time_series(f"RPO of {name}", "seconds", rpo, rpo_target, start, end)}</div>'
        "<table><tr><th>started</th><th>result</th><th>RTO / target</th><th>RPO / target</th>"
        f"<th>failure</th><th>evidence record</th></tr>{rows}</table>"
    )


def render_pack(pack: dict[str, Any]) -> str:
    """Return the evidence pack as one self-contained HTML page."""
    start = datetime.combine(date.fromisoformat(pack["date_from"]), time(0), UTC)
    end = datetime.combine(date.fromisoformat(pack["date_to"]), time(0), UTC) + timedelta(days=1)
    summary = "".join(
        f"<tr><td>{escape(t['table_name'])}</td><td>{t['drill_count']}</td><td>{t['passed']}</td>"
        f"<td>{_text(t['pass_rate_percent'])}</td><td>{_chain_cell(t['chain'])}</td></tr>"
        for t in pack["tables"]
    )
    chains = _badge("ok", "all chains intact") if pack["chains_intact"] else _badge("broken", "CHAIN BROKEN")
    body = (
        f"<h1>DR drill evidence pack {pack['date_from']} to {pack['date_to']}</h1>"
        f'<p class="muted">generated {escape(pack["generated_at"])} · {pack["drill_count"]} drills,'
        f" {pack['passed']} passed ({_text(pack['pass_rate_percent'])} %) · {chains}</p>"
        "<h2>Summary</h2><table><tr><th>table</th><th>drills</th><th>passed</th><th>pass rate %</th>"
        f"<th>evidence chain</th></tr>{summary}</table>"
        f'<div class="chart">{daily_pass_rate("Drills passed per day, all tables", _daily(pack["tables"]), start, end)}'
        "</div>" + "".join(_table_section(t, start, end) for t in pack["tables"]) + '<p class="muted">Each row comes'
        " from an evidence record in S3 (JSON, hash-chained per table); this page and its JSON twin are derived"
        " from them. No item contents are shown.</p>"
    )
    return _page(f"DR drill evidence pack {pack['date_from']} to {pack['date_to']}", body)
