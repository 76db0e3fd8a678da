"""A table's drill history: the index kept beside its records, and what the history page shows of it.

The index is derived data. Each entry is what the page needs of one record (never item
contents), and the whole index can be rebuilt from the records at any time
(``index_from_records``); the records stay the evidence. Every figure comes from a record or is
None when the record has none.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from dr_drill.core.evidence.chain import ChainVerdict, record_sha256
from dr_drill.core.report.charts import Point, time_series
from dr_drill.core.report.html import drill_row

INDEX_FOLDER = "dr-drill-index"
INDEX_FORMAT = 1
STATUSES = ("passed", "failed")
DEFAULT_COVERAGE_DAYS = 2


def index_key(table_name: str) -> str:
    """Where a table's index lives: outside ``dr-drill-evidence/``, so no record listing ever sees it."""
    return f"{INDEX_FOLDER}/{table_name}/index.json"


def summary_key(table_name: str) -> str:
    """Where the summary of a table's index lives (``index_summary``), beside the index."""
    return f"{INDEX_FOLDER}/{table_name}/summary.json"


def index_entry(record: dict[str, Any]) -> dict[str, Any]:
    """Return one record's line of the index: the pack's drill row, its chain links and the run that made it.

    ``hash_verified`` says whether the record still matched its own ``evidence_sha256`` when indexed.
    """
    backup, storage, scratch = (
        record.get("backup") or {},
        record.get("storage") or {},
        record.get("scratch_table") or {},
    )
    return {
        **drill_row(record),
        "table_name": record["table_name"],
        "dag_id": record.get("dag_id"),
        "run_id": record.get("run_id"),
        # The table run whose tasks did the drill, when the run above started one.
        "table_dag_id": (record.get("run") or {}).get("table_dag_id"),
        "table_run_id": (record.get("run") or {}).get("table_run_id"),
        "backup_source": backup.get("source"),
        "backup_location": backup.get("location"),
        "backup_timestamp": backup.get("backup_timestamp"),
        "report_key": storage.get("report_key"),
        "scratch_table": scratch.get("name"),
        "scratch_deleted": scratch.get("deleted"),
        "evidence_sequence": record.get("evidence_sequence"),
        "previous_evidence_sha256": record.get("previous_evidence_sha256"),
        "hash_verified": record.get("evidence_sha256") == record_sha256(record),
    }


def empty_index(table_name: str) -> dict[str, Any]:
    return {"format": INDEX_FORMAT, "table_name": table_name, "entries": []}


def with_entry(index: dict[str, Any], entry: dict[str, Any]) -> dict[str, Any]:
    """Return the index with ``entry`` in its place by drill start (an entry of the same drill is replaced)."""
    entries = [e for e in index["entries"] if e["drill_id"] != entry["drill_id"]]
    entries.append(entry)
    entries.sort(key=lambda e: (e["started_at"], e["evidence_sequence"] or 0))
    return {**index, "entries": entries}


def index_from_records(table_name: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    """Rebuild a table's index from its records (any order)."""
    index = empty_index(table_name)
    for record in records:
        index = with_entry(index, index_entry(record))
    return index


def follows_head(index: dict[str, Any], record: dict[str, Any]) -> bool:
    """True when ``record`` links to the index's newest entry: the index holds every record before it."""
    entries = index["entries"]
    head = entries[-1]["evidence_sha256"] if entries else None
    return record.get("previous_evidence_sha256") == head


def index_chain_verdict(index: dict[str, Any]) -> ChainVerdict:
    """Check the chain as the index records it: each record matched its hash when indexed, and links to the one before.

    It is a quick look for the page; ``python -m dr_drill.evidence verify-chain`` reads every record again.
    """
    table, previous = index["table_name"], None
    for number, entry in enumerate(index["entries"], start=1):
        key = entry["evidence_key"]
        if not entry["hash_verified"]:
            return ChainVerdict(table, number, False, "edited", key, "the record did not match its evidence_sha256")
        expected = 1 if previous is None else previous["evidence_sequence"] + 1
        link = None if previous is None else previous["evidence_sha256"]
        if entry["evidence_sequence"] != expected or entry["previous_evidence_sha256"] != link:
            detail = f"sequence {entry['evidence_sequence']} does not follow the record before it (expected {expected})"
            return ChainVerdict(table, number, False, "missing", key, detail)
        previous = entry
    return ChainVerdict(
        table,
        len(index["entries"]),
        True,
        head_sha256=previous["evidence_sha256"] if previous else None,
        head_sequence=previous["evidence_sequence"] if previous else None,
    )


# What the page shows ---------------------------------------------------------------------------


def _age_seconds(entry: dict[str, Any] | None, now: datetime) -> float | None:
    return None if entry is None else round((now - datetime.fromisoformat(entry["started_at"])).total_seconds(), 1)


def _failed_in_a_row(entries: list[dict[str, Any]]) -> int:
    count = 0
    for entry in reversed(entries):
        if entry["status"] == "passed":
            break
        count += 1
    return count


def index_summary(index: dict[str, Any]) -> dict[str, Any]:
    """Return what the overview needs of a table's index, small enough to read fifty of at once.

    It is stored beside the index (``summary_key``) each time the index is written.
    """
    entries = index["entries"]
    passed = [e for e in entries if e["status"] == "passed"]
    return {
        "format": INDEX_FORMAT,
        "table_name": index["table_name"],
        "drill_count": len(entries),
        "last": entries[-1] if entries else None,
        "last_passed": passed[-1] if passed else None,
        "failed_in_a_row": _failed_in_a_row(entries),
        "chain": index_chain_verdict(index).to_dict() if entries else None,
    }


def is_newer_summary(summary: dict[str, Any], than: dict[str, Any] | None) -> bool:
    """True when ``summary`` should replace ``than``: it knows more drills, or as many differently (a rebuild)."""
    if than is None or summary["drill_count"] > than["drill_count"]:
        return True
    return summary["drill_count"] == than["drill_count"] and summary != than


def coverage_findings(planned: bool, summary: dict[str, Any], *, now: datetime, coverage_days: int) -> list[str]:
    """What a person should act on: a planned table not proven recently, drills failing, a broken chain."""
    findings = []
    last_passed = summary["last_passed"]
    if planned and (last_passed is None or _age_seconds(last_passed, now) > coverage_days * 86400):
        findings.append(f"no passing drill in the last {coverage_days} days")
    failing = summary["failed_in_a_row"]
    if failing:
        findings.append(f"the last {failing} drills failed" if failing > 1 else "the last drill failed")
    if summary["chain"] and not summary["chain"]["intact"]:
        findings.append(f"evidence chain broken ({summary['chain']['break_kind']})")
    if not planned:
        findings.append("not in the drill plan")
    return findings


@dataclass(frozen=True)
class TableState:
    """What the overview knows of one table: whether it is planned, and its index summary if it has one."""

    table_name: str
    planned: bool
    summary: dict[str, Any] | None
    has_evidence: bool = False


def overview_row(state: TableState, *, now: datetime, coverage_days: int) -> dict[str, Any]:
    """Return one table's line of the overview."""
    summary = state.summary or index_summary(empty_index(state.table_name))
    findings = coverage_findings(state.planned, summary, now=now, coverage_days=coverage_days)
    if state.summary is None and state.has_evidence:
        findings.append("its records are not indexed: python -m dr_drill.evidence index --table " + state.table_name)
    last_passed = summary["last_passed"]
    return {
        "table_name": state.table_name,
        "planned": state.planned,
        "drill_count": summary["drill_count"],
        "last": summary["last"],
        "last_passed_at": last_passed["started_at"] if last_passed else None,
        "last_passed_age_seconds": _age_seconds(last_passed, now),
        "chain": summary["chain"],
        "findings": findings,
    }


@dataclass(frozen=True)
class HistoryFilter:
    """Which drills of a table to show: a status (None for all) and a period of start dates, both ends included."""

    status: str | None = None
    date_from: date | None = None
    date_to: date | None = None

    def __post_init__(self) -> None:
        if self.status not in (None, *STATUSES):
            raise ValueError(f"status must be one of {', '.join(STATUSES)}")
        if self.date_from and self.date_to and self.date_to < self.date_from:
            raise ValueError("the period ends before it starts")

    def keeps(self, entry: dict[str, Any]) -> bool:
        day = datetime.fromisoformat(entry["started_at"]).date()
        return (
            (self.status is None or entry["status"] == self.status)
            and (self.date_from is None or day >= self.date_from)
            and (self.date_to is None or day <= self.date_to)
        )


def _chart_span(entries: list[dict[str, Any]], wanted: HistoryFilter) -> tuple[datetime, datetime]:
    times = [datetime.fromisoformat(e["started_at"]) for e in entries]
    start = min(times) if times else datetime.fromisoformat("2000-01-01T00:00:00+00:00")
    end = max(times) if times else start
    if wanted.date_from:
        start = datetime.combine(wanted.date_from, datetime.min.time(), start.tzinfo)
    if wanted.date_to:
        end = datetime.combine(wanted.date_to + timedelta(days=1), datetime.min.time(), end.tzinfo)
    return start, max(end, start + timedelta(hours=1))


def table_history(index: dict[str, Any], wanted: HistoryFilter) -> dict[str, Any]:
    """Return a table's drills as the history page shows them: rows (newest first), pass rate, failures, charts."""
    name = index["table_name"]
    shown = [e for e in index["entries"] if wanted.keeps(e)]
    passed = sum(e["status"] == "passed" for e in shown)
    start, end = _chart_span(shown, wanted)
    last = shown[-1] if shown else {}

    def chart(title: str, measured: str, target: str) -> str:
        points = [Point(datetime.fromisoformat(e["started_at"]), e[measured], e["status"] == "passed") for e in shown]
        return time_series(f"{title} of {name}", "seconds", points, last.get(target), start, end)

    return {
        "table_name": name,
        "drill_count": len(shown),
        "passed": passed,
        "pass_rate_percent": None if not shown else round(100.0 * passed / len(shown), 1),
        "chain": index_chain_verdict(index).to_dict(),
        "drills": list(reversed(shown)),
        "failures": [e for e in reversed(shown) if e["status"] != "passed"],
        "rto_svg": chart("RTO", "rto_seconds", "rto_target_seconds"),
        "rpo_svg": chart("RPO", "rpo_seconds", "rpo_target_seconds"),
    }
