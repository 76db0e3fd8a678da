"""One small operator per drill step.

Each takes the table's drill spec (a dict, templated so a mapped task group can hand it
over), gets its boto3 clients from the Amazon provider's hooks, calls the core and the aws
adapters, and returns a small JSON-able dict. A step that fails pushes its reason to XCom
under ``drill_failure`` so that the record step can name it; findings about the backup or
the restore (``DrillError``) fail at once without retries, while other errors (a network
blip, say) keep the task's retries.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
from airflow.providers.amazon.aws.hooks.s3 import S3Hook
from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowFailException
from botocore.config import Config

from dr_drill.core.errors import DrillError

FAILURE_XCOM_KEY = "drill_failure"
_REASON_LIMIT = 1000


def now() -> datetime:
    return datetime.now(UTC)


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

    def dynamodb_client(self, max_pool_connections: int = 10, *, parameter_validation: bool = True) -> Any:
        # A plain client: DynamoDBHook's client belongs to a boto3 resource, which would
        # re-serialise our already typed items ({"S": ..} becoming a map).
        config = Config(
            max_pool_connections=max_pool_connections,
            retries={"mode": "standard"},
            parameter_validation=parameter_validation,
        )
        return AwsBaseHook(aws_conn_id=self.aws_conn_id, client_type="dynamodb", config=config).conn
