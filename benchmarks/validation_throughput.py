"""Full-content validation against a raw parallel scan of the same table, side by side on one moto server.

    PYTHONPATH=plugins:. .venv/bin/python -m benchmarks.validation_throughput --items 200000

Loads ``--items`` sample users into a table on a fresh moto server, then alternates
``--rounds`` times: a raw parallel scan (boto3 parses every page, nothing else) and the
validate step's content scan (the same parallel scan, plus the bucketed content digest of
every item, which is what proves the restore), both with ``--segments`` segments. Prints
items/s of each and their ratio (content / raw); the target is >= 0.85.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import boto3
from botocore.config import Config

from demo.emulator import Emulator
from demo.sample_data import sample_user
from dr_drill.aws.table_scan import parallel_scan, summarise_table
from dr_drill.core.items.canonical import to_typed_item
from dr_drill.core.items.digest import BucketedDigest

TABLE = "bench-validation"


class _RawPage:
    """A raw scan's partial result: only the number of items boto3 parsed."""

    def __init__(self) -> None:
        self.count = 0

    def feed(self, items: list) -> None:
        self.count += len(items)


def _load(ddb, count: int, writers: int = 8) -> float:
    ddb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "user_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "user_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    rng = random.Random(1)

    def batch(start: int) -> None:
        items = [
            to_typed_item(json.loads(json.dumps(sample_user(n, rng)), parse_float=Decimal))
            for n in range(start, min(start + 25, count))
        ]
        requests = [{"PutRequest": {"Item": item}} for item in items]
        while requests:
            response = ddb.batch_write_item(RequestItems={TABLE: requests})
            requests = response.get("UnprocessedItems", {}).get(TABLE, [])

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=writers) as pool:
        list(pool.map(batch, range(0, count, 25)))
    return time.monotonic() - started


def _timed(run) -> tuple[float, int]:
    started = time.monotonic()
    count = run()
    return time.monotonic() - started, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--segments", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    with Emulator() as emulator:
        ddb = boto3.client(
            "dynamodb",
            endpoint_url=emulator.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(max_pool_connections=args.segments + 4),
        )
        load_seconds = _load(ddb, args.items)
        print(f"loaded {args.items} items in {load_seconds:.1f} s")

        def raw() -> int:
            return sum(part.count for part in parallel_scan(ddb, TABLE, args.segments, _RawPage))

        def content() -> int:
            shape = BucketedDigest(("user_id",))
            return summarise_table(ddb, TABLE, shape=shape, segments=args.segments).count

        totals = {"raw": 0.0, "content": 0.0}
        for round_number in range(args.rounds):
            # Alternate which goes first, so neither always meets a warmer server.
            order = (
                (("raw", raw), ("content", content)) if round_number % 2 == 0 else (("content", content), ("raw", raw))
            )
            for name, run in order:
                seconds, count = _timed(run)
                assert count == args.items, f"{name} scan counted {count}"
                totals[name] += seconds
                print(f"round {round_number + 1} {name:8s} {seconds:7.2f} s  {count / seconds:9.0f} items/s")
        raw_rate = args.items * args.rounds / totals["raw"]
        content_rate = args.items * args.rounds / totals["content"]
        print(
            f"items={args.items} segments={args.segments} rounds={args.rounds} "
            f"raw={raw_rate:.0f} items/s content={content_rate:.0f} items/s ratio={content_rate / raw_rate:.3f}"
        )


if __name__ == "__main__":
    main()
