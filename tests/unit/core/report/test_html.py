"""The drill report and the evidence pack: escaped, self-contained, and counting what the records say."""

from __future__ import annotations

import json
import re
from datetime import date

import pytest

from dr_drill.core.evidence.chain import verify_chain
from dr_drill.core.evidence.record import validate_evidence
from dr_drill.core.report.html import build_pack, render_drill_report, render_pack
from tests.records import CREATED, NOW, RESTORED, VALIDATED, complete_drill_record, nightly_records

HOSTILE = '<script>alert("x")</script>&<img src=x onerror=1>'


def test_the_drill_report_escapes_what_it_shows_and_fetches_nothing():
    record = complete_drill_record(validated=None, failure={"step": "restore", "reason": HOSTILE})
    html = render_drill_report(record)
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;" in html
    assert "Failed at step restore" in html and record["evidence_sha256"] in html
    assert not re.search(r"(src|href)=\"?(https?:)?//", html)  # self-contained


def test_the_drill_report_shows_the_warm_throughput_the_scan_and_the_estimated_cost():
    warm = {
        "write_units_needed": 10**8,
        "write_units_per_second_needed": 55_556,
        "max_write_units_per_second": 40_000,
        "requested": {"WriteUnitsPerSecond": 40_000},
        "reported": {"WriteUnitsPerSecond": 40_000, "ReadUnitsPerSecond": 12_000, "Status": "ACTIVE"},
    }
    scan = {"segments": 47, "size_bytes": 100 * 10**9, "size_basis": "backup", "read_units": 24_414_063.0}
    record = complete_drill_record(
        created={**CREATED, "warm_throughput": warm},
        restored={**RESTORED, "consumed_write_units": 1.0e8},
        validated={**VALIDATED, "scan": scan},
        s3_requests={"GetObject": 3, "ListObjectsV2": 1},
        region="us-east-1",
    )
    validate_evidence(record)
    html = render_drill_report(record)
    assert "Scale and cost" in html and "40,000 write units/s asked" in html
    assert "100,000,000,000 bytes (backup)" in html and "47" in html
    # 1e8 write units at 0.625 per million, 24,414,063 read units at 0.125 per million, 1 LIST, 3 GETs.
    usd = 1e8 * 0.625 / 1e6 + 24_414_063 * 0.125 / 1e6 + 0.005 / 1e3 + 3 * 0.0004 / 1e3
    assert record["cost"]["estimate"]["usd"] == pytest.approx(usd) and f"USD {usd:.6f} (an estimate)" in html
    assert "no list price in this table" in html  # what the estimate leaves out is said


def test_the_pack_keeps_the_range_counts_pass_rate_and_chains():
    records = {"app-users": nightly_records("app-users", 10, {3}), "orders": nightly_records("orders", 10, set())}
    chains = {t: verify_chain(t, []).to_dict() for t in records}
    chains["orders"] = {**chains["orders"], "intact": False, "break_kind": "missing", "break_key": "k", "detail": "d"}
    pack = build_pack(records, chains, date_from=date(2026, 11, 3), date_to=date(2026, 11, 7), generated_at=NOW)
    by_table = {t["table_name"]: t for t in pack["tables"]}
    assert by_table["app-users"]["drill_count"] == 5 and by_table["app-users"]["passed"] == 4
    assert by_table["app-users"]["pass_rate_percent"] == 80.0
    assert pack["drill_count"] == 10 and pack["passed"] == 9 and pack["chains_intact"] is False
    assert [d["started_at"][:10] for d in by_table["orders"]["drills"]] == [f"2026-11-0{d}" for d in range(3, 8)]
    html = render_pack(pack)
    assert html.count("<svg") == 5  # pass rate per day, RTO and RPO per table
    assert "target 60" in html and "MISSING" in html and "CHAIN BROKEN" in html
    json.dumps(pack)  # the JSON twin
