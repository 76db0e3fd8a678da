"""The history index and what the page shows of it: derived from the records, every figure measured or None."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from dr_drill.core.evidence.history import (
    HistoryFilter,
    TableState,
    follows_head,
    index_chain_verdict,
    index_entry,
    index_from_records,
    index_summary,
    is_newer_summary,
    overview_row,
    table_history,
    with_entry,
)
from tests.records import nightly_records

NOW = datetime(2026, 11, 15, 3, tzinfo=UTC)


def _index(count=14, fail_on=frozenset({4, 9})):
    return index_from_records("app-users", nightly_records("app-users", count, set(fail_on)))


def test_an_entry_holds_what_the_page_shows_and_no_item_contents():
    [record] = nightly_records("app-users", 1, set())
    entry = index_entry(record)
    assert entry["rto_seconds"] == record["objectives"]["rto_seconds"]
    assert entry["backup_location"] == record["backup"]["location"]
    assert entry["run_id"] == record["run_id"] and entry["hash_verified"] is True
    assert "items" not in entry and "validation" not in entry


def test_the_index_is_the_same_however_its_records_arrive():
    records = nightly_records("app-users", 5, {2})
    in_order = index_from_records("app-users", records)
    assert index_from_records("app-users", list(reversed(records))) == in_order
    assert with_entry(in_order, index_entry(records[3])) == in_order  # indexing a record twice changes nothing
    assert follows_head(index_from_records("app-users", records[:4]), records[4])
    assert not follows_head(index_from_records("app-users", records[:3]), records[4])


@pytest.mark.parametrize(
    ("change", "kind"),
    [
        pytest.param(lambda entries: entries.pop(2), "missing", id="a record left out"),
        pytest.param(lambda entries: entries[3].update(hash_verified=False), "edited", id="a record edited"),
    ],
)
def test_the_index_chain_verdict_names_a_break(change, kind):
    index = _index()
    assert index_chain_verdict(index).intact
    change(index["entries"])
    verdict = index_chain_verdict(index)
    assert not verdict.intact and verdict.break_kind == kind


def test_the_overview_row_flags_failing_and_uncovered_tables():
    recent = overview_row(TableState("app-users", True, index_summary(_index()), True), now=NOW, coverage_days=2)
    assert recent["last"]["status"] == "passed" and recent["findings"] == []
    assert recent["last_passed_age_seconds"] == (NOW - datetime(2026, 11, 14, 2, tzinfo=UTC)).total_seconds()

    failing = index_summary(_index(fail_on={11, 12, 13}))
    row = overview_row(TableState("app-users", True, failing, True), now=NOW + timedelta(days=3), coverage_days=2)
    assert row["findings"] == ["no passing drill in the last 2 days", "the last 3 drills failed"]

    never = overview_row(TableState("payments", True, None, False), now=NOW, coverage_days=7)
    assert never["last"] is None and never["last_passed_age_seconds"] is None and never["chain"] is None
    assert never["findings"] == ["no passing drill in the last 7 days"]
    unplanned = overview_row(TableState("old", False, None, True), now=NOW, coverage_days=7)
    assert unplanned["findings"][0] == "not in the drill plan" and "not indexed" in unplanned["findings"][1]


def test_a_summary_is_replaced_only_by_one_that_knows_more():
    fewer, more = index_summary(_index(5)), index_summary(_index(6))
    assert is_newer_summary(more, fewer) and not is_newer_summary(fewer, more)
    assert not is_newer_summary(more, more) and is_newer_summary(more, None)


def test_a_table_s_history_is_filtered_by_status_and_period_and_drawn_with_its_targets():
    index = _index()
    everything = table_history(index, HistoryFilter())
    assert everything["drill_count"] == 14 and everything["pass_rate_percent"] == round(100 * 12 / 14, 1)
    assert [d["started_at"] for d in everything["drills"]] == sorted(
        (d["started_at"] for d in everything["drills"]), reverse=True
    )
    assert [f["failure_step"] for f in everything["failures"]] == ["validate", "validate"]
    assert "target 60" in everything["rto_svg"] and "target 86,400" in everything["rpo_svg"]

    failed = table_history(index, HistoryFilter(status="failed"))
    assert failed["drill_count"] == 2 and failed["pass_rate_percent"] == 0.0
    week = table_history(index, HistoryFilter(date_from=date(2026, 11, 8), date_to=date(2026, 11, 14)))
    assert week["drill_count"] == 7
    empty = table_history(index, HistoryFilter(date_from=date(2027, 1, 1)))
    assert empty["drill_count"] == 0 and empty["pass_rate_percent"] is None


@pytest.mark.parametrize(
    "wanted",
    [
        pytest.param({"status": "maybe"}, id="unknown status"),
        pytest.param({"date_from": date(2026, 2, 1), "date_to": date(2026, 1, 1)}, id="period backwards"),
    ],
)
def test_a_filter_that_cannot_hold_is_refused(wanted):
    with pytest.raises(ValueError):
        HistoryFilter(**wanted)
