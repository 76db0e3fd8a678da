"""What verify reads of the live source table: its item count and key schema, or nothing when it is gone."""

from __future__ import annotations

from dr_drill.aws.live_table import LiveTable, describe_live_table


def test_the_live_table_gives_its_count_and_its_keys_partition_first(aws):
    ddb = aws.client("dynamodb")
    ddb.create_table(
        TableName="ledger-live",
        KeySchema=[{"AttributeName": "sk", "KeyType": "RANGE"}, {"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    for number in range(3):
        ddb.put_item(TableName="ledger-live", Item={"pk": {"S": "a"}, "sk": {"N": str(number)}})

    assert describe_live_table(ddb, "ledger-live") == LiveTable(
        item_count=3, key_schema=({"name": "pk", "type": "S"}, {"name": "sk", "type": "N"})
    )


def test_a_table_that_is_gone_is_none(aws):
    assert describe_live_table(aws.client("dynamodb"), "no-such-table") is None
