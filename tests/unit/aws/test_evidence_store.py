"""The evidence store's settings: the Object Lock retention read from the environment."""

from __future__ import annotations

import pytest

from dr_drill.aws.evidence_store import Retention
from dr_drill.errors import InvalidDrillRequest


def test_retention_settings_are_checked():
    assert Retention.from_settings(None, None) == Retention("COMPLIANCE", 400)
    assert Retention.from_settings("governance", "30") == Retention("GOVERNANCE", 30)
    with pytest.raises(InvalidDrillRequest, match="EVIDENCE_RETENTION_MODE"):
        Retention.from_settings("FOREVER", None)
    with pytest.raises(InvalidDrillRequest, match="EVIDENCE_RETENTION_DAYS"):
        Retention.from_settings(None, "a year")
