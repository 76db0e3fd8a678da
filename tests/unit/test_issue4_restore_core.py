"""Issue 4's pure logic: scratch names and schemas, the restore method, progress, split restores, evidence."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from dr_drill.aws.sources import adapter_class
from dr_drill.constants import RestoreMethod
from dr_drill.contracts import RestoreResult, VerifiedBackup
from dr_drill.core.evidence.record import build_evidence, validate_evidence
from dr_drill.core.items.canonical import to_typed_item
from dr_drill.core.items.digest import BucketedDigest
from dr_drill.core.plan.drill_plan import Settings, resolve_drill_specs
from dr_drill.core.restore.parts import (
    combine_restore_results,
    progress_line,
    split_restore,
)
from dr_drill.core.restore.scratch import (
    definition_from_plan_key_schema,
    index_names,
    is_stale_scratch,
    scratch_table_definition,
    scratch_table_name,
    scratch_tags,
)
from dr_drill.errors import InvalidDrillRequest
from tests.unit.test_evidence_and_notification import SPEC as EVIDENCE_SPEC

SOURCE_DESCRIPTION = {
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    "AttributeDefinitions": [
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "sk", "AttributeType": "N"},
        {"AttributeName": "status", "AttributeType": "S"},
        {"AttributeName": "placed", "AttributeType": "S"},
    ],
    "GlobalSecondaryIndexes": [
        {
            "IndexName": "by-status",
            "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["total"]},
            "ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5},
            "IndexStatus": "ACTIVE",
            "ItemCount": 3,
        }
    ],
    "LocalSecondaryIndexes": [
        {
            "IndexName": "by-placed",
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "placed", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "ALL"},
            "IndexSizeBytes": 10,
        }
    ],
}


def test_scratch_definition_copies_indexes_without_throughput_or_status():
    definition = scratch_table_definition(SOURCE_DESCRIPTION)

    assert definition["GlobalSecondaryIndexes"] == [
        {
            "IndexName": "by-status",
            "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["total"]},
        }
    ]
    assert definition["LocalSecondaryIndexes"][0]["IndexName"] == "by-placed"
    assert len(definition["AttributeDefinitions"]) == 4
    assert index_names(definition) == ["by-status", "by-placed"]


def test_leaving_indexes_out_also_drops_their_attribute_definitions():
    definition = scratch_table_definition(SOURCE_DESCRIPTION, include_indexes=False)

    assert set(definition) == {"KeySchema", "AttributeDefinitions"}
    assert [a["AttributeName"] for a in definition["AttributeDefinitions"]] == ["pk", "sk"]


def test_plan_key_schema_gives_partition_then_sort_key():
    definition = definition_from_plan_key_schema([{"name": "id", "type": "S"}, {"name": "at", "type": "N"}])

    assert definition["KeySchema"] == [
        {"AttributeName": "id", "KeyType": "HASH"},
        {"AttributeName": "at", "KeyType": "RANGE"},
    ]


@pytest.mark.parametrize(
    ("table", "run_id"),
    [
        pytest.param("a" * 255, "manual__2026-11-26T20:16:57.290203+00:00", id="longest-table-name"),
        pytest.param("orders", "x" * 500, id="very-long-run-id"),
        pytest.param("orders", "::::", id="run-id-of-only-bad-characters"),
    ],
)
def test_scratch_names_stay_within_dynamodb_rules(table, run_id):
    name = scratch_table_name(table, run_id, "drill-")

    assert len(name) <= 255 and re.fullmatch(r"[a-zA-Z0-9_.-]{3,255}", name)
    assert name.startswith("drill-")
    assert name != scratch_table_name(table, run_id + "-retry", "drill-")
    assert name == scratch_table_name(table, run_id, "drill-")


def test_only_old_tables_with_prefix_and_scratch_tag_are_stale():
    now = datetime(2026, 11, 26, tzinfo=UTC)
    old = now - timedelta(hours=30)
    tags = {tag["Key"]: tag["Value"] for tag in scratch_tags("orders", "run-1")}
    day = timedelta(hours=24)

    assert is_stale_scratch("drill-orders-x", tags, old, prefix="drill-", now=now, max_age=day)
    assert not is_stale_scratch("drill-orders-x", tags, now - timedelta(hours=1), prefix="drill-", now=now, max_age=day)
    assert not is_stale_scratch("orders", tags, old, prefix="drill-", now=now, max_age=day)
    assert not is_stale_scratch("drill-orders-x", {}, old, prefix="drill-", now=now, max_age=day)


@pytest.mark.parametrize(
    ("source", "import_table", "method"),
    [
        pytest.param("s3_json", True, "batch_write", id="json-always-streamed"),
        pytest.param("s3_export", False, "batch_write", id="export-streamed"),
        pytest.param("s3_export", True, "import_table", id="export-imported"),
        pytest.param("native_backup", False, "restore_from_backup", id="native"),
        pytest.param("pitr", False, "restore_to_point_in_time", id="pitr"),
    ],
)
def test_restore_method_follows_the_source_and_the_plan(source, import_table, method):
    spec = resolve_drill_specs(
        plan={"tables": {"t-1": {"backup_source": source, "import_table": import_table, "backup_bucket": "bkt"}}},
        conf={},
        settings=Settings(backup_bucket=None, evidence_bucket="ev", success_topic_arn=None, failure_topic_arn=None),
        dag_id="d",
        run_id="r",
        started_at=datetime(2026, 11, 26, tzinfo=UTC),
    )[0]
    assert adapter_class(spec.backup_source).restore_method(spec) == method


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


SPEC = {**EVIDENCE_SPEC, "keep_scratch_table": False}


def test_evidence_carries_restore_engine_and_scratch_table_figures():
    restored = {
        "items_restored": 1000,
        "items_failed": 2,
        "started_at": "2026-11-26T02:00:00+00:00",
        "writes_started_at": "2026-11-26T02:00:05+00:00",
        "finished_at": "2026-11-26T02:00:15+00:00",
        "method": "batch_write",
        "workers": 16,
        "retries": 3,
        "throttled_requests": 2,
        "duplicate_keys": 1,
        "rejected_keys": [f"h{n}" for n in range(25)],
    }
    record = build_evidence(
        SPEC,
        located=None,
        verified=None,
        restored=restored,
        validated=None,
        scratch_deleted=True,
        failure={"step": "restore", "reason": "2 items rejected"},
        generated_at=datetime(2026, 11, 26, 2, 1, tzinfo=UTC),
        created={
            "name": SPEC["scratch_table"],
            "method": "batch_write",
            "started_at": "2026-11-26T02:00:00+00:00",
            "created_at": "2026-11-26T02:00:04+00:00",
            "indexes": ["by-status"],
        },
        dropped={"deleted": True, "kept": False, "deleted_at": "2026-11-26T02:00:50+00:00", "indexes": ["by-status"]},
    )

    validate_evidence(record)
    block = record["restore"]
    assert (block["method"], block["workers"], block["retries"], block["throttled_requests"]) == (
        "batch_write",
        16,
        3,
        2,
    )
    assert block["duplicate_keys"] == 1 and len(block["rejected_items"]) == 20
    assert block["items_per_second"] == 100.0  # 1000 items over the 10 s of writes
    assert record["scratch_table"] == {
        "name": SPEC["scratch_table"],
        "deleted": True,
        "created_at": "2026-11-26T02:00:04+00:00",
        "deleted_at": "2026-11-26T02:00:50+00:00",
        "kept": False,
        "indexes": ["by-status"],
    }


def test_evidence_says_when_the_scratch_table_was_kept():
    record = build_evidence(
        {**SPEC, "keep_scratch_table": True},
        located=None,
        verified=None,
        restored=None,
        validated=None,
        scratch_deleted=False,
        failure={"step": "locate", "reason": "no backup"},
        generated_at=datetime(2026, 11, 26, 2, 1, tzinfo=UTC),
        dropped={"deleted": False, "kept": True, "indexes": []},
    )

    validate_evidence(record)
    assert record["scratch_table"]["kept"] is True and record["scratch_table"]["deleted_at"] is None
    assert record["restore"]["method"] is None


def _resolve(plan, restore_task_slots=None):
    return resolve_drill_specs(
        plan=plan,
        conf={},
        settings=Settings(backup_bucket="b", evidence_bucket="e", success_topic_arn=None, failure_topic_arn=None),
        dag_id="d",
        run_id="r",
        started_at=datetime(2026, 11, 26, tzinfo=UTC),
        restore_task_slots=restore_task_slots,
    )


def test_plan_restore_keys_reach_the_spec():
    plan = {
        "defaults": {"restore_workers": 32},
        "tables": {"gone": {"key_schema": [{"name": "id", "type": "S"}], "include_indexes": False}},
    }

    (spec,) = _resolve(plan)

    assert spec.key_schema == [{"name": "id", "type": "S"}]
    assert (spec.include_indexes, spec.restore_workers, spec.import_table) == (False, 32, False)


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        pytest.param({"key_schema": [{"name": "id", "type": "X"}]}, "key_schema", id="bad-key-type"),
        pytest.param({"key_schema": [{"name": "a", "type": "S"}] * 3}, "key_schema", id="three-keys"),
        pytest.param({"restore_workers": 0}, "restore_workers", id="no-workers"),
        pytest.param({"restore_tasks": 0}, "restore_tasks", id="no-restore-tasks"),
    ],
)
def test_bad_restore_keys_are_refused_with_the_field_named(entry, field):
    with pytest.raises(InvalidDrillRequest, match=field):
        _resolve({"tables": {"orders": entry}})


def test_a_plan_asking_more_restore_tasks_than_the_dag_has_is_refused():
    plan = {"tables": {"orders": {"backup_source": "s3_export", "restore_tasks": 6}}}

    with pytest.raises(InvalidDrillRequest, match="restore_tasks 6 is more than the DAG's 4 restore tasks"):
        _resolve(plan, restore_task_slots=4)
    assert _resolve(plan, restore_task_slots=8)[0].restore_tasks == 6
