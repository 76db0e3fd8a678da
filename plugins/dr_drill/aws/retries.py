"""The one retry policy of every AWS call a drill makes.

Requests are retried by botocore itself, in its ``standard`` mode (throttling, 5xx answers,
dropped and reset connections, with exponential backoff and jitter), configured once here for
every client the drill uses. What botocore cannot retry is a *partial* success: the items of a
BatchWriteItem and the keys of a BatchGetItem that DynamoDB leaves unprocessed. Those go round
the same backoff in :class:`UnprocessedBackoff`, with the same bound on attempts.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dr_drill.constants import MAX_ATTEMPTS


def botocore_retries() -> dict[str, Any]:
    """The ``retries`` of every client's botocore Config: a new dict each time, as botocore edits it in place."""
    return {"mode": "standard", "total_max_attempts": MAX_ATTEMPTS}


THROTTLE_CODES = frozenset({"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"})


@dataclass(frozen=True)
class UnprocessedBackoff:
    """Exponential backoff with full jitter for what DynamoDB left unprocessed, ``max_attempts`` in all."""

    max_attempts: int = MAX_ATTEMPTS
    base_seconds: float = 0.05
    cap_seconds: float = 5.0
    sleep: Callable[[float], None] = time.sleep

    def delay(self, attempt: int) -> float:
        return random.uniform(0, min(self.cap_seconds, self.base_seconds * 2**attempt))

    def wait(self, attempt: int) -> None:
        """Sleep before try ``attempt + 1`` (``attempt`` counts from 0)."""
        self.sleep(self.delay(attempt))


def retry_attempts(response: dict[str, Any]) -> int:
    """Return how many times botocore retried the call that gave ``response`` (or a ClientError's)."""
    return int((response.get("ResponseMetadata") or {}).get("RetryAttempts") or 0)


DEFAULT_BACKOFF = UnprocessedBackoff()
