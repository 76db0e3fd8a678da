"""Recording the drill (evidence, metrics, notification) and the verdict that fails the run."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
from airflow.providers.amazon.aws.hooks.sns import SnsHook
from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowFailException

from dr_drill.aws.evidence_store import put_evidence
from dr_drill.aws.scratch_tables import (
    describe_table,
)
from dr_drill.core.evidence import build_evidence, evidence_key, validate_evidence
from dr_drill.core.notification import (
    METRIC_NAMESPACE,
    metric_data,
    notification_attributes,
    notification_message,
    notification_subject,
    notification_topic,
)
from dr_drill.operators.base import FAILURE_XCOM_KEY, DrillStepOperator, now


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
            scratch=results["create"],
            dropped=self._pull(context, "drop") if "drop" in self.step_task_ids else None,
            failure={"step": failure["step"], "reason": failure["reason"]} if failure else None,
            generated_at=now(),
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
            Namespace=METRIC_NAMESPACE, MetricData=metric_data(record, now())
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
