"""The batch writer against fakes: retries, batches of distinct keys, and the bounded pipeline of its workers.

Items left unprocessed are retried by the writer's own loop; throttling, 5xx and connection
errors by the step's RetryBudget, installed in a real botocore client.
"""

from __future__ import annotations

import gc
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import botocore.session
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, ReadTimeoutError
from botocore.hooks import HierarchicalEmitter

from dr_drill.aws.batch_writer import BatchWriter, RestoreStats, _InFlight, batches, restore_items
from dr_drill.aws.retries import RetryBudget, UnprocessedBackoff, botocore_retries


class ScriptedDynamoDB:
    """Answers BatchWriteItem from a script: an exception, or how many requests to leave unprocessed.

    Asked for ``ReturnConsumedCapacity="TOTAL"``, it answers as DynamoDB documents it: one
    ``ConsumedCapacity`` per table, one write unit per item (up to 1 KB) it wrote.
    """

    def __init__(self, script):
        self.script = list(script)
        self.written = []

    def batch_write_item(self, RequestItems, ReturnConsumedCapacity="NONE"):
        [(table, requests)] = RequestItems.items()
        step = self.script.pop(0) if self.script else 0
        if isinstance(step, Exception):
            raise step
        self.written.extend(requests[step:])
        answer = {"UnprocessedItems": {table: requests[:step]} if step else {}}
        if ReturnConsumedCapacity == "TOTAL":
            answer["ConsumedCapacity"] = [{"TableName": table, "CapacityUnits": float(len(requests) - step)}]
        return answer


def _throttle():
    return ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}, "Batch")


def _items(count):
    return [{"id": {"S": f"k{i}"}} for i in range(count)]


def _writer(ddb, attempts=5):
    stats = RestoreStats()
    backoff = UnprocessedBackoff(max_attempts=attempts, sleep=lambda _: None)
    return BatchWriter(ddb, "t", ("id",), stats, backoff), stats


class _Body:
    def __init__(self, payload):
        self.payload = json.dumps(payload).encode()

    def stream(self, **_):
        yield self.payload


class _Clock:
    """A monotonic clock that moves only when the budget's delays are slept."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def _botocore_answering(monkeypatch, answers, window=120.0):
    """A real botocore DynamoDB client with a RetryBudget installed, whose HTTP answers are ``answers``.

    An answer is (status, payload), or an exception the connection raised.
    """
    clock = _Clock()
    monkeypatch.setattr("botocore.endpoint.time.sleep", clock.sleep)
    client = botocore.session.get_session().create_client(
        "dynamodb",
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:9",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries=botocore_retries()),
    )
    budget = RetryBudget(window, clock=clock, jitter=lambda: 1.0)
    budget.install(client)
    sent = []

    def answer(request, **_):
        status, payload = answers.pop(0) if answers else (200, {"UnprocessedItems": {}})
        sent.append(json.loads(request.body))
        if isinstance(status, Exception):
            raise status
        headers = {"x-amzn-RequestId": "r", "Content-Type": "application/x-amz-json-1.0"}
        return AWSResponse(request.url, status, headers, _Body(payload))

    client.meta.events.register("before-send.dynamodb.BatchWriteItem", answer)
    return client, sent, budget


def test_unprocessed_items_are_retried_until_written():
    ddb = ScriptedDynamoDB([3, 1, 0])
    writer, stats = _writer(ddb)
    writer.write(_items(5))
    assert stats.items_restored == 5 and stats.items_failed == 0 and stats.retries == 2
    assert sorted(r["PutRequest"]["Item"]["id"]["S"] for r in ddb.written) == [f"k{i}" for i in range(5)]
    # 2 + 2 + 1 items written over three answers, one write unit each, as DynamoDB reports it.
    assert stats.counts()["consumed_write_units"] == 5.0


def test_consumed_write_units_are_null_when_no_answer_reports_them():
    writer, stats = _writer(_FakeDynamoDB())  # answers {}: an endpoint that reports no ConsumedCapacity
    writer.write(_items(3))
    assert stats.items_restored == 3 and stats.counts()["consumed_write_units"] is None


_THROTTLED = {"__type": "ProvisionedThroughputExceededException", "message": "slow down"}
_OK = {"UnprocessedItems": {}}


def _restore(ddb, budget, count=3):
    return restore_items(
        ddb, "t", _items(count), key_names=("id",), batch_size=25, workers=1, retry_ledger=budget.ledger
    )


def test_throttling_is_retried_and_every_throttled_answer_counted(monkeypatch):
    throttled_too = {"__type": "ThrottlingException", "message": "rate exceeded"}
    ddb, sent, budget = _botocore_answering(monkeypatch, [(400, _THROTTLED), (400, throttled_too), (200, _OK)])
    stats = _restore(ddb, budget)
    assert stats.items_restored == 3 and stats.items_failed == 0
    assert stats.throttled_requests == 2 and stats.retries == 2
    assert len(sent) == 3 and all(len(body["RequestItems"]["t"]) == 3 for body in sent)


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param((500, {"__type": "InternalServerError", "message": "oops"}), id="http-500"),
        pytest.param((503, {"__type": "ServiceUnavailable", "message": "down"}), id="http-503"),
        pytest.param((ConnectionClosedError(endpoint_url="http://127.0.0.1:9"), None), id="connection-closed"),
        pytest.param((ReadTimeoutError(endpoint_url="http://127.0.0.1:9"), None), id="read-timeout"),
    ],
)
def test_transient_faults_are_ridden_out_and_counted_as_retries(monkeypatch, fault):
    ddb, sent, budget = _botocore_answering(monkeypatch, [fault, fault, (200, _OK)])
    stats = _restore(ddb, budget)
    assert stats.items_restored == 3 and stats.retries == 2 and stats.throttled_requests == 0
    assert len(sent) == 3


def test_the_ledger_counts_every_answer_the_service_gave_but_not_a_connection_that_failed(monkeypatch):
    # What AWS bills requests by: a retried request's answered tries count, a reset connection does not.
    error = (500, {"__type": "InternalServerError", "message": "oops"})
    reset = (ConnectionClosedError(endpoint_url="http://127.0.0.1:9"), None)
    ddb, sent, budget = _botocore_answering(monkeypatch, [error, reset, (200, _OK)])
    _restore(ddb, budget)
    assert len(sent) == 3 and budget.ledger.answered_by("dynamodb") == {"BatchWriteItem": 2}
    assert budget.ledger.answered_by("s3") == {}


def test_a_long_outage_is_ridden_out_with_no_quota_shared_across_requests(monkeypatch):
    # botocore's standard mode stops a request after 10 attempts, and a client's requests after
    # its retry quota's ~50 connection-error retries: six batches meeting twelve resets each outlast both.
    reset = (ConnectionClosedError(endpoint_url="http://127.0.0.1:9"), None)
    ddb, sent, budget = _botocore_answering(monkeypatch, ([reset] * 12 + [(200, _OK)]) * 6)
    stats = _restore(ddb, budget, count=150)
    assert stats.items_restored == 150 and stats.retries == 72 and len(sent) == 78


def test_a_fault_that_outlasts_the_window_fails_the_restore(monkeypatch):
    ddb, sent, budget = _botocore_answering(monkeypatch, [(400, _THROTTLED)] * 100, window=30.0)
    with pytest.raises(ClientError, match="ProvisionedThroughputExceeded"):
        _restore(ddb, budget, count=2)
    # Delays of 1, 2, 4, 5, 5, 5, 5 s fit in 30 s; the eighth would not.
    assert len(sent) == 8 and budget.ledger.throttled["BatchWriteItem"] == 8


def test_an_exhausted_retry_budget_counts_the_items_failed():
    ddb = ScriptedDynamoDB([4] * 10)
    writer, stats = _writer(ddb, attempts=3)
    writer.write(_items(4))
    assert stats.items_restored == 0 and stats.items_failed == 4 and stats.retries == 2


def test_other_errors_are_raised():
    ddb = ScriptedDynamoDB([ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "Batch")])
    writer, _ = _writer(ddb)
    with pytest.raises(ClientError, match="AccessDenied"):
        writer.write(_items(1))


def test_batches_hold_distinct_keys_and_respect_the_size():
    stats = RestoreStats()
    items = [{"id": {"S": key}, "n": {"N": str(n)}} for n, key in enumerate(["a", "a", "b", "c", "d", "e"])]
    groups = list(batches(items, ("id",), 2, stats))
    assert [[item["id"]["S"] for item in group] for group in groups] == [["a", "b"], ["c", "d"], ["e"]]
    assert groups[0][0]["n"] == {"N": "1"}  # the later duplicate won
    assert stats.duplicate_keys == 1 and stats.items_read == 6


def test_a_request_over_the_size_limit_is_split_to_find_the_item_that_is_too_big():
    """DynamoDB answers HTTP 413 for a body over 16 MB; alone, the oversized item is refused by name of rule."""
    too_large = ClientError({"Error": {"Code": "413", "Message": "Request Entity Too Large"}}, "BatchWriteItem")
    too_big = ClientError({"Error": {"Code": "ValidationException", "Message": "Item size exceeded"}}, "Batch")
    ddb = ScriptedDynamoDB([too_large, 0, too_big, 0])
    writer, stats = _writer(ddb)

    writer.write(_items(3))

    assert stats.items_restored == 2 and stats.items_failed == 1
    assert stats.rejection_reasons == {"Item size exceeded": 1} and len(stats.rejected_keys) == 1


# --- the workers: a failure stops the reading, the queue stays bounded, the garbage collector untouched ---


class _FakeDynamoDB:
    """BatchWriteItem that succeeds, optionally after a gate opens, or fails on the ``fail_on``-th call."""

    def __init__(self, fail_on: int | None = None, gate: threading.Event | None = None):
        self.meta = SimpleNamespace(events=HierarchicalEmitter())  # what the writer registers its counters on
        self.fail_on = fail_on
        self.gate = gate
        self.calls = 0
        self.lock = threading.Lock()

    def batch_write_item(self, RequestItems, ReturnConsumedCapacity="NONE"):
        with self.lock:
            self.calls += 1
            call = self.calls
        if self.gate is not None:
            self.gate.wait(10)
        if call == self.fail_on:
            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "BatchWriteItem")
        return {}


def _counted_items(count: int, read: list[int]):
    for number in range(count):
        read[0] += 1
        yield {"id": {"S": f"k{number}"}}


def test_a_failed_batch_stops_the_reading_and_is_raised():
    read = [0]
    with pytest.raises(ClientError, match="AccessDenied"):
        restore_items(
            _FakeDynamoDB(fail_on=3), "t", _counted_items(100_000, read), key_names=("id",), batch_size=25, workers=4
        )
    assert read[0] < 100_000


def test_batches_waiting_for_slow_writers_stay_bounded():
    gate = threading.Event()
    read = [0]
    ddb = _FakeDynamoDB(gate=gate)
    result = {}
    restore = threading.Thread(
        target=lambda: result.setdefault(
            "stats",
            restore_items(ddb, "t", _counted_items(5_000, read), key_names=("id",), batch_size=25, workers=4),
        )
    )
    restore.start()
    time.sleep(0.5)
    held = read[0]
    gate.set()
    restore.join(30)
    # 2 x 4 batches in flight or queued, plus the one being filled when the reader stopped.
    assert held <= (2 * 4 + 1) * 25
    assert result["stats"].items_restored == 5_000


def test_the_garbage_collector_is_left_as_it_was():
    assert gc.get_freeze_count() == 0
    restore_items(_FakeDynamoDB(), "t", _counted_items(100, [0]), key_names=("id",), batch_size=25, workers=2)
    assert gc.get_freeze_count() == 0
    gc.freeze()  # as an executor does before forking: not ours to undo
    try:
        frozen = gc.get_freeze_count()
        restore_items(_FakeDynamoDB(), "t", _counted_items(100, [0]), key_names=("id",), batch_size=25, workers=2)
        # Neither unfrozen nor frozen further (frozen objects may still be freed meanwhile: fewer is fine).
        assert 0 < gc.get_freeze_count() <= frozen
    finally:
        gc.unfreeze()


def test_duplicates_are_found_for_number_keys_and_malformed_keys_alike():
    stats = RestoreStats()
    items = [
        {"pk": {"S": "a"}, "sk": {"N": "1"}},
        {"pk": {"S": "a"}, "sk": {"N": "1"}, "v": {"S": "later"}},
        {"pk": {"S": "a"}, "sk": {"N": "2"}},
        {"pk": {"S": "b"}},  # no sort key: DynamoDB will refuse it, the batching must not
        {"pk": {"S": "b"}},
    ]
    [batch] = list(batches(items, ("pk", "sk"), 25, stats))
    assert stats.duplicate_keys == 2 and len(batch) == 3
    assert batch[0]["v"] == {"S": "later"}


# --- the adaptive limit on requests in flight, against endpoints that queue or throttle ---


class _EndpointWithCapacity:
    """BatchWriteItem taking ``seconds`` each, serving ``capacity`` at once; beyond that it queues or throttles."""

    def __init__(self, capacity: int, seconds: float, throttle: bool):
        self.meta = SimpleNamespace(events=HierarchicalEmitter())
        self.capacity = capacity
        self.seconds = seconds
        self.throttle = throttle
        self.serving = threading.BoundedSemaphore(capacity)
        self.lock = threading.Lock()
        self.in_flight = 0
        self.most_in_flight = 0
        self.unprocessed_answers = 0
        self.written = 0

    def batch_write_item(self, RequestItems, ReturnConsumedCapacity):
        [(table, requests)] = RequestItems.items()
        with self.lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.throttle and not self.serving.acquire(blocking=False):
                time.sleep(self.seconds / 4)
                with self.lock:
                    self.unprocessed_answers += 1
                return {"UnprocessedItems": {table: requests}}  # what DynamoDB answers a throttled batch
            if not self.throttle:
                self.serving.acquire()
            try:
                time.sleep(self.seconds)
            finally:
                self.serving.release()
            with self.lock:
                self.written += len(requests)
            return {}
        finally:
            with self.lock:
                self.in_flight -= 1


def _restore_into(ddb, count, cap):
    backoff = UnprocessedBackoff(max_attempts=50, base_seconds=0.001, cap_seconds=0.01)
    return restore_items(ddb, "t", _items(count), key_names=("id",), batch_size=25, workers=cap, backoff=backoff)


def test_requests_in_flight_never_exceed_the_plans_cap():
    ddb = _EndpointWithCapacity(capacity=100, seconds=0.002, throttle=False)
    stats = _restore_into(ddb, 10_000, cap=5)
    assert stats.items_restored == ddb.written == 10_000
    assert ddb.most_in_flight <= 5
    # The peak the evidence reports is what the endpoint saw.
    assert stats.peak_in_flight == ddb.most_in_flight


def test_a_throttling_endpoint_gets_fewer_requests_and_every_round_is_counted():
    ddb = _EndpointWithCapacity(capacity=4, seconds=0.003, throttle=True)
    stats = _restore_into(ddb, 25_000, cap=64)
    assert stats.items_restored == ddb.written == 25_000 and stats.items_failed == 0
    # Each throttled answer was one round of unprocessed items, retried and counted once.
    assert stats.retries == ddb.unprocessed_answers > 0
    # Starting at 16 against room for 4, the limit came down: most batches went through unthrottled.
    assert ddb.unprocessed_answers < 25_000 / 25


def test_the_limit_climbs_to_what_a_slow_endpoint_serves():
    ddb = _EndpointWithCapacity(capacity=64, seconds=0.02, throttle=False)
    stats = _restore_into(ddb, 40_000, cap=64)
    assert stats.items_restored == 40_000
    # It started at 16; each doubling doubled the rate, up to the cap.
    assert ddb.most_in_flight > 32
    assert stats.peak_in_flight == ddb.most_in_flight


class _RecordingController:
    """Keeps its limit and records each window it is told of: (items per second, pushed back)."""

    def __init__(self, limit: int):
        self.limit = limit
        self.windows: list[tuple[float, bool]] = []

    def observe(self, items_per_second: float, pressure: bool) -> int:
        self.windows.append((items_per_second, pressure))
        return self.limit


def _windows_seen(pushed_back_at_once: bool) -> list[tuple[float, bool]]:
    """Seven batches of 25 written one at a time, a second each, after a minute's wait for the first item."""
    now, pushed_back, stats = [0.0], [0], RestoreStats()
    controller = _RecordingController(limit=1)

    def write(batch):
        now[0] += 1.0
        stats.items_restored += len(batch)

    with ThreadPoolExecutor(max_workers=1) as pool:
        in_flight = _InFlight(pool, controller, stats, lambda: pushed_back[0], lambda: None, clock=lambda: now[0])
        now[0] = 60.0  # the backup's first item arrives a minute after the restore began
        pushed_back[0] = int(pushed_back_at_once)
        for _ in range(7):
            in_flight.submit(write, _items(25))
        in_flight.drain()
    return controller.windows


def test_the_wait_for_the_first_items_is_not_taken_for_the_endpoints_rate():
    # Windows close every two batches (two per slot). The first one holds the minute before
    # the first item: judged as a rate (50 items in 62 s), it made the next window look like
    # a gain whatever the limit, and a doubling that only queued was kept.
    assert _windows_seen(pushed_back_at_once=False) == [(25.0, False), (25.0, False)]


def test_a_push_back_in_the_first_window_still_cuts_the_limit():
    [first, *rest] = _windows_seen(pushed_back_at_once=True)
    assert first[1] is True and rest == [(25.0, False), (25.0, False)]
