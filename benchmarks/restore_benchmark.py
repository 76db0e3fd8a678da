"""Restore throughput and memory: the original algorithm, this engine, and the raw BatchWriteItem limit.

Side by side in one run, on one moto server and the same backup object, at each of
``--latencies-ms`` (0, 20 and 100 ms: none, an in-region round trip through a loopback proxy,
a cross-region one): the engine with no tuning, raw BatchWriteItem at 16, 32 and 64 threads
(the endpoint's limit is the best of them), and the original algorithm at 20 ms. Each
measurement runs in its own child process, so its peak RSS is its own.

    PYTHONPATH=plugins:. .venv/bin/python -m benchmarks.restore_benchmark

Not part of the test suite. See benchmarks/README.md for the figures.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from benchmarks.engine_cpu import children_cpu_seconds
from dr_drill.constants import DEFAULT_RESTORE_WORKERS

ROOT = Path(__file__).resolve().parent.parent
TABLE = "app-users"
BUCKET = "bench-backups"
KEY_SCHEMA = [{"AttributeName": "user_id", "KeyType": "HASH"}]
ATTRIBUTES = [{"AttributeName": "user_id", "AttributeType": "S"}]


def _client(service: str, endpoint: str, pool: int = 10, *, parameter_validation: bool = True) -> Any:
    import boto3
    from botocore.config import Config

    from dr_drill.aws.retries import botocore_retries

    config = Config(max_pool_connections=pool, retries=botocore_retries(), parameter_validation=parameter_validation)
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=config,
    )


def _writer_client(endpoint: str, workers: int) -> Any:
    """The DynamoDB client the restore operator gives the engine; raw gets the same, so it stays the limit."""
    return _client("dynamodb", endpoint, pool=workers + 2, parameter_validation=False)


def _resource(endpoint: str) -> Any:
    import boto3

    return boto3.resource(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _peak_rss_mb() -> float:
    """This process image's own high-water RSS (VmHWM); ru_maxrss would include the parent's from before exec."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- the three algorithms, each run in a child process -------------------------------------------


def run_original(endpoint: str, table: str, key: str, workers: int) -> int:
    """The original function, faithfully: whole-object json.loads, sequential batch_writer blocks of 25.

    Numbers are parsed as Decimal (the original's floats are refused by boto3 outright, so
    it could not restore this backup at all); everything else is as it was.
    """
    s3 = _client("s3", endpoint)
    data = json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read(), parse_float=Decimal)
    items = data["data"]
    ddb_table = _resource(endpoint).Table(table)
    restored = 0
    for start in range(0, len(items), 25):
        with ddb_table.batch_writer() as batch:
            for item in items[start : start + 25]:
                batch.put_item(Item=item)
                restored += 1
    return restored


def run_engine(endpoint: str, table: str, key: str, workers: int, *, apart: bool = True) -> int:
    """This project's engine, exactly as the restore operator calls it: ``workers`` is only the cap.

    The backup is read and digested in a process of its own (``read_apart``, the operator's
    default), and the items written from this one; with ``apart`` False, as
    ``DR_DRILL_READER_PROCESS=off`` does, all in this process.
    """
    from dr_drill.aws.batch_writer import restore_items
    from dr_drill.aws.read_apart import digested
    from dr_drill.aws.retries import RetryLedger
    from dr_drill.aws.sources import Clients, adapter_for
    from dr_drill.contracts import BackupRef, VerifiedBackup
    from dr_drill.core.items.digest import BucketedDigest

    source = adapter_for("s3_json", Clients(s3=lambda: _client("s3", endpoint), dynamodb=lambda: None))
    source.clients.s3()  # made before the reading process forks, as the operator does
    backup = BackupRef(location=key, bucket=BUCKET, key=key)
    digest = BucketedDigest(("user_id",))
    items = digested(lambda: source.iter_items(backup, VerifiedBackup()), digest, RetryLedger(), apart=apart)
    stats = restore_items(
        _writer_client(endpoint, workers), table, items, key_names=("user_id",), batch_size=25, workers=workers
    )
    if stats.items_failed:
        raise RuntimeError(f"{stats.items_failed} items failed")
    if stats.retries or stats.throttled_requests:
        print(f"engine retries={stats.retries} throttled={stats.throttled_requests}", file=sys.stderr)
    return stats.items_restored


def prepare_raw(endpoint: str, key: str) -> list[list[dict[str, Any]]]:
    """The raw limit's input, built before the clock starts: typed items already in requests of 25."""
    from dr_drill.core.items.canonical import to_typed_item

    s3 = _client("s3", endpoint)
    items = json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read(), parse_float=Decimal)["data"]
    typed = [{"PutRequest": {"Item": to_typed_item(item)}} for item in items]
    return [typed[start : start + 25] for start in range(0, len(typed), 25)]


def run_raw(endpoint: str, table: str, batches: list[list[dict[str, Any]]], workers: int) -> int:
    """BatchWriteItem from ``workers`` threads, no parsing at all: the most this endpoint can take."""
    ddb = _writer_client(endpoint, workers)

    def send(batch: list[dict[str, Any]]) -> int:
        pending = batch
        while pending:
            pending = ddb.batch_write_item(RequestItems={table: pending}).get("UnprocessedItems", {}).get(table, [])
        return len(batch)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return sum(pool.map(send, batches, chunksize=1))


def child(args: argparse.Namespace) -> None:
    # Imported before the clock for every algorithm (raw used to get boto3 imported by its
    # preparation, the engine inside its timing); a worker has its modules loaded already.
    import boto3  # noqa: F401

    import dr_drill.aws.batch_writer
    import dr_drill.aws.sources
    import dr_drill.core.items.digest  # noqa: F401

    baseline = _peak_rss_mb()
    raw_input = prepare_raw(args.endpoint, args.key) if args.algorithm == "raw" else None
    started = time.perf_counter()
    cpu_started = time.process_time()
    children_started = children_cpu_seconds()
    if args.algorithm == "original":
        restored = run_original(args.endpoint, args.table, args.key, args.workers)
    elif args.algorithm in ("engine", "engine-one-process"):
        restored = run_engine(args.endpoint, args.table, args.key, args.workers, apart=args.algorithm == "engine")
    else:
        restored = run_raw(args.endpoint, args.table, raw_input or [], args.workers)
    seconds = time.perf_counter() - started
    result = {
        "items": restored,
        "seconds": seconds,
        "cpu_seconds": time.process_time() - cpu_started,
        "reader_cpu_seconds": children_cpu_seconds() - children_started,  # the reading process, once reaped
        "peak_rss_mb": _peak_rss_mb(),
        "baseline_rss_mb": baseline,
    }
    print(json.dumps(result))


# --- the driver ----------------------------------------------------------------------------------


def _seed_backup(endpoint: str, items: int) -> str:
    from demo.sample_data import json_backup_document, put_json_backup, sample_items

    taken_at = datetime(2026, 11, 26, 1, 30, tzinfo=UTC)
    s3 = _client("s3", endpoint)
    if BUCKET not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
        s3.create_bucket(Bucket=BUCKET)
    document = json_backup_document(TABLE, sample_items(TABLE, items), taken_at)
    document["table_name"] = f"{TABLE}-{items}"
    return put_json_backup(s3, BUCKET, document, taken_at)


_RUNS = iter(range(1, 10**6))


def _measure(algorithm: str, emulator: Any, endpoint: str, workers: int, items: int, label: str) -> dict[str, Any]:
    """One run in a child process, on an emulator reset to the same state as every other run.

    moto keeps about 145 MB per 20,000-item table after DeleteTable (measured: 89 MB at start,
    1.1 GB after seven runs, back to 0.3 GB after a reset), and its growing heap slowed later
    runs by whatever its garbage collector was doing then: the 20 ms ratios swung from 0.5
    to 1.6 with the order of the runs. So every run starts from a reset emulator (the same
    server process) with the backup written again, outside the clock.
    """
    emulator.reset()
    key = _seed_backup(emulator.endpoint_url, items)
    ddb = _client("dynamodb", endpoint)
    table = f"bench-{algorithm}-{label}-{items}-{next(_RUNS)}"
    ddb.create_table(
        TableName=table, KeySchema=KEY_SCHEMA, AttributeDefinitions=ATTRIBUTES, BillingMode="PAY_PER_REQUEST"
    )
    ddb.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 1})
    command = [sys.executable, "-m", "benchmarks.restore_benchmark", "--child", algorithm]
    command += ["--endpoint", endpoint, "--table", table, "--key", key, "--workers", str(workers)]
    env = {"PYTHONPATH": f"{ROOT / 'plugins'}:{ROOT}", "PATH": "/usr/bin:/bin"}
    completed = subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT, env=env)
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    result["notes"] = [line for line in completed.stderr.splitlines() if line.startswith("engine retries")]
    count = sum(page["Count"] for page in ddb.get_paginator("scan").paginate(TableName=table, Select="COUNT"))
    ddb.delete_table(TableName=table)
    if count != items or result["items"] != items:
        raise RuntimeError(f"{algorithm} restored {result['items']} items, the table holds {count}, expected {items}")
    result["items_per_second"] = items / result["seconds"]
    print(
        f"  {label:>8} {algorithm:>8} {items:>7} items  {result['items_per_second']:>8.0f} items/s"
        f"  {result['seconds']:>7.1f} s  cpu {result['cpu_seconds']:>5.1f} s"
        f" + reader {result['reader_cpu_seconds']:.1f} s"
        f"  peak RSS {result['peak_rss_mb']:.0f} MB {' '.join(result['notes'])}",
        flush=True,
    )
    return result


def _median(results: list[dict[str, Any]]) -> dict[str, Any]:
    return sorted(results, key=lambda r: r["items_per_second"])[len(results) // 2]


def _throughput(
    emulator: Any, endpoint: str, args: argparse.Namespace, label: str, *, with_original: bool
) -> dict[str, dict[str, Any]]:
    """Engine and raw at each thread count alternated ``rounds`` times, the medians kept; the original once.

    The engine gets no tuning: the default cap, its requests in flight found while it writes.
    """
    runs: dict[str, list[dict[str, Any]]] = {}
    if with_original:
        runs["original"] = [_measure("original", emulator, endpoint, 1, args.items, label)]
    for _ in range(args.rounds):
        runs.setdefault("engine", []).append(
            _measure("engine", emulator, endpoint, DEFAULT_RESTORE_WORKERS, args.items, label)
        )
        if args.one_process:
            runs.setdefault("engine-one-process", []).append(
                _measure("engine-one-process", emulator, endpoint, DEFAULT_RESTORE_WORKERS, args.items, label)
            )
        for threads in args.raw_threads:
            runs.setdefault(f"raw{threads}", []).append(
                _measure("raw", emulator, endpoint, threads, args.items, f"{label}-{threads}t")
            )
    return {name: _median(results) for name, results in runs.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", choices=["original", "engine", "engine-one-process", "raw"], dest="algorithm")
    parser.add_argument("--endpoint")
    parser.add_argument("--table")
    parser.add_argument("--key")
    parser.add_argument("--workers", type=int, default=DEFAULT_RESTORE_WORKERS, help="(child) threads, or the cap")
    parser.add_argument("--items", type=int, default=20_000, help="items of the throughput runs")
    parser.add_argument("--latencies-ms", type=float, nargs="+", default=[0.0, 20.0, 100.0])
    parser.add_argument("--raw-threads", type=int, nargs="+", default=[16, 32, 64], help="raw's thread counts")
    parser.add_argument("--original-latency-ms", type=float, default=20.0, help="the one latency the original runs at")
    parser.add_argument(
        "--rss-items", type=int, nargs="*", default=[2_000, 200_000], help="two sizes, or none to skip the RSS runs"
    )
    parser.add_argument("--rss-algorithms", nargs="+", default=["engine", "original"])
    parser.add_argument("--rounds", type=int, default=3, help="engine/raw repetitions per latency (median kept)")
    parser.add_argument(
        "--one-process", action="store_true", help="also the engine with its reading in its own process (reader off)"
    )
    args = parser.parse_args()
    if args.algorithm:
        child(args)
        return 0

    from benchmarks.latency_proxy import LatencyProxy
    from demo.emulator import Emulator

    report: dict[str, Any] = {"items": args.items, "raw_threads": args.raw_threads, "throughput": {}}
    with Emulator() as emulator:
        print(f"moto server {emulator.endpoint_url}; backup of {args.items} items", flush=True)
        for latency in args.latencies_ms if args.items else []:
            label = f"{latency:.0f}ms"
            original = latency == args.original_latency_ms
            if latency:
                with LatencyProxy(emulator.endpoint_url, latency / 1000) as proxy:
                    runs = _throughput(emulator, proxy.endpoint_url, args, label, with_original=original)
            else:
                runs = _throughput(emulator, emulator.endpoint_url, args, label, with_original=original)
            report["throughput"][label] = runs
        report["rss"] = {
            size: {
                name: _measure(name, emulator, emulator.endpoint_url, DEFAULT_RESTORE_WORKERS, size, "rss")
                for name in args.rss_algorithms
            }
            for size in args.rss_items
        }
    print(json.dumps(_summary(report), indent=2))
    return 0


def _summary(report: dict[str, Any]) -> dict[str, Any]:
    summary: dict[str, Any] = {"items": report["items"], "raw_threads": report["raw_threads"]}
    for label, runs in report["throughput"].items():
        rates = {name: round(run["items_per_second"]) for name, run in runs.items()}
        best_raw = max(rate for name, rate in rates.items() if name.startswith("raw"))
        line: dict[str, Any] = {"items_per_second": rates, "best_raw": best_raw}
        line["engine_vs_best_raw"] = round(rates["engine"] / best_raw, 2)
        if "engine-one-process" in rates:
            line["engine_one_process_vs_best_raw"] = round(rates["engine-one-process"] / best_raw, 2)
        if "original" in rates:
            line["engine_vs_original"] = round(rates["engine"] / rates["original"], 2)
        line["cpu_seconds"] = {name: round(run["cpu_seconds"], 2) for name, run in runs.items()}
        line["reader_cpu_seconds"] = {name: round(run["reader_cpu_seconds"], 2) for name, run in runs.items()}
        summary[label] = line
    if report["rss"]:
        small, large = sorted(report["rss"])
        summary["peak_rss_mb"] = {
            name: {str(size): round(report["rss"][size][name]["peak_rss_mb"], 1) for size in (small, large)}
            for name in report["rss"][small]
        }
        if "engine" in report["rss"][small]:
            summary["engine_rss_growth_mb"] = round(
                report["rss"][large]["engine"]["peak_rss_mb"] - report["rss"][small]["engine"]["peak_rss_mb"], 1
            )
    return summary


if __name__ == "__main__":
    sys.exit(main())
