"""The canary search finds item bytes however a parser or a log cut them, and nothing else."""

from __future__ import annotations

import json

import pytest

from tests.faults.canary import CANARY, CANARY_NUMBER, canary_item, leaks_in, leaks_in_files


def test_every_attribute_of_a_canary_item_carries_the_canary():
    item = canary_item(7)

    for name, value in item.items():
        assert CANARY in json.dumps(value) or str(CANARY_NUMBER) in json.dumps(value), name


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(f"reason: {CANARY}", id="whole"),
        # ijson's message around where it stopped: the window cut the canary at both ends.
        pytest.param('ARY-SSN-123-45-6789", "pin": NaN, "x": "CANARY-SSN-123-45-67', id="parser-window"),
        pytest.param(f"value {CANARY_NUMBER}", id="number"),
        pytest.param('{"pin": 2718281828}', id="number-cut"),
    ],
)
def test_the_search_finds_the_canary_however_it_was_cut(text):
    assert leaks_in("log", text)


def test_the_search_finds_nothing_in_hashed_keys_and_clean_logs(tmp_path):
    (tmp_path / "task.log").write_text(
        "Drill step verify failed: backup is not valid JSON after 0 items (key 3fa2c1d9e8b7a6f5)"
    )

    assert leaks_in_files(tmp_path) == []
    (tmp_path / "nested").mkdir()
    (tmp_path / "nested" / "other.log").write_text(f"row {CANARY}")
    [leak] = leaks_in_files(tmp_path)
    assert leak.where.endswith("other.log")
