"""A streamed restore split over several tasks and combined into one result, and the progress it logs."""

from __future__ import annotations

import pytest

from dr_drill.constants import RestoreMethod
from dr_drill.contracts import RestoreResult, VerifiedBackup
from dr_drill.core.items.canonical import to_typed_item
from dr_drill.core.items.digest import BucketedDigest
from dr_drill.core.restore.parts import combine_restore_results, progress_line, restore_shares, split_restore


def test_progress_line_gives_done_expected_rate_and_eta():
    assert progress_line(5000, 20000, 10.0) == "5000/20000 items in 10 s, 500 items/s, ETA 30 s"
    assert progress_line(5000, None, 10.0) == "5000/? items in 10 s, 500 items/s"


def test_a_split_export_deals_every_data_file_to_exactly_one_task():
    files = [f"data/{n}.json.gz" for n in range(7)]
    verified = VerifiedBackup(data_files=files)

    shares = split_restore(RestoreMethod.BATCH_WRITE, verified, 3)

    assert shares == [files[0::3], files[1::3], files[2::3]]
    assert sorted(name for share in shares for name in share) == sorted(files)
    assert split_restore(RestoreMethod.BATCH_WRITE, verified, 10) == [[name] for name in files]  # no empty task


@pytest.mark.parametrize(
    ("method", "verified", "tasks"),
    [
        pytest.param("batch_write", VerifiedBackup(data_files=("a", "b")), 1, id="one-task-asked"),
        pytest.param("batch_write", VerifiedBackup(data_files=("a",)), 4, id="one-data-file"),
        pytest.param("batch_write", VerifiedBackup(etag="e"), 4, id="json-is-one-object"),
        pytest.param("import_table", VerifiedBackup(data_files=("a", "b")), 4, id="server-side"),
    ],
)
def test_what_cannot_be_split_is_restored_whole_by_one_task(method, verified, tasks):
    assert split_restore(RestoreMethod(method), verified, tasks) == [None]


def test_the_shares_a_restore_task_is_mapped_over_deal_every_data_file_once():
    files = [f"data/{n:02d}.json.gz" for n in range(64)]

    shares = restore_shares(RestoreMethod.BATCH_WRITE, VerifiedBackup(data_files=files), 16)

    assert [share["part"] for share in shares] == list(range(1, 17))
    assert {share["of"] for share in shares} == {16}
    assert all(len(share["data_files"]) == 4 for share in shares)
    assert sorted(name for share in shares for name in share["data_files"]) == files


@pytest.mark.parametrize(
    ("method", "verified"),
    [
        pytest.param("import_table", VerifiedBackup(data_files=tuple(f"d{n}" for n in range(64))), id="server-side"),
        pytest.param("restore_from_backup", None, id="native-backup"),
        pytest.param("batch_write", VerifiedBackup(data_files=("only",)), id="one-data-file"),
        pytest.param("batch_write", VerifiedBackup(etag="e"), id="json-is-one-object"),
    ],
)
def test_what_cannot_be_split_is_one_share_of_the_whole_backup(method, verified):
    assert restore_shares(RestoreMethod(method), verified, 16) == [{"part": 1, "of": 1, "data_files": None}]


def test_a_restore_in_one_part_is_that_part_unchanged():
    part = RestoreResult(items_read=3, items_restored=3, method="restore_from_backup", started_at="s", finished_at="f")

    assert combine_restore_results([part]) == part


def _digest(items):
    digest = BucketedDigest(key_names=("pk",))
    for item in items:
        digest.add(to_typed_item(item))
    return digest


def test_combined_split_restore_adds_counts_and_merges_digests():
    items = [{"pk": f"k{n}", "v": n} for n in range(10)]
    parts = [
        {
            "items_read": 6,
            "items_restored": 6,
            "items_failed": 0,
            "duplicate_keys": 1,
            "retries": 2,
            "throttled_requests": 1,
            "rejected_keys": [],
            "rejection_reasons": {},
            "workers": 8,
            "method": "batch_write",
            "started_at": "2026-11-26T02:00:05+00:00",
            "finished_at": "2026-11-26T02:00:30+00:00",
            "backup_digest": _digest(items[:6]).to_dict(),
        },
        {
            "items_read": 4,
            "items_restored": 3,
            "items_failed": 1,
            "duplicate_keys": 0,
            "retries": 0,
            "throttled_requests": 0,
            "rejected_keys": ["abc"],
            "rejection_reasons": {"too big": 1},
            "workers": 8,
            "method": "batch_write",
            "started_at": "2026-11-26T02:00:01+00:00",
            "finished_at": "2026-11-26T02:00:20+00:00",
            "backup_digest": _digest(items[6:]).to_dict(),
        },
    ]

    combined = combine_restore_results([RestoreResult.from_xcom(part) for part in parts]).to_xcom()

    assert combined["items_restored"] == 9 and combined["items_failed"] == 1 and combined["duplicate_keys"] == 1
    assert combined["rejected_keys"] == ["abc"] and combined["rejection_reasons"] == {"too big": 1}
    assert combined["started_at"] == "2026-11-26T02:00:01+00:00"
    assert combined["finished_at"] == "2026-11-26T02:00:30+00:00"
    assert combined["workers"] == 16 and combined["parts"] == 2
    assert combined["backup_digest"] == _digest(items).to_dict()


@pytest.mark.parametrize(
    ("reported", "combined"),
    [
        pytest.param((25.0, 12.5, 40.0), 77.5, id="every-part-reported"),
        pytest.param((25.0, None, 40.0), 65.0, id="a-part-without-answers-that-reported"),
        pytest.param((None, None, None), None, id="none-reported"),
    ],
)
def test_the_parts_consumed_write_units_add_up_and_stay_null_when_none_were_reported(reported, combined):
    parts = [
        RestoreResult(method="batch_write", started_at="s", finished_at="f", consumed_write_units=units)
        for units in reported
    ]
    assert combine_restore_results(parts).consumed_write_units == combined
