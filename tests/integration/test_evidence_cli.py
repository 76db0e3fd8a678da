"""The auditors' commands against evidence in a moto server: verify-chain and pack, in process and as a module."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from dr_drill.evidence import main
from tests.conftest import ROOT
from tests.integration.evidence_chain import PLAIN_BUCKET, TABLE, seed_chain


def _cli(capsys, *args) -> tuple[int, str]:
    code = main(["verify-chain", "--table", TABLE, "--bucket", PLAIN_BUCKET, *args])
    return code, capsys.readouterr().out


def test_verify_chain_passes_an_intact_chain(aws, evidence_s3, capsys):
    seed_chain(evidence_s3, PLAIN_BUCKET, 4)
    code, out = _cli(capsys, "--endpoint-url", aws.endpoint_url)
    assert code == 0 and "chain intact, 4 records" in out


def _edit(s3, key):
    record = json.loads(s3.get_object(Bucket=PLAIN_BUCKET, Key=key)["Body"].read())
    record["status"] = "passed"
    s3.put_object(Bucket=PLAIN_BUCKET, Key=key, Body=json.dumps(record).encode())


def _delete(s3, key):
    s3.delete_object(Bucket=PLAIN_BUCKET, Key=key)


def _swap(s3, key, other):
    first, second = (s3.get_object(Bucket=PLAIN_BUCKET, Key=k)["Body"].read() for k in (key, other))
    s3.put_object(Bucket=PLAIN_BUCKET, Key=key, Body=second)
    s3.put_object(Bucket=PLAIN_BUCKET, Key=other, Body=first)


@pytest.mark.parametrize(
    ("tamper", "kind", "at"),
    [
        pytest.param(lambda s3, keys: _edit(s3, keys[2]), "edited", 2, id="edited"),
        pytest.param(lambda s3, keys: _delete(s3, keys[1]), "missing", 2, id="missing"),
        pytest.param(lambda s3, keys: _swap(s3, keys[1], keys[2]), "reordered", 1, id="reordered"),
    ],
)
def test_verify_chain_reports_the_first_break_and_fails(aws, evidence_s3, capsys, tamper, kind, at):
    keys = seed_chain(evidence_s3, PLAIN_BUCKET, 4)
    tamper(evidence_s3, keys)
    code, out = _cli(capsys, "--endpoint-url", aws.endpoint_url, "--json")
    verdict = json.loads(out)[TABLE]
    assert code == 1
    assert verdict["intact"] is False and verdict["break_kind"] == kind and verdict["break_key"] == keys[at]


def test_the_commands_run_as_a_module(aws, evidence_s3, tmp_path):
    seed_chain(evidence_s3, PLAIN_BUCKET, 3)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "plugins"), "EVIDENCE_BUCKET": PLAIN_BUCKET}
    base = [sys.executable, "-m", "dr_drill.evidence"]
    verify = subprocess.run(
        [*base, "verify-chain", "--table", TABLE, "--endpoint-url", aws.endpoint_url],
        env=env,
        capture_output=True,
        text=True,
    )
    assert verify.returncode == 0, verify.stderr
    assert f"{TABLE}: chain intact, 3 records" in verify.stdout
    pack = subprocess.run(
        [
            *base,
            "pack",
            "--table",
            TABLE,
            "--from",
            "2026-11-01",
            "--to",
            "2026-11-02",
            "--out",
            str(tmp_path),
            "--endpoint-url",
            aws.endpoint_url,
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    assert pack.returncode == 0, pack.stderr
    data = json.loads((tmp_path / "evidence-pack-2026-11-01-to-2026-11-02.json").read_text())
    assert data["drill_count"] == 2 and data["tables"][0]["chain"]["intact"] is True
    assert "<svg" in (tmp_path / "evidence-pack-2026-11-01-to-2026-11-02.html").read_text()
    bad = subprocess.run([*base, "verify-chain", "--table", "x"], env=env, capture_output=True, text=True)
    assert bad.returncode == 2 and "not a DynamoDB table name" in bad.stderr
