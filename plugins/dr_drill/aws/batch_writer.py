"""Writing streamed items into a scratch table with BatchWriteItem: concurrent, bounded, and retried."""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from dr_drill.aws.client_errors import error_code, error_message
from dr_drill.aws.consumed_capacity import RETURN_CONSUMED_CAPACITY, CapacityMeter
from dr_drill.aws.retries import DEFAULT_BACKOFF, RetryLedger, UnprocessedBackoff
from dr_drill.constants import DEFAULT_RESTORE_WORKERS
from dr_drill.core.items.canonical import TypedItem
from dr_drill.core.items.digest import key_hash, reported_key
from dr_drill.core.restore.concurrency import AdaptiveConcurrency

# A request DynamoDB refuses because of what one of its items holds: bad types or sizes, or a
# body over the 16 MB limit (HTTP 413). Its items are then written one by one to find the culprit.
_ITEM_REFUSED_CODES = frozenset({"ValidationException", "SerializationException", "RequestEntityTooLarge", "413"})
REJECTED_KEYS_CAP = 20
_OPERATION = "BatchWriteItem"  # as the RetryLedger names it


@dataclass
class RestoreStats:
    """Counts of one restore; updated from several worker threads under ``lock``.

    ``retries`` counts the retries of each request (from the step's ``RetryLedger``) and the
    rounds of unprocessed items; ``throttled_requests`` the answers DynamoDB gave with a
    throttling error, those retried included; ``write_capacity`` the write units DynamoDB's
    answers reported consumed; ``peak_in_flight`` the most requests that were in flight at once
    (what the adaptive limit really reached, below the cap).
    """

    items_read: int = 0
    items_restored: int = 0
    items_failed: int = 0
    duplicate_keys: int = 0
    retries: int = 0
    throttled_requests: int = 0
    peak_in_flight: int = 0
    rejected_keys: list[str] = field(default_factory=list)
    rejection_reasons: dict[str, int] = field(default_factory=dict)
    write_capacity: CapacityMeter = field(default_factory=CapacityMeter, repr=False)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def counts(self) -> dict[str, Any]:
        """The figures a restore result carries."""
        return {
            "items_read": self.items_read,
            "items_restored": self.items_restored,
            "items_failed": self.items_failed,
            "duplicate_keys": self.duplicate_keys,
            "retries": self.retries,
            "throttled_requests": self.throttled_requests,
            "rejected_keys": tuple(self.rejected_keys),
            "rejection_reasons": dict(self.rejection_reasons),
            "consumed_write_units": self.write_capacity.units,
            "peak_in_flight": self.peak_in_flight,
        }

    def add(self, **deltas: int) -> None:
        with self.lock:
            for name, delta in deltas.items():
                setattr(self, name, getattr(self, name) + delta)


def batches(
    items: Iterable[TypedItem], key_names: tuple[str, ...], batch_size: int, stats: RestoreStats
) -> Iterator[list[TypedItem]]:
    """Group items into batches of at most ``batch_size`` distinct keys.

    DynamoDB rejects a whole batch that holds one key twice; within a batch the later item
    replaces the earlier one, as a sequence of puts would, and the duplicate is counted.
    Twins in different batches are written concurrently, so either may land last; validation
    accepts either as the backup's.
    """
    batch: dict[Any, TypedItem] = {}
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


def _batch_key(item: TypedItem, key_names: tuple[str, ...]) -> Any:
    """A hashable stand-in for the item's key, for finding duplicates: cheaper than ``key_hash``."""
    try:
        return tuple(tuple(item[name].items()) for name in key_names)
    except (KeyError, TypeError, AttributeError):  # a malformed key: DynamoDB will say what is wrong
        return key_hash(item, key_names)


class BatchWriter:
    """Writes batches with BatchWriteItem; botocore retries the requests, this the items left unprocessed."""

    def __init__(
        self,
        ddb: Any,
        table_name: str,
        key_names: tuple[str, ...],
        stats: RestoreStats,
        backoff: UnprocessedBackoff = DEFAULT_BACKOFF,
    ) -> None:
        self.ddb = ddb
        self.table_name = table_name
        self.key_names = key_names
        self.stats = stats
        self.backoff = backoff

    def _reject(self, item: TypedItem, reason: str) -> None:
        with self.stats.lock:
            self.stats.items_failed += 1
            if reason in self.stats.rejection_reasons or len(self.stats.rejection_reasons) < REJECTED_KEYS_CAP:
                self.stats.rejection_reasons[reason] = self.stats.rejection_reasons.get(reason, 0) + 1
            if len(self.stats.rejected_keys) < REJECTED_KEYS_CAP:
                self.stats.rejected_keys.append(reported_key(key_hash(item, self.key_names)))

    def write(self, batch: list[TypedItem]) -> None:
        """Write one batch; items DynamoDB refuses are isolated, counted and reported by hashed key."""
        pending = [{"PutRequest": {"Item": item}} for item in batch]
        for attempt in range(self.backoff.max_attempts):
            if attempt:
                self.stats.add(retries=1)
                self.backoff.wait(attempt - 1)
            try:
                response = self.ddb.batch_write_item(
                    RequestItems={self.table_name: pending}, ReturnConsumedCapacity=RETURN_CONSUMED_CAPACITY
                )
            except ClientError as err:
                if error_code(err) not in _ITEM_REFUSED_CODES:
                    raise
                # DynamoDB's message names the rule broken, never the item's values.
                reason = error_message(err, 200) or error_code(err)
                self._isolate([request["PutRequest"]["Item"] for request in pending], reason)
                return
            self.stats.write_capacity.add(response)
            unprocessed = response.get("UnprocessedItems", {}).get(self.table_name, [])
            self.stats.add(items_restored=len(pending) - len(unprocessed))
            pending = unprocessed
            if not pending:
                return
        self.stats.add(items_failed=len(pending))

    def _isolate(self, items: list[TypedItem], reason: str) -> None:
        if len(items) == 1:
            self._reject(items[0], reason)
            return
        for item in items:
            self.write([item])


@contextmanager
def _requests_counted(ledger: RetryLedger | None, stats: RestoreStats) -> Iterator[None]:
    """Add the BatchWriteItem retries and throttled answers the step's ledger saw during the restore."""
    before = (ledger.retries[_OPERATION], ledger.throttled[_OPERATION]) if ledger else (0, 0)
    try:
        yield
    finally:
        if ledger:
            stats.add(
                retries=ledger.retries[_OPERATION] - before[0],
                throttled_requests=ledger.throttled[_OPERATION] - before[1],
            )


class _InFlight:
    """Batches handed to the writer threads: at most ``controller.limit`` at once, failures raised here.

    The submitting thread closes a measuring window once the writers have finished about two
    batches per slot (a few round trips, whatever the latency), and hands the controller the
    window's rate and whether the endpoint pushed back in it. The first window's rate is not
    handed over, only its pressure: it holds the wait for the backup's first items and a
    first round trip in which nothing can finish, so its rate is the start's, not the
    endpoint's, and the next window would have looked faster whatever the limit (a doubling
    kept that only queued).
    """

    def __init__(
        self,
        pool: ThreadPoolExecutor,
        controller: AdaptiveConcurrency,
        stats: RestoreStats,
        pressure: Callable[[], int],
        while_waiting: Callable[[], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pool = pool
        self.controller = controller
        self.stats = stats
        self.pressure = pressure
        self.while_waiting = while_waiting
        self.clock = clock
        self._changed = threading.Condition()
        self._running = 0
        self._finished = 0
        self._failures: list[BaseException] = []
        self._window = self._mark()
        self._warming_up = True

    def submit(self, write: Callable[[list[TypedItem]], None], batch: list[TypedItem]) -> None:
        self._wait_until(lambda: self._running < self.controller.limit)
        self._close_window_if_due()
        with self._changed:
            self._running += 1
            self.stats.peak_in_flight = max(self.stats.peak_in_flight, self._running)
        self.pool.submit(write, batch).add_done_callback(self._done)

    def drain(self) -> None:
        """Return once every batch submitted is written, or raise the first failure."""
        self._wait_until(lambda: self._running == 0)

    def _wait_until(self, ready: Callable[[], bool]) -> None:
        with self._changed:
            while not (ready() or self._failures):
                if not self._changed.wait(timeout=1.0):
                    self._changed.release()  # progress reports run without holding up the writers
                    try:
                        self.while_waiting()
                    finally:
                        self._changed.acquire()
            if self._failures:
                raise self._failures[0]

    def _done(self, future: Future[None]) -> None:
        failure = None if future.cancelled() else future.exception()
        with self._changed:
            if failure is not None:
                self._failures.append(failure)
            self._running -= 1
            self._finished += 1
            self._changed.notify()  # only the submitting thread waits

    def _mark(self) -> tuple[float, int, int, int]:
        return (self.clock(), self._finished, self.stats.items_restored, self.pressure())

    def _close_window_if_due(self) -> None:
        started, finished, restored, pressure = self._window
        if self._finished - finished < 2 * self.controller.limit:
            return
        now = self._mark()
        elapsed = now[0] - started
        if elapsed <= 0:
            return
        pushed_back = now[3] > pressure
        if pushed_back or not self._warming_up:  # pressure counts from the first request on
            self.controller.observe((now[2] - restored) / elapsed, pressure=pushed_back)
        self._warming_up = False
        self._window = now


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
    workers: int = DEFAULT_RESTORE_WORKERS,
    on_progress: Callable[[RestoreStats], None] | None = None,
    progress_every_seconds: float = 10.0,
    backoff: UnprocessedBackoff = DEFAULT_BACKOFF,
    retry_ledger: RetryLedger | None = None,
) -> RestoreStats:
    """Write ``items`` to ``table_name`` with at most ``workers`` concurrent BatchWriteItem calls.

    How many are in flight is found while writing (``AdaptiveConcurrency``): more while the
    rate grows, fewer as soon as the endpoint throttles or a request is retried. At most that
    many batches exist besides the one being filled, so memory stays bounded whatever the
    backup's size. The caller must have checked that the table is scratch.

    :param workers: the cap on concurrent requests (the plan's ``restore_workers``).
    :param retry_ledger: the ledger of the ``RetryBudget`` installed on ``ddb``, whose counts of
        BatchWriteItem retries and throttled answers the stats then include, and which tells the
        controller when the endpoint pushes back.
    """
    stats = RestoreStats()
    writer = BatchWriter(ddb, table_name, key_names, stats, backoff)
    last_report = time.monotonic()

    def report() -> None:
        nonlocal last_report
        if on_progress and time.monotonic() - last_report >= progress_every_seconds:
            last_report = time.monotonic()
            on_progress(stats)

    def pressure() -> int:
        """Rounds of unprocessed items, retried requests and throttled answers so far: only ever grows."""
        pushed_back = stats.retries
        if retry_ledger:
            pushed_back += retry_ledger.retries[_OPERATION] + retry_ledger.throttled[_OPERATION]
        return pushed_back

    with (
        _older_objects_left_alone(),
        _requests_counted(retry_ledger, stats),
        ThreadPoolExecutor(max_workers=workers, thread_name_prefix="restore") as pool,
    ):
        in_flight = _InFlight(pool, AdaptiveConcurrency(cap=workers), stats, pressure, while_waiting=report)
        try:
            for batch in batches(items, key_names, batch_size, stats):
                in_flight.submit(writer.write, batch)
                report()  # also when the reader, not the writers, is the slow side
            in_flight.drain()
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return stats
