"""Pure parts of the restore proofs: sample, localisation, fidelity, rules, plan keys, evidence and rate."""

from __future__ import annotations

import random

import pytest

from dr_drill.core.evidence.notification import validation_rate
from dr_drill.core.evidence.record import _validation_block, validate_evidence
from dr_drill.core.items.digest import BucketedDigest, ContentDigest, digesting, key_hash
from dr_drill.core.plan.drill_plan import Settings, resolve_drill_specs
from dr_drill.core.validate.fidelity import FidelityReport, drifted_attributes
from dr_drill.core.validate.localisation import BucketEntries, buckets_to_examine, localise
from dr_drill.core.validate.rules import ProbeKey, ValidationRules, user_check_result
from dr_drill.core.validate.sampling import SeededSample, sample_seed_for
from dr_drill.errors import InvalidDrillRequest
from tests.unit.test_evidence_and_notification import _record

KEY = ("id",)


def _items(count: int) -> list[dict]:
    return [{"id": {"S": f"k{i}"}, "v": {"N": str(i)}} for i in range(count)]


def test_the_sample_is_the_same_whatever_the_order_or_the_split():
    items = _items(1000)
    whole = SeededSample(20, 99, KEY)
    for item in items:
        whole.offer(item)
    shuffled = items[:]
    random.Random(3).shuffle(shuffled)
    left, right = SeededSample(20, 99, KEY), SeededSample(20, 99, KEY)
    for number, item in enumerate(shuffled):
        (left if number % 3 else right).offer(item)
    assert left.merge(right).items() == whole.items()
    assert len(whole) == 20
    other = SeededSample(20, 100, KEY)
    for item in items:
        other.offer(item)
    assert {k for k, _ in other.items()} != {k for k, _ in whole.items()}
    assert sample_seed_for("drill-a") == sample_seed_for("drill-a") != sample_seed_for("drill-b")


def test_a_later_item_of_a_sampled_key_replaces_it_and_size_zero_samples_nothing():
    sample = SeededSample(5, 1, KEY)
    for item in _items(5):
        sample.offer(item)
    sample.offer({"id": {"S": "k2"}, "v": {"N": "-1"}})
    assert len(sample) == 5 and {"id": {"S": "k2"}, "v": {"N": "-1"}} in [item for _, item in sample.items()]
    empty = SeededSample(0, 1, KEY)
    empty.offer(_items(1)[0])
    assert len(empty) == 0


def _entries(shape, buckets, items):
    entries = BucketEntries(shape, frozenset(buckets))
    for item in items:
        entries.offer(item)
    return entries


def test_localisation_counts_missing_extra_different_in_the_differing_buckets_only():
    backup = _items(2000)
    restored = [dict(item) for item in backup]
    restored[10] = {"id": {"S": "k10"}, "v": {"N": "-10"}}
    del restored[20]
    restored.append({"id": {"S": "new"}, "v": {"N": "0"}})
    expected, actual = BucketedDigest(KEY), BucketedDigest(KEY)
    assert list(digesting(backup, expected)) == backup  # items pass through unchanged while digested
    for item in restored:
        actual.add(item)
    differing, examined = buckets_to_examine(expected, actual)
    assert differing == examined and 1 <= len(differing) <= 3
    result = localise(_entries(expected, examined, backup), _entries(expected, examined, restored), len(differing))
    assert (result.missing, result.extra, result.different, result.complete) == (1, 1, 1, True)
    assert result.first_different == [key_hash(backup[10], KEY).hex()[:16]]


def test_localisation_within_a_small_budget_says_its_counts_are_lower_bounds():
    backup = _items(2000)
    restored = [dict(item, v={"N": "0"}) for item in backup]  # every item differs
    expected, actual = BucketedDigest(KEY), BucketedDigest(KEY)
    for item in backup:
        expected.add(item)
    for item in restored:
        actual.add(item)
    differing, examined = buckets_to_examine(expected, actual, entry_budget=100)
    assert len(differing) == 256 and 1 <= len(examined) < 256
    result = localise(_entries(expected, examined, backup), _entries(expected, examined, restored), len(differing))
    assert result.complete is False and 0 < result.different < 2000
    assert result.to_dict()["localisation_complete"] is False


def test_duplicate_keys_are_counted_on_the_backup_side():
    shape = BucketedDigest(KEY)
    items = _items(3)
    entries = _entries(shape, range(256), [*items, items[1]])
    assert entries.duplicate_keys == 1 and len(entries.entries) == 3


@pytest.mark.parametrize(
    ("restored", "source", "drift"),
    [
        pytest.param({"a": {"N": "1"}}, {"a": {"S": "1"}}, [("a", "N", "S")], id="number-became-text"),
        pytest.param({"a": {"N": "1"}}, {"a": {"N": "2"}}, [], id="value-changed-only"),
        pytest.param({"a": {"N": "1"}}, {"b": {"S": "x"}}, [], id="attribute-added-and-removed"),
        pytest.param(
            {"m": {"M": {"z": {"SS": ["a"]}}}}, {"m": {"M": {"z": {"L": []}}}}, [("m.z", "SS", "L")], id="nested"
        ),
    ],
)
def test_type_drift_is_a_type_change_not_a_value_change(restored, source, drift):
    assert drifted_attributes(restored, source) == drift


def test_fidelity_report_counts_drift_changes_and_deletions():
    report = FidelityReport()
    report.add({"id": {"S": "a"}, "n": {"N": "1"}}, {"id": {"S": "a"}, "n": {"S": "1"}})
    report.add({"id": {"S": "b"}, "n": {"N": "1"}}, {"id": {"S": "b"}, "n": {"N": "1.0"}})
    report.add({"id": {"S": "c"}}, None)
    assert report.to_dict() == {
        "items_compared": 2,
        "absent_from_source": 1,
        "changed_since_backup": 1,
        "drifted_items": 1,
        "attributes": [{"attribute": "n", "restored_type": "N", "source_type": "S", "items": 1}],
    }


def test_probe_keys_from_yaml_values_compare_canonically():
    probe = ProbeKey.from_plan({"key": {"id": "k1"}, "expect": {"price": 1.5, "tags": ["a"], "m": {"x": 10}}})
    found = {"id": {"S": "k1"}, "price": {"N": "1.50"}, "tags": {"L": [{"S": "a"}]}, "m": {"M": {"x": {"N": "1E+1"}}}}
    assert probe.check(0, found).passed
    assert not probe.check(0, dict(found, price={"N": "1.51"})).passed
    assert "k1" not in probe.check(0, None).detail


@pytest.mark.parametrize(
    ("returned", "passed"),
    [
        pytest.param((True, "fine"), True, id="tuple"),
        pytest.param(False, False, id="bool"),
        pytest.param("yes", False, id="wrong-shape"),
    ],
)
def test_user_check_results(returned, passed):
    assert user_check_result("m.f", returned).passed is passed


def test_rules_bound_the_count_and_need_attributes():
    rules = ValidationRules.from_spec({"min_items": 5, "max_items": 10, "required_attributes": ["a"]})
    assert [c.passed for c in rules.count_checks(4)] == [False, True]
    assert [c.passed for c in rules.count_checks(10)] == [True, True]
    assert [c.passed for c in rules.required_attribute_checks({"a": 2}, 10)] == [False]


SETTINGS = Settings(backup_bucket="b", evidence_bucket="e", success_topic_arn=None, failure_topic_arn=None)


def _resolve(plan, conf=None):
    from datetime import UTC, datetime

    return resolve_drill_specs(
        plan=plan,
        conf=conf or {},
        settings=SETTINGS,
        dag_id="d",
        run_id="r",
        started_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


def test_plan_validation_keys_reach_the_spec_and_the_conf_overrides_the_sample():
    plan = {"defaults": {"sample_size": 10}, "tables": {"app": {"min_items": 1, "user_check": "pkg.mod:check"}}}
    [spec] = _resolve(plan, {"sample_seed": 7})
    assert spec.validation["sample_size"] == 10 and spec.validation["min_items"] == 1
    assert spec.validation["sample_seed"] == 7 and spec.validation["fail_on_type_drift"] is False


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        pytest.param({"min_items": 5, "max_items": 4}, "min_items 5 is above max_items 4", id="bounds"),
        pytest.param({"user_check": "not a path"}, "field tables.app.user_check", id="user-check-path"),
        pytest.param({"probe_keys": [{"expect": {}}]}, "'key' is a required property", id="probe-without-key"),
        pytest.param({"sample_size": -1}, "field tables.app.sample_size", id="sample-size"),
    ],
)
def test_bad_validation_keys_are_named(entry, message):
    with pytest.raises(InvalidDrillRequest, match=message):
        _resolve({"tables": {"app": entry}})


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
    record = _record(validated=validated, failure={"step": "validate", "reason": "digest differs"})
    validate_evidence(record)
    assert record["validation"]["different_items"] == 2 and record["validation"]["type_drift"] is None
    assert validation_rate(record) == 80.0  # the count alone would say 100


def test_without_a_digest_the_rate_is_the_count_share_and_an_unfinished_validation_has_nulls():
    record = _record(validated={"passed": True, "expected_items": 10, "restored_items": 9, "finished_at": None})
    assert validation_rate(record) == 90.0
    block = _validation_block(None)
    assert block["passed"] is False and block["digest_match"] is None and block["proofs"] == []
    assert ContentDigest().to_dict()["count"] == 0
