"""The restore engine's client CPU per item, in process, with no server: where the time goes.

The DynamoDB client is a real botocore client (parameter validation, serialisation, signing
and response parsing all run) whose HTTP layer is replaced by an immediate ``200 {}``; the
backup is the benchmark's 20,000 ``app-users`` items in the original JSON format, read from
memory. Each stage adds one piece of the engine, so the differences say what each costs:

- ``read``: ``iter_typed_items`` alone (ijson + conversion to typed items);
- ``read+digest``: the same through ``digesting(..., BucketedDigest)``;
- ``engine``: ``restore_items`` over ``digested(iter_typed_items(...), apart=True)``, as the
  operator calls it: the reading, conversion and digest in a forked process (``read_apart``),
  whose CPU is given on its own line;
- ``engine, one process``: the same with the reader off (``DR_DRILL_READER_PROCESS=off``,
  ``apart=False``: ``digesting`` in this process);
- ``raw``: typed requests of 25 built beforehand, sent from the same number of threads
  through the same client: what the restore benchmark calls the raw limit;
- ``scan``: the validate step's side: ``summarise_table`` (one segment) over Scan pages of the
  same items, which botocore parses, and the content digest of every item.

    PYTHONPATH=plugins:. .venv/bin/python -m benchmarks.engine_cpu [--profile]

Not part of the test suite. See benchmarks/README.md for the figures.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import pstats
import resource
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from dr_drill.constants import DEFAULT_RESTORE_WORKERS

TABLE = "app-users"
KEY_NAMES = ("user_id",)


class _Body:
    """The raw body botocore reads a stubbed response from."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Any:
        yield self._data


def stubbed_dynamodb(pool: int, parameter_validation: bool = False, body: Callable[[], bytes] = lambda: b"{}") -> Any:
    """A real boto3 DynamoDB client whose every request gets ``200 body()`` without leaving the process."""
    import boto3
    from botocore.awsrequest import AWSResponse
    from botocore.config import Config

    client = boto3.client(
        "dynamodb",
        endpoint_url="http://127.0.0.1:9",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(
            max_pool_connections=pool, retries={"mode": "standard"}, parameter_validation=parameter_validation
        ),
    )

    def respond(request: Any, **_: Any) -> AWSResponse:
        return AWSResponse(request.url, 200, {"Content-Type": "application/x-amz-json-1.0"}, _Body(body()))

    client.meta.events.register("before-send.dynamodb.*", respond)
    return client


def stubbed_scan(data: bytes, page_items: int = 500) -> Any:
    """A real boto3 DynamoDB client whose Scan answers pages of the backup's items, then no more."""
    from dr_drill.core.items.canonical import to_typed_item

    items = [to_typed_item(item) for item in json.loads(data, parse_float=Decimal)["data"]]
    pages = [items[start : start + page_items] for start in range(0, len(items), page_items)]
    bodies = [
        json.dumps({"Items": page, "Count": len(page), **({"LastEvaluatedKey": page[-1]} if more else {})}).encode()
        for page, more in zip(pages, [True] * (len(pages) - 1) + [False], strict=True)
    ]
    answered = [0]

    def next_page() -> bytes:
        answered[0] += 1
        return bodies[(answered[0] - 1) % len(bodies)]

    return stubbed_dynamodb(2, body=next_page)


def backup_bytes(items: int) -> bytes:
    from demo.sample_data import json_backup_document, sample_items

    document = json_backup_document(TABLE, sample_items(TABLE, items), datetime(2026, 11, 26, tzinfo=UTC))
    return json.dumps(document).encode()


def stage_read(data: bytes, _: Any, __: int) -> int:
    from dr_drill.core.sources.s3_json import iter_typed_items

    return sum(1 for _ in iter_typed_items(io.BytesIO(data)))


def stage_read_digest(data: bytes, _: Any, __: int) -> int:
    from dr_drill.core.items.digest import BucketedDigest, digesting
    from dr_drill.core.sources.s3_json import iter_typed_items

    return sum(1 for _ in digesting(iter_typed_items(io.BytesIO(data)), BucketedDigest(KEY_NAMES)))


def stage_engine(data: bytes, ddb: Any, _: int) -> int:
    """As the operator calls it, untuned: read in a process of its own (``read_apart``), batched and sent here.

    This process's CPU is what is measured; the reading process's is given apart
    (``READER_PROCESS_US``), from the children's resource usage once it has been waited for.
    """
    before = children_cpu_seconds()
    stats = _restore(data, ddb, apart=True)
    READER_PROCESS_US.append((children_cpu_seconds() - before) / stats.items_read * 1e6)
    return stats.items_restored


def stage_engine_one_process(data: bytes, ddb: Any, _: int) -> int:
    """The same with ``DR_DRILL_READER_PROCESS=off``: reading, conversion and digest in this process too."""
    return _restore(data, ddb, apart=False).items_restored


def _restore(data: bytes, ddb: Any, *, apart: bool) -> Any:
    from dr_drill.aws.batch_writer import restore_items
    from dr_drill.aws.read_apart import digested
    from dr_drill.aws.retries import RetryLedger
    from dr_drill.core.items.digest import BucketedDigest
    from dr_drill.core.sources.s3_json import iter_typed_items

    items = digested(lambda: iter_typed_items(io.BytesIO(data)), BucketedDigest(KEY_NAMES), RetryLedger(), apart=apart)
    return restore_items(ddb, TABLE, items, key_names=KEY_NAMES, batch_size=25)


# The reading process's CPU per item in each run of ``engine``: it is not this process's.
READER_PROCESS_US: list[float] = []


def children_cpu_seconds() -> float:
    """CPU seconds of this process's children that have been waited for (a reading process, once reaped)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def raw_requests(data: bytes) -> list[list[dict[str, Any]]]:
    from dr_drill.core.items.canonical import to_typed_item

    typed = [{"PutRequest": {"Item": to_typed_item(item)}} for item in json.loads(data, parse_float=Decimal)["data"]]
    return [typed[start : start + 25] for start in range(0, len(typed), 25)]


def stage_raw(requests: list[list[dict[str, Any]]], ddb: Any, workers: int) -> int:
    """Only the sending: ``requests`` were built beforehand, as the restore benchmark's raw limit does."""

    def send(batch: list[dict[str, Any]]) -> int:
        ddb.batch_write_item(RequestItems={TABLE: batch})
        return len(batch)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return sum(pool.map(send, requests, chunksize=1))


def stage_scan(client: Any, _: Any, __: int) -> int:
    """The validate step's content scan of the restored table, one segment: botocore's parsing and the digest."""
    from dr_drill.aws.table_scan import summarise_table
    from dr_drill.core.items.digest import BucketedDigest

    return summarise_table(client, TABLE, shape=BucketedDigest(KEY_NAMES), segments=1).count


def _as_is(data: bytes) -> bytes:
    return data


def _cpu_us_per_item(stage: Stage, data: bytes, ddb: Any, workers: int, items: int) -> float:
    """One run's CPU (all threads) per item; the input is prepared first and not counted."""
    source = stage.prepare(data)
    gc.collect()
    started = time.process_time()
    done = stage.run(source, ddb, workers)
    spent = time.process_time() - started
    if done != items:
        raise RuntimeError(f"{stage.name} handled {done} items, expected {items}")
    return spent / items * 1e6


@dataclass(frozen=True)
class Stage:
    name: str
    run: Callable[[Any, Any, int], int]
    prepare: Callable[[bytes], Any] = _as_is


STAGES = (
    Stage("read", stage_read),
    Stage("read+digest", stage_read_digest),
    Stage("engine", stage_engine),
    Stage("engine, one process", stage_engine_one_process),
    Stage("raw", stage_raw, raw_requests),
    Stage("scan", stage_scan, stubbed_scan),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=16, help="raw's threads (the engine finds its own)")
    parser.add_argument("--repeats", type=int, default=5, help="runs per stage; the median is kept")
    parser.add_argument(
        "--parameter-validation",
        action="store_true",
        help="validate parameters client-side, as the restore operator did before (engine and raw alike)",
    )
    parser.add_argument(
        "--profile", action="store_true", help="cProfile one engine run in one process (its reading thread only)"
    )
    parser.add_argument("--stages", nargs="+", choices=[stage.name for stage in STAGES], help="only these stages")
    args = parser.parse_args()
    stages = [stage for stage in STAGES if not args.stages or stage.name in args.stages]

    data = backup_bytes(args.items)
    ddb = stubbed_dynamodb(DEFAULT_RESTORE_WORKERS + 2, parameter_validation=args.parameter_validation)
    if args.profile:
        profiler = cProfile.Profile()
        profiler.runcall(stage_engine_one_process, data, ddb, args.workers)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
        return
    validation = "on" if args.parameter_validation else "off"
    print(f"{args.items} items, raw on {args.workers} threads, parameter validation {validation}, CPU us per item")
    runs: dict[str, list[float]] = {stage.name: [] for stage in stages}
    for _ in range(args.repeats):  # the stages in turn, so that the machine's drift touches them alike
        for stage in stages:
            runs[stage.name].append(_cpu_us_per_item(stage, data, ddb, args.workers, args.items))
    if READER_PROCESS_US:
        runs["(its reading process)"] = READER_PROCESS_US
    for name, figures in runs.items():
        listed = ", ".join(f"{run:.1f}" for run in figures)
        print(f"  {name:<22} {statistics.median(figures):7.1f} median  (runs: {listed})")
    if {"engine", "raw", "engine, one process"} <= runs.keys():
        engine, raw = statistics.median(runs["engine"]), statistics.median(runs["raw"])
        alone = statistics.median(runs["engine, one process"])
        print(f"  engine / raw {engine / raw:.2f}; in one process (reader off) / raw {alone / raw:.2f}")


if __name__ == "__main__":
    main()
