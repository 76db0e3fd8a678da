"""The drill report and the evidence pack: escaped, self-contained, and counting what the records say."""

from __future__ import annotations

import json
import re
from datetime import date

from dr_drill.core.evidence.chain import verify_chain
from dr_drill.core.report.html import build_pack, render_drill_report, render_pack
from tests.records import NOW, complete_drill_record, nightly_records

HOSTILE = '<script>alert("x")</script>&<img src=x onerror=1>'


def test_the_drill_report_escapes_what_it_shows_and_fetches_nothing():
    record = complete_drill_record(validated=None, failure={"step": "restore", "reason": HOSTILE})
    html = render_drill_report(record)
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;" in html
    assert "Failed at step restore" in html and record["evidence_sha256"] in html
    assert not re.search(r"(src|href)=\"?(https?:)?//", html)  # self-contained


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
