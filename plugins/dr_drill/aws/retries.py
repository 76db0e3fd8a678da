"""The one retry policy of every AWS call a drill makes.

A step rides out transient faults itself, so that a whole-task retry stays the last resort:
throttling, 5xx answers, every kind of connection error and read timeout are retried with
jittered exponential backoff for as long as the step's :class:`RetryBudget` allows. The
decision of *what* is transient is botocore's own (its ``standard`` mode's conditions); what
is ours is the bound: botocore's standard mode gives up after a fixed number of attempts and,
worse, shares a small retry quota across a client's threads, so that sixteen writers meeting a
45-second outage stop retrying within a second. Every retry and every throttled answer is
counted in the budget's :class:`RetryLedger`, so the evidence says what the service saw.

What botocore cannot retry is a *partial* success: the items of a BatchWriteItem and the keys
of a BatchGetItem that DynamoDB leaves unprocessed. Those go round the same backoff in
:class:`UnprocessedBackoff`, with the same bound on attempts.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.retries.standard import RetryEventAdapter, StandardRetryConditions, ThrottlingErrorDetector

from dr_drill.constants import MAX_ATTEMPTS

DEFAULT_RETRY_WINDOW_SECONDS = 120.0


def botocore_retries() -> dict[str, Any]:
    """The ``retries`` of every client's botocore Config: a new dict each time, as botocore edits it in place."""
    return {"mode": "standard", "total_max_attempts": MAX_ATTEMPTS}


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


DEFAULT_BACKOFF = UnprocessedBackoff()


LedgerCounts = tuple[Counter[str], Counter[str], Counter[tuple[str, str]]]


@dataclass
class RetryLedger:
    """What a step's requests went through, per operation: retries made and throttled answers seen.

    ``answered`` counts, per service and operation, the requests the service answered (each try of
    a retried request too): what AWS bills requests by.
    """

    retries: Counter[str] = field(default_factory=Counter)
    throttled: Counter[str] = field(default_factory=Counter)
    answered: Counter[tuple[str, str]] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, operation: str, *, retried: bool, throttled: bool) -> None:
        with self.lock:
            self.retries[operation] += retried
            self.throttled[operation] += throttled

    def count_answer(self, service: str, operation: str) -> None:
        with self.lock:
            self.answered[service, operation] += 1

    def counts(self) -> LedgerCounts:
        """A copy of the three counters (retries, throttled, answered)."""
        with self.lock:
            return Counter(self.retries), Counter(self.throttled), Counter(self.answered)

    def counts_since(self, before: LedgerCounts) -> LedgerCounts:
        """What was counted since ``counts()`` returned ``before``."""
        return tuple(now - then for now, then in zip(self.counts(), before, strict=True))  # type: ignore[return-value]

    def add(self, counts: LedgerCounts) -> None:
        """Add what another ledger counted (a reading process's copy of this one)."""
        with self.lock:
            for mine, theirs in zip((self.retries, self.throttled, self.answered), counts, strict=True):
                mine.update(theirs)

    def answered_by(self, service: str) -> dict[str, int]:
        """The requests ``service`` answered, by operation."""
        with self.lock:
            return {operation: n for (name, operation), n in self.answered.items() if name == service}


class RetryBudget:
    """One step's retry policy: botocore's conditions, jittered backoff, and a time window per request.

    A request is retried while it is transient (``StandardRetryConditions``) and less than
    ``window_seconds`` have passed since its first answer; the delay before try ``n`` is
    ``uniform(0, min(cap, base * 2 ** (n - 1)))``, with a base of 1 s after a throttled answer
    and 50 ms otherwise. No quota is shared between requests: each one gives up only when its
    own window is spent, so a step waits at most about one window for a service that stays down.

    :param window_seconds: how long one request keeps being retried.
    """

    _THROTTLED_BASE, _OTHER_BASE, _CAP = 1.0, 0.05, 5.0

    def __init__(
        self,
        window_seconds: float = DEFAULT_RETRY_WINDOW_SECONDS,
        *,
        ledger: RetryLedger | None = None,
        clock: Callable[[], float] = time.monotonic,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.window_seconds = window_seconds
        self.ledger = ledger if ledger is not None else RetryLedger()
        self._clock = clock
        self._jitter = jitter
        self._adapter = RetryEventAdapter()
        # The window, not a count of attempts, bounds the retries.
        self._conditions = StandardRetryConditions(max_attempts=1_000_000)
        self._throttling = ThrottlingErrorDetector(self._adapter)

    def install(self, client: Any) -> Any:
        """Replace ``client``'s botocore retry handler by this budget's; return the client."""
        service = client.meta.service_model.service_id.hyphenize()
        client.meta.events.unregister(f"needs-retry.{service}", unique_id=f"retry-config-{service}")
        client.meta.events.register(f"needs-retry.{service}", self.needs_retry, unique_id="dr-drill-retry-budget")
        return client

    def needs_retry(self, **kwargs: Any) -> float | None:
        """botocore's ``needs-retry`` hook: the seconds to wait before the next try, or None to give up."""
        if kwargs.get("response") is not None:  # None: no answer came (a connection error)
            operation = kwargs["operation"]
            self.ledger.count_answer(operation.service_model.service_name, operation.name)
        context = self._adapter.create_retry_context(**kwargs)
        throttled = self._throttling.is_throttling_error_from_context(context)
        retryable = self._conditions.is_retryable(context)
        delay = None
        if retryable:
            started = kwargs["request_dict"]["context"].setdefault("dr_drill_first_answer", self._clock())
            base = self._THROTTLED_BASE if throttled else self._OTHER_BASE
            wait = self._jitter() * min(self._CAP, base * 2 ** (kwargs["attempts"] - 1))
            if self._clock() - started + wait <= self.window_seconds:
                delay = wait
        self.ledger.count(kwargs["operation"].name, retried=delay is not None, throttled=throttled)
        return delay
