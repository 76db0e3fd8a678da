"""Items real DynamoDB refuses are found, by hashed key and the limit broken, though the emulator accepts them."""

from __future__ import annotations

import base64

import pytest

from dr_drill.core.items.limits import (
    MAX_BATCH_WRITE_ITEMS,
    MAX_ITEM_BYTES,
    LimitReport,
    item_problems,
    item_size,
    key_attributes,
    number_problem,
)
from dr_drill.core.plan.drill_plan import SETTING_SCHEMAS

KEYS = key_attributes([{"name": "pk", "type": "S"}, {"name": "sk", "type": "N"}])


def _item(**attributes):
    return {"pk": {"S": "user-1"}, "sk": {"N": "1"}, **attributes}


def _nested(levels):
    value = {"S": "leaf"}
    for _ in range(levels):
        value = {"M": {"a": value}}
    return value


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        pytest.param("1" * 38, None, id="38-digits"),
        pytest.param("1" * 39, "number with 39 significant digits (at most 38)", id="39-digits"),
        pytest.param("1" + "0" * 50, None, id="trailing-zeros-are-not-significant"),
        pytest.param("0.000" + "1" * 38, None, id="leading-zeros-are-not-significant"),
        pytest.param("1E-130", None, id="smallest-magnitude"),
        pytest.param("9.9E-131", "number outside 1E-130..9.99E+125 in magnitude", id="below-smallest"),
        pytest.param("9." + "9" * 37 + "E+125", None, id="largest"),
        pytest.param("1E+126", "number outside 1E-130..9.99E+125 in magnitude", id="above-largest"),
        pytest.param("-1E+126", "number outside 1E-130..9.99E+125 in magnitude", id="below-most-negative"),
        pytest.param("-1E-130", None, id="negative-smallest"),
        pytest.param("0", None, id="zero"),
        pytest.param("NaN", "number that is not finite", id="nan"),
        pytest.param("twelve", "number that is not a number", id="not-a-number"),
    ],
)
def test_number_precision_and_range(text, problem):
    assert number_problem(text) == problem


@pytest.mark.parametrize(
    ("attributes", "problem"),
    [
        pytest.param({"tags": {"SS": []}}, "tags: empty set", id="empty-string-set"),
        pytest.param({"tags": {"SS": ["a", "a"]}}, "tags: set with duplicate members", id="duplicate-strings"),
        pytest.param({"n": {"NS": ["1", "1.0"]}}, "n: set with duplicate members", id="duplicate-numbers-by-value"),
        pytest.param(
            {"b": {"BS": [base64.b64encode(b"x").decode(), b"x"]}},
            "b: set with duplicate members",
            id="duplicate-binary",
        ),
        pytest.param(
            {"n": {"NS": ["1", "1" * 39]}}, "n: number with 39 significant digits (at most 38)", id="ns-digits"
        ),
        pytest.param({"m": {"M": {"x": {"N": "1E+126"}}}}, "m: number outside", id="number-inside-a-map"),
        pytest.param({"l": {"L": [{"S": "a"}, {"NS": []}]}}, "l[1]: empty set", id="set-inside-a-list"),
        pytest.param({"deep": _nested(33)}, ": nested more than 32 levels deep", id="33-levels"),
    ],
)
def test_values_real_dynamodb_refuses(attributes, problem):
    found = item_problems(_item(**attributes), KEYS)
    assert len(found) == 1 and problem in found[0], found


def test_values_real_dynamodb_accepts():
    fine = _item(
        tags={"SS": ["a", "b"]},
        deep=_nested(32),
        empty_string={"S": ""},  # allowed outside keys
        empty_list={"L": []},
        flag={"BOOL": True},
        nothing={"NULL": True},
    )
    assert item_problems(fine, KEYS) == []


@pytest.mark.parametrize(
    ("item", "problem"),
    [
        pytest.param({"sk": {"N": "1"}}, "partition key pk: missing", id="missing-partition-key"),
        pytest.param(
            {"pk": {"N": "5"}, "sk": {"N": "1"}}, "partition key pk: type N, the key schema says S", id="type"
        ),
        pytest.param({"pk": {"S": ""}, "sk": {"N": "1"}}, "partition key pk: empty", id="empty-key"),
        pytest.param(
            {"pk": {"S": "é" * 1025}, "sk": {"N": "1"}}, "partition key pk: 2050 bytes (at most 2048)", id="pk-2049+"
        ),
        pytest.param({"pk": {"S": "x" * 2048}, "sk": {"N": "1"}}, None, id="pk-2048-bytes"),
    ],
)
def test_key_attributes_against_the_key_schema_and_their_sizes(item, problem):
    found = item_problems(item, KEYS)
    assert found == ([problem] if problem else [])


def test_sort_key_at_most_1024_bytes():
    keys = key_attributes([{"name": "pk", "type": "S"}, {"name": "sk", "type": "B"}])
    assert item_problems({"pk": {"S": "a"}, "sk": {"B": b"x" * 1024}}, keys) == []
    assert item_problems({"pk": {"S": "a"}, "sk": {"B": b"x" * 1025}}, keys) == [
        "sort key sk: 1025 bytes (at most 1024)"
    ]


def test_item_size_follows_dynamodbs_documented_rules():
    # name + value: "pk"(2)+"ab"(2); "n"(1) + 3 significant digits -> 2 + 1; "b"(1) + 3 raw bytes; "t"(1) + 1
    assert item_size({"pk": {"S": "ab"}, "n": {"N": "12.3"}, "b": {"B": b"abc"}, "t": {"BOOL": False}}) == 14
    # a map: 3 + per element (name + value + 1); a list: 3 + per element (value + 1)
    assert item_size({"m": {"M": {"x": {"S": "yz"}}}}) == 1 + 3 + (1 + 2 + 1)
    assert item_size({"l": {"L": [{"S": "yz"}, {"NULL": True}]}}) == 1 + 3 + (2 + 1) + (1 + 1)


def test_an_item_over_400_kb_is_refused_with_its_size():
    at_limit = {"pk": {"S": "a"}, "sk": {"N": "1"}}
    filler = MAX_ITEM_BYTES - item_size(at_limit) - len("data")
    assert item_problems({**at_limit, "data": {"S": "x" * filler}}, KEYS) == []
    over = item_problems({**at_limit, "data": {"S": "x" * (filler + 1)}}, KEYS)
    assert over == [f"item of {MAX_ITEM_BYTES + 1} bytes (at most {MAX_ITEM_BYTES}, 400 KB)"]


def test_the_report_names_items_by_hashed_key_never_by_value():
    report = LimitReport(keys=KEYS).check(
        [_item(), _item(pk={"S": "secret-customer-42"}, n={"N": "1" * 40}), _item(pk={"S": "other"}, s={"SS": []})]
    )
    assert (report.items_checked, report.items_refused) == (3, 2)
    reason = report.reason()
    assert reason.startswith("2 of 3 items break DynamoDB's limits and would be refused by a real restore: key ")
    assert "n: number with 40 significant digits (at most 38)" in reason and "s: empty set" in reason
    assert "secret-customer-42" not in reason and "1" * 40 not in reason


def test_without_a_key_schema_items_are_named_by_position():
    report = LimitReport().check([{"a": {"S": "x"}}, {"a": {"SS": []}}])
    assert report.first == ["item #2 (a: empty set)"]


def test_a_batch_can_never_exceed_dynamodbs_25_items():
    assert SETTING_SCHEMAS["batch_size"]["maximum"] == MAX_BATCH_WRITE_ITEMS == 25


def test_a_nested_maps_keys_are_never_named_they_may_be_data():
    item = _item(profile={"M": {"alice@example.com": {"M": {"NS-of-bob": {"NS": []}}}}})
    problems = item_problems(item, KEYS)
    assert problems == ["profile: empty set"]
