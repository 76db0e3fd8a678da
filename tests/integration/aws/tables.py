"""Tables the adapter tests build on the emulator: a source with indexes, scratch tables, and tables of things."""

from __future__ import annotations

from dr_drill.aws.scratch_tables import create_scratch_table, source_table_definition
from dr_drill.core.items.canonical import to_typed_item
from dr_drill.core.restore.scratch import scratch_table_name
from tests.drills import DAG_ID, OWNER_KEY, RUN

INDEXED_SOURCE = "orders-idx"
SCRATCH = "drill-things-run-abc"


def create_orders_scratch(ddb, prefix: str = "drill-") -> str:
    """Create (or, called again, recreate) run ``RUN``'s scratch table of ``orders``, keys only; return its name."""
    name = scratch_table_name("orders", RUN, prefix)
    schema = source_table_definition(ddb, "orders", include_indexes=False)
    create_scratch_table(
        ddb, name, source_table="orders", schema=schema, prefix=prefix, dag_id=DAG_ID, run_id=RUN, key=OWNER_KEY
    )
    return name


def create_indexed_source(ddb, name: str = INDEXED_SOURCE, items: int = 20) -> None:
    """Create ``name`` keyed by pk and sk, with a global and a local secondary index, holding ``items`` items."""
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
            {"AttributeName": "status", "AttributeType": "S"},
            {"AttributeName": "placed", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-status",
                "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
                "ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5},
            }
        ],
        LocalSecondaryIndexes=[
            {
                "IndexName": "by-placed",
                "KeySchema": [
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "placed", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 5},
    )
    for number in range(items):
        item = {"pk": f"c{number % 3}", "sk": number, "status": "open", "placed": f"2026-11-{number % 28 + 1:02d}"}
        ddb.put_item(TableName=name, Item=to_typed_item(item))


def thing(number: int) -> dict:
    """A typed item keyed by ``id`` with every kind of DynamoDB value, sets and nesting included."""
    return {
        "id": {"S": f"thing-{number:04d}"},
        "price": {"N": f"{number}.50"},
        "tags": {"SS": ["red", "green", f"t{number % 7}"]},
        "blob": {"B": bytes([number % 256, 0, 255])},
        "meta": {"M": {"sizes": {"NS": ["1", "2.5", "10"]}, "deep": {"L": [{"S": "x"}, {"M": {"n": {"N": "7"}}}]}}},
        "ok": {"BOOL": number % 2 == 0},
        "gone": {"NULL": True},
    }


def create_things_table(ddb, name: str, items: list[dict]) -> None:
    """Create ``name``, keyed by ``id`` and on demand, holding ``items``."""
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for start in range(0, len(items), 25):
        ddb.batch_write_item(RequestItems={name: [{"PutRequest": {"Item": i}} for i in items[start : start + 25]]})
