"""Waiting for a server-side restore in the triggerer, so no worker slot is held for minutes or hours."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
from airflow.triggers.base import BaseTrigger, TriggerEvent

from dr_drill.aws.server_side_restore import server_side_status


class ServerSideRestoreTrigger(BaseTrigger):
    """Poll a server-side restore into the scratch table until it is done, failed or past its deadline.

    :param method: restore_from_backup, restore_to_point_in_time or import_table.
    :param table_name: the scratch table being restored.
    :param deadline: ISO 8601 UTC time after which the wait gives up (the drill then fails clearly).
    :param import_arn: the ImportTable's ARN, for import_table.
    :param poll_seconds: seconds between two DescribeTable/DescribeImport calls.
    """

    def __init__(
        self,
        *,
        method: str,
        table_name: str,
        deadline: str,
        import_arn: str | None = None,
        poll_seconds: float = 10.0,
        aws_conn_id: str = "aws_default",
    ) -> None:
        super().__init__()
        self.method = method
        self.table_name = table_name
        self.deadline = deadline
        self.import_arn = import_arn
        self.poll_seconds = poll_seconds
        self.aws_conn_id = aws_conn_id

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "method": self.method,
                "table_name": self.table_name,
                "deadline": self.deadline,
                "import_arn": self.import_arn,
                "poll_seconds": self.poll_seconds,
                "aws_conn_id": self.aws_conn_id,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        # No aiobotocore here: the blocking describe calls run in a thread, one every poll.
        ddb = await asyncio.to_thread(lambda: AwsBaseHook(aws_conn_id=self.aws_conn_id, client_type="dynamodb").conn)
        deadline = datetime.fromisoformat(self.deadline)
        started = time.monotonic()
        while True:
            status = await asyncio.to_thread(
                server_side_status, ddb, method=self.method, name=self.table_name, import_arn=self.import_arn
            )
            elapsed = time.monotonic() - started
            if status["state"] in ("done", "failed"):
                yield TriggerEvent({**status, "waited_seconds": round(elapsed, 1)})
                return
            if datetime.now(UTC) >= deadline:
                yield TriggerEvent({"state": "timeout", "waited_seconds": round(elapsed, 1), "deadline": self.deadline})
                return
            self.log.info(
                "%s into %s still running after %.0f s (%s)",
                self.method,
                self.table_name,
                elapsed,
                ", ".join(f"{key}={value}" for key, value in status.items() if key != "state"),
            )
            await asyncio.sleep(self.poll_seconds)
