"""What a drill of a 100-million-item table would take: time per phase, restore tasks for the RTO, and cost.

A projection, not a measurement: it combines the client CPU per item measured here
(``benchmarks/engine_cpu.py``: one restore task is one Python process, so at best one core)
with a simulation of how an on-demand table's write capacity grows, and with on-demand list
prices given as arguments. Every input is an argument, printed with the result.

The endpoint model (DynamoDB Developer Guide, "DynamoDB on-demand capacity mode", initial
throughput and scaling; "Pre-warming a table for on-demand capacity mode"): a new on-demand
table sustains up to ``--initial-wru`` (4,000) writes per second; it accommodates up to double
its previous peak, but throttles traffic that exceeds double the previous peak within 30 minutes.
So the table's capacity is taken to double every ``--doubling-minutes`` (30) during which the
restore keeps it full, up to the table's throughput quota (``--table-quota-wru``, 40,000 by
default). ``--warm-wru`` models WarmThroughput: the table starts at that capacity instead.
A restore task writes as fast as the table lets it or as its client CPU allows, whichever is
lower: the adaptive concurrency of the restore keeps it at the table's limit.

    PYTHONPATH=plugins:. .venv/bin/python -m benchmarks.projection --engine-us-per-item 268 --scan-us-per-item 90

Not part of the test suite. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass

HOUR = 3600.0
HOURS_PER_MONTH = 730.0  # what AWS's prices per GB-month assume


@dataclass(frozen=True)
class Endpoint:
    """An on-demand table's write capacity over time, in write request units per second."""

    initial_wru: float
    doubling_seconds: float
    quota_wru: float

    def seconds_to_write(self, units: float, client_wru: float, step: float = 1.0) -> float:
        """Seconds to write ``units`` WRU when the clients could send ``client_wru`` per second."""
        capacity, written, elapsed, full_since = min(self.initial_wru, self.quota_wru), 0.0, 0.0, 0.0
        while written < units:
            rate = min(capacity, client_wru)
            written += rate * step
            elapsed += step
            if rate < capacity:  # the table is not kept full: it has no reason to scale
                full_since = elapsed
            elif elapsed - full_since >= self.doubling_seconds and capacity < self.quota_wru:
                capacity, full_since = min(2 * capacity, self.quota_wru), elapsed
        return elapsed - (written - units) / max(rate, 1e-9)


def restore_tasks_for(
    deadline: float, units: float, endpoint: Endpoint, task_wru: float, most: int = 256
) -> int | None:
    """The fewest restore tasks that finish within ``deadline`` seconds, or None if the table cannot."""
    for tasks in range(1, most + 1):
        if endpoint.seconds_to_write(units, tasks * task_wru, step=5.0) <= deadline:
            return tasks
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=float, default=100e6)
    parser.add_argument("--item-bytes", type=float, default=330.0, help="mean item size (the app-users sample as JSON)")
    parser.add_argument(
        "--engine-us-per-item", type=float, required=True, help="restore client CPU per item (engine_cpu)"
    )
    parser.add_argument("--scan-us-per-item", type=float, required=True, help="validation client CPU per item")
    parser.add_argument(
        "--scan-segments", type=int, default=4, help="validation scan processes (threads of one process share a core)"
    )
    parser.add_argument("--tasks", type=int, default=1, help="restore tasks (one process each)")
    parser.add_argument("--initial-wru", type=float, default=4000.0)
    parser.add_argument("--doubling-minutes", type=float, default=30.0)
    parser.add_argument("--table-quota-wru", type=float, default=40000.0)
    parser.add_argument("--initial-rru", type=float, default=12000.0, help="a new on-demand table's reads/s")
    parser.add_argument("--warm-wru", type=float, default=None, help="WarmThroughput WriteUnitsPerSecond")
    parser.add_argument("--rto-hours", type=float, default=1.0)
    parser.add_argument("--price-per-million-wru", type=float, default=0.625, help="USD, on-demand, us-east-1")
    parser.add_argument("--price-per-million-rru", type=float, default=0.125, help="USD, on-demand, us-east-1")
    parser.add_argument("--price-per-gb-month", type=float, default=0.25, help="USD, Standard table class")
    parser.add_argument("--storage-overhead-bytes", type=float, default=100.0, help="what DynamoDB adds per item")
    args = parser.parse_args()

    units_per_item = math.ceil(args.item_bytes / 1024)  # a write request unit covers up to 1 KB
    write_units = args.items * units_per_item
    task_items_per_second = 1e6 / args.engine_us_per_item
    scenarios = [("cold on-demand", args.initial_wru)]
    if args.warm_wru:
        scenarios.append((f"warmed to {args.warm_wru:,.0f} WRU/s", args.warm_wru))

    print(f"{args.items:,.0f} items of {args.item_bytes:.0f} B ({units_per_item} WRU each); inputs: {vars(args)}")
    print(f"one restore task: {task_items_per_second:,.0f} items/s at most ({args.engine_us_per_item} us CPU per item)")
    # An eventually consistent scan costs half a read unit per 4 KB it reads.
    read_units = args.items * args.item_bytes / 4096 * 0.5
    scan_client = args.scan_segments * 1e6 / args.scan_us_per_item
    scan_table = args.initial_rru * 4096 / args.item_bytes * 2  # items/s the table's read units allow
    scan_seconds = args.items / min(scan_client, scan_table)

    # The drill's RTO runs from the scratch table's creation to the end of validation: the
    # restore has what the scan leaves of it.
    restore_deadline = args.rto_hours * HOUR - scan_seconds
    per_task = task_items_per_second * units_per_item  # write units a second
    for name, start_wru in scenarios:
        endpoint = Endpoint(start_wru, args.doubling_minutes * 60, args.table_quota_wru)
        restore = endpoint.seconds_to_write(write_units, args.tasks * per_task)
        needed = restore_tasks_for(restore_deadline, write_units, endpoint, per_task) if restore_deadline > 0 else None
        alone = restore_tasks_for(args.rto_hours * HOUR, write_units, endpoint, per_task)
        print(f"  {name}: restore with {args.tasks} task(s) {restore / HOUR:.2f} h;", end=" ")
        print(f"tasks for the restore and the scan within a {args.rto_hours:g} h RTO:", end=" ")
        print(needed if needed else "none suffice (the table is the limit)", end="; ")
        print(f"for the restore alone: {alone if alone else 'none suffice'}")

    print(f"  validation scan, {args.scan_segments} segments: {scan_seconds / HOUR:.2f} h", end=" ")
    print(f"(client {scan_client:,.0f} items/s, table {scan_table:,.0f} items/s)")

    gigabytes = args.items * (args.item_bytes + args.storage_overhead_bytes) / 1e9
    write_cost = write_units / 1e6 * args.price_per_million_wru
    read_cost = read_units / 1e6 * args.price_per_million_rru
    storage_per_hour = gigabytes * args.price_per_gb_month / HOURS_PER_MONTH
    print(f"  cost: writes ${write_cost:,.2f} ({write_units:,.0f} WRU), scan ${read_cost:,.2f} ({read_units:,.0f} RRU)")
    print(f"  storage: ${storage_per_hour:,.4f} per hour the scratch table ({gigabytes:,.1f} GB) lives")
    print("  not included: WarmThroughput, S3 GETs, the Airflow workers' time")


if __name__ == "__main__":
    main()
