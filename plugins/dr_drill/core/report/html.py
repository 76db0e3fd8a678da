"""The HTML a person reads: one report per drill, and the evidence pack over many drills.

Pages are self-contained (inline CSS and SVG, no script, nothing fetched) and show only what the
evidence record holds, never item contents. The values are shaped here; the markup is in the
templates (``templates/*.html.j2``), which escape every value they are given.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from dr_drill.core.report.charts import Point, daily_pass_rate, time_series
from dr_drill.core.report.rendering import TEMPLATES

_MET = {True: "met", False: "MISSED", None: "not measured"}


@dataclass(frozen=True)
class _Badge:
    """A coloured label: ``kind`` is its CSS class (passed, failed, not_run, ok, broken)."""

    kind: str
    label: str


@dataclass(frozen=True)
class _Row:
    """One line of a two-column table; ``mono`` for hashes, keys and locations."""

    name: str
    value: str
    mono: bool = False


@dataclass(frozen=True)
class _Objective:
    """RTO or RPO: what was measured against its target."""

    name: str
    measured: str
    target: str
    badge: _Badge


@dataclass(frozen=True)
class _Check:
    """One check of the record and what it found."""

    name: str
    badge: _Badge
    detail: str


def _text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _badge(result: str, label: str | None = None) -> _Badge:
    return _Badge(result, label or result.upper())


def _rows(pairs: list[tuple[str, Any]], mono: tuple[str, ...] = ()) -> list[_Row]:
    return [_Row(name, _text(value), name in mono) for name, value in pairs]


def _seconds(value: float | None) -> str:
    return "not measured" if value is None else f"{value:,.1f} s"


def _items_restored(restore: dict[str, Any]) -> _Row:
    if restore["items_restored"] is None:
        return _Row("items restored", "not counted")
    count = _text(restore["items_restored"])
    if restore.get("items_restored_counted_by") == "validate":
        count += " (counted by the validate step's scan)"
    return _Row("items restored", count)


def _restore_how(restore: dict[str, Any]) -> str | None:
    if restore.get("method") is None:
        return None
    how = [restore["method"]]
    if restore.get("tasks", 1) > 1:
        how.append(f"split over {restore['tasks']} tasks")
    if restore.get("workers"):
        peak = restore.get("peak_in_flight")
        reached = f", {peak} reached" if peak else ""
        how.append(f"at most {restore['workers']} requests in flight{reached}")
    return ", ".join(how)


def _objectives(record: dict[str, Any]) -> list[_Objective]:
    o = record["objectives"]
    rows = []
    for name, measured, target, met in (
        ("RTO (recovery time)", o["rto_seconds"], o["rto_target_seconds"], o["rto_met"]),
        ("RPO (backup age)", o["rpo_seconds"], o["rpo_target_seconds"], o["rpo_met"]),
    ):
        result = {True: "passed", False: "failed", None: "not_run"}[met]
        rows.append(_Objective(name, _seconds(measured), f"target {target:,} s", _badge(result, _MET[met])))
    return rows + _copy_lag(record.get("recovery"))


def _copy_lag(recovery: dict[str, Any] | None) -> list[_Objective]:
    if not recovery:
        return []
    met = recovery["copy_lag_met"]
    result = {True: "passed", False: "failed", None: "not_run"}[met]
    target = f"target {recovery['copy_lag_target_seconds']:,} s"
    return [
        _Objective(
            "Copy lag (recovery side)", _seconds(recovery["copy_lag_seconds"]), target, _badge(result, _MET[met])
        )
    ]


def _recovery_rows(recovery: dict[str, Any] | None) -> list[_Row]:
    """Both sides of a drill on the recovery side: accounts, regions, connections (ids only), copies."""
    if not recovery:
        return []
    source, there = recovery["source"], recovery["recovery"]
    return _rows(
        [
            ("recovery account", there["account"]),
            ("recovery region", there["region"]),
            ("recovery connection", there["aws_conn_id"]),
            ("copies in", there.get("backup_bucket") or there.get("backup_vault")),
            ("copy restored", recovery["copy_restored"]),
            ("newest copy", there.get("newest_copy_location")),
            ("newest copy taken at", there.get("newest_copy_time")),
            ("source account", source["account"]),
            ("source region", source["region"]),
            ("source connection", source["aws_conn_id"]),
            ("newest source backup", source.get("newest_backup_location")),
            ("newest source backup taken at", source.get("newest_backup_time")),
            ("newest source backup with no copy", recovery.get("uncopied_location")),
            ("source side not read", source.get("error")),
        ],
        mono=("copy restored", "newest copy", "newest source backup", "newest source backup with no copy"),
    )


def _checks(record: dict[str, Any]) -> list[_Check]:
    return [
        _Check(c["name"], _badge(c["result"], c["result"].replace("_", " ")), c["detail"])
        for c in record.get("checks", ())
    ]


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


def _warm_text(warm: dict[str, Any] | None) -> str | None:
    if not warm:
        return None
    asked = (warm.get("requested") or {}).get("WriteUnitsPerSecond")
    asked_text = f"{asked:,} write units/s asked" if asked else "none asked"
    needed = warm.get("write_units_per_second_needed")
    return f"{asked_text}; needed {_text(needed)} units/s, cap {warm.get('max_write_units_per_second'):,}"


def _scale_and_cost_rows(record: dict[str, Any]) -> list[_Row]:
    """The scratch table's warm throughput, the validation scan's size, and what the drill cost."""
    warm = record["scratch_table"].get("warm_throughput")
    scan = record["validation"].get("scan") or {}
    cost = record.get("cost") or {}
    estimate = cost.get("estimate") or {}
    requests = cost.get("s3_requests")
    usd = estimate.get("usd")
    sized = f"{scan['size_bytes']:,} bytes ({scan['size_basis']})" if scan.get("size_bytes") else None
    s3 = f"{requests['put']} PUT/LIST, {requests['get']} GET, {requests['free']} DELETE" if requests else None
    return _rows(
        [
            ("warm throughput", _warm_text(warm)),
            ("warm throughput reported", (warm or {}).get("reported")),
            ("scan segments", scan.get("segments")),
            ("scan tasks", scan.get("tasks")),
            ("scan sized from", sized),
            ("write units consumed", cost.get("write_units")),
            ("read units consumed (scans)", cost.get("read_units")),
            ("scratch table hours", cost.get("scratch_table_hours")),
            ("S3 requests", s3),
            ("estimated cost", f"USD {usd:.6f} (an estimate)" if usd is not None else "not estimated"),
            ("prices", ", ".join(f"{name} {price}" for name, price in sorted((estimate.get("prices") or {}).items()))),
            ("prices from", estimate.get("prices_source")),
            ("not priced", "; ".join(estimate.get("not_priced") or ())),
        ]
    )


def render_drill_report(record: dict[str, Any]) -> str:
    """Return the HTML report of one drill, rendered from its evidence record."""
    run, timeline, backup = record.get("run", {}), record.get("timeline", {}), record["backup"]
    storage = record.get("storage")
    return TEMPLATES.get_template("drill_report.html.j2").render(
        table_name=record["table_name"],
        status=record["status"],
        status_badge=_badge(record["status"]),
        drill_id=record["drill_id"],
        generated_at=record["generated_at"],
        failure=record["failure"],
        unlocked=bool(storage) and not storage["object_lock"],
        objectives=_objectives(record),
        checks=_checks(record),
        backup=_rows(
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
        scratch=[
            *_rows(
                [
                    ("scratch table", record["scratch_table"]["name"]),
                    ("deleted", record["scratch_table"]["deleted"]),
                    *[(name.replace("_", " "), value) for name, value in timeline.items()],
                    ("restored by", _restore_how(record["restore"])),
                ]
            ),
            _items_restored(record["restore"]),
            *_rows(
                [
                    ("items rejected", record["restore"]["items_failed"]),
                    ("items counted in scratch table", record["validation"]["restored_items"]),
                ]
            ),
        ],
        scale_and_cost=_scale_and_cost_rows(record),
        run=_rows(
            [
                ("dag_id", record["dag_id"]),
                ("run_id", record["run_id"]),
                ("run type", run.get("run_type")),
                ("try", run.get("try_number")),
                ("triggered by", run.get("triggering_user")),
                *sorted((record.get("software") or {}).items()),
            ]
        ),
        plan=_rows([*sorted((record.get("plan_entry") or {}).items()), ("sha256", record.get("plan_entry_sha256"))]),
        recovery=_recovery_rows(record.get("recovery")),
        integrity=_rows(_storage_rows(record), mono=("evidence_sha256", "previous_evidence_sha256", "stored at")),
    )


# The evidence pack ------------------------------------------------------------------------------


def _in_range(record: dict[str, Any], date_from: date, date_to: date) -> bool:
    return date_from <= datetime.fromisoformat(record["started_at"]).date() <= date_to


def drill_row(record: dict[str, Any]) -> dict[str, Any]:
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
            (drill_row(r) for r in records[table_name] if _in_range(r, date_from, date_to)),
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


@dataclass(frozen=True)
class _Chain:
    """A table's evidence chain: intact (``records_checked``), broken (where and why), or not verified."""

    badge: _Badge
    records_checked: int | None = None
    break_key: str | None = None
    detail: str | None = None


@dataclass(frozen=True)
class _PackDrill:
    """One drill's line in its table's section of the pack."""

    started_at: str
    badge: _Badge
    rto: str
    rpo: str
    failure: str
    evidence_key: str


@dataclass(frozen=True)
class _PackTable:
    """One table in the pack: its line in the summary and its section with two charts."""

    name: str
    drill_count: int
    passed: int
    pass_rate: str
    pass_rate_sentence: str
    chain: _Chain
    rto_svg: str
    rpo_svg: str
    drills: list[_PackDrill]


def _chain(chain: dict[str, Any] | None) -> _Chain:
    if not chain:
        return _Chain(_badge("not_run", "not verified"))
    if chain["intact"]:
        return _Chain(_badge("ok", "intact"), records_checked=chain["records_checked"])
    return _Chain(_badge("broken", chain["break_kind"].upper()), break_key=chain["break_key"], detail=chain["detail"])


def _daily(tables: list[dict[str, Any]]) -> list[tuple[datetime, int, int]]:
    counts: dict[date, list[int]] = defaultdict(lambda: [0, 0])
    for table in tables:
        for row in table["drills"]:
            day = datetime.fromisoformat(row["started_at"]).date()
            counts[day][0] += row["status"] == "passed"
            counts[day][1] += 1
    return [(datetime.combine(day, time(12), UTC), p, t) for day, (p, t) in sorted(counts.items())]


def _pack_drill(d: dict[str, Any]) -> _PackDrill:
    return _PackDrill(
        started_at=d["started_at"],
        badge=_badge(d["status"]),
        rto=f"{_seconds(d['rto_seconds'])} / {d['rto_target_seconds']:,} s ({_MET[d['rto_met']]})",
        rpo=f"{_seconds(d['rpo_seconds'])} / {d['rpo_target_seconds']:,} s ({_MET[d['rpo_met']]})",
        failure=d["failure_step"] + ": " + d["failure_reason"] if d["failure_step"] else "",
        evidence_key=_text(d["evidence_key"]),
    )


def _pack_table(table: dict[str, Any], start: datetime, end: datetime) -> _PackTable:
    name, drills, rate = table["table_name"], table["drills"], table["pass_rate_percent"]
    rto = [Point(datetime.fromisoformat(d["started_at"]), d["rto_seconds"], d["status"] == "passed") for d in drills]
    rpo = [Point(datetime.fromisoformat(d["started_at"]), d["rpo_seconds"], d["status"] == "passed") for d in drills]
    rto_target = drills[-1]["rto_target_seconds"] if drills else None
    rpo_target = drills[-1]["rpo_target_seconds"] if drills else None
    return _PackTable(
        name=name,
        drill_count=table["drill_count"],
        passed=table["passed"],
        pass_rate=_text(rate),
        pass_rate_sentence="n/a" if rate is None else f"{rate} %",
        chain=_chain(table["chain"]),
        rto_svg=time_series(f"RTO of {name}", "seconds", rto, rto_target, start, end),
        rpo_svg=time_series(f"RPO of {name}", "seconds", rpo, rpo_target, start, end),
        drills=[_pack_drill(d) for d in drills],
    )


def render_pack(pack: dict[str, Any]) -> str:
    """Return the evidence pack as one self-contained HTML page."""
    start = datetime.combine(date.fromisoformat(pack["date_from"]), time(0), UTC)
    end = datetime.combine(date.fromisoformat(pack["date_to"]), time(0), UTC) + timedelta(days=1)
    intact = pack["chains_intact"]
    return TEMPLATES.get_template("evidence_pack.html.j2").render(
        date_from=pack["date_from"],
        date_to=pack["date_to"],
        generated_at=pack["generated_at"],
        drill_count=pack["drill_count"],
        passed=pack["passed"],
        pass_rate=_text(pack["pass_rate_percent"]),
        chains_badge=_badge("ok", "all chains intact") if intact else _badge("broken", "CHAIN BROKEN"),
        daily_svg=daily_pass_rate("Drills passed per day, all tables", _daily(pack["tables"]), start, end),
        tables=[_pack_table(t, start, end) for t in pack["tables"]],
    )
