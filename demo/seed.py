"""Seed an AWS emulator with everything the deployed drill can restore, from any machine that reaches it.

``make demo`` seeds its own emulator with ``seed_account``; a deployment needs more: the compose
file's init job (``python -m demo.seed --endpoint-url http://aws:5000``) and the deployment test
(tests/deployment) call ``seed_deployment`` on their emulator, so that what the compose UI shows and
what the test proves start from the same account:

- the demo's source tables ``app-users`` and ``orders``, three nightly JSON backups of each
  (``s3_json``), two topics with an SQS queue subscribed, the backup and evidence buckets;
- an on-demand DynamoDB backup of ``orders`` (``native_backup``, restored server-side);
- a DynamoDB "Export to S3" of ``app-users`` under ``exports/app-users`` in four data files
  (``s3_export``, which ``restore_tasks`` can split over several restore tasks).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from demo.emulator import emulator_client
from demo.run_demo import BACKUP_BUCKET, DEMO_TABLES, DemoAccount, seed_account
from demo.sample_data import sample_items
from demo.sample_exports import put_export, typed_items

NATIVE_BACKUP_TABLE = "orders"
EXPORT_TABLE = "app-users"
EXPORT_PREFIX = "exports/app-users"
EXPORT_FILES = 4


@dataclass(frozen=True)
class SeededDeployment:
    account: DemoAccount
    native_backup_arn: str
    export_arn: str
    export_data_files: int


class EmulatorEndpoint:
    """An emulator someone else started (a compose service), reached at ``endpoint_url``."""

    def __init__(self, endpoint_url: str) -> None:
        self.endpoint_url = endpoint_url

    def client(self, service: str) -> Any:
        return emulator_client(self.endpoint_url, service)


def seed_deployment(emulator: Any, now: datetime, tables: dict[str, int] = DEMO_TABLES) -> SeededDeployment:
    """Seed the demo account, a native backup of ``orders`` and a four-file export of ``app-users``.

    ``tables`` gives the item count of each table (both must be there); the demo's by default.
    """
    account = seed_account(emulator, tables, now=now)
    backup = emulator.client("dynamodb").create_backup(TableName=NATIVE_BACKUP_TABLE, BackupName="orders-nightly")
    items = typed_items(sample_items(EXPORT_TABLE, tables[EXPORT_TABLE]))
    export = put_export(
        emulator.client("s3"),
        BACKUP_BUCKET,
        EXPORT_PREFIX,
        EXPORT_TABLE,
        items,
        now - timedelta(hours=1),
        files=EXPORT_FILES,
        empty_files=0,
    )
    return SeededDeployment(
        account=account,
        native_backup_arn=backup["BackupDetails"]["BackupArn"],
        export_arn=export.export_arn,
        export_data_files=len(export.data_keys),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo.seed", description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint-url", required=True, help="the emulator, e.g. http://aws:5000")
    args = parser.parse_args(argv)
    seeded = seed_deployment(EmulatorEndpoint(args.endpoint_url), now=datetime.now(UTC))
    print(json.dumps(asdict(seeded), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
