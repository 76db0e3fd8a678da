"""The plan's rules: probe keys compared canonically, user check results, count bounds and required attributes."""

from __future__ import annotations

import pytest

from dr_drill.core.validate.rules import (
    ProbeKey,
    ValidationRules,
    scan_segments_for,
    scan_sized_from,
    user_check_result,
)


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


@pytest.mark.parametrize(
    ("size_bytes", "cap", "segments"),
    [
        pytest.param(None, 64, 4, id="unknown-size"),
        pytest.param(100_322, 64, 4, id="small-table"),
        pytest.param(30 * 2**30, 64, 15, id="30-GB-one-per-2-GB"),
        pytest.param(100 * 10**9, 64, 47, id="100-million-1-KB-items"),
        pytest.param(10**12, 64, 64, id="capped"),
        pytest.param(10**12, 2, 2, id="cap-below-the-floor"),
    ],
)
def test_scan_segments_are_sized_from_the_table_one_per_2_gb_within_the_cap(size_bytes, cap, segments):
    assert scan_segments_for(size_bytes, cap) == segments
    assert ValidationRules(max_scan_segments=cap).segments_for(size_bytes) == segments


def test_scan_segments_the_plan_fixes_are_used_whatever_the_size():
    assert ValidationRules(scan_segments=3, max_scan_segments=64).segments_for(10**12) == 3
    assert ValidationRules.from_spec({"scan_segments": 8}).segments_for(None) == 8
    assert ValidationRules.from_spec(None).segments_for(None) == 4


@pytest.mark.parametrize(
    ("table_bytes", "backup_bytes", "expected"),
    [
        pytest.param(0, 100_322, {"size_bytes": 100_322, "size_basis": "backup"}, id="new-table-shows-0"),
        pytest.param(5 * 10**9, 10**9, {"size_bytes": 5 * 10**9, "size_basis": "scratch_table"}, id="table-larger"),
        pytest.param(None, None, {"size_bytes": None, "size_basis": None}, id="nothing-known"),
    ],
)
def test_the_scan_is_sized_from_the_larger_of_the_tables_and_the_backups_size(table_bytes, backup_bytes, expected):
    assert scan_sized_from(table_bytes, backup_bytes) == expected
