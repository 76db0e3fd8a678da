"""The fault proxy itself: each rule fires at its rate, only on the calls it matches, in the service's own shape."""

from __future__ import annotations

import socket
import time

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, ResponseStreamingError
from botocore.exceptions import IncompleteReadError as BotoIncompleteRead

from tests.faults.proxy import THROTTLE_CODES, FaultProxy, Rule, identify, throttling

NO_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 1})
TABLE = "proxied"


def _client(aws, proxy: FaultProxy, service: str):
    import boto3

    return boto3.client(
        service,
        endpoint_url=proxy.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=NO_RETRIES,
    )


@pytest.fixture
def table(aws):
    ddb = aws.client("dynamodb")
    ddb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return ddb


def _signed(service: str) -> str:
    return f"AWS4-HMAC-SHA256 Credential=testing/20261201/us-east-1/{service}/aws4_request, SignedHeaders=host"


def _put(ddb, number: int) -> dict:
    return ddb.batch_write_item(RequestItems={TABLE: [{"PutRequest": {"Item": {"k": {"S": f"item-{number}"}}}}]})


def _outcomes(calls) -> list[str]:
    results = []
    for call in calls:
        try:
            call()
            results.append("ok")
        except ClientError as err:
            results.append(err.response["Error"]["Code"])
        except ConnectionClosedError:
            results.append("reset")
    return results


@pytest.mark.parametrize(
    ("method", "path", "headers", "body", "expected"),
    [
        pytest.param(
            "POST",
            "/",
            {"x-amz-target": "DynamoDB_20120810.BatchWriteItem", "authorization": _signed("dynamodb")},
            b"{}",
            ("dynamodb", "BatchWriteItem", None, None),
            id="dynamodb-target",
        ),
        pytest.param("GET", "/b/backups/t.json", {}, b"", ("s3", "GetObject", "b", "backups/t.json"), id="s3-get"),
        pytest.param("PUT", "/b/k.json", {}, b"x", ("s3", "PutObject", "b", "k.json"), id="s3-put"),
        pytest.param("GET", "/b?object-lock", {}, b"", ("s3", "GetObjectLockConfiguration", "b", None), id="s3-lock"),
        pytest.param("GET", "/b?list-type=2&prefix=x", {}, b"", ("s3", "ListObjectsV2", "b", None), id="s3-list"),
        pytest.param(
            "POST",
            "/",
            {"authorization": _signed("sns")},
            b"Action=Publish&TopicArn=arn",
            ("sns", "Publish", None, None),
            id="sns-form",
        ),
        pytest.param(
            "POST",
            "/service/GraniteServiceVersion20100801/operation/PutMetricData",
            {"authorization": _signed("monitoring")},
            b"\xa0",
            ("monitoring", "PutMetricData", None, None),
            id="cloudwatch-cbor",
        ),
    ],
)
def test_requests_are_named_by_service_and_operation(method, path, headers, body, expected):
    call = identify(method, path, headers, body)
    assert (call.service, call.operation, call.bucket, call.key) == expected


def test_throttling_fires_at_its_rate_on_batch_writes_only_with_both_codes(aws, proxy, table):
    rule = proxy.add(throttling("throttle", ["BatchWriteItem"], rate=0.3))
    ddb = _client(aws, proxy, "dynamodb")

    writes = _outcomes([lambda n=n: _put(ddb, n) for n in range(120)])
    reads = _outcomes([lambda: ddb.describe_table(TableName=TABLE) for _ in range(30)])

    throttled = [code for code in writes if code != "ok"]
    assert set(throttled) == set(THROTTLE_CODES)  # both codes, parsed by botocore from DynamoDB's JSON shape
    assert len(throttled) == rule.injected == sum(rule.by_code.values())
    assert 0.2 * 120 <= rule.injected <= 0.4 * 120
    assert reads == ["ok"] * 30
    # A throttled write never reached the emulator: its state is what DynamoDB's would be.
    assert table.scan(TableName=TABLE, Select="COUNT")["Count"] == 120 - rule.injected
    assert proxy.forwarded[("dynamodb", "BatchWriteItem")] == 120 - rule.injected


def test_the_same_seed_injects_the_same_faults(aws, table):
    runs = []
    for _ in range(2):
        with FaultProxy(aws.endpoint_url, seed=5) as proxy:
            proxy.add(throttling("throttle", ["BatchWriteItem"], rate=0.3))
            ddb = _client(aws, proxy, "dynamodb")
            runs.append(_outcomes([lambda n=n, ddb=ddb: _put(ddb, n) for n in range(40)]))
    assert runs[0] == runs[1]


def test_resets_close_a_fraction_of_all_calls_without_an_answer(aws, proxy, table):
    rule = proxy.add(Rule("reset", "reset", rate=0.1))
    ddb, s3 = _client(aws, proxy, "dynamodb"), _client(aws, proxy, "s3")

    outcomes = _outcomes([lambda: ddb.describe_table(TableName=TABLE) for _ in range(60)])
    outcomes += _outcomes([lambda: s3.list_buckets() for _ in range(60)])

    assert outcomes.count("reset") == rule.injected
    assert 0.04 * 120 <= rule.injected <= 0.2 * 120
    assert set(outcomes) == {"ok", "reset"}
    assert sum(proxy.forwarded.values()) == 120 - rule.injected


def test_server_errors_are_answered_in_each_service_shape_and_botocore_retries_them(aws, proxy, table):
    rule = proxy.add(Rule("5xx", "server_error", rate=1.0, times=2))
    import boto3

    retrying = boto3.client(
        "dynamodb",
        endpoint_url=proxy.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"mode": "standard", "total_max_attempts": 5}),
    )

    response = retrying.describe_table(TableName=TABLE)

    assert response["ResponseMetadata"]["RetryAttempts"] == 2 == rule.injected
    proxy.clear()
    proxy.add(Rule("sns", "server_error", services=frozenset({"sns"})))
    topic = aws.client("sns").create_topic(Name="t")["TopicArn"]
    with pytest.raises(ClientError) as raised:
        _client(aws, proxy, "sns").publish(TopicArn=topic, Message="m")
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] in (500, 503)
    proxy.clear()
    proxy.add(Rule("cw", "server_error", services=frozenset({"monitoring"})))
    with pytest.raises(ClientError) as raised:
        _client(aws, proxy, "cloudwatch").put_metric_data(Namespace="N", MetricData=[{"MetricName": "M", "Value": 1.0}])
    assert raised.value.response["Error"]["Code"] in ("InternalServerError", "ServiceUnavailable")


def test_half_of_every_batch_comes_back_unprocessed_and_only_the_rest_is_written(aws, proxy, table):
    rule = proxy.add(Rule("half", "unprocessed", operations=frozenset({"BatchWriteItem"})))
    ddb = _client(aws, proxy, "dynamodb")
    requests = [{"PutRequest": {"Item": {"k": {"S": f"item-{n}"}}}} for n in range(25)]

    first = ddb.batch_write_item(RequestItems={TABLE: requests})
    left = first["UnprocessedItems"][TABLE]
    single = ddb.batch_write_item(RequestItems={TABLE: requests[:1]})

    assert len(left) == 12 and left == requests[13:]
    assert single["UnprocessedItems"] == {}  # a batch of one cannot be halved: no fault, none counted
    assert rule.injected == 1
    assert table.scan(TableName=TABLE, Select="COUNT")["Count"] == 13


def test_an_outage_starts_at_its_trigger_and_ends_after_its_window(aws, proxy, table):
    rule = proxy.add(Rule("dead", "reset", services=frozenset({"dynamodb"}), after=("BatchWriteItem", 3), seconds=0.6))
    ddb, s3 = _client(aws, proxy, "dynamodb"), _client(aws, proxy, "s3")

    before = _outcomes([lambda n=n: _put(ddb, n) for n in range(2)])
    during = _outcomes([lambda n=n: _put(ddb, n) for n in range(2, 5)])
    s3_during = _outcomes([s3.list_buckets])
    time.sleep(0.7)
    after = _outcomes([lambda: ddb.describe_table(TableName=TABLE)])

    assert (before, during, s3_during, after) == (["ok", "ok"], ["reset"] * 3, ["ok"], ["ok"])
    assert rule.injected == 3


def test_a_cut_body_fails_the_read_once_and_only_on_its_bucket(aws, proxy):
    s3_direct = aws.client("s3")
    for bucket in ("backups", "other"):
        s3_direct.create_bucket(Bucket=bucket)
        s3_direct.put_object(Bucket=bucket, Key="b.json", Body=b"x" * 50_000)
    rule = proxy.add(Rule("cut", "cut_body", operations=frozenset({"GetObject"}), bucket="backups", times=1))
    s3 = _client(aws, proxy, "s3")

    assert s3.get_object(Bucket="other", Key="b.json")["Body"].read() == b"x" * 50_000
    with pytest.raises((ResponseStreamingError, BotoIncompleteRead)):
        s3.get_object(Bucket="backups", Key="b.json")["Body"].read()
    assert s3.get_object(Bucket="backups", Key="b.json")["Body"].read() == b"x" * 50_000
    assert rule.injected == 1


def test_s3_errors_name_the_bucket_missing_or_the_write_denied(aws, proxy):
    s3_direct = aws.client("s3")
    for bucket in ("evidence", "backups"):
        s3_direct.create_bucket(Bucket=bucket)
    proxy.add(Rule("missing", "error", services=frozenset({"s3"}), bucket="evidence", code="NoSuchBucket", status=404))
    s3 = _client(aws, proxy, "s3")

    with pytest.raises(ClientError) as missing:
        s3.list_objects_v2(Bucket="evidence")
    s3.put_object(Bucket="backups", Key="k", Body=b"fine")
    proxy.clear()
    denied = proxy.add(Rule("denied", "error", operations=frozenset({"PutObject"}), code="AccessDenied", status=403))
    with pytest.raises(ClientError) as forbidden:
        s3.put_object(Bucket="evidence", Key="k", Body=b"no")

    assert missing.value.response["Error"]["Code"] == "NoSuchBucket"
    assert forbidden.value.response["Error"]["Code"] == "AccessDenied"
    assert denied.injected == 1
    assert "Contents" not in s3_direct.list_objects_v2(Bucket="evidence")


def test_the_proxy_stops_cleanly_and_frees_its_port(aws):
    proxy = FaultProxy(aws.endpoint_url).start()
    ddb = _client(aws, proxy, "dynamodb")
    ddb.list_tables()  # a kept-alive connection, parked in a handler thread
    port = int(proxy.endpoint_url.rsplit(":", 1)[1])

    proxy.stop()

    with socket.socket() as probe, pytest.raises(OSError):
        probe.settimeout(1)
        probe.connect(("127.0.0.1", port))
