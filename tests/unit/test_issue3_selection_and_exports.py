"""Issue 3, pure: selection policies, the export manifest format, the plan keys and the evidence backup block."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest

from dr_drill.core.evidence.record import build_evidence, validate_evidence
from dr_drill.core.plan.drill_plan import Settings, resolve_drill_specs
from dr_drill.core.plan.selection import Candidate, SelectionPolicy, select_backup
from dr_drill.core.sources.pitr import choose_restore_time
from dr_drill.core.sources.s3_export import (
    checksum_file_matches,
    export_folder_of,
    export_root,
    iter_export_items,
    parse_export_line,
    parse_manifest_files,
    parse_summary,
    table_name_of_arn,
)
from dr_drill.errors import BackupCorrupt, BackupNotFound, InvalidDrillRequest
from tests.unit.test_evidence_and_notification import SPEC

NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)


def _candidates(hours: list[int]) -> list[Candidate]:
    # Locations sort the opposite way to the times: ordering must follow the backup's own time.
    return [Candidate(location=f"s3://b/{9999 - h:05d}", taken_at=NOW - timedelta(hours=h)) for h in hours]


def _select(policy, hours=(50, 1, 30, 2, 100, 3, 4), **kwargs):
    return select_backup(_candidates(list(hours)), policy, now=NOW, seed_source="drill-1", what="of t", **kwargs)


def test_latest_is_by_the_backups_own_time_and_keeps_a_bounded_look_back():
    selection = _select(SelectionPolicy())
    assert selection.chosen.taken_at == NOW - timedelta(hours=1)
    assert [c.taken_at for c in selection.fallbacks] == [NOW - timedelta(hours=h) for h in (2, 3, 4)]
    assert selection.considered == 7 and selection.record == {"policy": "latest", "choice": selection.chosen.location}
    assert _select(SelectionPolicy(), lookback=1).fallbacks == selection.fallbacks[:1]


def test_latest_before_a_time():
    policy = SelectionPolicy.parse({"policy": "latest_before", "before": (NOW - timedelta(hours=10)).isoformat()})
    assert _select(policy).chosen.taken_at == NOW - timedelta(hours=30)
    too_early = SelectionPolicy.parse({"policy": "latest_before", "before": "2020-01-01T00:00:00Z"})
    with pytest.raises(BackupNotFound, match="no backup of t taken before 2020-01-01T00:00:00"):
        _select(too_early)


def test_random_within_days_records_a_seed_that_replays_the_choice():
    policy = SelectionPolicy.parse({"policy": "random_within_days", "days": 3})
    first = _select(policy)
    assert first.record["seed"] == _select(policy).record["seed"]  # derived from the drill id: stable
    assert first.record["candidates_in_window"] == 6  # 100 hours ago is outside the 3 days
    seeded = SelectionPolicy.parse({"policy": "random_within_days", "days": 3, "seed": first.record["seed"]})
    other_drill = select_backup(_candidates([50, 1, 30, 2, 100, 3, 4]), seeded, now=NOW, seed_source="x", what="")
    assert other_drill.chosen == first.chosen
    choices = {_select(SelectionPolicy(policy="random_within_days", days=3, seed=s)).chosen.location for s in range(40)}
    assert len(choices) > 1  # it really is random across seeds


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param("newest", "selection must be", id="unknown-string"),
        pytest.param({"policy": "oldest"}, "not one of", id="unknown-policy"),
        pytest.param({"policy": "latest_before"}, "lacks its argument", id="no-time"),
        pytest.param({"policy": "latest_before", "before": "yesterday"}, "not an ISO 8601 time", id="bad-time"),
        pytest.param({"policy": "explicit"}, "lacks its argument", id="no-backup"),
    ],
)
def test_bad_selection_is_refused(value, message):
    with pytest.raises(InvalidDrillRequest, match=message):
        SelectionPolicy.parse(value)


def test_pitr_times_inside_and_outside_the_window():
    earliest, latest = NOW - timedelta(days=35), NOW - timedelta(minutes=5)
    assert choose_restore_time(earliest, latest, SelectionPolicy(), seed_source="d")[0] == latest
    asked = SelectionPolicy(policy="explicit", backup=(NOW - timedelta(days=2)).isoformat())
    assert choose_restore_time(earliest, latest, asked, seed_source="d")[0] == NOW - timedelta(days=2)
    before = SelectionPolicy(policy="latest_before", before=NOW + timedelta(days=1))
    assert choose_restore_time(earliest, latest, before, seed_source="d")[0] == latest
    drawn, record = choose_restore_time(
        earliest, latest, SelectionPolicy(policy="random_within_days", days=7), seed_source="d"
    )
    assert latest - timedelta(days=7) <= drawn <= latest and record["seed"] >= 0
    with pytest.raises(BackupNotFound, match="outside the point-in-time window"):
        choose_restore_time(
            earliest, latest, SelectionPolicy(policy="explicit", backup="2020-01-01T00:00:00Z"), seed_source="d"
        )


# --- export manifests ---

SUMMARY = {
    "version": "2020-06-30",
    "exportArn": "arn:aws:dynamodb:us-east-1:123456789012:table/ProductCatalog/export/01234567890123-a1b2c3d4",
    "startTime": "2020-11-04T07:28:34.028Z",
    "endTime": "2020-11-04T07:33:43.897Z",
    "tableArn": "arn:aws:dynamodb:us-east-1:123456789012:table/ProductCatalog",
    "tableId": "12345a12-abcd-123a-ab12-1234abc12345",
    "exportTime": "2020-11-04T07:28:34.028Z",
    "s3Bucket": "ddb-productcatalog-export",
    "s3Prefix": "2020-Nov",
    "s3SseAlgorithm": "AES256",
    "s3SseKmsKeyId": None,
    "manifestFilesS3Key": "2020-Nov/AWSDynamoDB/01234567890123-a1b2c3d4/manifest-files.json",
    "billedSizeBytes": 0,
    "itemCount": 8,
    "outputFormat": "DYNAMODB_JSON",
}


def test_the_documented_summary_parses():
    summary = parse_summary(json.dumps(SUMMARY).encode(), "01234567890123-a1b2c3d4")
    assert summary.item_count == 8 and summary.export_type == "FULL_EXPORT"
    assert summary.export_time == datetime(2020, 11, 4, 7, 28, 34, 28000, tzinfo=UTC)
    assert table_name_of_arn(summary.table_arn) == table_name_of_arn(summary.export_arn) == "ProductCatalog"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        pytest.param(b'{"version": "2020-06-30"', "not valid JSON", id="truncated"),
        pytest.param(b"\xff\xfe", "not UTF-8", id="non-utf8"),
        pytest.param(json.dumps({**SUMMARY, "outputFormat": "ION"}).encode(), "not DYNAMODB_JSON", id="ion"),
        pytest.param(json.dumps({**SUMMARY, "exportType": "INCREMENTAL_EXPORT"}).encode(), "not a full", id="incr"),
        pytest.param(json.dumps({**SUMMARY, "itemCount": -1}).encode(), "itemCount", id="count"),
        pytest.param(json.dumps({k: v for k, v in SUMMARY.items() if k != "tableArn"}).encode(), "lacks tableArn"),
    ],
)
def test_bad_summaries_are_named(raw, message):
    with pytest.raises(BackupCorrupt, match=message):
        parse_summary(raw, "x")


def test_manifest_files_lines_and_checksum_files():
    md5 = hashlib.md5(b"data").digest()
    line = {"itemCount": 8, "md5Checksum": base64.b64encode(md5).decode(), "etag": "af83-1", "dataFileS3Key": "k.gz"}
    [entry] = parse_manifest_files((json.dumps(line) + "\n\n").encode(), "x")
    assert (entry.key, entry.item_count, entry.md5, entry.etag) == ("k.gz", 8, md5, "af83-1")
    with pytest.raises(BackupCorrupt, match="line 1: md5Checksum is not base64"):
        parse_manifest_files(json.dumps({**line, "md5Checksum": "!!"}).encode(), "x")
    with pytest.raises(BackupCorrupt, match="line 2 lacks dataFileS3Key"):
        parse_manifest_files(f"{json.dumps(line)}\n{json.dumps({'itemCount': 1, 'md5Checksum': 'x'})}".encode(), "x")
    assert checksum_file_matches(md5.hex().encode() + b"\n", md5)
    assert checksum_file_matches(base64.b64encode(md5), md5)
    assert not checksum_file_matches(b"0" * 32, md5) and not checksum_file_matches(b"", md5)


def test_export_paths():
    assert export_root("exports/app/") == "exports/app/AWSDynamoDB/" and export_root(None) == "AWSDynamoDB/"
    assert export_folder_of("p/AWSDynamoDB/0123-ab/_started", "p/AWSDynamoDB/") == ("0123-ab", "_started")
    assert export_folder_of("p/AWSDynamoDB/0123-ab/data/x.json.gz", "p/AWSDynamoDB/") is None


def test_export_lines_become_typed_items_with_exact_numbers_and_binary_bytes():
    raw = base64.b64encode(b"\x00\x01").decode()
    line = {
        "Item": {
            "id": {"S": "a"},
            "n": {"N": "1.50"},
            "big": {"N": "123456789012345678901234567890.000000001"},
            "b": {"B": raw},
            "bs": {"BS": [raw]},
            "ns": {"NS": ["1E+2", "3"]},
            "m": {"M": {"l": {"L": [{"NULL": True}, {"BOOL": False}, {"SS": ["x"]}]}}},
        }
    }
    item = parse_export_line(json.dumps(line).encode(), "f")
    assert item["n"] == {"N": "1.5"} and item["big"] == {"N": "123456789012345678901234567890.000000001"}
    assert item["b"] == {"B": b"\x00\x01"} and item["bs"] == {"BS": [b"\x00\x01"]}
    assert item["ns"] == {"NS": ["100", "3"]}
    lines = gzip.decompress(gzip.compress(b"\n".join([json.dumps(line).encode()] * 3))).splitlines()
    assert len(list(iter_export_items(lines, "f"))) == 3


@pytest.mark.parametrize(
    ("line", "message"),
    [
        pytest.param(b'{"Item": {"id": {"S": "secret-value"}', "not valid JSON", id="truncated"),
        pytest.param(b'{"Item": {"id": {"S": "\xff"}}}', "not UTF-8", id="non-utf8"),
        pytest.param(b'{"id": {"S": "secret-value"}}', "is not an", id="no-item"),
        pytest.param(b'{"Item": {"id": {"X": "secret-value"}}}', "unknown DynamoDB type", id="bad-type"),
        pytest.param(b'{"Item": {"id": {"N": "secret-value"}}}', "N value is malformed", id="bad-number"),
    ],
)
def test_bad_export_lines_are_named_without_their_contents(line, message):
    with pytest.raises(BackupCorrupt, match=message) as caught:
        parse_export_line(line, "data file k, line 3")
    assert "secret" not in caught.value.reason and "line 3" in caught.value.reason


# --- plan and evidence ---


def test_plan_keys_for_sources_and_selection():
    settings = Settings(backup_bucket=None, evidence_bucket="ev", success_topic_arn=None, failure_topic_arn=None)
    plan = {
        "defaults": {"selection": {"policy": "random_within_days", "days": 7}},
        "tables": {
            "app-users": {"backup_source": "s3_export", "backup_bucket": "exports", "export_prefix": "exp/app"},
            "orders": {"backup_source": "native_backup"},
            "events": {"backup_source": "pitr", "selection": "latest"},
        },
    }
    users, orders, events = resolve_drill_specs(
        plan=plan, conf={}, settings=settings, dag_id="d", run_id="r", started_at=NOW
    )
    assert users.export_prefix == "exp/app" and users.selection == {"policy": "random_within_days", "days": 7}
    assert orders.backup_bucket is None  # server-side sources need no bucket
    assert events.selection == {"policy": "latest"}
    with pytest.raises(InvalidDrillRequest, match="no backup_bucket"):
        resolve_drill_specs(
            plan={"tables": {"t-1": {"backup_source": "s3_export"}}},
            conf={},
            settings=settings,
            dag_id="d",
            run_id="r",
            started_at=NOW,
        )
    with pytest.raises(InvalidDrillRequest, match="selection"):
        resolve_drill_specs(
            plan={"tables": {"t-1": {"selection": {"policy": "oldest"}}}},
            conf={},
            settings=Settings(backup_bucket="b", evidence_bucket="ev", success_topic_arn=None, failure_topic_arn=None),
            dag_id="d",
            run_id="r",
            started_at=NOW,
        )


def test_evidence_of_a_failed_newest_backup_names_the_newest_that_verifies():
    located = {
        "source": "s3_json",
        "location": "s3://b/new.json",
        "backup_time": "2026-11-26T01:30:00+00:00",
        "candidates_considered": 9,
        "selection": {"policy": "latest", "choice": "s3://b/new.json"},
    }
    verified = {
        "backup_timestamp": None,
        "item_count": None,
        "checksum_verified": False,
        "newest_verified_location": "s3://b/old.json",
        "newest_verified_backup_time": "2026-11-24T02:00:00+00:00",
    }
    record = build_evidence(
        {**SPEC, "backup_source": "s3_json"},
        located=located,
        verified=verified,
        restored=None,
        validated=None,
        scratch_deleted=True,
        failure={"step": "verify", "reason": "checksum mismatch"},
        generated_at=NOW,
    )
    validate_evidence(record)
    backup = record["backup"]
    assert backup["backup_timestamp"] == "2026-11-26T01:30:00+00:00" and record["objectives"]["rpo_seconds"] == 1800
    assert backup["effective_rpo_seconds"] == 48 * 3600 and backup["newest_verified_location"] == "s3://b/old.json"
    assert backup["candidates_considered"] == 9 and backup["selection"]["policy"] == "latest"


@pytest.mark.parametrize(
    ("source", "located", "verified", "field", "value"),
    [
        pytest.param(
            "s3_export",
            {"location": "s3://b/x", "export_arn": "arn:aws:dynamodb:r:1:table/t/export/1"},
            {
                "backup_timestamp": "2026-11-25T00:00:00+00:00",
                "item_count": 3,
                "checksum_verified": True,
                "size_bytes": 9,
            },
            "export_arn",
            "arn:aws:dynamodb:r:1:table/t/export/1",
            id="export",
        ),
        pytest.param(
            "native_backup",
            {"location": "arn:b", "backup_arn": "arn:b", "backup_time": "2026-11-25T00:00:00+00:00"},
            {"backup_timestamp": "2026-11-25T00:00:00+00:00", "item_count": 3, "checksum_verified": False},
            "backup_arn",
            "arn:b",
            id="native",
        ),
        pytest.param(
            "pitr",
            {"location": "pitr:t@x", "restore_time": "2026-11-25T00:00:00+00:00"},
            {"backup_timestamp": "2026-11-25T00:00:00+00:00", "item_count": None, "checksum_verified": False},
            "restore_time",
            "2026-11-25T00:00:00+00:00",
            id="pitr",
        ),
    ],
)
def test_evidence_carries_each_sources_identity(source, located, verified, field, value):
    record = build_evidence(
        {**SPEC, "backup_source": source},
        located={**located, "source": source, "candidates_considered": 1, "selection": {"policy": "latest"}},
        verified=verified,
        restored=None,
        validated=None,
        scratch_deleted=True,
        failure={"step": "restore", "reason": "not yet"},
        generated_at=NOW,
    )
    validate_evidence(record)
    assert record["backup"][field] == value
    assert record["objectives"]["rpo_seconds"] == 26 * 3600
