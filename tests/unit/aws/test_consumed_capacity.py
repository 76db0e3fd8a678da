"""ConsumedCapacity as DynamoDB documents it for Scan (one object) and the batch calls (one per table)."""

from __future__ import annotations

import threading

import pytest

from dr_drill.aws.consumed_capacity import CapacityMeter, consumed_units


@pytest.mark.parametrize(
    ("response", "units"),
    [
        # Scan with ReturnConsumedCapacity=TOTAL: a consistent read of 1 MB is 256 read units.
        pytest.param({"Items": [], "ConsumedCapacity": {"TableName": "t", "CapacityUnits": 256.0}}, 256.0, id="scan"),
        # An eventually consistent page counts half units.
        pytest.param({"ConsumedCapacity": {"TableName": "t", "CapacityUnits": 0.5}}, 0.5, id="half-unit"),
        pytest.param(
            {"UnprocessedItems": {}, "ConsumedCapacity": [{"TableName": "t", "CapacityUnits": 25.0}]},
            25.0,
            id="batch-write-one-table",
        ),
        pytest.param(
            {"ConsumedCapacity": [{"TableName": "a", "CapacityUnits": 3.0}, {"TableName": "b", "CapacityUnits": 1.5}]},
            4.5,
            id="batch-get-two-tables",
        ),
        pytest.param({"Items": []}, None, id="not-asked-or-not-reported"),
        pytest.param({"ConsumedCapacity": []}, None, id="empty-list"),
        pytest.param({"ConsumedCapacity": {"TableName": "t"}}, None, id="no-units"),
    ],
)
def test_consumed_units_read_the_documented_shapes(response, units):
    assert consumed_units(response) == units


def test_a_meter_stays_null_until_an_answer_reports_units_and_adds_them_from_many_threads():
    meter = CapacityMeter()
    meter.add({"Items": []})
    assert meter.units is None
    threads = [
        threading.Thread(target=lambda: [meter.add({"ConsumedCapacity": {"CapacityUnits": 0.5}}) for _ in range(1000)])
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert meter.units == 2000.0
