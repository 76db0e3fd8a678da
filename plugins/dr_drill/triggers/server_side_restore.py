"""Waiting in the triggerer for DynamoDB, so that no worker slot is held for minutes or hours.

Two waits: a server-side restore filling the scratch table (the restore step), and a scratch
table settling (ACTIVE, or gone) before the teardown can delete it. Each poll runs the blocking
describe call in a thread, on a client with the drill's retry budget, so transient faults are
ridden out; anything else, and the deadline, become an event whose reason reaches the evidence.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
from airflow.triggers.base import BaseTrigger, TriggerEvent
from botocore.config import Config

from dr_drill.aws.retries import RetryBudget, botocore_retries
from dr_drill.aws.scratch_tables import describe_table
from dr_drill.aws.server_side import table_restore_state
from dr_drill.aws.sources import Clients, adapter_for

# A poll's own budget: shorter than the step's, as the next poll is a retry too.
POLL_RETRY_WINDOW_SECONDS = 60.0


class _DynamoDBWait(BaseTrigger):
    """Poll until ``_state`` says done or failed, or the deadline passes; every event carries ``carried``."""

    def __init__(
        self,
        *,
        table_name: str,
        deadline: str,
        poll_seconds: float = 10.0,
        aws_conn_id: str = "aws_default",
        region_name: str | None = None,
    ) -> None:
        super().__init__()
        self.table_name = table_name
        self.deadline = deadline
        self.poll_seconds = poll_seconds
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name

    def _kwargs(self) -> dict[str, Any]:
        return {
            "table_name": self.table_name,
            "deadline": self.deadline,
            "poll_seconds": self.poll_seconds,
            "aws_conn_id": self.aws_conn_id,
            "region_name": self.region_name,
        }

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return f"{type(self).__module__}.{type(self).__qualname__}", self._kwargs()

    def _dynamodb(self) -> Any:
        return self._client("dynamodb")

    def _client(self, client_type: str) -> Any:
        hook = AwsBaseHook(
            aws_conn_id=self.aws_conn_id,
            region_name=self.region_name,
            client_type=client_type,
            config=Config(retries=botocore_retries()),
        )
        return RetryBudget(POLL_RETRY_WINDOW_SECONDS).install(hook.conn)

    @property
    def carried(self) -> dict[str, Any]:
        return {}

    def _state(self, ddb: Any) -> dict[str, Any]:
        raise NotImplementedError

    def _poll(self, ddb: Any | None) -> tuple[Any, dict[str, Any]]:
        try:
            ddb = ddb or self._dynamodb()
            return ddb, self._state(ddb)
        except Exception as err:  # noqa: BLE001 - reported as the event, for the task to fail with
            return ddb, {"state": "failed", "reason": f"polling {self.table_name} failed: {type(err).__name__}: {err}"}

    async def run(self) -> AsyncIterator[TriggerEvent]:
        deadline = datetime.fromisoformat(self.deadline)
        started = time.monotonic()
        ddb = None
        polls = 0
        while True:
            ddb, status = await asyncio.to_thread(self._poll, ddb)
            polls += 1
            elapsed = {"waited_seconds": round(time.monotonic() - started, 1), "polls": polls}
            if status["state"] in ("done", "failed"):
                yield TriggerEvent({**status, **self.carried, **elapsed})
                return
            if datetime.now(UTC) >= deadline:
                yield TriggerEvent({"state": "timeout", "deadline": self.deadline, **self.carried, **elapsed})
                return
            self.log.info(
                "%s still not ready after %.0f s (%s)",
                self.table_name,
                elapsed["waited_seconds"],
                ", ".join(f"{key}={value}" for key, value in status.items() if key != "state"),
            )
            await asyncio.sleep(self.poll_seconds)


class ServerSideRestoreTrigger(_DynamoDBWait):
    """Poll a server-side restore into the scratch table until it is done, failed or past its deadline.

    Every event carries back what the restore step needs to finish: ``import_arn`` and ``accepted_at``.

    :param source: the drill's backup source, whose adapter knows how its restore reports progress.
    :param table_name: the scratch table being restored.
    :param deadline: ISO 8601 UTC time after which the wait gives up (the drill then fails clearly).
    :param import_arn: the ImportTable's ARN, for an s3_export's import.
    :param accepted_at: ISO 8601 UTC time DynamoDB accepted the restore request (the table's making).
    :param poll_seconds: seconds between two DescribeTable/DescribeImport calls.
    :param recovery: the drill's recovery block, when the restore runs on the recovery side (an
        AWS Backup copy's restore job is followed there; ``import_arn`` is then the job's id).
    """

    def __init__(
        self,
        *,
        source: str,
        import_arn: str | None = None,
        accepted_at: str | None = None,
        recovery: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.source = source
        self.import_arn = import_arn
        self.accepted_at = accepted_at
        self.recovery = recovery

    def _kwargs(self) -> dict[str, Any]:
        return {**super()._kwargs(), "source": self.source, "recovery": self.recovery, **self.carried}

    @property
    def carried(self) -> dict[str, Any]:
        return {"import_arn": self.import_arn, "accepted_at": self.accepted_at}

    def _state(self, ddb: Any) -> dict[str, Any]:
        clients = Clients(s3=lambda: None, dynamodb=lambda: ddb, backup=lambda: self._client("backup"))
        adapter = adapter_for(self.source, clients, recovery=self.recovery)
        return adapter.restore_state(self.table_name, self.import_arn)


class ScratchTableSettledTrigger(_DynamoDBWait):
    """Poll the scratch table until DynamoDB will delete it (ACTIVE, restore finished) or it is gone."""

    def _state(self, ddb: Any) -> dict[str, Any]:
        if describe_table(ddb, self.table_name) is None:
            return {"state": "done", "table_status": None}
        return table_restore_state(ddb, self.table_name)
