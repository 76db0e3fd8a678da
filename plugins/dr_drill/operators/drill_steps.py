"""One small operator per drill step.

Each takes the table's drill spec (a dict, templated so a mapped task group can hand it
over), gets its boto3 clients from the Amazon provider's hooks, calls the core and the aws
adapters, and returns a small JSON-able dict. A step that fails pushes its reason to XCom
under ``drill_failure`` so that the record step can name it; findings about the backup or
the restore (``DrillError``) fail at once without retries, while other errors (a network
blip, say) keep the task's retries.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
from airflow.providers.amazon.aws.hooks.s3 import S3Hook
from airflow.providers.amazon.aws.hooks.sns import SnsHook
from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowFailException
from botocore.config import Config

from dr_drill.aws.evidence_store import put_evidence
from dr_drill.aws.restore import RestoreStats, restore_items
from dr_drill.aws.s3_backups import locate_json_backup, open_backup
from dr_drill.aws.scratch_tables import (
    KeySchema,
    assert_scratch_table,
    create_scratch_table,
    delete_scratch_table,
    describe_table,
    source_key_schema,
)
from dr_drill.aws.validation import count_items
from dr_drill.core.errors import DrillError, RestoreIncomplete, ValidationFailed
from dr_drill.core.evidence import build_evidence, evidence_key, validate_evidence
from dr_drill.core.json_backup import iter_typed_items, verify_json_backup
from dr_drill.core.notification import (
    METRIC_NAMESPACE,
    metric_data,
    notification_attributes,
    notification_message,
    notification_subject,
    notification_topic,
)
from dr_drill.core.selection import BackupRef

FAILURE_XCOM_KEY = "drill_failure"
_REASON_LIMIT = 1000


def _now() -> datetime:
    return datetime.now(UTC)


def _backup_ref(located: dict[str, Any]) -> BackupRef:
    return BackupRef(bucket=located["bucket"], key=located["key"], timestamp=None)


class DrillStepOperator(BaseOperator):
    """Base of the drill steps: the spec, the AWS connection, and failure reporting.

    :param spec: the table's drill spec, as the plan task resolved it.
    :param aws_conn_id: the Airflow connection to AWS.
    """

    template_fields: Sequence[str] = ("spec",)
    step: ClassVar[str]

    def __init__(self, *, spec: dict[str, Any], aws_conn_id: str = "aws_default", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spec = spec
        self.aws_conn_id = aws_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        try:
            return self.run(context)
        except DrillError as err:
            self._report_failure(context, err.reason, err.details)
            raise AirflowFailException(err.reason) from err
        except Exception as err:
            self._report_failure(context, f"{type(err).__name__}: {err}", None)
            raise

    def run(self, context: Context) -> dict[str, Any]:
        raise NotImplementedError

    def _report_failure(self, context: Context, reason: str, details: dict[str, Any] | None) -> None:
        self.log.error("Drill step %s failed for table %s: %s", self.step, self.spec["table_name"], reason)
        context["ti"].xcom_push(
            key=FAILURE_XCOM_KEY,
            value={"step": self.step, "reason": reason[:_REASON_LIMIT], "details": details},
        )

    def s3_client(self) -> Any:
        return S3Hook(aws_conn_id=self.aws_conn_id).get_conn()

    def dynamodb_client(self, max_pool_connections: int = 10) -> Any:
        # A plain client: DynamoDBHook's client belongs to a boto3 resource, which would
        # re-serialise our already typed items ({"S": ..} becoming a map).
        config = Config(max_pool_connections=max_pool_connections, retries={"mode": "standard"})
        return AwsBaseHook(aws_conn_id=self.aws_conn_id, client_type="dynamodb", config=config).conn


class LocateBackupOperator(DrillStepOperator):
    """Find the backup to drill: the explicit ``backup_file``, or the newest by the time in its name."""

    step = "locate"

    def run(self, context: Context) -> dict[str, Any]:
        spec = self.spec
        ref, considered = locate_json_backup(
            self.s3_client(), spec["backup_bucket"], spec["table_name"], spec["backup_file"]
        )
        self.log.info("Backup of %s: %s (%d candidates considered)", spec["table_name"], ref.location, considered)
        return {
            "bucket": ref.bucket,
            "key": ref.key,
            "location": ref.location,
            "name_timestamp": ref.timestamp.isoformat() if ref.timestamp else None,
            "candidates_considered": considered,
        }


class VerifyBackupOperator(DrillStepOperator):
    """Stream the backup once: structure, item count and the original checksum.

    :param located: what the locate step returned.
    """

    template_fields: Sequence[str] = ("spec", "located")
    step = "verify"

    def __init__(self, *, located: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.located = located

    def run(self, context: Context) -> dict[str, Any]:
        backup = open_backup(self.s3_client(), _backup_ref(self.located))
        self.log.info("Verifying %s (%d bytes)", self.located["location"], backup.size_bytes)
        started = time.monotonic()
        with backup.body:
            verified = verify_json_backup(backup.body, self.spec["table_name"])
        self.log.info("Verified %d items, checksum matches, in %.1f s", verified.item_count, time.monotonic() - started)
        return {
            "backup_timestamp": verified.backup_timestamp,
            "item_count": verified.item_count,
            "checksum_verified": True,
            "size_bytes": backup.size_bytes,
            "etag": backup.etag,
        }


class CreateScratchTableOperator(DrillStepOperator):
    """Create a new, empty scratch table with the source table's key schema (the setup task)."""

    step = "restore"

    def run(self, context: Context) -> dict[str, Any]:
        spec = self.spec
        ddb = self.dynamodb_client()
        started_at = _now()
        schema = source_key_schema(ddb, spec["table_name"])
        self.log.info("Creating scratch table %s for %s", spec["scratch_table"], spec["table_name"])
        create_scratch_table(
            ddb,
            spec["scratch_table"],
            source_table=spec["table_name"],
            schema=schema,
            prefix=spec["scratch_prefix"],
            run_id=spec["run_id"],
        )
        return {
            "name": spec["scratch_table"],
            "started_at": started_at.isoformat(),
            "created_at": _now().isoformat(),
            "key_schema": schema.key_schema,
            "attribute_definitions": schema.attribute_definitions,
        }


class RestoreBackupOperator(DrillStepOperator):
    """Stream the backup's items into the scratch table with concurrent, retried batch writes.

    :param located: what the locate step returned.
    :param scratch: what the create-scratch-table step returned.
    :param workers: concurrent BatchWriteItem calls.
    """

    template_fields: Sequence[str] = ("spec", "located", "scratch")
    step = "restore"

    def __init__(self, *, located: dict[str, Any], scratch: dict[str, Any], workers: int = 8, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.located = located
        self.scratch = scratch
        self.workers = workers

    def run(self, context: Context) -> dict[str, Any]:
        spec = self.spec
        ddb = self.dynamodb_client(max_pool_connections=self.workers + 2)
        # Checked here, not trusted from the setup task: the restore writes only to this drill's table.
        assert_scratch_table(ddb, self.scratch["name"], prefix=spec["scratch_prefix"], run_id=spec["run_id"])
        key_names = KeySchema(self.scratch["key_schema"], self.scratch["attribute_definitions"]).key_names
        backup = open_backup(self.s3_client(), _backup_ref(self.located))
        clock = time.monotonic()

        def progress(stats: RestoreStats) -> None:
            elapsed = time.monotonic() - clock
            self.log.info(
                "Restored %d items (%d read) in %.0f s, %.0f items/s",
                stats.items_restored,
                stats.items_read,
                elapsed,
                stats.items_restored / elapsed if elapsed else 0.0,
            )

        with backup.body:
            stats = restore_items(
                ddb,
                self.scratch["name"],
                iter_typed_items(backup.body),
                key_names=key_names,
                batch_size=spec["batch_size"],
                workers=self.workers,
                on_progress=progress,
            )
        progress(stats)
        result = {
            **stats.as_dict(),
            "workers": self.workers,
            "started_at": self.scratch["started_at"],
            "finished_at": _now().isoformat(),
        }
        if stats.items_failed:
            reasons = "; ".join(f"{count} x {reason}" for reason, count in stats.rejection_reasons.items())
            raise RestoreIncomplete(
                f"{stats.items_failed} of {stats.items_read} items could not be written: "
                f"{reasons or 'retries exhausted'} (first hashed keys: {', '.join(stats.rejected_keys[:5]) or 'none'})",
                details=result,
            )
        return result


class ValidateRestoreOperator(DrillStepOperator):
    """Prove the restore: the exact item count from a full scan equals the backup's item count.

    :param verified: what the verify step returned.
    :param restored: what the restore step returned.
    """

    template_fields: Sequence[str] = ("spec", "verified", "restored")
    step = "validate"

    def __init__(self, *, verified: dict[str, Any], restored: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.verified = verified
        self.restored = restored

    def run(self, context: Context) -> dict[str, Any]:
        expected = self.verified["item_count"]
        actual = count_items(self.dynamodb_client(), self.spec["scratch_table"])
        result = {
            "passed": actual == expected,
            "expected_items": expected,
            "restored_items": actual,
            "finished_at": _now().isoformat(),
        }
        self.log.info("Scratch table holds %d items; the backup holds %d", actual, expected)
        if actual != expected:
            duplicates = self.restored.get("duplicate_keys", 0)
            hint = f" ({duplicates} duplicate keys in the backup)" if duplicates else ""
            raise ValidationFailed(f"scratch table holds {actual} items, the backup {expected}{hint}", details=result)
        return result


class DropScratchTableOperator(DrillStepOperator):
    """Delete the scratch table (the teardown task), unless the drill keeps it for inspection."""

    step = "restore"

    def run(self, context: Context) -> dict[str, Any]:
        spec = self.spec
        if spec["keep_scratch_table"]:
            self.log.info("Keeping scratch table %s as keep_scratch_table asks", spec["scratch_table"])
            return {"deleted": False, "kept": True}
        deleted = delete_scratch_table(
            self.dynamodb_client(), spec["scratch_table"], prefix=spec["scratch_prefix"], run_id=spec["run_id"]
        )
        self.log.info("Scratch table %s %s", spec["scratch_table"], "deleted" if deleted else "did not exist")
        return {"deleted": deleted, "kept": False, "deleted_at": _now().isoformat()}


class RecordDrillOperator(DrillStepOperator):
    """Write the evidence record, the metrics and the notification, for passed and failed drills.

    :param step_task_ids: task ids of locate, verify, create, restore and validate, by role.
    """

    template_fields: Sequence[str] = ("spec",)
    step = "record"
    _ROLES = ("locate", "verify", "create", "restore", "validate")

    def __init__(self, *, step_task_ids: dict[str, str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.step_task_ids = step_task_ids

    def _pull(self, context: Context, role: str, key: str = "return_value") -> Any:
        ti = context["ti"]
        return ti.xcom_pull(task_ids=self.step_task_ids[role], key=key, map_indexes=ti.map_index)

    def _outcome(self, context: Context) -> tuple[dict[str, Any | None], dict[str, Any] | None]:
        """Return each step's result and the first failure, inferred when a task died without one."""
        results: dict[str, Any | None] = dict.fromkeys(self._ROLES)
        for role in self._ROLES:
            results[role] = self._pull(context, role)
            if results[role] is not None:
                continue
            failure = self._pull(context, role, FAILURE_XCOM_KEY)
            if failure is None:
                reason = f"task {self.step_task_ids[role]} did not finish; see its log"
                failure = {"step": "restore" if role == "create" else role, "reason": reason}
            elif failure.get("details"):
                results[role] = failure["details"]
            return results, failure
        return results, None

    def run(self, context: Context) -> dict[str, Any]:
        spec = self.spec
        results, failure = self._outcome(context)
        ddb = self.dynamodb_client()
        record = build_evidence(
            spec,
            located=results["locate"],
            verified=results["verify"],
            restored=results["restore"],
            validated=results["validate"],
            scratch_deleted=describe_table(ddb, spec["scratch_table"]) is None,
            failure={"step": failure["step"], "reason": failure["reason"]} if failure else None,
            generated_at=_now(),
        )
        validate_evidence(record)
        evidence_uri = f"s3://{spec['evidence_bucket']}/{evidence_key(spec['table_name'], spec['drill_id'])}"
        # Each output is attempted even when another fails: a failed drill must still be heard of.
        errors = []
        for output in (self._store_evidence, self._publish_metrics, self._notify):
            try:
                output(record, evidence_uri)
            except Exception as err:  # noqa: BLE001 - collected and raised below
                self.log.error("Recording %s failed: %s: %s", output.__name__, type(err).__name__, err)
                errors.append(f"{output.__name__.lstrip('_')}: {type(err).__name__}: {err}")
        if errors:
            raise RuntimeError("; ".join(errors))
        self.log.info(
            "Drill %s of %s %s; evidence at %s", spec["drill_id"], spec["table_name"], record["status"], evidence_uri
        )
        return {"status": record["status"], "evidence_uri": evidence_uri, "failure": record["failure"]}

    def _store_evidence(self, record: dict[str, Any], evidence_uri: str) -> None:
        key = evidence_key(self.spec["table_name"], self.spec["drill_id"])
        put_evidence(self.s3_client(), self.spec["evidence_bucket"], key, record)

    def _publish_metrics(self, record: dict[str, Any], evidence_uri: str) -> None:
        AwsBaseHook(aws_conn_id=self.aws_conn_id, client_type="cloudwatch").conn.put_metric_data(
            Namespace=METRIC_NAMESPACE, MetricData=metric_data(record, _now())
        )

    def _notify(self, record: dict[str, Any], evidence_uri: str) -> None:
        topic = notification_topic(record["status"], self.spec["success_topic_arn"], self.spec["failure_topic_arn"])
        if not topic:
            self.log.warning("Neither SUCCESS_TOPIC_ARN nor FAILURE_TOPIC_ARN is set: nobody was notified")
            return
        SnsHook(aws_conn_id=self.aws_conn_id).get_conn().publish(
            TopicArn=topic,
            Subject=notification_subject(record),
            Message=notification_message(record, evidence_uri),
            MessageAttributes=notification_attributes(record),
        )
        self.log.info("Notified %s", topic)


class DrillVerdictOperator(BaseOperator):
    """Fail the task, and so the run, when the drill failed: a failed drill never ends green.

    :param outcome: what the record step returned.
    """

    template_fields: Sequence[str] = ("outcome",)

    def __init__(self, *, outcome: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.outcome = outcome

    def execute(self, context: Context) -> dict[str, Any]:
        if self.outcome["status"] != "passed":
            failure = self.outcome["failure"]
            raise AirflowFailException(
                f"drill failed at {failure['step']}: {failure['reason']} (evidence: {self.outcome['evidence_uri']})"
            )
        self.log.info("Drill passed; evidence at %s", self.outcome["evidence_uri"])
        return self.outcome
