"""Recording the drill (evidence, metrics, notification) and the verdict that fails the run."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from airflow.providers.amazon.aws.hooks.sns import SnsHook
from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowFailException

from dr_drill.aws.evidence_store import Retention, bucket_has_object_lock, latest_evidence, put_evidence, put_report
from dr_drill.aws.scratch_tables import describe_table
from dr_drill.constants import Step
from dr_drill.contracts import DrillOutcome, StepFailure
from dr_drill.core.evidence.notification import (
    METRIC_NAMESPACE,
    metric_data,
    notification_attributes,
    notification_message,
    notification_subject,
    notification_topic,
)
from dr_drill.core.evidence.record import build_evidence, evidence_key, report_key, validate_evidence
from dr_drill.core.report.html import render_drill_report
from dr_drill.operators.base import FAILURE_XCOM_KEY, DrillStepOperator, now
from dr_drill.operators.settings import setting


def run_facts(context: Context) -> dict[str, Any]:
    """Return who and what ran the drill, as far as Airflow knows it."""
    dag_run = context["dag_run"]
    run_type = getattr(dag_run, "run_type", None)
    return {
        "try_number": getattr(context["ti"], "try_number", None),
        "run_type": getattr(run_type, "value", run_type),
        "triggering_user": getattr(dag_run, "triggering_user_name", None),
    }


class RecordDrillOperator(DrillStepOperator):
    """Write the evidence record, the metrics and the notification, for passed and failed drills.

    Returns a ``DrillOutcome``. Each record is linked to the table's previous one
    (``dr_drill.core.evidence.chain``) and stored with an Object Lock retention when the
    evidence bucket has Object Lock (EVIDENCE_RETENTION_MODE, default COMPLIANCE;
    EVIDENCE_RETENTION_DAYS, default 400); its HTML report goes beside it, at the same key
    with ``.html``.

    :param step_task_ids: task ids of locate, verify, create, restore and validate, by role,
        and optionally ``drop`` (the teardown) for when the scratch table was deleted.
    """

    template_fields: Sequence[str] = ("spec",)
    step = Step.RECORD
    # Each role's step, for a failure inferred when its task died without saying why.
    _ROLES = {
        "locate": Step.LOCATE,
        "verify": Step.VERIFY,
        "create": Step.CREATE_SCRATCH_TABLE,
        "restore": Step.RESTORE,
        "validate": Step.VALIDATE,
    }

    def __init__(self, *, step_task_ids: dict[str, str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.step_task_ids = step_task_ids

    def _outcome(self, context: Context) -> tuple[dict[str, Any | None], StepFailure | None]:
        """Return each step's result (as XCom holds it) and the first failure, inferred when a task died without one."""
        results: dict[str, Any | None] = dict.fromkeys(self._ROLES)
        for role, step in self._ROLES.items():
            task_id = self.step_task_ids[role]
            results[role] = self.pull(context, task_id)
            if results[role] is not None:
                continue
            pushed = self.pull(context, task_id, FAILURE_XCOM_KEY)
            failure = StepFailure.from_xcom(pushed) if pushed else None
            if failure is None:
                failure = StepFailure(step=step, reason=f"task {task_id} did not finish; see its log")
            elif failure.details:
                results[role] = failure.details
            return results, failure
        return results, None

    def run(self, context: Context) -> dict[str, Any]:
        spec = self.drill
        results, failure = self._outcome(context)
        dropped = self.pull(context, self.step_task_ids["drop"]) if "drop" in self.step_task_ids else None
        key = evidence_key(spec.table_name, spec.drill_id)
        evidence_uri = f"s3://{spec.evidence_bucket}/{key}"
        clients = self.clients()
        # Each output is attempted even when another fails: a failed drill must still be heard of.
        errors = []
        storage = previous = None
        try:
            storage, previous = self._storage(clients.s3(), key)
        except Exception as err:  # noqa: BLE001 - collected and raised below
            errors.append(self._output_failed("store_evidence", err))
        record = build_evidence(
            spec,
            located=results["locate"],
            verified=results["verify"],
            restored=results["restore"],
            validated=results["validate"],
            scratch_deleted=describe_table(clients.dynamodb(), spec.scratch_table) is None,
            failure=failure,
            generated_at=now(),
            created=results["create"],
            dropped=dropped,
            run=run_facts(context),
            previous=previous,
            storage=storage,
        )
        validate_evidence(record)
        report_uri: str | None = None
        if storage is not None:
            try:
                self._store(clients.s3(), record, storage)
                report_uri = f"s3://{spec.evidence_bucket}/{storage['report_key']}"
            except Exception as err:  # noqa: BLE001 - collected and raised below
                errors.append(self._output_failed("store_evidence", err))
        for output in (self._publish_metrics, self._notify):
            try:
                output(record, evidence_uri, report_uri)
            except Exception as err:  # noqa: BLE001 - collected and raised below
                errors.append(self._output_failed(output.__name__.lstrip("_"), err))
        if errors:
            raise RuntimeError("; ".join(errors))
        self.log.info(
            "Drill %s of %s %s; evidence at %s", spec.drill_id, spec.table_name, record["status"], evidence_uri
        )
        return DrillOutcome(
            status=record["status"],
            evidence_uri=evidence_uri,
            report_uri=report_uri,
            evidence_sha256=record["evidence_sha256"],
            failure=record["failure"],
        ).to_xcom()

    def _output_failed(self, name: str, err: Exception) -> str:
        self.log.error("Recording %s failed: %s: %s", name, type(err).__name__, err)
        return f"{name}: {type(err).__name__}: {err}"

    def _storage(self, s3: Any, key: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """Return where the record goes (with its Object Lock retention) and the table's previous record."""
        bucket = self.drill.evidence_bucket
        retention = Retention.from_settings(setting("EVIDENCE_RETENTION_MODE"), setting("EVIDENCE_RETENTION_DAYS"))
        locked = bucket_has_object_lock(s3, bucket)
        retain_until = retention.until(now()) if locked else None
        storage = {
            "bucket": bucket,
            "key": key,
            "report_key": report_key(key),
            "object_lock": locked,
            "retention_mode": retention.mode if locked else None,
            "retain_until": retain_until.isoformat() if retain_until else None,
        }
        return storage, latest_evidence(s3, bucket, self.drill.table_name, exclude_key=key)

    def _store(self, s3: Any, record: dict[str, Any], storage: dict[str, Any]) -> None:
        """Store the sealed record and its report, locked until ``retain_until`` where the bucket allows."""
        bucket = storage["bucket"]
        lock = None
        if storage["retain_until"]:
            lock = (storage["retention_mode"], datetime.fromisoformat(storage["retain_until"]))
        else:
            self.log.warning("Evidence bucket %s has no Object Lock: the record is stored but not write-once", bucket)
        put_evidence(s3, bucket, storage["key"], record, lock)
        put_report(s3, bucket, storage["report_key"], render_drill_report(record), lock)
        self.log.info(
            "Stored evidence %s (sequence %s, sha256 %s)",
            storage["key"],
            record["evidence_sequence"],
            record["evidence_sha256"],
        )

    def _publish_metrics(self, record: dict[str, Any], evidence_uri: str, report_uri: str | None) -> None:
        self.aws_client("cloudwatch").put_metric_data(Namespace=METRIC_NAMESPACE, MetricData=metric_data(record, now()))

    def _notify(self, record: dict[str, Any], evidence_uri: str, report_uri: str | None) -> None:
        spec = self.drill
        topic = notification_topic(record["status"], spec.success_topic_arn, spec.failure_topic_arn)
        if not topic:
            self.log.warning("Neither SUCCESS_TOPIC_ARN nor FAILURE_TOPIC_ARN is set: nobody was notified")
            return
        SnsHook(**self._aws_kwargs(), config=self._config()).publish_to_target(
            target_arn=topic,
            subject=notification_subject(record),
            message=notification_message(record, evidence_uri, report_uri),
            message_attributes=notification_attributes(record),
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
        outcome = DrillOutcome.from_xcom(self.outcome)
        if outcome.status != "passed":
            failure = outcome.failure or {}
            raise AirflowFailException(
                f"drill failed at {failure.get('step')}: {failure.get('reason')} (evidence: {outcome.evidence_uri},"
                f" report: {outcome.report_uri})"
            )
        self.log.info("Drill passed; evidence at %s", outcome.evidence_uri)
        return outcome.to_xcom()
