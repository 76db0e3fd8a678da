"""Source fidelity: a type change is drift, a value change or an added attribute is not."""

from __future__ import annotations

import pytest

from dr_drill.core.validate.fidelity import FidelityReport, drifted_attributes


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
