"""Reading the request: the drill plan, the run's conf and the settings, into one spec per table."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from airflow.providers.amazon.aws.hooks.sns import SnsHook
from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowFailException

from dr_drill.core.evidence.notification import (
    notification_topic,
    refusal_attributes,
    refusal_message,
    refusal_subject,
)
from dr_drill.core.plan.drill_plan import Settings, resolve_drill_specs, validate_plan
from dr_drill.core.plan.recovery import RecoveryConnection, sweep_sides
from dr_drill.errors import InvalidDrillRequest
from dr_drill.operators.base import AwsStepMixin
from dr_drill.operators.settings import read_settings, setting

# Where scratch tables may be left: the sweep's connections and regions, as plan_drills found them.
SWEEP_SIDES_XCOM_KEY = "sweep_sides"


def _named_tables(conf: Mapping[str, Any]) -> list[str]:
    named = [conf.get("table_name"), *(conf.get("tables") or [])]
    return [str(table) for table in named if table]


class PlanDrillsOperator(AwsStepMixin, BaseOperator):
    """Resolve the plan, the conf and the settings into one ``DrillSpec`` per table (the first task).

    A request that cannot mean one drill (an unknown key, a contradiction, a setting that does
    not apply to the table's source, a bad plan) is refused here, before anything is touched:
    the task fails at once without retries, and the failure topic hears which field is wrong.

    :param plan_path: the drill plan used when ``DRILL_PLAN_PATH`` is not set (a missing file is an empty plan).
    """

    def __init__(
        self,
        *,
        plan_path: str | Path,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.plan_path = plan_path

    def execute(self, context: Context) -> list[dict[str, Any]]:
        dag_run = context["dag_run"]
        conf = dict(dag_run.conf or {})
        settings = read_settings()
        try:
            plan = self._plan()
            specs = resolve_drill_specs(
                plan=plan,
                conf=conf,
                settings=settings,
                dag_id=dag_run.dag_id,
                run_id=dag_run.run_id,
                started_at=datetime.now(UTC).replace(microsecond=0),
            )
        except InvalidDrillRequest as err:
            self.log.error("Drill request refused: %s", err.reason)
            self._notify_refusal(settings, dag_run, _named_tables(conf), err)
            raise AirflowFailException(f"drill request refused: {err.reason}") from err
        for spec in specs:
            self.log.info("Drilling %s from %s into %s", spec.table_name, spec.backup_source, spec.scratch_table)
        context["ti"].xcom_push(key=SWEEP_SIDES_XCOM_KEY, value=self._sweep_sides(plan, specs))
        return [spec.to_xcom() for spec in specs]

    def _sweep_sides(self, plan: Any, specs: list[Any]) -> list[dict[str, Any]]:
        """Where the sweep looks: this connection, and every recovery side of the plan (all its tables) and the run."""
        entries = [
            *validate_plan(plan)["tables"].values(),
            validate_plan(plan)["defaults"],
            *(s.to_xcom() for s in specs),
        ]
        sides = sweep_sides(entries, RecoveryConnection(self.aws_conn_id, self.region_name))
        return [{"aws_conn_id": side.aws_conn_id, "region_name": side.region} for side in sides]

    def _plan(self) -> Any:
        path = Path(setting("DRILL_PLAN_PATH") or self.plan_path)
        return yaml.safe_load(path.read_text()) if path.exists() else {}

    def _notify_refusal(self, settings: Settings, dag_run: Any, tables: list[str], err: InvalidDrillRequest) -> None:
        topic = notification_topic("failed", settings.success_topic_arn, settings.failure_topic_arn)
        if not topic:
            self.log.warning("Neither SUCCESS_TOPIC_ARN nor FAILURE_TOPIC_ARN is set: nobody was told of the refusal")
            return
        field = (err.details or {}).get("field")
        # The refusal itself is the finding: a notification that cannot be sent is logged, not raised instead.
        try:
            SnsHook(**self._aws_kwargs(), config=self._config()).publish_to_target(
                target_arn=topic,
                subject=refusal_subject(tables),
                message=refusal_message(
                    dag_id=dag_run.dag_id, run_id=dag_run.run_id, tables=tables, field=field, reason=err.reason
                ),
                message_attributes=refusal_attributes(tables),
            )
        except Exception as notify_err:  # noqa: BLE001 - the refusal is raised either way
            self.log.error("Could not notify %s of the refusal: %s: %s", topic, type(notify_err).__name__, notify_err)
            return
        self.log.info("Notified %s of the refusal", topic)
