"""Recording the drill (evidence, metrics, notification) and the verdict that fails the run."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from airflow.providers.amazon.aws.hooks.sns import SnsHook
from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowFailException

from dr_drill.aws.evidence_index import add_to_index
from dr_drill.aws.evidence_store import (
    AlreadyStored,
    Retention,
    bucket_has_object_lock,
    latest_evidence,
    mark_output_sent,
    output_was_sent,
    put_evidence,
    put_report,
    stored_record,
)
from dr_drill.constants import Step
from dr_drill.contracts import DrillOutcome, DroppedScratch, StepFailure
from dr_drill.core.evidence.chain import record_sha256
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
from dr_drill.operators.base import FAILURE_XCOM_KEY, S3_REQUESTS_XCOM_KEY, TRY_XCOM_KEY, DrillStepOperator, now
from dr_drill.operators.recovery import RECOVERY_XCOM_KEY
from dr_drill.operators.settings import setting
from dr_drill.ui.links import DrillEvidenceLink, DrillReportLink


def run_facts(context: Context, step_tries: dict[str, int | None] | None = None) -> dict[str, Any]:
    """Return who and what ran the drill, as far as Airflow knows it, and which try of each step finished.

    A table run started by the nightly DAG says who asked (its ``requested`` param); its own
    run type is then that of the run that asked, and the table run is named beside it.
    """
    dag_run = context["dag_run"]
    run_type = getattr(dag_run, "run_type", None)
    facts = {
        "try_number": getattr(context["ti"], "try_number", None),
        "run_type": getattr(run_type, "value", run_type),
        "triggering_user": getattr(dag_run, "triggering_user_name", None),
        "step_tries": step_tries or {},
    }
    requested = (context.get("params") or {}).get("requested")
    if requested:
        facts.update(
            run_type=requested.get("run_type"),
            triggering_user=requested.get("triggering_user"),
            table_dag_id=getattr(dag_run, "dag_id", None),
            table_run_id=getattr(dag_run, "run_id", None),
        )
    return facts


class RecordDrillOperator(DrillStepOperator):
    """Write the evidence record, then the metrics and the notification, for passed and failed drills.

    Returns a ``DrillOutcome``. Each record is linked to the table's previous one
    (``dr_drill.core.evidence.chain``) and stored once, with an Object Lock retention when the
    evidence bucket has Object Lock (EVIDENCE_RETENTION_MODE, default COMPLIANCE;
    EVIDENCE_RETENTION_DAYS, default 400); its HTML report goes beside it, at the same key
    with ``.html``.

    The record is made from what the steps handed on, with no call to the services they used
    (DynamoDB may be what failed). A retried task finds the record its earlier try stored,
    checks it, and reuses it; metrics and the notification are sent once per drill, after the
    record is stored, and say whether it was. A record that cannot be stored fails the drill
    (step ``record``), is announced as such, and fails the task without a retry.

    :param step_task_ids: task ids of locate, verify, create, restore and validate, by role,
        and optionally ``drop`` (the teardown) for when the scratch table was deleted.
    :param mapped_steps: each mapped task whose instances' tries the record lists (the restore's and
        the scan's parts), with the task that dealt its shares out: ``{"restore_part": "plan_restore"}``.
    """

    template_fields: Sequence[str] = ("spec",)
    step = Step.RECORD
    operator_extra_links = (DrillReportLink(), DrillEvidenceLink())
    # Each role's step, for a failure inferred when its task died without saying why.
    _ROLES = {
        "locate": Step.LOCATE,
        "verify": Step.VERIFY,
        "create": Step.CREATE_SCRATCH_TABLE,
        "restore": Step.RESTORE,
        "validate": Step.VALIDATE,
    }

    def __init__(
        self,
        *,
        step_task_ids: dict[str, str],
        mapped_steps: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.step_task_ids = step_task_ids
        self.mapped_steps = mapped_steps or {}

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

    def _step_tasks(self, context: Context) -> dict[str, tuple[str, int]]:
        """Each step's task and map index, by role; a mapped task's instances as ``<task id>_<part>``."""
        tasks = {role: (task_id, -1) for role, task_id in self.step_task_ids.items()}
        for mapped, planned_by in self.mapped_steps.items():
            for index, share in enumerate(self.pull(context, planned_by) or []):
                tasks[f"{mapped}_{share['part']}"] = (mapped, index)
        return tasks

    def _step_tries(self, context: Context) -> dict[str, int | None]:
        """The try of each step's task that the record's figures come from (earlier tries failed)."""
        return {
            role: self.pull(context, task_id, TRY_XCOM_KEY, map_index=index)
            for role, (task_id, index) in self._step_tasks(context).items()
        }

    def _s3_requests(self, context: Context) -> dict[str, int] | None:
        """The S3 requests of those tries, by operation, added up; None when no step counted any."""
        counted = [
            self.pull(context, task_id, S3_REQUESTS_XCOM_KEY, map_index=index)
            for task_id, index in self._step_tasks(context).values()
        ]
        total: dict[str, int] = {}
        for requests in filter(None, counted):
            for operation, count in requests.items():
                total[operation] = total.get(operation, 0) + count
        return total or None

    def _draft(self, context: Context, region: str | None) -> Callable[..., dict[str, Any]]:
        """Return the record's builder, given its storage and previous record, from what the steps handed on."""
        results, failure = self._outcome(context)
        s3_requests = self._s3_requests(context)
        dropped = self.pull(context, self.step_task_ids["drop"]) if "drop" in self.step_task_ids else None
        recovery = self.pull(context, self.step_task_ids["locate"], RECOVERY_XCOM_KEY)
        spec = self.drill

        def draft(storage: dict[str, Any] | None, previous: dict[str, Any] | None, unstored: str | None = None):
            not_stored = StepFailure(step=Step.RECORD, reason=f"the evidence could not be stored: {unstored}")
            return build_evidence(
                spec,
                located=results["locate"],
                verified=results["verify"],
                restored=results["restore"],
                validated=results["validate"],
                # Known from the teardown's own result; unknown (null) when it did not report one.
                scratch_deleted=DroppedScratch.from_xcom(dropped).deleted if dropped else None,
                failure=failure or (not_stored if unstored else None),
                generated_at=now(),
                created=results["create"],
                dropped=dropped,
                run=run_facts(context, self._step_tries(context)),
                previous=previous,
                storage=storage,
                s3_requests=s3_requests,
                region=region,
                recovery=recovery,
            )

        return draft

    def run(self, context: Context) -> dict[str, Any]:
        spec = self.drill
        key = evidence_key(spec.table_name, spec.drill_id)
        evidence_uri = f"s3://{spec.evidence_bucket}/{key}"
        s3 = self.clients().s3()
        # The drill's tables and backup reads were billed where it restored: the recovery region, if any.
        region = spec.recovery["region"] if spec.recovery else s3.meta.region_name
        record, unstored = self._record_once(s3, key, self._draft(context, region))
        report_uri = None if unstored else f"s3://{spec.evidence_bucket}/{report_key(key)}"
        if not unstored:
            self._index(s3, record)
        # Each output is attempted even when another fails: a failed drill must still be heard of.
        errors = []
        if not unstored:
            try:
                put_report(s3, spec.evidence_bucket, report_key(key), render_drill_report(record), _lock(record))
            except Exception as err:  # noqa: BLE001 - collected and raised below
                errors.append(self._output_failed("report", err))
        for name, output in (("metrics", self._publish_metrics), ("notification", self._notify)):
            try:
                self._once(s3, key, name, lambda send=output: send(record, report_uri, unstored), markable=not unstored)
            except Exception as err:  # noqa: BLE001 - collected and raised below
                errors.append(self._output_failed(name, err))
        if unstored:
            # Not retried: the notification said so already, and a retry would announce the drill twice.
            raise AirflowFailException("; ".join([f"the evidence could not be stored: {unstored}", *errors]))
        if errors:
            raise RuntimeError("; ".join(errors))  # retried: the retry reuses the stored record
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

    def _record_once(
        self, s3: Any, key: str, draft: Callable[..., dict[str, Any]]
    ) -> tuple[dict[str, Any], str | None]:
        """Return the drill's stored record, this try's or an earlier one's; or an unstored one, and why."""
        bucket = self.drill.evidence_bucket
        try:
            existing = stored_record(s3, bucket, key)
            if existing is None:
                storage, previous = self._storage(s3, key)
                record = draft(storage, previous)
                validate_evidence(record)
                try:
                    put_evidence(s3, bucket, key, record, _lock(record))
                except AlreadyStored:  # another try got there first: its record is the one
                    existing = stored_record(s3, bucket, key)
                else:
                    self._log_stored(record)
                    return record, None
            return self._reused(existing, key), None
        except Exception as err:  # noqa: BLE001 - the drill is still announced, as not recorded
            problem = f"{type(err).__name__}: {err}"[:500]
            self.log.error("The evidence of drill %s could not be stored at %s: %s", self.drill.drill_id, key, problem)
            record = draft(None, None, problem)
            validate_evidence(record)
            return record, problem

    def _reused(self, existing: dict[str, Any] | None, key: str) -> dict[str, Any]:
        """Check that the record an earlier try stored is this drill's and intact, and return it."""
        if not existing or existing.get("drill_id") != self.drill.drill_id:
            raise ValueError(f"{key} holds a record that is not drill {self.drill.drill_id}'s")
        if record_sha256(existing) != existing.get("evidence_sha256"):
            raise ValueError(f"{key} no longer matches its evidence_sha256")
        self.log.info("Reusing the record an earlier try stored at %s (sha256 %s)", key, existing["evidence_sha256"])
        return existing

    def _once(self, s3: Any, key: str, output: str, send: Callable[[], Any], *, markable: bool) -> None:
        """Send ``output`` unless an earlier try did; leave a marker beside the record once it is sent."""
        bucket = self.drill.evidence_bucket
        if markable and output_was_sent(s3, bucket, key, output):
            self.log.info("The %s of this drill was sent by an earlier try: not sent again", output)
            return
        sent = send()
        if markable:
            facts = {"drill_id": self.drill.drill_id, "sent_at": now(), **(sent or {})}
            mark_output_sent(s3, bucket, key, output, facts)

    def _index(self, s3: Any, record: dict[str, Any]) -> None:
        """Add the stored record to the table's history index; the drill does not fail when it cannot.

        The index is derived: the table's next record finds it behind and rebuilds it from the records.
        """
        try:
            add_to_index(s3, self.drill.evidence_bucket, record)
        except Exception as err:  # noqa: BLE001 - the evidence is stored; only the page's index lags
            self.log.warning(
                "The drill history index of %s was not updated: %s: %s", record["table_name"], type(err).__name__, err
            )

    def _output_failed(self, name: str, err: Exception) -> str:
        self.log.error("Recording %s failed: %s: %s", name, type(err).__name__, err)
        return f"{name}: {type(err).__name__}: {err}"

    def _storage(self, s3: Any, key: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """Return where the record goes (with its Object Lock retention) and the table's previous record."""
        bucket = self.drill.evidence_bucket
        retention = Retention.from_settings(setting("EVIDENCE_RETENTION_MODE"), setting("EVIDENCE_RETENTION_DAYS"))
        locked = bucket_has_object_lock(s3, bucket)
        retain_until = retention.until(now()) if locked else None
        if not locked:
            self.log.warning("Evidence bucket %s has no Object Lock: the record is stored but not write-once", bucket)
        storage = {
            "bucket": bucket,
            "key": key,
            "report_key": report_key(key),
            "object_lock": locked,
            "retention_mode": retention.mode if locked else None,
            "retain_until": retain_until.isoformat() if retain_until else None,
        }
        return storage, latest_evidence(s3, bucket, self.drill.table_name, exclude_key=key)

    def _log_stored(self, record: dict[str, Any]) -> None:
        self.log.info(
            "Stored evidence %s (sequence %s, sha256 %s)",
            record["storage"]["key"],
            record["evidence_sequence"],
            record["evidence_sha256"],
        )

    def _publish_metrics(self, record: dict[str, Any], report_uri: str | None, unstored: str | None) -> None:
        self.aws_client("cloudwatch").put_metric_data(Namespace=METRIC_NAMESPACE, MetricData=metric_data(record, now()))

    def _notify(self, record: dict[str, Any], report_uri: str | None, unstored: str | None) -> dict[str, Any] | None:
        spec = self.drill
        topic = notification_topic(record["status"], spec.success_topic_arn, spec.failure_topic_arn)
        if not topic:
            self.log.warning("Neither SUCCESS_TOPIC_ARN nor FAILURE_TOPIC_ARN is set: nobody was notified")
            return None
        hook = SnsHook(**self._aws_kwargs(), config=self._config())
        self.retry_budget().install(hook.conn)
        evidence_uri = f"s3://{spec.evidence_bucket}/{evidence_key(spec.table_name, spec.drill_id)}"
        message_id = hook.publish_to_target(
            target_arn=topic,
            subject=notification_subject(record),
            message=notification_message(record, evidence_uri, report_uri, unstored),
            message_attributes=notification_attributes(record),
        )
        self.log.info("Notified %s (message %s)", topic, message_id)
        return {"topic": topic, "message_id": message_id}


def _lock(record: dict[str, Any]) -> tuple[str, datetime] | None:
    """The Object Lock (mode, retain until) a stored record asks for, for itself and its report."""
    storage = record.get("storage") or {}
    if not storage.get("retain_until"):
        return None
    return storage["retention_mode"], datetime.fromisoformat(storage["retain_until"])


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
