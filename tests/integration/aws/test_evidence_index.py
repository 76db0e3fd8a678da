"""The drill-history index in S3 (a moto server): derived from the records, never over them, safe under races."""

from __future__ import annotations

import contextlib
import json
import threading

import pytest

from dr_drill.aws import evidence_index
from dr_drill.aws.evidence_index import (
    IndexConflict,
    IndexReader,
    add_to_index,
    evidence_tables,
    read_index,
    rebuild_index,
    write_index,
)
from dr_drill.aws.evidence_store import list_evidence_keys, put_evidence, record_versions
from dr_drill.core.evidence.history import (
    index_chain_verdict,
    index_from_records,
    index_key,
    index_summary,
    summary_key,
)
from tests.integration.evidence_chain import LOCKED_BUCKET, PLAIN_BUCKET, TABLE, night_record, seed_chain


def _records(nights):
    records, previous = [], None
    for night in range(nights):
        previous = night_record(night, previous)
        records.append(previous)
    return records


def test_each_stored_record_is_indexed_and_the_records_are_left_as_they_were(evidence_s3):
    s3 = evidence_s3
    records = _records(4)
    for record in records:
        put_evidence(s3, LOCKED_BUCKET, record["storage"]["key"], record)
        add_to_index(s3, LOCKED_BUCKET, record)
    index, _ = read_index(s3, LOCKED_BUCKET, TABLE)
    assert [e["drill_id"] for e in index["entries"]] == [r["drill_id"] for r in records]
    assert [e["status"] for e in index["entries"]] == [r["status"] for r in records]
    assert index_chain_verdict(index).intact
    # The index is not a record: the chain's listing never sees it, and each record has one version.
    assert index_key(TABLE) not in list(list_evidence_keys(s3, LOCKED_BUCKET, TABLE))
    assert all(len(v) == 1 for v in record_versions(s3, LOCKED_BUCKET, TABLE).values())
    assert evidence_tables(s3, LOCKED_BUCKET) == [TABLE]


def test_an_index_that_missed_records_is_rebuilt_from_them(evidence_s3):
    s3 = evidence_s3
    records = _records(3)
    for record in records[:2]:  # stored, but the record step stopped before indexing them
        put_evidence(s3, PLAIN_BUCKET, record["storage"]["key"], record)
    put_evidence(s3, PLAIN_BUCKET, records[2]["storage"]["key"], records[2])
    index = add_to_index(s3, PLAIN_BUCKET, records[2])
    assert [e["drill_id"] for e in index["entries"]] == [r["drill_id"] for r in records]
    assert index == index_from_records(TABLE, records)


def test_an_index_is_written_only_over_the_version_read(evidence_s3):
    s3 = evidence_s3
    seed_chain(s3, PLAIN_BUCKET, 2)
    rebuild_index(s3, PLAIN_BUCKET, TABLE)
    stale, etag = read_index(s3, PLAIN_BUCKET, TABLE)
    rebuild_index(s3, PLAIN_BUCKET, TABLE)  # same content, so the same ETag: still current
    s3.put_object(Bucket=PLAIN_BUCKET, Key=index_key(TABLE), Body=b'{"changed": true}')
    with pytest.raises(IndexConflict):
        write_index(s3, PLAIN_BUCKET, stale, etag)


def test_two_drills_of_one_table_indexed_at_once_both_stay(evidence_s3, monkeypatch):
    s3 = evidence_s3
    records = _records(3)
    for record in records:
        put_evidence(s3, PLAIN_BUCKET, record["storage"]["key"], record)
    add_to_index(s3, PLAIN_BUCKET, records[0])
    # Two writers who both read the index at the same version: the one that loses re-reads.
    barrier = threading.Barrier(2)

    def racing_read(*args):
        found = read_index(*args)
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(timeout=2)
        return found

    monkeypatch.setattr(evidence_index, "read_index", racing_read)
    threads = [threading.Thread(target=add_to_index, args=(s3, PLAIN_BUCKET, r)) for r in records[1:]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    monkeypatch.undo()
    index, _ = read_index(s3, PLAIN_BUCKET, TABLE)
    assert sorted(e["drill_id"] for e in index["entries"]) == sorted(r["drill_id"] for r in records)
    # The summary the overview reads is the one of the index that knows every drill.
    summary = json.loads(s3.get_object(Bucket=PLAIN_BUCKET, Key=summary_key(TABLE))["Body"].read())
    assert summary == index_summary(index)


def test_the_reader_downloads_an_index_again_only_when_it_changed(evidence_s3):
    s3 = evidence_s3
    seed_chain(s3, PLAIN_BUCKET, 2)
    rebuild_index(s3, PLAIN_BUCKET, TABLE)
    reader = IndexReader(max_objects=1, max_age=0)
    key, missing = index_key(TABLE), index_key("no-such-table")
    first = reader.read_many(s3, PLAIN_BUCKET, [key, missing])
    assert first[missing] is None and len(first[key]["entries"]) == 2
    assert reader.read(s3, PLAIN_BUCKET, key) is first[key]  # a 304: the same parsed copy
    third = night_record(2, _records(2)[-1])
    add_to_index(s3, PLAIN_BUCKET, third)
    assert len(reader.read(s3, PLAIN_BUCKET, key)["entries"]) == 3
    summary = reader.read(s3, PLAIN_BUCKET, summary_key(TABLE))
    assert summary["drill_count"] == 3 and summary["last"]["drill_id"] == third["drill_id"]
