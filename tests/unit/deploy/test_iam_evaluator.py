"""The IAM evaluator the policy test relies on: it must deny what IAM denies, or the policy test proves nothing."""

from __future__ import annotations

import pytest

from tests.iam import ALLOW, DENY, IMPLICIT_DENY, Request, evaluate


def _policy(*statements):
    return {"Version": "2012-10-17", "Statement": list(statements)}


ALLOW_SCRATCH_WRITES = {
    "Effect": "Allow",
    "Action": ["dynamodb:PutItem", "dynamodb:Batch*"],
    "Resource": "arn:aws:dynamodb:us-east-1:1:table/drill-*",
}
DENY_OTHER_WRITES = {
    "Effect": "Deny",
    "Action": "dynamodb:PutItem",
    "NotResource": "arn:aws:dynamodb:us-east-1:1:table/drill-*",
}
TAGGED_CREATE = {
    "Effect": "Allow",
    "Action": "dynamodb:CreateTable",
    "Resource": "*",
    "Condition": {
        "StringEquals": {"aws:RequestTag/dr-drill:scratch": "true"},
        "ForAllValues:StringLike": {"aws:TagKeys": ["dr-drill:*"]},
    },
}


@pytest.mark.parametrize(
    ("statements", "request_", "expected"),
    [
        pytest.param(
            [ALLOW_SCRATCH_WRITES],
            Request("dynamodb:PutItem", "arn:aws:dynamodb:us-east-1:1:table/drill-x"),
            ALLOW,
            id="allowed-by-resource-wildcard",
        ),
        pytest.param(
            [ALLOW_SCRATCH_WRITES],
            Request("DynamoDB:batchwriteitem", "arn:aws:dynamodb:us-east-1:1:table/drill-x"),
            ALLOW,
            id="action-wildcard-and-any-case",
        ),
        pytest.param(
            [ALLOW_SCRATCH_WRITES],
            Request("dynamodb:PutItem", "arn:aws:dynamodb:us-east-1:1:table/orders"),
            IMPLICIT_DENY,
            id="nothing-allows-it",
        ),
        pytest.param(
            [ALLOW_SCRATCH_WRITES],
            Request("dynamodb:PutItem", "arn:aws:dynamodb:us-east-1:1:table/Drill-x"),
            IMPLICIT_DENY,
            id="resources-are-case-sensitive",
        ),
        pytest.param(
            [ALLOW_SCRATCH_WRITES],
            Request("dynamodb:DeleteTable", "arn:aws:dynamodb:us-east-1:1:table/drill-x"),
            IMPLICIT_DENY,
            id="action-not-listed",
        ),
        pytest.param(
            [{**ALLOW_SCRATCH_WRITES, "Resource": "*"}, DENY_OTHER_WRITES],
            Request("dynamodb:PutItem", "arn:aws:dynamodb:us-east-1:1:table/orders"),
            DENY,
            id="explicit-deny-beats-allow",
        ),
        pytest.param(
            [{**ALLOW_SCRATCH_WRITES, "Resource": "*"}, DENY_OTHER_WRITES],
            Request("dynamodb:PutItem", "arn:aws:dynamodb:us-east-1:1:table/drill-x"),
            ALLOW,
            id="not-resource-spares-what-it-names",
        ),
        pytest.param(
            [{"Effect": "Allow", "NotAction": "s3:Delete*", "Resource": "*"}],
            Request("s3:DeleteObject", "arn:aws:s3:::b/k"),
            IMPLICIT_DENY,
            id="not-action",
        ),
        pytest.param(
            [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/dr-?/*"}],
            Request("s3:GetObject", "arn:aws:s3:::b/dr-x/y/z"),
            ALLOW,
            id="question-mark-is-one-character-and-star-crosses-slashes",
        ),
    ],
)
def test_effects_actions_and_resources(statements, request_, expected):
    assert evaluate(_policy(*statements), request_) == expected


def _create(tags):
    context = {f"aws:RequestTag/{key}": value for key, value in tags.items()}
    if tags:
        context["aws:TagKeys"] = list(tags)
    return Request("dynamodb:CreateTable", "arn:aws:dynamodb:us-east-1:1:table/drill-x", context)


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        pytest.param({"dr-drill:scratch": "true", "dr-drill:owner": "v1:x"}, ALLOW, id="scratch-tags-only"),
        pytest.param({}, IMPLICIT_DENY, id="untagged-the-for-all-values-gotcha-is-caught-by-string-equals"),
        pytest.param({"dr-drill:scratch": "false"}, IMPLICIT_DENY, id="wrong-value"),
        pytest.param({"dr-drill:scratch": "true", "team": "x"}, IMPLICIT_DENY, id="a-foreign-tag-key"),
    ],
)
def test_request_tag_conditions(tags, expected):
    assert evaluate(_policy(TAGGED_CREATE), _create(tags)) == expected


@pytest.mark.parametrize(
    ("operator", "context", "matches"),
    [
        pytest.param("StringLike", {"s3:prefix": "dr-drill-evidence/app/"}, True, id="like"),
        pytest.param("StringLike", {}, False, id="like-missing-key"),
        pytest.param("StringNotLike", {}, True, id="not-like-missing-key"),
        pytest.param("StringNotLike", {"s3:prefix": "dr-drill-evidence/x"}, False, id="not-like"),
        pytest.param("ForAnyValue:StringLike", {"s3:prefix": ["a", "dr-drill-evidence/x"]}, True, id="any-value"),
        pytest.param("ForAnyValue:StringLike", {}, False, id="any-value-missing-key"),
        pytest.param("ForAllValues:StringLike", {}, True, id="all-values-missing-key"),
    ],
)
def test_condition_operators_and_missing_keys(operator, context, matches):
    statement = {
        "Effect": "Allow",
        "Action": "s3:ListBucket",
        "Resource": "*",
        "Condition": {operator: {"s3:prefix": "dr-drill-evidence/*"}},
    }
    result = evaluate(_policy(statement), Request("s3:ListBucket", "arn:aws:s3:::b", context))
    assert (result == ALLOW) is matches


def test_what_it_cannot_evaluate_is_refused_not_guessed():
    numeric = {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"NumericLessThan": {"k": "1"}}}
    with pytest.raises(ValueError, match="NumericLessThan is not supported"):
        evaluate(_policy(numeric), Request("s3:GetObject", "x"))
    with pytest.raises(ValueError, match="exactly one of"):
        evaluate(_policy({"Effect": "Allow", "Action": "*", "NotAction": "x", "Resource": "*"}), Request("a:b", "x"))
    with pytest.raises(ValueError, match="version 2012-10-17"):
        evaluate({"Statement": []}, Request("a:b", "x"))
