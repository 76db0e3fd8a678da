"""Sample tables and backups in the original JSON format, for the demo and the tests."""

from __future__ import annotations

import hashlib
import json
import random
from datetime import datetime
from decimal import Decimal
from typing import Any

from dr_drill.core.items.canonical import to_typed_item
from dr_drill.core.sources.s3_json import json_backup_prefix

_FIRST_NAMES = ["Nguyễn", "Zoë", "Søren", "Łukasz", "Chloé", "Ana", "Kenji", "Ngọc", "Émile", "李"]


def sample_user(number: int, rng: random.Random) -> dict[str, Any]:
    """Return one user item with every JSON type: text, fractions, big integers, maps, lists, booleans, nulls."""
    return {
        "user_id": f"user-{number:06d}",
        "name": f"{rng.choice(_FIRST_NAMES)} {number}",
        "balance": round(rng.uniform(-500, 5000), 2),
        "lifetime_orders": rng.randint(0, 10**6),
        "account_number": 10**20 + number,
        "rating": round(rng.random(), 4),
        "active": rng.random() < 0.8,
        "deleted_at": None,
        "tags": rng.sample(["vip", "beta", "eu", "apac", "früh", "新"], k=rng.randint(0, 3)),
        "address": {"city": rng.choice(["Hà Nội", "Köln", "São Paulo", "Oslo"]), "zip": f"{rng.randint(0, 99999):05d}"},
        "history": [{"year": 2020 + year, "spend": round(rng.uniform(0, 999), 2)} for year in range(rng.randint(0, 3))],
    }


def sample_order(number: int, rng: random.Random) -> dict[str, Any]:
    """Return one order item, keyed by customer (string) and order number (number)."""
    return {
        "customer_id": f"cust-{number % 97:03d}",
        "order_id": number,
        "total": round(rng.uniform(1, 2000), 2),
        "currency": rng.choice(["EUR", "USD", "VND", "JPY"]),
        "lines": [{"sku": f"sku-{rng.randint(1, 500)}", "qty": rng.randint(1, 5)} for _ in range(rng.randint(1, 4))],
        "gift": rng.random() < 0.1,
        "note": None if rng.random() < 0.7 else "Giao hàng nhanh — merci",
    }


SAMPLE_TABLES: dict[str, dict[str, Any]] = {
    "app-users": {
        "key_schema": [{"AttributeName": "user_id", "KeyType": "HASH"}],
        "attributes": [{"AttributeName": "user_id", "AttributeType": "S"}],
        "make_item": sample_user,
    },
    "orders": {
        "key_schema": [
            {"AttributeName": "customer_id", "KeyType": "HASH"},
            {"AttributeName": "order_id", "KeyType": "RANGE"},
        ],
        "attributes": [
            {"AttributeName": "customer_id", "AttributeType": "S"},
            {"AttributeName": "order_id", "AttributeType": "N"},
        ],
        "make_item": sample_order,
    },
}


def sample_items(table_name: str, count: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    make_item = SAMPLE_TABLES[table_name]["make_item"]
    return [make_item(number, rng) for number in range(count)]


def original_checksum(items: list[dict[str, Any]]) -> str:
    """The original function's checksum, over what ``json.loads`` of the backup returns."""
    data = json.loads(json.dumps(items))
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def json_backup_document(table_name: str, items: list[dict[str, Any]], taken_at: datetime) -> dict[str, Any]:
    return {
        "table_name": table_name,
        "backup_timestamp": taken_at.replace(tzinfo=None).isoformat(),
        "item_count": len(items),
        "data": items,
        "checksum": original_checksum(items),
    }


def json_backup_key(table_name: str, taken_at: datetime) -> str:
    return f"{json_backup_prefix(table_name)}{taken_at:%Y-%m-%d-%H-%M-%S}.json"


def put_json_backup(s3: Any, bucket: str, document: dict[str, Any], taken_at: datetime) -> str:
    """Store a backup document as the original backup function did; return its key."""
    key = json_backup_key(document["table_name"], taken_at)
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(document).encode())
    return key


def create_source_table(ddb: Any, table_name: str, items: list[dict[str, Any]]) -> None:
    """Create the live source table and fill it (numbers written as exact decimals)."""
    shape = SAMPLE_TABLES[table_name]
    ddb.create_table(
        TableName=table_name,
        KeySchema=shape["key_schema"],
        AttributeDefinitions=shape["attributes"],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.get_waiter("table_exists").wait(TableName=table_name, WaiterConfig={"Delay": 1})
    typed = [to_typed_item(json.loads(json.dumps(item), parse_float=Decimal)) for item in items]
    for start in range(0, len(typed), 25):
        requests = [{"PutRequest": {"Item": item}} for item in typed[start : start + 25]]
        ddb.batch_write_item(RequestItems={table_name: requests})


def create_notification_queue(sns: Any, sqs: Any, topic_names: list[str], queue_name: str) -> tuple[list[str], str]:
    """Create the topics and one SQS queue subscribed to all of them; return the topic ARNs and queue URL."""
    queue_url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    topic_arns = []
    for name in topic_names:
        topic_arn = sns.create_topic(Name=name)["TopicArn"]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
        topic_arns.append(topic_arn)
    return topic_arns, queue_url


def receive_notifications(sqs: Any, queue_url: str, wait_seconds: int = 1) -> list[dict[str, Any]]:
    """Drain the queue and return the SNS envelopes (Subject, Message, MessageAttributes)."""
    envelopes = []
    while True:
        response = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_seconds)
        messages = response.get("Messages", [])
        if not messages:
            return envelopes
        for message in messages:
            envelopes.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
