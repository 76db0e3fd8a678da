"""The plan's rules: probe keys compared canonically, user check results, count bounds and required attributes."""

from __future__ import annotations

import pytest

from dr_drill.core.validate.rules import ProbeKey, ValidationRules, user_check_result


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
