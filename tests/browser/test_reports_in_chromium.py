"""The drill report and the evidence pack as a person sees them: headless Chromium renders both.

Screenshots are kept in test-artifacts/ (git-ignored). Where Chromium is missing the tests are
skipped and say why; `.ci/run` installs Debian's `chromium` before `make test`.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from dr_drill.core.evidence.chain import ChainEntry, verify_chain
from dr_drill.core.report.html import build_pack, render_drill_report, render_pack
from tests.browser.cdp import FLAGS
from tests.conftest import ROOT
from tests.records import nightly_records

ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = next((path for name in ("chromium", "chromium-browser") if (path := shutil.which(name))), None)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (apt-get install -y chromium): the pages were not looked at"
)


def _chromium(page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args, page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


def _look_at(html: str, name: str, tmp_path: Path, height: int) -> tuple[str, Path]:
    """Return the DOM Chromium built from ``html`` and the path of its screenshot."""
    page = tmp_path / f"{name}.html"
    page.write_text(html)
    dom = _chromium(page, tmp_path / "profile-dom", "--dump-dom").stdout
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / f"{name}.png"
    shot.unlink(missing_ok=True)
    _chromium(page, tmp_path / "profile-shot", f"--screenshot={shot}", f"--window-size=1100,{height}")
    return dom, shot


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])


def test_the_drill_report_renders(tmp_path):
    records = nightly_records("app-users", 2, {1})
    failed = {**records[1], "table_name": "app-users<b>"}
    dom, shot = _look_at(render_drill_report(failed), "drill-report-failed", tmp_path, 1500)
    assert "DR drill report: app-users&lt;b&gt;" in dom  # shown as text, not markup
    assert "Failed at step validate" in dom and "count differs" in dom
    assert failed["evidence_sha256"] in dom
    assert _png_size(shot) == (1100, 1500)
    assert shot.stat().st_size > 40_000  # a rendered page, not a blank one


def test_the_evidence_pack_renders_with_charts(tmp_path):
    records = {"app-users": nightly_records("app-users", 14, {4, 9}), "orders": nightly_records("orders", 14, set())}
    chains = {
        table: verify_chain(table, [ChainEntry(f"k/{n}.json", r) for n, r in enumerate(rs)]).to_dict()
        for table, rs in records.items()
    }
    pack = build_pack(
        records,
        chains,
        date_from=date(2026, 11, 1),
        date_to=date(2026, 11, 14),
        generated_at=datetime(2026, 11, 15, tzinfo=UTC) + timedelta(hours=1),
    )
    dom, shot = _look_at(render_pack(pack), "evidence-pack", tmp_path, 2600)
    assert "DR drill evidence pack 2026-11-01 to 2026-11-14" in dom
    assert "26 passed" in dom and dom.count("<svg") == 5 and "target 60" in dom
    assert _png_size(shot) == (1100, 2600)
    assert shot.stat().st_size > 60_000
