"""Writing streamed items into a scratch table: concurrent, bounded, and retried."""

from __future__ import annotations

import gc
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from dr_drill.core.items import TypedItem, hashed_key, item_key

THROTTLE_CODES = frozenset({"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"})
_SERVER_CODES = frozenset({"InternalServerError", "ServiceUnavailable", "InternalFailure"})
# A request DynamoDB refuses because of what one of its items holds: bad types or sizes, or a
# body over the 16 MB limit (HTTP 413). Its items are then written one by one to find the culprit.
_ITEM_REFUSED_CODES = frozenset({"ValidationException", "SerializationException", "RequestEntityTooLarge", "413"})
REJECTED_KEYS_CAP = 20


@dataclass
class RestoreStats:
    """Counts of one restore; updated from several worker threads under ``lock``."""

    items_read: int = 0
    items_restored: int = 0
    items_failed: int = 0
    duplicate_keys: int = 0
    retries: int = 0
    throttled_requests: int = 0
    rejected_keys: list[str] = field(default_factory=list)
    rejection_reasons: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "items_read": self.items_read,
            "items_restored": self.items_restored,
            "items_failed": self.items_failed,
            "duplicate_keys": self.duplicate_keys,
            "retries": self.retries,
            "throttled_requests": self.throttled_requests,
            "rejected_keys": list(self.rejected_keys),
            "rejection_reasons": dict(self.rejection_reasons),
        }


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, with a bounded number of attempts per batch."""

    max_attempts: int = 10
    base_seconds: float = 0.05
    cap_seconds: float = 5.0

    def delay(self, attempt: int) -> float:
        return random.uniform(0, min(self.cap_seconds, self.base_seconds * 2**attempt))


def batches(
    items: Iterable[TypedItem], key_names: tuple[str, ...], batch_size: int, stats: RestoreStats
) -> Iterator[list[TypedItem]]:
    """Group items into batches of at most ``batch_size`` distinct keys.

    DynamoDB rejects a whole batch that holds one key twice; within a batch the later item
    replaces the earlier one, as a sequence of puts would, and the duplicate is counted.
    """
    batch: dict[tuple[Any, ...], TypedItem] = {}
    for item in items:
        stats.items_read += 1
        key = _batch_key(item, key_names)
        if key in batch:
            stats.duplicate_keys += 1
        batch[key] = item
        if len(batch) == batch_size:
            yield list(batch.values())
            batch = {}
    if batch:
        yield list(batch.values())


def _batch_key(item: TypedItem, key_names: tuple[str, ...]) -> tuple[Any, ...]:
    """A hashable stand-in for the item's key, for finding duplicates: cheaper than ``item_key``."""
    try:
        return tuple(tuple(item[name].items()) for name in key_names)
    except (KeyError, TypeError, AttributeError):  # a malformed key: DynamoDB will say what is wrong
        return item_key(item, key_names)


class BatchWriter:
    """Writes batches with BatchWriteItem, retrying what DynamoDB leaves unprocessed."""

    def __init__(
        self,
        ddb: Any,
        table_name: str,
        key_names: tuple[str, ...],
        stats: RestoreStats,
        policy: RetryPolicy = RetryPolicy(),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.ddb = ddb
        self.table_name = table_name
        self.key_names = key_names
        self.stats = stats
        self.policy = policy
        self.sleep = sleep

    def _count(self, **deltas: int) -> None:
        with self.stats.lock:
            for name, delta in deltas.items():
                setattr(self.stats, name, getattr(self.stats, name) + delta)

    def _reject(self, item: TypedItem, reason: str) -> None:
        with self.stats.lock:
            self.stats.items_failed += 1
            if reason in self.stats.rejection_reasons or len(self.stats.rejection_reasons) < REJECTED_KEYS_CAP:
                self.stats.rejection_reasons[reason] = self.stats.rejection_reasons.get(reason, 0) + 1
            if len(self.stats.rejected_keys) < REJECTED_KEYS_CAP:
                self.stats.rejected_keys.append(hashed_key(item_key(item, self.key_names)))

    def write(self, batch: list[TypedItem]) -> None:
        """Write one batch; items DynamoDB refuses are isolated, counted and reported by hashed key."""
        pending = [{"PutRequest": {"Item": item}} for item in batch]
        attempt = 0
        while pending:
            try:
                response = self.ddb.batch_write_item(RequestItems={self.table_name: pending})
            except ClientError as err:
                code = err.response.get("Error", {}).get("Code", "")
                if code in _ITEM_REFUSED_CODES:
                    # DynamoDB's message names the rule broken, never the item's values.
                    reason = err.response.get("Error", {}).get("Message", code)[:200]
                    self._isolate([request["PutRequest"]["Item"] for request in pending], reason)
                    return
                if code not in THROTTLE_CODES | _SERVER_CODES:
                    raise
                self._count(throttled_requests=int(code in THROTTLE_CODES))
                attempt = self._back_off(attempt, pending)
                continue
            except BotoConnectionError:
                attempt = self._back_off(attempt, pending)
                continue
            unprocessed = response.get("UnprocessedItems", {}).get(self.table_name, [])
            self._count(items_restored=len(pending) - len(unprocessed))
            pending = unprocessed
            if pending:
                attempt = self._back_off(attempt, pending)

    def _back_off(self, attempt: int, pending: list[dict[str, Any]]) -> int:
        if attempt + 1 >= self.policy.max_attempts:
            self._count(items_failed=len(pending))
            pending.clear()
            return attempt
        self._count(retries=1)
        self.sleep(self.policy.delay(attempt))
        return attempt + 1

    def _isolate(self, items: list[TypedItem], reason: str) -> None:
        if len(items) == 1:
            self._reject(items[0], reason)
            return
        for item in items:
            self.write([item])


class _InFlight:
    """Batches handed to the writer threads: at most ``limit`` in flight or queued, failures raised here."""

    def __init__(self, pool: ThreadPoolExecutor, limit: int, while_waiting: Callable[[], None]) -> None:
        self.pool = pool
        self.limit = limit
        self.while_waiting = while_waiting
        # One slot per batch; cheaper per batch than waiting on every future in flight.
        self._slots = threading.BoundedSemaphore(limit)
        self._failures: list[BaseException] = []

    def submit(self, write: Callable[[list[TypedItem]], None], batch: list[TypedItem]) -> None:
        self._take_slot()
        self.pool.submit(write, batch).add_done_callback(self._done)

    def drain(self) -> None:
        """Return once every batch submitted is written, or raise the first failure."""
        for _ in range(self.limit):
            self._take_slot()

    def _take_slot(self) -> None:
        while not self._slots.acquire(timeout=1.0):
            self.while_waiting()
        if self._failures:
            raise self._failures[0]

    def _done(self, future: Future[None]) -> None:
        failure = None if future.cancelled() else future.exception()
        if failure is not None:
            self._failures.append(failure)
        self._slots.release()


@contextmanager
def _older_objects_left_alone() -> Iterator[None]:
    """Keep the garbage collector's full passes to what the restore itself allocates.

    The restore allocates several containers per item; each full collection would otherwise
    walk the whole worker's heap (Airflow, botocore's service models) again, about a tenth
    of the engine's CPU per item in benchmarks/engine_cpu.py. Reference counting still frees
    every item; if something else (an executor before forking) has frozen objects already,
    that is left to it.
    """
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def restore_items(
    ddb: Any,
    table_name: str,
    items: Iterable[TypedItem],
    *,
    key_names: tuple[str, ...],
    batch_size: int,
    workers: int = 8,
    on_progress: Callable[[RestoreStats], None] | None = None,
    progress_every_seconds: float = 10.0,
    policy: RetryPolicy = RetryPolicy(),
) -> RestoreStats:
    """Write ``items`` to ``table_name`` with ``workers`` concurrent BatchWriteItem calls.

    At most ``2 * workers`` batches are in flight or queued, so memory stays bounded
    whatever the backup's size. The caller must have checked that the table is scratch.
    """
    stats = RestoreStats()
    writer = BatchWriter(ddb, table_name, key_names, stats, policy)
    last_report = time.monotonic()

    def report() -> None:
        nonlocal last_report
        if on_progress and time.monotonic() - last_report >= progress_every_seconds:
            last_report = time.monotonic()
            on_progress(stats)

    with _older_objects_left_alone(), ThreadPoolExecutor(max_workers=workers, thread_name_prefix="restore") as pool:
        in_flight = _InFlight(pool, 2 * workers, while_waiting=report)
        try:
            for batch in batches(items, key_names, batch_size, stats):
                in_flight.submit(writer.write, batch)
                report()  # also when the reader, not the writers, is the slow side
            in_flight.drain()
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return stats
