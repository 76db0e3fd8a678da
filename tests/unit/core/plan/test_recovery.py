"""The recovery block of the plan, the sides the sweep covers, and the copy lag."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dr_drill.core.plan.drill_plan import Settings, resolve_drill_specs
from dr_drill.core.plan.recovery import RecoveryConnection, copy_lag, recovery_side, sweep_sides
from dr_drill.core.plan.selection import Candidate
from dr_drill.errors import InvalidDrillRequest

NIGHT = datetime(2026, 11, 30, 1, 30, tzinfo=UTC)
WEST = {"region": "us-west-2", "aws_conn_id": "aws_recovery"}


def _backup(key: str, days_ago: int) -> Candidate:
    return Candidate(location=f"s3://b/{key}", taken_at=NIGHT - timedelta(days=days_ago), ref={"key": key})


def _by_key(candidate: Candidate) -> str:
    return candidate.ref["key"]


@pytest.mark.parametrize(
    ("source", "block", "refused"),
    [
        pytest.param("pitr", {**WEST}, "point-in-time recovery never crosses accounts", id="pitr-does-not-cross"),
        pytest.param("s3_json", {**WEST}, "recovery.backup_bucket is needed", id="s3-needs-the-replica"),
        pytest.param(
            "native_backup", {**WEST, "backup_vault": "dr-vault"}, "recovery.restore_role_arn", id="native-needs-role"
        ),
        pytest.param(
            "s3_export",
            {**WEST, "backup_bucket": "replica", "backup_vault": "v1"},
            "backup_vault does not apply",
            id="vault-is-not-s3",
        ),
    ],
)
def test_a_recovery_block_its_source_cannot_use_is_refused_naming_the_key(source, block, refused):
    with pytest.raises(InvalidDrillRequest, match=refused):
        recovery_side("ledger", source, block)


def test_a_recovery_block_gets_the_default_copy_lag_target_and_none_means_no_recovery_side():
    assert recovery_side("ledger", "s3_json", None) is None
    side = recovery_side("ledger", "s3_json", {**WEST, "backup_bucket": "replica"})
    assert side == {**WEST, "backup_bucket": "replica", "copy_lag_target_seconds": 26 * 3600}


def test_the_sweep_covers_the_default_side_and_each_recovery_side_once():
    default = RecoveryConnection("aws_default", None)
    tables = [{}, {"recovery": WEST}, {"recovery": {**WEST, "backup_bucket": "other"}}, {"recovery": None}]
    assert sweep_sides(tables, default) == [default, RecoveryConnection("aws_recovery", "us-west-2")]


def test_a_copy_as_new_as_the_source_has_no_lag():
    lag = copy_lag([_backup("a", 1), _backup("b", 0)], [_backup("b", 0), _backup("a", 1)], _by_key)
    assert (lag.lag_seconds, lag.uncopied) == (0, None)


def test_a_missing_copy_of_the_newest_backup_is_the_lag_and_is_named():
    lag = copy_lag([_backup("a", 2), _backup("b", 1), _backup("c", 0)], [_backup("a", 2)], _by_key)
    assert lag.lag_seconds == 2 * 86400
    assert lag.uncopied.location == "s3://b/c" and lag.newest_copy.location == "s3://b/a"


def test_no_copy_at_all_names_the_newest_source_backup_and_measures_nothing():
    lag = copy_lag([_backup("a", 1), _backup("b", 0)], [], _by_key)
    assert (lag.lag_seconds, lag.uncopied.location) == (None, "s3://b/b")


def test_copies_with_names_of_their_own_compare_by_time():
    copies = [Candidate(location="arn:aws:backup:rp/1", taken_at=NIGHT - timedelta(hours=30))]
    lag = copy_lag([_backup("a", 1), _backup("b", 0)], copies, lambda candidate: None)
    assert lag.lag_seconds == 30 * 3600 and lag.uncopied.location == "s3://b/b"


def test_a_trigger_asking_for_a_recovery_side_pitr_cannot_have_is_refused_naming_the_field():
    settings = Settings(backup_bucket="b", evidence_bucket="e", success_topic_arn=None, failure_topic_arn=None)
    with pytest.raises(InvalidDrillRequest) as refused:
        resolve_drill_specs(
            plan={"tables": {"ledger": {"backup_source": "pitr"}}},
            conf={"table_name": "ledger", "recovery": WEST},
            settings=settings,
            dag_id="d",
            run_id="r",
            started_at=datetime(2026, 12, 1, tzinfo=UTC),
        )
    assert refused.value.details == {"field": "recovery"} and "pitr" in refused.value.reason
