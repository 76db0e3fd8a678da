"""The evidence hash chain: how it is sealed, and each kind of break the verifier names."""

from __future__ import annotations

import hashlib
import json

import pytest

from dr_drill.core.evidence.chain import ChainEntry, canonical_record_bytes, record_sha256, seal, verify_chain


def _chain(count: int) -> list[ChainEntry]:
    entries, previous = [], None
    for night in range(1, count + 1):
        record = seal({"table_name": "app-users", "drill_id": f"2026110{night}", "rto": night * 1.5}, previous)
        entries.append(ChainEntry(key=f"dr-drill-evidence/app-users/2026110{night}.json", record=record))
        previous = record
    return entries


def test_canonical_bytes_are_the_documented_json_without_the_own_hash():
    record = seal({"table_name": "tâble", "b": 1, "a": [1.25, None]}, None)
    expected = json.dumps(
        {k: v for k, v in record.items() if k != "evidence_sha256"},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()
    assert canonical_record_bytes(record) == expected
    assert record["evidence_sha256"] == hashlib.sha256(expected).hexdigest()
    # What an auditor re-computes from the stored (indented) JSON gives the same hash.
    stored = json.loads(json.dumps(record, indent=2, sort_keys=True))
    assert record_sha256(stored) == record["evidence_sha256"]


def test_records_link_to_their_predecessor_and_count_up():
    first, second, third = (entry.record for entry in _chain(3))
    assert first["previous_evidence_sha256"] is None and first["evidence_sequence"] == 1
    assert second["previous_evidence_sha256"] == first["evidence_sha256"] and second["evidence_sequence"] == 2
    assert third["previous_evidence_sha256"] == second["evidence_sha256"] and third["evidence_sequence"] == 3


def test_an_intact_chain_reports_its_head():
    entries = _chain(4)
    verdict = verify_chain("app-users", entries)
    assert verdict.intact and verdict.records_checked == 4 and verdict.break_kind is None
    assert verdict.head_sha256 == entries[-1].record["evidence_sha256"] and verdict.head_sequence == 4


def test_an_empty_table_is_intact():
    assert verify_chain("app-users", []).intact


def _edit(entry: ChainEntry, rehash: bool) -> ChainEntry:
    record = {**entry.record, "rto": 0.1}
    if rehash:
        record["evidence_sha256"] = record_sha256(record)
    return ChainEntry(entry.key, record)


@pytest.mark.parametrize(
    ("tamper", "kind", "where"),
    [
        pytest.param(lambda e: [e[0], _edit(e[1], False), *e[2:]], "edited", 1, id="edited"),
        pytest.param(lambda e: [e[0], _edit(e[1], True), *e[2:]], "edited", 1, id="edited-and-rehashed"),
        pytest.param(lambda e: [e[0], ChainEntry(e[1].key, None), *e[2:]], "edited", 1, id="not-json"),
        pytest.param(lambda e: [e[0], *e[2:]], "missing", 1, id="missing-middle"),
        pytest.param(lambda e: e[1:], "missing", 0, id="missing-first"),
        pytest.param(
            lambda e: [e[0], ChainEntry(e[1].key, e[2].record), ChainEntry(e[2].key, e[1].record), e[3]],
            "reordered",
            1,
            id="reordered",
        ),
        pytest.param(lambda e: [e[0], e[1], e[1], e[2]], "reordered", 2, id="duplicated"),
    ],
)
def test_the_first_break_is_named_with_its_kind_and_key(tamper, kind, where):
    entries = tamper(_chain(4))
    verdict = verify_chain("app-users", entries)
    assert not verdict.intact
    assert verdict.break_kind == kind, verdict
    assert verdict.break_key == entries[where].key, verdict
    assert verdict.detail


def test_a_missing_newest_record_is_not_visible_in_the_chain_but_the_head_changes():
    entries = _chain(3)
    truncated = verify_chain("app-users", entries[:2])
    assert truncated.intact  # only Object Lock and a head kept elsewhere show this
    assert truncated.head_sha256 != verify_chain("app-users", entries).head_sha256
