"""The DynamoDB export format: the summary, the manifest of data files, checksum files and the item lines."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
from datetime import UTC, datetime

import pytest

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
from dr_drill.errors import BackupCorrupt

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
        pytest.param(b'{"Item": {"id": {"X": "secret-value"}}}', "a type DynamoDB does not have", id="bad-type"),
        pytest.param(b'{"Item": {"id": {"N": "secret-value"}}}', "N value is malformed", id="bad-number"),
    ],
)
def test_bad_export_lines_are_named_without_their_contents(line, message):
    with pytest.raises(BackupCorrupt, match=message) as caught:
        parse_export_line(line, "data file k, line 3")
    assert "secret" not in caught.value.reason and "line 3" in caught.value.reason
