"""Fixtures of the adapter tests: the emulator's DynamoDB client, and a source table on it."""

from __future__ import annotations

import pytest

from demo.sample_data import create_source_table, sample_items


@pytest.fixture
def orders(aws):
    """The emulator's DynamoDB client, with the source table ``orders`` holding 60 sample items."""
    ddb = aws.client("dynamodb")
    create_source_table(ddb, "orders", sample_items("orders", 60))
    return ddb


@pytest.fixture
def ddb(aws):
    """The emulator's DynamoDB client."""
    return aws.client("dynamodb")
