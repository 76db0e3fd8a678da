"""Fixtures of the source adapter tests: source tables on the emulator."""

from __future__ import annotations

import pytest

from demo.sample_data import create_source_table, sample_items


@pytest.fixture
def tables(aws):
    """The emulator's DynamoDB client, with the source tables ``app-users`` and ``orders``, five items each."""
    ddb = aws.client("dynamodb")
    create_source_table(ddb, "app-users", sample_items("app-users", 5))
    create_source_table(ddb, "orders", sample_items("orders", 5))
    return ddb
