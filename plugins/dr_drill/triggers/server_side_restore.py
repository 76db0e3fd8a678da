"""Waiting for a server-side restore in the triggerer, so no worker slot is held for minutes or hours."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
from airflow.triggers.base import BaseTrigger, TriggerEvent
from botocore.config import Config

from dr_drill.aws.retries import botocore_retries
from dr_drill.aws.sources import Clients, adapter_for


class ServerSideRestoreTrigger(BaseTrigger):
    """Poll a server-side restore into the scratch table until it is done, failed or past its deadline.

    An error while polling becomes a ``failed`` event with its reason, so the restore step
    fails with it rather than the trigger dying without a word. Every event carries back what
    the restore step needs to finish: ``import_arn`` and ``accepted_at``.

    :param source: the drill's backup source, whose adapter knows how its restore reports progress.
    :param table_name: the scratch table being restored.
    :param deadline: ISO 8601 UTC time after which the wait gives up (the drill then fails clearly).
    :param import_arn: the ImportTable's ARN, for an s3_export's import.
    :param accepted_at: ISO 8601 UTC time DynamoDB accepted the restore request (the table's making).
    :param poll_seconds: seconds between two DescribeTable/DescribeImport calls.
    """

    def __init__(
        self,
        *,
        source: str,
        table_name: str,
        deadline: str,
        import_arn: str | None = None,
        accepted_at: str | None = None,
        poll_seconds: float = 10.0,
        aws_conn_id: str = "aws_default",
        region_name: str | None = None,
    ) -> None:
        super().__init__()
        self.source = source
        self.table_name = table_name
        self.deadline = deadline
        self.import_arn = import_arn
        self.accepted_at = accepted_at
        self.poll_seconds = poll_seconds
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "source": self.source,
                "table_name": self.table_name,
                "deadline": self.deadline,
                "import_arn": self.import_arn,
                "accepted_at": self.accepted_at,
                "poll_seconds": self.poll_seconds,
                "aws_conn_id": self.aws_conn_id,
                "region_name": self.region_name,
            },
        )

    def _dynamodb(self) -> Any:
        hook = AwsBaseHook(
            aws_conn_id=self.aws_conn_id,
            region_name=self.region_name,
            client_type="dynamodb",
            config=Config(retries=botocore_retries()),
        )
        return hook.conn

    async def run(self) -> AsyncIterator[TriggerEvent]:
        # No aiobotocore here: the blocking describe calls run in a thread, one every poll.
        ddb = await asyncio.to_thread(self._dynamodb)
        adapter = adapter_for(self.source, Clients(s3=lambda: None, dynamodb=lambda: ddb))
        deadline = datetime.fromisoformat(self.deadline)
        started = time.monotonic()
        carried = {"import_arn": self.import_arn, "accepted_at": self.accepted_at}
        while True:
            try:
                status = await asyncio.to_thread(adapter.restore_state, self.table_name, self.import_arn)
            except Exception as err:  # noqa: BLE001 - reported as the event, for the restore step to fail with
                status = {"state": "failed", "reason": f"polling the restore failed: {type(err).__name__}: {err}"}
            elapsed = time.monotonic() - started
            if status["state"] in ("done", "failed"):
                yield TriggerEvent({**status, **carried, "waited_seconds": round(elapsed, 1)})
                return
            if datetime.now(UTC) >= deadline:
                timeout = {"state": "timeout", "waited_seconds": round(elapsed, 1), "deadline": self.deadline}
                yield TriggerEvent({**timeout, **carried})
                return
            self.log.info(
                "Restore into %s still running after %.0f s (%s)",
                self.table_name,
                elapsed,
                ", ".join(f"{key}={value}" for key, value in status.items() if key != "state"),
            )
            await asyncio.sleep(self.poll_seconds)
