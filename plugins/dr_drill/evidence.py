"""Command line for auditors and operators: verify evidence chains, build an evidence pack.

    python -m dr_drill.evidence verify-chain --table app-users [--table orders] [--bucket B]
    python -m dr_drill.evidence pack --table app-users --from 2026-01-01 --to 2026-03-31 --out DIR
    python -m dr_drill.evidence index --table app-users   # rebuild the history page's index from the records

AWS is reached with boto3's usual credentials and region; ``--endpoint-url`` points it at
an emulator. The bucket defaults to the EVIDENCE_BUCKET environment variable. Exit status:
0 when every chain is intact, 1 when a chain is broken (the pack is still written), 2 on
bad usage.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from dr_drill.core.evidence.chain import ChainVerdict, verify_chain
from dr_drill.core.report.html import build_pack, render_pack

_TABLE = re.compile(r"^[a-zA-Z0-9_.-]{3,255}$")


def _table_name(value: str) -> str:
    if not _TABLE.match(value):
        raise argparse.ArgumentTypeError(f"{value!r} is not a DynamoDB table name")
    return value


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date (YYYY-MM-DD)") from err


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m dr_drill.evidence", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--table", dest="tables", action="append", required=True, type=_table_name)
    common.add_argument("--bucket", default=os.environ.get("EVIDENCE_BUCKET"), help="default: $EVIDENCE_BUCKET")
    common.add_argument("--endpoint-url", default=None, help="an S3 endpoint other than AWS's (an emulator)")
    common.add_argument("--region", default=None)
    verify = commands.add_parser("verify-chain", parents=[common], help="walk each table's records, report a break")
    verify.add_argument("--json", action="store_true", help="print the verdicts as JSON")
    pack = commands.add_parser("pack", parents=[common], help="one HTML page (+ JSON) for a date range")
    pack.add_argument("--from", dest="date_from", required=True, type=_day)
    pack.add_argument("--to", dest="date_to", required=True, type=_day)
    pack.add_argument("--out", type=Path, default=Path("."), help="folder for the pack (created if needed)")
    commands.add_parser("index", parents=[common], help="rebuild each table's drill-history index from its records")
    return parser


def _s3(args: argparse.Namespace) -> Any:
    import boto3

    return boto3.client("s3", endpoint_url=args.endpoint_url, region_name=args.region)


def verify_tables(s3: Any, bucket: str, tables: list[str]) -> dict[str, ChainVerdict]:
    """Return each table's chain verdict, reading every record of the table (all pages)."""
    from dr_drill.aws.evidence_store import chain_entries

    return {table: verify_chain(table, chain_entries(s3, bucket, table)) for table in tables}


def _describe(verdict: ChainVerdict) -> str:
    if verdict.intact:
        head = f"; head sequence {verdict.head_sequence} sha256 {verdict.head_sha256}" if verdict.head_sha256 else ""
        return f"{verdict.table_name}: chain intact, {verdict.records_checked} records{head}"
    return f"{verdict.table_name}: chain BROKEN ({verdict.break_kind}) at {verdict.break_key}: {verdict.detail}"


def _verify_command(args: argparse.Namespace) -> int:
    verdicts = verify_tables(_s3(args), args.bucket, args.tables)
    if args.json:
        print(json.dumps({table: v.to_dict() for table, v in verdicts.items()}, indent=2))
    else:
        for verdict in verdicts.values():
            print(_describe(verdict))
    return 0 if all(v.intact for v in verdicts.values()) else 1


def evidence_pack(
    s3: Any, bucket: str, tables: list[str], date_from: date, date_to: date
) -> tuple[dict[str, Any], dict[str, ChainVerdict]]:
    """Return the evidence pack of ``tables`` for the range, and each table's chain verdict over all its records."""
    from dr_drill.aws.evidence_store import list_evidence_keys, read_evidence

    verdicts = verify_tables(s3, bucket, tables)
    records = {
        table: [r for key in list_evidence_keys(s3, bucket, table) if (r := read_evidence(s3, bucket, key))]
        for table in tables
    }
    pack = build_pack(
        records,
        {table: v.to_dict() for table, v in verdicts.items()},
        date_from=date_from,
        date_to=date_to,
        generated_at=datetime.now(UTC).replace(microsecond=0),
    )
    return pack, verdicts


def _pack_command(args: argparse.Namespace) -> int:
    if args.date_to < args.date_from:
        print("--to is before --from", file=sys.stderr)
        return 2
    pack, verdicts = evidence_pack(_s3(args), args.bucket, args.tables, args.date_from, args.date_to)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"evidence-pack-{args.date_from}-to-{args.date_to}"
    stem.with_suffix(".json").write_text(json.dumps(pack, indent=2, sort_keys=True))
    stem.with_suffix(".html").write_text(render_pack(pack))
    print(f"{pack['drill_count']} drills, {pack['passed']} passed; wrote {stem}.html and {stem}.json")
    for verdict in verdicts.values():
        print(_describe(verdict))
    return 0 if pack["chains_intact"] else 1


def _index_command(args: argparse.Namespace) -> int:
    from dr_drill.aws.evidence_index import rebuild_index

    s3 = _s3(args)
    for table in args.tables:
        index = rebuild_index(s3, args.bucket, table)
        print(f"{table}: indexed {len(index['entries'])} records")
    return 0


_COMMANDS = {"verify-chain": _verify_command, "pack": _pack_command, "index": _index_command}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if not args.bucket:
        print("no bucket: give --bucket or set EVIDENCE_BUCKET", file=sys.stderr)
        return 2
    return _COMMANDS[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
