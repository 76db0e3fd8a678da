"""The drill's cost: units and requests as reported and counted, and an estimate that names its prices."""

from __future__ import annotations

import pytest

from dr_drill.core.evidence.cost import (
    LIST_PRICES,
    drill_cost,
    s3_request_class,
    s3_request_counts,
    table_hours,
)

US_EAST_1 = LIST_PRICES["us-east-1"]


@pytest.mark.parametrize(
    ("operation", "price_class"),
    [
        pytest.param("GetObject", "get", id="get"),
        pytest.param("HeadObject", "get", id="head-is-an-other-request"),
        pytest.param("GetObjectLockConfiguration", "get", id="bucket-read"),
        pytest.param("ListObjectsV2", "put", id="list"),
        pytest.param("PutObject", "put", id="put"),
        pytest.param("DeleteObject", "free", id="delete"),
    ],
)
def test_s3_requests_fall_in_s3s_price_classes(operation, price_class):
    assert s3_request_class(operation) == price_class


def test_s3_requests_are_counted_by_class_and_by_operation():
    counted = s3_request_counts({"ListObjectsV2": 2, "GetObject": 7, "HeadObject": 1, "DeleteObject": 1})
    assert counted == {
        "put": 2,
        "get": 8,
        "free": 1,
        "by_operation": {"DeleteObject": 1, "GetObject": 7, "HeadObject": 1, "ListObjectsV2": 2},
    }
    assert s3_request_counts(None) is None


def test_table_hours_run_from_creation_to_deletion():
    assert table_hours("2026-12-01T02:00:00+00:00", "2026-12-01T03:30:00+00:00") == 1.5
    assert table_hours(None, "2026-12-01T03:30:00+00:00") is None


def _cost(**overrides):
    given = {
        "write_units": 2_000_000.0,
        "read_units": 4_000_000.0,
        "hours": 0.5,
        "s3_requests": s3_request_counts({"ListObjectsV2": 1000, "GetObject": 10_000}),
        "server_side_restore": None,
        "warm_throughput_asked": False,
        "region": "us-east-1",
        "overrides": None,
    }
    return drill_cost(**{**given, **overrides})


def test_the_estimate_is_the_measured_figures_times_the_regions_list_prices():
    cost = _cost()
    # 2 M write units at 0.625/M, 4 M read units at 0.125/M, 1,000 LISTs at 0.005/1,000, 10,000 GETs at 0.0004/1,000.
    assert cost["estimate"]["usd"] == pytest.approx(1.25 + 0.5 + 0.005 + 0.004)
    assert cost["estimate"]["prices"] == US_EAST_1 and cost["estimate"]["is_estimate"] is True
    assert "us-east-1" in cost["estimate"]["prices_source"] and "2026-12-01" in cost["estimate"]["prices_source"]
    assert (cost["write_units"], cost["read_units"], cost["scratch_table_hours"]) == (2_000_000.0, 4_000_000.0, 0.5)


def test_the_plans_prices_override_the_list_prices_and_say_so():
    cost = _cost(overrides={"write_request_units_per_million": 1.0})
    assert cost["estimate"]["usd"] == pytest.approx(2.0 + 0.5 + 0.005 + 0.004)
    assert "overridden by the plan: write_request_units_per_million" in cost["estimate"]["prices_source"]


def test_what_is_not_measured_or_has_no_price_is_left_out_and_named():
    cost = _cost(
        write_units=None,
        read_units=None,
        region="eu-west-1",
        overrides={"s3_get_and_other_requests_per_thousand": 0.00042},
    )
    assert cost["write_units"] is None and cost["read_units"] is None
    assert cost["estimate"]["usd"] == pytest.approx(10_000 * 0.00042 / 1000)
    not_priced = " | ".join(cost["estimate"]["not_priced"])
    assert "write units: not measured" in not_priced and "read units: not measured" in not_priced
    assert "S3 PUT/LIST: no price" in not_priced
    assert "no list prices known here for eu-west-1" in cost["estimate"]["prices_source"]


def test_a_region_without_prices_and_no_plan_prices_gives_no_estimate():
    estimate = _cost(region="ap-south-2")["estimate"]
    assert estimate["usd"] is None and estimate["prices"] == {}


def test_a_server_side_restore_names_its_unpriced_restore():
    cost = _cost(write_units=None, server_side_restore="restore_from_backup")
    assert "restore_from_backup: billed per GB restored, not priced here" in cost["estimate"]["not_priced"]


@pytest.mark.parametrize("asked", [True, False])
def test_warm_throughput_is_named_unpriced_only_when_it_was_asked(asked):
    not_priced = _cost(warm_throughput_asked=asked)["estimate"]["not_priced"]
    assert ("warm throughput asked at creation: no list price in this table" in not_priced) is asked
