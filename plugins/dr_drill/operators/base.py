"""One small operator per drill step, on one base: the spec, the AWS connection, failure reporting.

Each step takes the table's drill spec (a dict, templated: the table run's ``spec`` param),
reads it once as a ``DrillSpec``, gets its boto3 clients from the Amazon provider's hooks
(``aws_conn_id``, ``region_name``, ``verify``, ``botocore_config``, as the provider's own
operators take them), calls the aws adapters and the core, and returns its
contract as JSON for XCom. A step that fails pushes a ``StepFailure`` under ``drill_failure``
so that the record step can name it; findings about the backup or the restore
(``DrillError``) fail at once without retries, while other errors (a network blip, say) keep
the task's retries.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
from airflow.providers.amazon.aws.hooks.s3 import S3Hook
from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowFailException
from botocore.config import Config

from dr_drill.aws.retries import DEFAULT_RETRY_WINDOW_SECONDS, RetryBudget, botocore_retries
from dr_drill.aws.sources import Clients, SourceAdapter, adapter_for
from dr_drill.constants import Step
from dr_drill.contracts import DrillSpec, StepFailure
from dr_drill.errors import DrillError
from dr_drill.operators.settings import setting

FAILURE_XCOM_KEY = "drill_failure"
TRY_XCOM_KEY = "drill_try"  # the try whose result the step returned, for the record
S3_REQUESTS_XCOM_KEY = "drill_s3_requests"  # the S3 requests this try made, by operation, for the record's cost
_REASON_LIMIT = 1000
# The steps a drill with a recovery block runs on the recovery side; the record (evidence, metrics,
# notification) stays with the operator's own connection.
RECOVERY_SIDE_STEPS = frozenset(
    {Step.LOCATE, Step.VERIFY, Step.CREATE_SCRATCH_TABLE, Step.RESTORE, Step.VALIDATE, Step.DROP_SCRATCH_TABLE}
)


def now() -> datetime:
    return datetime.now(UTC)


class AwsStepMixin:
    """The Amazon provider's connection parameters, and the clients made from them.

    :param aws_conn_id: the Airflow connection to AWS.
    :param region_name: the AWS region; default: the connection's.
    :param verify: whether to verify SSL certificates (or a CA bundle path); default: the connection's.
    :param botocore_config: botocore client settings, as the provider's operators take them.
    """

    def __init__(
        self,
        *,
        aws_conn_id: str = "aws_default",
        region_name: str | None = None,
        verify: bool | str | None = None,
        botocore_config: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.verify = verify
        self.botocore_config = botocore_config

    def connection(self) -> dict[str, Any]:
        """The connection and region this step's clients use (``aws_conn_id``, ``region_name``)."""
        return {"aws_conn_id": self.aws_conn_id, "region_name": self.region_name}

    def source_connection(self) -> dict[str, Any]:
        """The operator's own connection: the source side's, whatever side the step acts on."""
        return {"aws_conn_id": self.aws_conn_id, "region_name": self.region_name}

    def _aws_kwargs(self, connection: dict[str, Any] | None = None) -> dict[str, Any]:
        return {**(connection or self.connection()), "verify": self.verify}

    def _config(self, **settings: Any) -> Config:
        # Every client retries the same way (dr_drill.aws.retries); the user's settings come first.
        return Config(**(self.botocore_config or {})).merge(Config(retries=botocore_retries(), **settings))

    def retry_budget(self) -> RetryBudget:
        """This try's retry budget, shared by every client it makes (RETRY_WINDOW_SECONDS, default 120)."""
        budget = self.__dict__.get("_retry_budget")
        if budget is None:
            window = float(setting("RETRY_WINDOW_SECONDS") or DEFAULT_RETRY_WINDOW_SECONDS)
            budget = self.__dict__["_retry_budget"] = RetryBudget(window)
        return budget

    def s3_client(self, connection: dict[str, Any] | None = None) -> Any:
        """An S3 client; ``connection``: another side's (``source_connection()``), else this step's."""
        hook = S3Hook(**self._aws_kwargs(connection), config=self._config())
        return self.retry_budget().install(hook.get_conn())

    def aws_client(self, client_type: str, connection: dict[str, Any] | None = None) -> Any:
        """A client of another service (CloudWatch, SNS, STS, AWS Backup), through the provider's base hook."""
        hook = AwsBaseHook(**self._aws_kwargs(connection), client_type=client_type, config=self._config())
        return self.retry_budget().install(hook.conn)

    def dynamodb_client(
        self,
        max_pool_connections: int = 10,
        *,
        parameter_validation: bool = True,
        connection: dict[str, Any] | None = None,
    ) -> Any:
        # A plain client: DynamoDBHook's client belongs to a boto3 resource, which would
        # re-serialise our already typed items ({"S": ..} becoming a map).
        config = self._config(max_pool_connections=max_pool_connections, parameter_validation=parameter_validation)
        hook = AwsBaseHook(**self._aws_kwargs(connection), client_type="dynamodb", config=config)
        return self.retry_budget().install(hook.conn)


class DrillStepOperator(AwsStepMixin, BaseOperator):
    """Base of the drill steps: the spec, the AWS connection, and failure reporting.

    :param spec: the table's drill spec, as the plan task resolved it (``DrillSpec.to_xcom()``).
    """

    template_fields: Sequence[str] = ("spec",)
    step: ClassVar[Step]

    def __init__(self, *, spec: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spec = spec

    @property
    def drill(self) -> DrillSpec:
        """The rendered spec, read as its contract."""
        return DrillSpec.from_xcom(self.spec)

    def execute(self, context: Context) -> dict[str, Any]:
        self.__dict__.pop("_retry_budget", None)  # each try has its own budget and counts
        context["ti"].xcom_push(key=TRY_XCOM_KEY, value=context["ti"].try_number)
        try:
            return self.reporting_failures(context, lambda: self.run(context))
        finally:
            s3_requests = self.retry_budget().ledger.answered_by("s3")
            if s3_requests:
                context["ti"].xcom_push(key=S3_REQUESTS_XCOM_KEY, value=s3_requests)

    def run(self, context: Context) -> dict[str, Any]:
        raise NotImplementedError

    def reporting_failures(self, context: Context, work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """Do ``work``; if it fails, push the failure for the record step and fail the task."""
        try:
            return work()
        except DrillError as err:
            self._report_failure(context, err.reason, err.details, err)
            raise AirflowFailException(err.reason) from err
        except Exception as err:
            self._report_failure(context, f"{type(err).__name__}: {err}", None, err)
            raise

    def _report_failure(self, context: Context, reason: str, details: dict[str, Any] | None, err: Exception) -> None:
        self.log.error("Drill step %s failed for table %s: %s", self.step, self.spec["table_name"], reason)
        failure = StepFailure(step=self.step, reason=reason[:_REASON_LIMIT], details=details, error=type(err).__name__)
        context["ti"].xcom_push(key=FAILURE_XCOM_KEY, value=failure.to_xcom())

    def connection(self) -> dict[str, Any]:
        """The recovery side's connection and region for the steps that act there; else the operator's own."""
        recovery = self.recovery_block()
        if recovery:
            return {"aws_conn_id": recovery["aws_conn_id"], "region_name": recovery["region"]}
        return super().connection()

    def clients(self, connection: dict[str, Any] | None = None) -> Clients:
        """This step's clients (``connection``: another side's), each made on first use."""
        return Clients(
            s3=lambda: self.s3_client(connection),
            dynamodb=lambda: self.dynamodb_client(connection=connection),
            backup=lambda: self.aws_client("backup", connection),
        )

    def recovery_block(self) -> dict[str, Any] | None:
        """The drill's recovery block when this step acts on the recovery side; else None."""
        return self.drill.recovery if self.step in RECOVERY_SIDE_STEPS else None

    def source_adapter(self) -> SourceAdapter:
        """The adapter of this drill's backup source, on this step's clients (the recovery side's, if any)."""
        return adapter_for(self.drill.backup_source, self.clients(), recovery=self.recovery_block())

    def source_side_adapter(self) -> SourceAdapter:
        """The adapter of the source side's own backups, for what only the source side knows (its newest backup)."""
        return adapter_for(self.drill.backup_source, self.clients(self.source_connection()))

    def source_table_client(self, this_side: Any) -> Any:
        """DynamoDB of the live source table (read only: its count, keys and items).

        :param this_side: the step's own DynamoDB client, which it is unless the step acts on the recovery side.
        """
        if not self.recovery_block():
            return this_side
        return self.dynamodb_client(connection=self.source_connection())

    def pull(self, context: Context, task_id: str, key: str = "return_value", *, map_index: int = -1) -> Any:
        """Return what ``task_id`` (instance ``map_index`` of a mapped task) pushed under ``key`` (None if nothing)."""
        return context["ti"].xcom_pull(task_ids=task_id, key=key, map_indexes=map_index)

    def part_failure(
        self, context: Context, task_id: str, index: int, share: dict[str, Any]
    ) -> tuple[str, StepFailure | None]:
        """Why instance ``index`` of mapped ``task_id`` returned nothing: a reason naming its share, and its failure."""
        pushed = self.pull(context, task_id, FAILURE_XCOM_KEY, map_index=index)
        failure = StepFailure.from_xcom(pushed) if pushed else None
        reason = failure.reason if failure else "did not finish; see its log"
        return f"{task_id} (part {share['part']} of {share['of']}): {reason}", failure
