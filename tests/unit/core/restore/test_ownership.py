"""The owner tag: only the holder of the ownership secret can make a table pass for a drill's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dr_drill.core.restore.ownership import (
    CREATED_TAG,
    DAG_ID_TAG,
    KEPT_TAG,
    OWNER_TAG,
    OwnershipKey,
    ownership_tags,
    proven_owner,
    scratch_owner,
    sweep_reason,
)
from dr_drill.core.restore.scratch import RUN_ID_TAG, SCRATCH_TAG, SOURCE_TAG, scratch_tags

KEY = OwnershipKey("unit-test-ownership-secret-0123456789abcdef")
CREATED = datetime(2026, 11, 26, 2, 0, 7, tzinfo=UTC)
NAME = "drill-orders-scheduled__2026-11-26T02-00-00-00-00-0123456789"
RUN = "scheduled__2026-11-26T02:00:00+00:00"


def _owner(name=NAME, run_id=RUN, kept=False):
    return scratch_owner(
        name, source_table="orders", dag_id="dynamodb_restore_drill", run_id=run_id, created_at=CREATED, kept=kept
    )


def _tags(owner=None, key=KEY):
    return {tag["Key"]: tag["Value"] for tag in ownership_tags(key, owner or _owner())}


def _edited(**changes):
    return {**_tags(), **changes}


def test_the_drills_own_tags_prove_its_table_and_say_who_made_it():
    owner = proven_owner(NAME, _tags(), CREATED + timedelta(seconds=2), KEY, prefix="drill-")

    assert owner is not None
    assert (owner.run_id, owner.dag_id, owner.source_table, owner.kept) == (
        RUN,
        "dynamodb_restore_drill",
        "orders",
        False,
    )


@pytest.mark.parametrize(
    ("name", "tags"),
    [
        pytest.param(NAME, {SCRATCH_TAG: "true"}, id="scratch-tag-only"),
        pytest.param(NAME, {t["Key"]: t["Value"] for t in scratch_tags("orders", RUN)}, id="made-up-run-and-source"),
        pytest.param(NAME, _edited(**{OWNER_TAG: "v1:" + "0" * 64}), id="made-up-owner-tag"),
        pytest.param(NAME, _tags(key=OwnershipKey("another-deployments-secret-0123456789abcdef")), id="another-key"),
        pytest.param(NAME + "-copy", _tags(), id="valid-tags-on-another-name"),
        pytest.param("drill-orders", _tags(), id="valid-tags-on-a-prefix-matching-name"),
        pytest.param("orders", _tags(_owner(name="orders")), id="signed-but-without-the-prefix"),
        pytest.param(NAME, _edited(**{RUN_ID_TAG: "manual__someone-elses-run"}), id="run-id-edited"),
        pytest.param(NAME, _edited(**{SOURCE_TAG: "payments"}), id="source-edited"),
        pytest.param(NAME, _edited(**{DAG_ID_TAG: "another_dag"}), id="dag-id-edited"),
        pytest.param(NAME, _edited(**{KEPT_TAG: "true"}), id="kept-flag-flipped"),
        pytest.param(NAME, _edited(**{CREATED_TAG: "2026-11-26T02:00:08+00:00"}), id="creation-time-edited"),
        pytest.param(NAME, _edited(**{SCRATCH_TAG: "false"}), id="scratch-tag-false"),
        pytest.param(NAME, {k: v for k, v in _tags().items() if k != KEPT_TAG}, id="a-claim-untagged"),
        pytest.param(NAME, _edited(**{OWNER_TAG: _tags()[OWNER_TAG].upper()}), id="owner-tag-case-changed"),
    ],
)
def test_no_forged_or_edited_tags_prove_a_table_is_the_drills(name, tags):
    assert proven_owner(name, tags, CREATED, KEY, prefix="drill-") is None


@pytest.mark.parametrize(
    "table_created",
    [
        pytest.param(CREATED + timedelta(minutes=11), id="recreated-later-under-the-name"),
        pytest.param(CREATED - timedelta(minutes=11), id="created-before-the-tagged-time"),
        pytest.param(CREATED + timedelta(days=3), id="tags-copied-days-later"),
    ],
)
def test_valid_tags_copied_onto_a_table_created_at_another_time_prove_nothing(table_created):
    assert proven_owner(NAME, _tags(), table_created, KEY, prefix="drill-") is None


def test_the_secret_must_be_long_enough_and_never_prints():
    with pytest.raises(ValueError, match="needs at least 32 random bytes"):
        OwnershipKey("short")
    secret = "a-secret-that-must-not-show-in-logs-0123456789"
    assert secret not in repr(OwnershipKey(secret))


NOW = datetime(2026, 11, 27, 2, tzinfo=UTC)
DAY = timedelta(hours=24)


@pytest.mark.parametrize(
    ("state", "kept", "age", "deleted"),
    [
        pytest.param("success", False, timedelta(minutes=5), True, id="young-of-a-passed-run"),
        pytest.param("failed", False, timedelta(minutes=5), True, id="young-of-a-failed-run"),
        pytest.param("running", False, timedelta(minutes=5), False, id="young-of-a-running-run"),
        pytest.param("queued", False, timedelta(minutes=5), False, id="young-of-a-queued-run"),
        pytest.param(None, False, timedelta(minutes=5), False, id="young-of-a-run-airflow-has-no-record-of"),
        pytest.param("success", True, timedelta(minutes=5), False, id="young-kept-on-purpose"),
        pytest.param(None, False, timedelta(hours=25), True, id="old-of-an-unknown-run"),
        pytest.param("running", False, timedelta(hours=25), True, id="old-of-a-running-run"),
        pytest.param("success", True, timedelta(hours=25), True, id="old-kept"),
    ],
)
def test_orphans_of_finished_runs_go_at_once_and_the_rest_by_age(state, kept, age, deleted):
    reason = sweep_reason(_owner(kept=kept), NOW - age, now=NOW, max_age=DAY, run_state=state)

    assert (reason is not None) is deleted
    if deleted and age < DAY:
        assert f"run {RUN} of dynamodb_restore_drill is over ({state})" in reason
