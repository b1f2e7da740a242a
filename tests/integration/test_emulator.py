"""The embedded AWS keeps DynamoDB's transaction isolation under concurrent requests."""
from __future__ import annotations

import threading

import boto3
import pytest

from tools.emulator import EmulatorServer


@pytest.fixture
def dynamodb():
    # moto's state is per process: reset it so each test starts from an empty emulator.
    server = EmulatorServer().start()
    import urllib.request
    urllib.request.urlopen(urllib.request.Request(server.url + "/moto-api/reset", method="POST"), timeout=5)
    client = boto3.client("dynamodb", endpoint_url=server.url, region_name="us-east-1")
    client.create_table(
        TableName="days", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}])
    yield server, client
    server.stop()


def _hold(url: str, marker: str) -> bool:
    client = boto3.client("dynamodb", endpoint_url=url, region_name="us-east-1")
    try:
        client.transact_write_items(TransactItems=[
            {"Update": {"TableName": "days", "Key": {"pk": {"S": "l1"}, "sk": {"S": "d1"}},
                        "UpdateExpression": "SET held = held + :q, available = available - :q",
                        "ConditionExpression": "available >= :q",
                        "ExpressionAttributeValues": {":q": {"N": "1"}}}},
            {"Put": {"TableName": "days", "Item": {"pk": {"S": "booking"}, "sk": {"S": marker}},
                     "ConditionExpression": "attribute_not_exists(pk)"}},
        ])
        return True
    except client.exceptions.TransactionCanceledException:
        return False


def test_racing_transactions_never_oversell_and_roll_back_whole(dynamodb):
    server, client = dynamodb
    client.put_item(TableName="days", Item={"pk": {"S": "l1"}, "sk": {"S": "d1"}, "held": {"N": "0"},
                                            "available": {"N": "20"}})
    results: list[bool] = []
    threads = [threading.Thread(target=lambda i=i: results.append(_hold(server.url, f"b{i}"))) for i in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(True) == 20
    day = client.get_item(TableName="days", Key={"pk": {"S": "l1"}, "sk": {"S": "d1"}})["Item"]
    assert day["held"]["N"] == "20" and day["available"]["N"] == "0"
    bookings = client.query(TableName="days", KeyConditionExpression="pk = :b",
                            ExpressionAttributeValues={":b": {"S": "booking"}})["Items"]
    assert len(bookings) == 20  # a failed transaction left no booking behind


def test_failed_transaction_restores_only_what_it_touched(dynamodb):
    _, client = dynamodb
    client.put_item(TableName="days", Item={"pk": {"S": "a"}, "sk": {"S": "1"}, "n": {"N": "1"}})
    client.put_item(TableName="days", Item={"pk": {"S": "other"}, "sk": {"S": "1"}, "n": {"N": "7"}})
    with pytest.raises(client.exceptions.TransactionCanceledException) as failure:
        client.transact_write_items(TransactItems=[
            {"Update": {"TableName": "days", "Key": {"pk": {"S": "a"}, "sk": {"S": "1"}},
                        "UpdateExpression": "SET n = n + :one", "ExpressionAttributeValues": {":one": {"N": "1"}}}},
            {"Put": {"TableName": "days", "Item": {"pk": {"S": "new"}, "sk": {"S": "1"}}}},
            {"ConditionCheck": {"TableName": "days", "Key": {"pk": {"S": "other"}, "sk": {"S": "1"}},
                                "ConditionExpression": "n = :zero", "ExpressionAttributeValues": {":zero": {"N": "0"}},
                                "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}},
        ])
    reasons = failure.value.response["CancellationReasons"]
    assert [r["Code"] for r in reasons] == ["None", "None", "ConditionalCheckFailed"]
    assert reasons[2]["Item"]["n"] == {"N": "7"}
    assert client.get_item(TableName="days", Key={"pk": {"S": "a"}, "sk": {"S": "1"}})["Item"]["n"] == {"N": "1"}
    assert "Item" not in client.get_item(TableName="days", Key={"pk": {"S": "new"}, "sk": {"S": "1"}})


def test_queries_read_their_partition_and_see_every_write(dynamodb):
    _, client = dynamodb
    client.create_table(
        TableName="books", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in ("pk", "sk", "state")],
        GlobalSecondaryIndexes=[{"IndexName": "by-state", "Projection": {"ProjectionType": "ALL"},
                                 "KeySchema": [{"AttributeName": "state", "KeyType": "HASH"}]}])
    for i in range(30):
        client.put_item(TableName="books", Item={"pk": {"S": f"p{i % 3}"}, "sk": {"S": f"{i:02d}"},
                                                 "state": {"S": "HELD" if i % 2 else "DONE"}})

    def by_state(state):
        return sorted(i["sk"]["S"] for i in client.query(
            TableName="books", IndexName="by-state", KeyConditionExpression="#s = :s",
            ExpressionAttributeNames={"#s": "state"}, ExpressionAttributeValues={":s": {"S": state}})["Items"])

    base = client.query(TableName="books", KeyConditionExpression="pk = :p AND sk > :s",
                        ExpressionAttributeValues={":p": {"S": "p1"}, ":s": {"S": "10"}})["Items"]
    assert [i["sk"]["S"] for i in base] == ["13", "16", "19", "22", "25", "28"]
    assert len(by_state("HELD")) == 15
    client.update_item(TableName="books", Key={"pk": {"S": "p1"}, "sk": {"S": "01"}},
                       UpdateExpression="REMOVE #s", ExpressionAttributeNames={"#s": "state"})
    client.delete_item(TableName="books", Key={"pk": {"S": "p0"}, "sk": {"S": "03"}})
    client.put_item(TableName="books", Item={"pk": {"S": "p9"}, "sk": {"S": "99"}, "state": {"S": "HELD"}})
    assert by_state("HELD") == sorted({f"{i:02d}" for i in range(1, 30, 2)} - {"01", "03"} | {"99"})
    assert by_state("NOPE") == []


def test_in_process_moto_in_the_same_process_keeps_its_own_query(dynamodb):
    """The partition maps follow the emulator's requests only; moto's in-process mock (whose
    writes the emulator never sees) must keep answering from its own items."""
    import moto

    with moto.mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName="mocked", BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "g", "AttributeType": "S"}],
            GlobalSecondaryIndexes=[{"IndexName": "by-g", "Projection": {"ProjectionType": "ALL"},
                                     "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}]}])

        def count(value):
            return client.query(TableName="mocked", IndexName="by-g", KeyConditionExpression="g = :g",
                                ExpressionAttributeValues={":g": {"S": value}})["Count"]

        client.put_item(TableName="mocked", Item={"pk": {"S": "1"}, "g": {"S": "a"}})
        assert count("a") == 1
        client.put_item(TableName="mocked", Item={"pk": {"S": "2"}, "g": {"S": "a"}})
        client.put_item(TableName="mocked", Item={"pk": {"S": "1"}, "g": {"S": "b"}})
        assert (count("a"), count("b")) == (1, 1)
