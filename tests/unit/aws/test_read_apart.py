"""The restore's reading process: the same items and digest as reading in the task, its errors, its end."""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from dr_drill.aws.read_apart import CHUNK_ITEMS, digested, read_apart
from dr_drill.aws.retries import RetryLedger
from dr_drill.core.items.digest import BucketedDigest, digesting
from dr_drill.errors import BackupCorrupt, RestoreIncomplete

KEY = ("id",)
COUNT = CHUNK_ITEMS * 3 + 7  # three full chunks and a short one


def _items(count: int = COUNT) -> list[dict]:
    return [{"id": {"S": f"k{i}"}, "pid": {"N": "0"}} for i in range(count)]


def _reading(ledger: RetryLedger, count: int = COUNT) -> Iterator[dict]:
    """What a source yields, marked with the process that read it, and one S3 answer counted per chunk."""
    for number, item in enumerate(_items(count)):
        if number % CHUNK_ITEMS == 0:
            ledger.count_answer("s3", "GetObject")
        yield dict(item, pid={"N": str(os.getpid())})


def test_the_items_and_digest_are_those_of_reading_in_the_task_and_were_read_in_another_process():
    ledger = RetryLedger()
    ledger.count_answer("s3", "HeadObject")  # the task's own request, before the reading process
    apart = BucketedDigest(KEY)

    items = list(read_apart(lambda: _reading(ledger), apart, ledger))

    assert [item["id"] for item in items] == [item["id"] for item in _items()]
    assert {item["pid"]["N"] for item in items} != {str(os.getpid())}  # read by the reading process
    here = BucketedDigest(KEY)
    list(digesting(items, here))
    assert apart == here and apart.total().count == COUNT
    assert ledger.answered_by("s3") == {"HeadObject": 1, "GetObject": 4}  # its requests are counted here
    assert not _alive(int(items[0]["pid"]["N"]))  # ended and reaped


@pytest.mark.parametrize("apart", [True, False])
def test_what_the_restore_writes_is_read_apart_or_here_with_the_same_digest(apart):
    ledger, digest = RetryLedger(), BucketedDigest(KEY)

    items = list(digested(lambda: _reading(ledger), digest, ledger, apart=apart))

    readers = {item["pid"]["N"] for item in items}
    assert (readers != {str(os.getpid())}) is apart
    here = BucketedDigest(KEY)
    list(digesting(items, here))
    assert digest == here and digest.total().count == COUNT
    assert ledger.answered_by("s3") == {"GetObject": 4}


def test_an_error_of_the_reading_process_is_raised_in_the_task_whole():
    def corrupt() -> Iterator[dict]:
        yield from _items(CHUNK_ITEMS + 1)
        raise BackupCorrupt("line 252 is not JSON", details={"line": 252})

    received = []
    with pytest.raises(BackupCorrupt) as raised:
        received.extend(read_apart(corrupt, BucketedDigest(KEY), RetryLedger()))
    assert (raised.value.reason, raised.value.details) == ("line 252 is not JSON", {"line": 252})
    assert "(raised in the process reading the backup)" in raised.value.__notes__


def test_an_error_that_cannot_cross_the_pipe_is_named():
    def unpicklable() -> Iterator[dict]:
        lock = threading.Lock()

        class Odd(Exception):  # a local class: pickle cannot find it
            pass

        yield from _items(3)
        raise Odd(f"holding {lock}")

    with pytest.raises(RuntimeError, match=r"Odd: holding"):
        list(read_apart(unpicklable, BucketedDigest(KEY), RetryLedger()))


def test_a_reading_process_that_dies_fails_the_restore_with_its_exit_code():
    def dies() -> Iterator[dict]:
        yield from _items(3)
        os._exit(7)

    with pytest.raises(RestoreIncomplete, match=r"ended before the backup did \(exit code 7\)"):
        list(read_apart(dies, BucketedDigest(KEY), RetryLedger()))


def test_a_restore_that_stops_reading_ends_the_reading_process():
    def endless() -> Iterator[dict]:
        number = 0
        while True:
            number += 1
            yield {"id": {"S": f"k{number}"}, "pid": {"N": str(os.getpid())}}

    items = read_apart(endless, BucketedDigest(KEY), RetryLedger())
    first = [next(items) for _ in range(5)]
    assert [item["id"]["S"] for item in first] == ["k1", "k2", "k3", "k4", "k5"]
    reader = int(first[0]["pid"]["N"])
    assert _alive(reader)
    items.close()
    assert not _alive(reader)  # killed and reaped


def test_a_task_in_a_daemonic_process_reads_apart_too():
    # A Celery worker's pool process is daemonic, and multiprocessing refuses it children.
    context = multiprocessing.get_context("fork")
    told, tell = context.Pipe(duplex=False)
    task = context.Process(target=_count_read_apart, args=(tell,), daemon=True)
    task.start()
    counted = told.recv()
    task.join()
    assert counted == (COUNT, True)


def _count_read_apart(tell) -> None:
    try:
        items = list(read_apart(lambda: _reading(RetryLedger()), BucketedDigest(KEY), RetryLedger()))
        tell.send((len(items), {item["pid"]["N"] for item in items} != {str(os.getpid())}))
    except Exception as err:  # noqa: BLE001 - the test says what it was
        tell.send(repr(err))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")
def test_the_reading_process_dies_with_the_process_that_forked_it():
    # The task's process, killed mid-restore: its reader must not linger on the task's sockets.
    context = multiprocessing.get_context("fork")
    told, tell = context.Pipe(duplex=False)
    task = context.Process(target=_task_reading_forever, args=(tell,))
    task.start()
    reader_pid = told.recv()
    os.kill(task.pid, 9)
    task.join()
    for _ in range(20):  # a second; without the death signal it would live to its next send, 2.5 s on
        if not _alive(reader_pid):
            break
        time.sleep(0.05)
    assert not _alive(reader_pid)


def _task_reading_forever(tell) -> None:
    def endless() -> Iterator[dict]:
        yield {"id": {"S": "first"}, "pid": {"N": str(os.getpid())}}
        while True:
            time.sleep(0.01)
            yield {"id": {"S": "more"}}

    items = read_apart(endless, BucketedDigest(KEY), RetryLedger())
    tell.send(int(next(items)["pid"]["N"]))
    time.sleep(60)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as status:
            state = next(line for line in status if line.startswith("State:"))
    except FileNotFoundError:
        return False
    return "zombie" not in state  # a zombie has died, waiting for its reaper
