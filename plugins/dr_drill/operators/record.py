"""Recording the drill (evidence, metrics, notification) and the verdict that fails the run."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
from airflow.providers.amazon.aws.hooks.sns import SnsHook
from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowFailException

from dr_drill.aws.evidence_store import Retention, bucket_has_object_lock, latest_evidence, put_evidence, put_report
from dr_drill.aws.scratch_tables import (
    describe_table,
)
from dr_drill.core.evidence import build_evidence, evidence_key, report_key, seal_evidence, validate_evidence
from dr_drill.core.notification import (
    METRIC_NAMESPACE,
    metric_data,
    notification_attributes,
    notification_message,
    notification_subject,
    notification_topic,
)
from dr_drill.core.report import render_drill_report
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

    Each record is linked to the table's previous one (``dr_drill.core.chain``) and stored
    with an Object Lock retention when the evidence bucket has Object Lock
    (EVIDENCE_RETENTION_MODE, default COMPLIANCE; EVIDENCE_RETENTION_DAYS, default 400); its
    HTML report goes beside it, at the same key with ``.html``.

    :param step_task_ids: task ids of locate, verify, create, restore and validate, by role,
        and optionally ``drop`` (the teardown) for when the scratch table was deleted.
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
        dropped = self.step_task_ids.get("drop") and self._pull(context, "drop")
        record = build_evidence(
            spec,
            located=results["locate"],
            verified=results["verify"],
            restored=results["restore"],
            validated=results["validate"],
            scratch_deleted=describe_table(ddb, spec["scratch_table"]) is None,
            failure={"step": failure["step"], "reason": failure["reason"]} if failure else None,
            generated_at=now(),
            created=results["create"],
            dropped=dropped or None,
            run=run_facts(context),
        )
        validate_evidence(record)
        key = evidence_key(spec["table_name"], spec["drill_id"])
        evidence_uri = f"s3://{spec['evidence_bucket']}/{key}"
        report_uri: str | None = None
        # Each output is attempted even when another fails: a failed drill must still be heard of.
        errors = []
        try:
            record = self._store_evidence(record, key)
            report_uri = f"s3://{spec['evidence_bucket']}/{report_key(key)}"
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
            "Drill %s of %s %s; evidence at %s", spec["drill_id"], spec["table_name"], record["status"], evidence_uri
        )
        return {
            "status": record["status"],
            "evidence_uri": evidence_uri,
            "report_uri": report_uri,
            "evidence_sha256": record["evidence_sha256"],
            "failure": record["failure"],
        }

    def _output_failed(self, name: str, err: Exception) -> str:
        self.log.error("Recording %s failed: %s: %s", name, type(err).__name__, err)
        return f"{name}: {type(err).__name__}: {err}"

    def _store_evidence(self, record: dict[str, Any], key: str) -> dict[str, Any]:
        """Link the record to the table's previous one, lock it where the bucket allows, store it and its report."""
        s3, bucket = self.s3_client(), self.spec["evidence_bucket"]
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
        previous = latest_evidence(s3, bucket, self.spec["table_name"], exclude_key=key)
        record = seal_evidence(record, previous=previous, storage=storage)
        validate_evidence(record)
        lock = (retention.mode, retain_until) if retain_until else None
        if not locked:
            self.log.warning("Evidence bucket %s has no Object Lock: the record is stored but not write-once", bucket)
        put_evidence(s3, bucket, key, record, lock)
        put_report(s3, bucket, storage["report_key"], render_drill_report(record), lock)
        self.log.info(
            "Stored evidence %s (sequence %s, sha256 %s)", key, record["evidence_sequence"], record["evidence_sha256"]
        )
        return record

    def _publish_metrics(self, record: dict[str, Any], evidence_uri: str, report_uri: str | None) -> None:
        AwsBaseHook(aws_conn_id=self.aws_conn_id, client_type="cloudwatch").conn.put_metric_data(
            Namespace=METRIC_NAMESPACE, MetricData=metric_data(record, now())
        )

    def _notify(self, record: dict[str, Any], evidence_uri: str, report_uri: str | None) -> None:
        topic = notification_topic(record["status"], self.spec["success_topic_arn"], self.spec["failure_topic_arn"])
        if not topic:
            self.log.warning("Neither SUCCESS_TOPIC_ARN nor FAILURE_TOPIC_ARN is set: nobody was notified")
            return
        SnsHook(aws_conn_id=self.aws_conn_id).get_conn().publish(
            TopicArn=topic,
            Subject=notification_subject(record),
            Message=notification_message(record, evidence_uri, report_uri),
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
                f"drill failed at {failure['step']}: {failure['reason']} (evidence: {self.outcome['evidence_uri']},"
                f" report: {self.outcome.get('report_uri')})"
            )
        self.log.info("Drill passed; evidence at %s", self.outcome["evidence_uri"])
        return self.outcome
