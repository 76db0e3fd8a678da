"""The named errors of a drill: findings that fail a step at once, without retries.

Each carries ``reason``: the sentence a person reads in the notification and the
evidence. Reasons never contain item contents.
"""

from __future__ import annotations

from typing import Any


class DrillError(Exception):
    """A drill step failed for a reason a person can act on."""

    def __init__(self, reason: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.details = details  # the step's partial result, for the evidence

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled whole (a restore's reading process hands its error over): the details too.
        return type(self), (self.reason, self.details)


class InvalidDrillRequest(DrillError):
    """The plan, the conf or the settings cannot describe a drill."""


class BackupNotFound(DrillError):
    """No backup could be found or read for the table."""


class BackupCorrupt(DrillError):
    """The backup exists but fails verification."""


class UnsafeTarget(DrillError):
    """A write or delete was aimed at a table that is not this drill's scratch table."""


class RestoreIncomplete(DrillError):
    """Items could not all be written to the scratch table."""


class ValidationFailed(DrillError):
    """The scratch table does not match the backup."""
