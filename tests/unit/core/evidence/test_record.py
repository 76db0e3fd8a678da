"""Evidence records: the published schema, the objectives, each source's identity, the restore and validation blocks."""

from __future__ import annotations

import html
import json
from datetime import UTC, datetime

import jsonschema
import pytest

from dr_drill.core.evidence.history import index_entry
from dr_drill.core.evidence.notification import metric_data, notification_message, validation_rate
from dr_drill.core.evidence.record import _validation_block, build_evidence, plan_entry, sha256_of, validate_evidence
from dr_drill.core.items.digest import ContentDigest
from dr_drill.core.report.html import render_drill_report
from tests.records import (
    ADVISORY_SPEC,
    CREATED,
    DROPPED,
    LOCATED,
    NOW,
    RESTORED,
    RUN_CONTEXT,
    SPEC,
    VALIDATED,
    complete_drill_record,
    drill_record,
)

DRILL_START = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)


def test_a_proven_restore_that_misses_its_targets_fails_the_drill_with_measured_and_target_values():
    record = drill_record()
    validate_evidence(record)
    assert record["objectives"] == {
        "rto_target_seconds": 60,
        "rto_seconds": 70.0,
        "rto_met": False,  # restore start to validation end
        "rpo_target_seconds": 86400,
        "rpo_seconds": 88200.0,
        "rpo_met": False,  # drill start minus backup time
        "advisory": False,
    }
    assert record["status"] == "failed"
    assert record["failure"] == {
        "step": "objectives",
        "reason": "RTO target missed: restore and validation took 70.0 s, target 60 s; "
        "RPO target missed: the backup was 88200.0 s old at the drill's start, target 86400 s",
    }
    checks = {check["name"]: check for check in record["checks"]}
    assert checks["rpo_met"] == {"name": "rpo_met", "result": "failed", "detail": "88200.0 s, target 86400 s"}
    assert record["restore"]["duration_seconds"] == 30.0


def test_a_plan_can_make_the_targets_advisory_so_the_proofs_alone_decide():
    record = drill_record(ADVISORY_SPEC)
    validate_evidence(record)
    assert record["status"] == "passed" and record["failure"] is None
    assert record["objectives"]["rpo_met"] is False and record["objectives"]["advisory"] is True
    checks = {check["name"]: check for check in record["checks"]}
    assert checks["rto_met"]["detail"] == "70.0 s, target 60 s (advisory: does not decide the drill)"


def test_met_targets_pass_and_a_failed_step_is_never_replaced_by_the_objectives():
    generous = {**SPEC, "rto_target_seconds": 3600, "rpo_target_seconds": 93600}
    assert drill_record(generous)["status"] == "passed"
    failure = {"step": "restore", "reason": "3 items rejected", "error": "RestoreIncomplete"}
    record = drill_record(validated=None, failure=failure)
    assert record["failure"] == failure  # the first failed step, not the missed RPO


def test_a_drill_failed_at_verify_is_still_a_valid_record():
    failure = {"step": "verify", "reason": "checksum mismatch", "error": "BackupCorrupt"}
    record = drill_record(verified=None, restored=None, validated=None, failure=failure)
    validate_evidence(record)
    assert record["status"] == "failed" and record["failure"] == failure
    assert record["backup"]["checksum_verified"] is False
    assert record["objectives"]["rto_seconds"] is None and record["objectives"]["rto_met"] is None
    assert record["objectives"]["rpo_seconds"] == 88200.0  # from the name of the located backup


@pytest.mark.parametrize("step", ["create_scratch_table", "drop_scratch_table"])
def test_a_drill_failed_at_the_scratch_tables_setup_or_teardown_is_a_valid_record_naming_that_step(step):
    failure = {
        "step": step,
        "reason": "source table t does not exist and the drill plan gives no key_schema",
        "error": "RestoreIncomplete",
    }
    record = drill_record(restored=None, validated=None, scratch_deleted=False, failure=failure)
    validate_evidence(record)
    assert record["status"] == "failed" and record["failure"] == failure
    checks = {check["name"]: check["result"] for check in record["checks"]}
    assert checks["restore_complete"] == "not_run" and checks["scratch_table_deleted"] == "failed"


def test_a_record_that_breaks_the_schema_is_refused():
    record = drill_record()
    record["status"] = "ok"
    with pytest.raises(jsonschema.ValidationError):
        validate_evidence(record)


# --- the backup block: the newest that verifies, and each source's identity ---


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
        generated_at=DRILL_START,
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
        generated_at=DRILL_START,
    )
    validate_evidence(record)
    assert record["backup"][field] == value
    assert record["objectives"]["rpo_seconds"] == 26 * 3600


# --- the restore block and the scratch table ---


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
        "warm_throughput": None,
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


# --- a server-side restore is counted once, by validate's scan: the evidence, report, SNS and metrics say so ---

SERVER_SIDE = {**RESTORED, "method": "restore_from_backup", "items_restored": None, "items_read": None}


def _metrics(record: dict) -> dict:
    return {metric["MetricName"]: metric["Value"] for metric in metric_data(record, NOW)}


def test_validates_exact_count_fills_a_server_side_restores_count():
    record = drill_record(restored=SERVER_SIDE)
    validate_evidence(record)
    restore = record["restore"]
    assert restore["items_restored"] == VALIDATED["restored_items"] == 10
    assert restore["items_restored_counted_by"] == "validate"
    assert restore["items_per_second"] == pytest.approx(10 / 30, abs=0.05)
    assert _metrics(record)["ItemsRestored"] == 10
    assert json.loads(notification_message(record, "s3://b/k"))["items_restored_counted_by"] == "validate"
    assert "10 (counted by the validate step's scan)" in html.unescape(render_drill_report(record))
    [check] = [check for check in record["checks"] if check["name"] == "restore_complete"]
    assert check["result"] == "passed" and "counted by validate" in check["detail"]


def test_a_server_side_restore_validate_did_not_count_is_null_not_invented():
    failure = {"step": "validate", "reason": "task validate did not finish; see its log"}
    record = drill_record(restored=SERVER_SIDE, validated=None, failure=failure)
    validate_evidence(record)
    assert record["restore"]["items_restored"] is None
    assert record["restore"]["items_restored_counted_by"] is None
    assert record["restore"]["items_per_second"] is None
    assert "ItemsRestored" not in _metrics(record)
    assert json.loads(notification_message(record, "s3://b/k"))["items_restored"] is None
    assert "not counted" in render_drill_report(record)


def test_a_streamed_restore_keeps_its_own_count():
    record = drill_record(validated={**VALIDATED, "restored_items": 9, "passed": False})
    assert record["restore"]["items_restored"] == 10
    assert record["restore"]["items_restored_counted_by"] == "restore"


# --- the validation block and the rate of items proven ---


def test_evidence_carries_every_validation_field_and_the_rate_counts_items_proven():
    validated = {
        "passed": False,
        "expected_items": 10,
        "restored_items": 10,
        "finished_at": "2026-11-26T02:01:20+00:00",
        "content_digest_expected": "0" * 64,
        "content_digest_actual": "1" * 64,
        "digest_match": False,
        "missing_items": 0,
        "extra_items": 0,
        "different_items": 2,
        "localisation": {"first_different_keys": ["0123456789abcdef"], "localisation_complete": True},
        "items_proven": 8,
        "sample_seed": 5,
        "samples_checked": 3,
        "sample_mismatches": 1,
        "checks": [{"name": "min_items", "passed": True, "detail": "10 items, at least 1"}],
        "proofs": ["count", "digest", "localisation", "sample"],
        "proofs_skipped": {"fidelity": "the source table x does not exist"},
    }
    record = drill_record(validated=validated, failure={"step": "validate", "reason": "digest differs"})
    validate_evidence(record)
    assert record["validation"]["different_items"] == 2 and record["validation"]["type_drift"] is None
    assert validation_rate(record) == 80.0  # the count alone would say 100


def test_without_a_digest_the_rate_is_the_count_share_and_an_unfinished_validation_has_nulls():
    record = drill_record(validated={"passed": True, "expected_items": 10, "restored_items": 9, "finished_at": None})
    assert validation_rate(record) == 90.0
    block = _validation_block(None)
    assert block["passed"] is False and block["digest_match"] is None and block["proofs"] == []
    assert ContentDigest().to_dict()["count"] == 0


# --- who ran what, the scratch table's life, every check, and where the record is stored ---


def test_a_record_says_who_ran_what_with_which_plan_entry_and_software():
    record = complete_drill_record()
    validate_evidence(record)
    assert record["run"] == RUN_CONTEXT
    assert record["plan_entry"] == plan_entry(SPEC)
    assert record["plan_entry"]["batch_size"] == 25 and record["plan_entry"]["rto_target_seconds"] == 60
    assert record["plan_entry_sha256"] == sha256_of(record["plan_entry"])
    assert set(record["software"]) >= {"dr_drill", "apache-airflow", "apache-airflow-providers-amazon", "boto3"}
    assert all(record["software"][name] for name in ("dr_drill", "apache-airflow", "boto3"))
    assert record["backup_identity"] == {
        "bucket": "b",
        "key": "dynamodb-backups/x.json",
        "etag": '"abc"',
        "size_bytes": 1234,
    }


def test_a_record_of_a_table_run_names_that_run_beside_the_run_that_asked_for_it():
    table_run = {"table_dag_id": "dynamodb_restore_drill_table", "table_run_id": "app-users__manual__x"}
    record = complete_drill_record(run={**RUN_CONTEXT, **table_run})
    validate_evidence(record)
    assert record["run"] == {**RUN_CONTEXT, **table_run}
    assert {key: index_entry(record)[key] for key in table_run} == table_run
    assert (index_entry(record)["dag_id"], index_entry(record)["run_id"]) == (record["dag_id"], record["run_id"])

    alone = complete_drill_record()  # a run that did the drill itself names no other
    assert not set(table_run) & set(alone["run"])
    assert (index_entry(alone)["table_dag_id"], index_entry(alone)["table_run_id"]) == (None, None)


def test_a_record_keeps_the_scratch_table_life_and_every_check():
    record = complete_drill_record()
    timeline = record["timeline"]
    assert timeline["scratch_created_at"] == CREATED["created_at"]
    assert timeline["scratch_deleted_at"] == DROPPED["deleted_at"] and timeline["scratch_kept"] is False
    assert timeline["validation_finished_at"] == VALIDATED["finished_at"]
    checks = {c["name"]: c["result"] for c in record["checks"]}
    assert checks == {
        "backup_located": "passed",
        "backup_checksum": "passed",
        "restore_complete": "passed",
        "item_count": "passed",
        "content_digest": "passed",  # reported by the validate step itself
        "scratch_table_deleted": "passed",
        "rto_met": "failed",  # 70 s against a 60 s target
        "rpo_met": "failed",
    }


def test_a_failed_drill_leaves_the_later_checks_not_run_and_the_run_type_from_the_run_id():
    failure = {"step": "verify", "reason": "checksum mismatch", "error": "BackupCorrupt"}
    record = build_evidence(
        SPEC,
        located=LOCATED,
        verified=None,
        restored=None,
        validated=None,
        scratch_deleted=True,
        failure=failure,
        generated_at=NOW,
    )
    validate_evidence(record)
    checks = {c["name"]: c["result"] for c in record["checks"]}
    assert checks["backup_located"] == "passed" and checks["backup_checksum"] == "failed"
    assert checks["restore_complete"] == "not_run" and checks["item_count"] == "not_run"
    assert record["run"]["run_type"] == "scheduled"  # from scheduled__... when Airflow did not say
    assert record["storage"] is None and record["evidence_sequence"] == 1


@pytest.mark.parametrize(
    "error",
    [
        pytest.param("TransferInterrupted", id="read-cut-off"),
        pytest.param("BackupNotFound", id="gone-or-denied"),
        pytest.param(None, id="task-died"),
    ],
)
def test_a_backup_verify_could_not_read_is_not_said_to_fail_its_checksum(error):
    failure = {"step": "verify", "reason": "s3://b/k: the transfer broke off 10 times", "error": error}
    record = drill_record(verified=None, restored=None, validated=None, failure=failure)
    validate_evidence(record)
    checks = {c["name"]: c["result"] for c in record["checks"]}
    assert record["failure"] == failure and checks["backup_checksum"] == "not_run"


@pytest.mark.parametrize("mode", ["COMPLIANCE", "GOVERNANCE"])
def test_storage_of_a_locked_record_is_described_in_the_schema(mode):
    storage = {
        "bucket": "evidence",
        "key": "k.json",
        "report_key": "k.html",
        "object_lock": True,
        "retention_mode": mode,
        "retain_until": "2028-01-01T00:00:00+00:00",
    }
    validate_evidence(complete_drill_record(storage=storage))


def test_a_drill_that_found_no_backup_made_no_checksum_check():
    record = build_evidence(
        SPEC,
        located=None,
        verified=None,
        restored=None,
        validated=None,
        scratch_deleted=True,
        failure={"step": "locate", "reason": "no backup of table app-users"},
        generated_at=NOW,
    )
    checks = {c["name"]: c["result"] for c in record["checks"]}
    assert checks["backup_located"] == "failed" and checks["backup_checksum"] == "not_run"
    assert record["backup_identity"] == {}
