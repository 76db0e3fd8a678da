"""A streamed restore's reading in a process of its own, so that one task can write as fast as it reads.

Reading a backup (ijson, the conversion to typed items, the content digest) costs as much
CPU as sending the items (botocore's serialising and signing), and one Python process runs
one of them at a time. ``read_apart`` forks a reading process that reads, converts and
digests; the restore task receives the typed items in chunks over a pipe and only batches
and sends them (``benchmarks/engine_cpu.py``, figures in benchmarks/README.md: the sending
process's CPU per item is 1.14-1.18x that of sending pre-built requests, against 1.64-1.71x
in one process, with about 100 us per item more on another core).

The reading process is forked, not spawned: it inherits the source adapter and its S3
client, made beforehand by the task, so it never asks Airflow for a connection (the task's
line to its supervisor is the task's alone) and logs nothing. It hands back, at its end,
the backup's digest and what its S3 requests went through (the retry ledger), or the error
that stopped it, which the task raises as its own. A full pipe holds the reader back; a
restore that stops reading kills it, and on Linux so does the task's process dying.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import pickle
import signal
import sys
from collections.abc import Callable, Iterator
from typing import Any

from dr_drill.aws.retries import RetryLedger
from dr_drill.core.items.canonical import TypedItem
from dr_drill.core.items.digest import BucketedDigest, digesting
from dr_drill.errors import RestoreIncomplete

CHUNK_ITEMS = 250  # items per message: enough to make the pipe's cost per item small
_PR_SET_PDEATHSIG = 1  # prctl(2)


def digested(
    items_of: Callable[[], Iterator[TypedItem]], digest: BucketedDigest, ledger: RetryLedger, *, apart: bool
) -> Iterator[TypedItem]:
    """What a restore writes: ``items_of()``'s items, added to ``digest`` as they are read.

    Read in a process of its own (``read_apart``) when ``apart``, else in this one; the
    restore operator and the benchmarks choose through here, so they measure the same thing.
    """
    return read_apart(items_of, digest, ledger) if apart else digesting(items_of(), digest)


def read_apart(
    items_of: Callable[[], Iterator[TypedItem]], digest: BucketedDigest, ledger: RetryLedger
) -> Iterator[TypedItem]:
    """Yield the items ``items_of()`` yields, read in a forked process; add them to ``digest`` there.

    ``digest`` is complete, and ``ledger`` holds the reading process's requests, once the
    items are exhausted. The reading process's error is raised here, with a note saying so.
    """
    received, sent = multiprocessing.Pipe(duplex=False)
    reader = _fork(lambda: _read(items_of, digest, ledger, sent, received))
    sent.close()  # the reader holds the only writing end: its end is this end's EOF
    try:
        while True:
            try:
                kind, *message = received.recv()
            except EOFError:
                raise RestoreIncomplete(
                    f"the process reading the backup ended before the backup did (exit code {reader.wait()})"
                ) from None
            if kind == "items":
                yield from message[0]
                continue
            ledger.add(message[-1])
            if kind == "failed":
                error = message[0]
                error.add_note("(raised in the process reading the backup)")
                raise error
            digest.merge(BucketedDigest.from_dict(message[0]))
            return
    finally:
        received.close()
        reader.end()


class _Forked:
    """A child made by ``os.fork``, not multiprocessing, which refuses to start one from a
    daemonic process: a Celery worker's pool process, where the task runs, is one."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.exit_code: int | None = None

    def wait(self) -> int:
        """Reap it once it has ended; return its exit code."""
        if self.exit_code is None:
            self._reaped(os.waitpid(self.pid, 0))
        return self.exit_code  # type: ignore[return-value]

    def end(self) -> None:
        """Kill it unless it has ended (the restore stopped reading: an error, or the task going down); reap it."""
        if self.exit_code is None and not self._reaped(os.waitpid(self.pid, os.WNOHANG)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            self.wait()

    def _reaped(self, waited: tuple[int, int]) -> bool:
        pid, status = waited
        if pid:
            self.exit_code = os.waitstatus_to_exitcode(status)
        return bool(pid)


def _fork(work: Callable[[], None]) -> _Forked:
    for stream in (sys.stdout, sys.stderr):  # nothing buffered is written twice
        with contextlib.suppress(Exception):
            stream.flush()
    task = os.getpid()
    pid = os.fork()
    if pid:
        return _Forked(pid)
    code = 1
    try:
        _die_with(task)
        work()
        code = 0
    finally:
        os._exit(code)  # never back into the task's code, its atexit handlers or its finalizers


def _read(
    items_of: Callable[[], Iterator[TypedItem]], digest: BucketedDigest, ledger: RetryLedger, sink: Any, task_end: Any
) -> None:
    """The reading process: read and digest, send the items in chunks, then the digest (or the error)."""
    task_end.close()  # the task's end alone: once the task is gone, a send breaks instead of waiting forever
    before = ledger.counts()
    try:
        chunk: list[TypedItem] = []
        for item in digesting(items_of(), digest):
            chunk.append(item)
            if len(chunk) == CHUNK_ITEMS:
                sink.send(("items", chunk))
                chunk = []
        sink.send(("items", chunk))
        sink.send(("done", digest.to_dict(), ledger.counts_since(before)))
    except BrokenPipeError:
        return  # the restore stopped reading and is not listening
    except Exception as err:  # noqa: BLE001 - every error is the restore's to report
        sink.send(("failed", _portable(err), ledger.counts_since(before)))


def _die_with(task: int) -> None:
    """On Linux, be killed when the task's process dies (killed by its supervisor, say), not linger reading."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the reader ends at its next send, on a broken pipe
        return
    if os.getppid() != task:  # it died before the signal was asked for
        os._exit(1)


def _portable(err: Exception) -> Exception:
    """``err`` if it survives the pipe (pickled and unpickled alike), else a RuntimeError naming it."""
    try:
        pickle.loads(pickle.dumps(err))
    except Exception:  # noqa: BLE001 - any exception that cannot cross: say what it was
        return RuntimeError(f"{type(err).__qualname__}: {err}")
    return err
