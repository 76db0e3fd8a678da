"""A small IAM policy evaluator, and the IAM requests each AWS call of a drill makes.

Enough of IAM's documented evaluation logic for one identity-based policy
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html):
an explicit Deny wins, else an Allow that matches, else the implicit deny. Action and
Resource (and their Not forms) match with ``*`` and ``?`` wildcards, actions without regard
to case; the condition operators are those the drill's policy uses, and any other is refused
rather than guessed at. A condition block matches when every operator matches, an operator
when every key matches, a key when any of its values matches.

:func:`requests_for` maps one recorded botocore call to the IAM requests it makes: the action
and resource ARN, with the request's condition keys, plus the permissions AWS documents a
call needs beyond its own (a restore's writes into its target, ImportTable's reads of the
export and its log group). A call with no mapping raises, so a new kind of call cannot slip
past the policy test.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import botocore.client

POLICY_PATH = Path(__file__).resolve().parent.parent / "deploy" / "iam" / "dr-drill-role-policy.json"
RECOVERY_POLICY_PATH = POLICY_PATH.with_name("dr-drill-recovery-role-policy.json")
ALLOW, DENY, IMPLICIT_DENY = "Allow", "Deny", "ImplicitDeny"


@dataclass(frozen=True)
class Request:
    """One authorisation IAM makes: an action on a resource, with the request's condition keys."""

    action: str
    resource: str
    context: dict[str, str | list[str]] = field(default_factory=dict)
    why: str = ""


def load_policy(path: Path = POLICY_PATH, **values: str) -> dict[str, Any]:
    """Return the drill's policy (or the recovery side's) with its ``${Name}`` placeholders (CloudFormation
    Fn::Sub's) filled in."""
    text = path.read_text()
    for name, value in values.items():
        text = text.replace("${" + name + "}", value)
    left = sorted(set(re.findall(r"\$\{[^}]+\}", text)))
    if left:
        raise ValueError(f"placeholders left unfilled: {left}")
    return json.loads(text)


def _glob(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE if ignore_case else 0) is not None


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _string_match(operator: str, pattern: str, value: str) -> bool:
    return pattern == value if operator == "StringEquals" else _glob(pattern, value)


_OPERATORS = {
    "StringEquals",
    "StringLike",
    "StringNotEquals",
    "StringNotLike",
    "ForAllValues:StringEquals",
    "ForAllValues:StringLike",
    "ForAnyValue:StringEquals",
    "ForAnyValue:StringLike",
}


def _key_matches(operator: str, patterns: list[str], present: list[str] | None) -> bool:
    if operator not in _OPERATORS:
        raise ValueError(f"condition operator {operator} is not supported by this evaluator")
    qualifier, _, base = operator.rpartition(":")
    positive = base.replace("Not", "", 1)

    def one(value: str) -> bool:
        return any(_string_match(positive, pattern, value) for pattern in patterns)

    if qualifier == "ForAllValues":  # true for a missing or empty key, as IAM documents
        return all(one(value) for value in present or [])
    if qualifier == "ForAnyValue":
        return any(one(value) for value in present or [])
    if base != positive:  # a negated operator also matches when the key is missing
        return present is None or not any(one(value) for value in present)
    return present is not None and any(one(value) for value in present)


def _conditions_match(conditions: dict[str, dict[str, Any]], context: dict[str, str | list[str]]) -> bool:
    lowered = {key.lower(): value for key, value in context.items()}
    for operator, keys in conditions.items():
        for key, patterns in keys.items():
            present = lowered.get(key.lower())
            if not _key_matches(operator, _listed(patterns), None if present is None else _listed(present)):
                return False
    return True


def _statement_matches(statement: dict[str, Any], request: Request) -> bool:
    if ("Action" in statement) == ("NotAction" in statement) or ("Resource" in statement) == (
        "NotResource" in statement
    ):
        raise ValueError(
            f"statement {statement.get('Sid')} needs exactly one of Action/NotAction and Resource/NotResource"
        )
    if "Action" in statement:
        acts = any(_glob(p, request.action, ignore_case=True) for p in _listed(statement["Action"]))
    else:
        acts = not any(_glob(p, request.action, ignore_case=True) for p in _listed(statement["NotAction"]))
    if "Resource" in statement:
        on = any(_glob(p, request.resource) for p in _listed(statement["Resource"]))
    else:
        on = not any(_glob(p, request.resource) for p in _listed(statement["NotResource"]))
    return acts and on and _conditions_match(statement.get("Condition", {}), request.context)


def evaluate(policy: dict[str, Any], request: Request) -> str:
    """Return ``Allow``, ``Deny`` (an explicit deny) or ``ImplicitDeny`` for ``request`` under ``policy``."""
    if policy.get("Version") != "2012-10-17":
        raise ValueError("the policy must use policy language version 2012-10-17")
    matching = [s for s in _listed(policy["Statement"]) if _statement_matches(s, request)]
    effects = {statement["Effect"] for statement in matching}
    if not effects <= {ALLOW, DENY}:
        raise ValueError(f"unknown effect in {effects}")
    if DENY in effects:
        return DENY
    return ALLOW if ALLOW in effects else IMPLICIT_DENY


# --- the IAM requests of each AWS call -----------------------------------------------------------

# AWS documents that a restore needs read and write permissions on its target table
# (DynamoDB developer guide, "Using IAM with DynamoDB backup and restore").
RESTORE_TARGET_ACTIONS = ("BatchWriteItem", "DeleteItem", "GetItem", "PutItem", "Query", "Scan", "UpdateItem")
# ... and that ImportTable needs to read its source and to log to CloudWatch Logs
# (DynamoDB developer guide, "Requesting a table import in DynamoDB").
IMPORT_LOG_ACTIONS = (
    "CreateLogGroup",
    "CreateLogStream",
    "DescribeLogGroups",
    "DescribeLogStreams",
    "PutLogEvents",
    "PutRetentionPolicy",
)
_TABLE_OPERATIONS = {
    "DescribeTable",
    "Scan",
    "Query",
    "GetItem",
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "CreateTable",
    "DeleteTable",
    "UpdateTable",
    "DescribeContinuousBackups",
    "UpdateContinuousBackups",
}
_S3_BUCKET_ACTIONS = {
    "ListObjectsV2": "s3:ListBucket",
    "ListObjects": "s3:ListBucket",
    "HeadBucket": "s3:ListBucket",
    "ListObjectVersions": "s3:ListBucketVersions",
    "GetObjectLockConfiguration": "s3:GetBucketObjectLockConfiguration",
    "GetBucketVersioning": "s3:GetBucketVersioning",
}


def _tag_context(tags: list[dict[str, str]]) -> dict[str, str | list[str]]:
    context: dict[str, str | list[str]] = {f"aws:RequestTag/{tag['Key']}": tag["Value"] for tag in tags}
    context["aws:TagKeys"] = [tag["Key"] for tag in tags]
    return context


def _on_table(action: str, params: dict[str, Any], table_arn) -> list[Request]:
    resource = table_arn(params["TableName"])
    if params.get("IndexName"):
        resource = f"{resource}/index/{params['IndexName']}"
    if not params.get("Tags"):
        return [Request(action, resource)]
    context = _tag_context(params["Tags"])
    # In case AWS also authorises the tags given at creation as TagResource: allowed either way.
    return [Request(action, resource, context), Request("dynamodb:TagResource", resource, context, "tags on create")]


def _on_tags(action: str, params: dict[str, Any], table_arn) -> list[Request]:
    context: dict[str, str | list[str]] = {}
    if action.endswith("TagResource") and "Tags" in params:
        context = _tag_context(params["Tags"])
    elif "TagKeys" in params:
        context = {"aws:TagKeys": list(params["TagKeys"])}
    return [Request(action, params["ResourceArn"], context)]


def _restore(action: str, params: dict[str, Any], table_arn) -> list[Request]:
    target = table_arn(params["TargetTableName"])
    source = params.get("BackupArn") or params.get("SourceTableArn") or table_arn(params["SourceTableName"])
    why = f"{action} writes its target"
    implied = [Request(f"dynamodb:{name}", target, why=why) for name in RESTORE_TARGET_ACTIONS]
    return [Request(action, source), Request(action, target), *implied]


def _on_arn(parameter: str):
    return lambda action, params, table_arn: [Request(action, params[parameter])]


def _on_everything(action: str, params: dict[str, Any], table_arn) -> list[Request]:
    # Listed as needing "*" (ListImports even when narrowed to one table by TableArn).
    return [Request(action, "*")]


def _on_batch(action: str, params: dict[str, Any], table_arn) -> list[Request]:
    return [Request(action, table_arn(name)) for name in params["RequestItems"]]


_DYNAMODB = {
    **dict.fromkeys(_TABLE_OPERATIONS, _on_table),
    **dict.fromkeys(("ListTables", "ListBackups", "ListImports"), _on_everything),
    **dict.fromkeys(("BatchWriteItem", "BatchGetItem"), _on_batch),
    **dict.fromkeys(("ListTagsOfResource", "TagResource", "UntagResource"), _on_tags),
    **dict.fromkeys(("RestoreTableFromBackup", "RestoreTableToPointInTime"), _restore),
    "DescribeBackup": _on_arn("BackupArn"),
    "DescribeImport": _on_arn("ImportArn"),
}


def _dynamodb(operation: str, params: dict[str, Any], table_arn) -> list[Request]:
    if operation == "ImportTable":
        return _import_table(params, table_arn)
    if operation not in _DYNAMODB:
        raise LookupError(f"no IAM mapping for dynamodb:{operation}")
    return _DYNAMODB[operation](f"dynamodb:{operation}", params, table_arn)


def _import_table(params: dict[str, Any], table_arn) -> list[Request]:
    target = table_arn(params["TableCreationParameters"]["TableName"])
    source = params["S3BucketSource"]
    bucket, prefix = source["S3Bucket"], source.get("S3KeyPrefix", "")
    region, account = target.split(":")[3], target.split(":")[4]
    log_group = f"arn:aws:logs:{region}:{account}:log-group:/aws-dynamodb/imports"
    return [
        Request("dynamodb:ImportTable", target),
        Request("s3:GetObject", f"arn:aws:s3:::{bucket}/{prefix}example-data-file.json.gz", why="ImportTable reads"),
        Request("s3:ListBucket", f"arn:aws:s3:::{bucket}", {"s3:prefix": prefix}, why="ImportTable lists"),
        *(Request(f"logs:{name}", log_group, why="ImportTable logs") for name in IMPORT_LOG_ACTIONS),
    ]


def _s3(operation: str, params: dict[str, Any]) -> list[Request]:
    bucket = f"arn:aws:s3:::{params['Bucket']}"
    if operation in _S3_BUCKET_ACTIONS:
        return [Request(_S3_BUCKET_ACTIONS[operation], bucket, {"s3:prefix": params.get("Prefix", "")})]
    obj = f"{bucket}/{params['Key']}"
    if operation in ("GetObject", "HeadObject"):
        return [Request("s3:GetObjectVersion" if params.get("VersionId") else "s3:GetObject", obj)]
    if operation == "PutObject":
        requests = [Request("s3:PutObject", obj)]
        if params.get("ObjectLockMode") or params.get("ObjectLockRetainUntilDate"):
            requests.append(Request("s3:PutObjectRetention", obj, why="PutObject with a retention"))
        return requests
    raise LookupError(f"no IAM mapping for s3:{operation}")


def _backup(operation: str, params: dict[str, Any], *, region: str, account: str) -> list[Request]:
    """AWS Backup's requests (Service Authorization Reference, "Actions defined by AWS Backup")."""
    action = f"backup:{operation}"
    if operation == "ListRecoveryPointsByBackupVault":
        return [Request(action, f"arn:aws:backup:{region}:{account}:backup-vault:{params['BackupVaultName']}")]
    if operation == "DescribeRecoveryPoint":
        return [Request(action, params["RecoveryPointArn"])]
    if operation == "StartRestoreJob":
        passed = {"iam:PassedToService": "backup.amazonaws.com"}
        return [
            Request(action, params["RecoveryPointArn"]),
            Request("iam:PassRole", params["IamRoleArn"], passed, why="StartRestoreJob hands AWS Backup its role"),
        ]
    if operation == "DescribeRestoreJob":
        return [Request(action, "*")]
    raise LookupError(f"no IAM mapping for backup:{operation}")


def requests_for(service: str, operation: str, params: dict[str, Any], *, region: str, account: str) -> list[Request]:
    """Return the IAM requests one AWS call makes (the service named as botocore names it)."""

    def table_arn(name: str) -> str:
        return name if name.startswith("arn:") else f"arn:aws:dynamodb:{region}:{account}:table/{name}"

    if service == "dynamodb":
        return _dynamodb(operation, params, table_arn)
    if service == "s3":
        return _s3(operation, params)
    if service == "sns" and operation == "Publish":
        return [Request("sns:Publish", params.get("TopicArn") or params["TargetArn"])]
    if service == "cloudwatch" and operation == "PutMetricData":
        return [Request("cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": params["Namespace"]})]
    if service == "sts" and operation == "GetCallerIdentity":
        return []  # needs no permission
    if service == "sts" and operation == "AssumeRole":
        return [Request("sts:AssumeRole", params["RoleArn"])]
    if service == "backup":
        return _backup(operation, params, region=region, account=account)
    raise LookupError(f"no IAM mapping for {service}:{operation}")


@contextmanager
def recording_calls() -> Iterator[list[tuple[str, str, dict, str, str | None]]]:
    """Record every botocore call made inside: (service, operation, params, region, access key id).

    The access key tells which identity made it (an assumed role's differs from the connection's own).
    """
    calls: list[tuple[str, str, dict, str, str | None]] = []
    make_api_call = botocore.client.BaseClient._make_api_call

    def recording(client, operation_name, api_params):
        service = client.meta.service_model.service_name
        credentials = client._get_credentials()
        access_key = credentials.get_frozen_credentials().access_key if credentials else None
        calls.append((service, operation_name, dict(api_params), client.meta.region_name, access_key))
        return make_api_call(client, operation_name, api_params)

    with mock.patch.object(botocore.client.BaseClient, "_make_api_call", recording):
        yield calls
