"""The input validator (protocol/validate.py): AWS's wording, paths and order, through shapes
that nest, repeat and contain themselves."""

from __future__ import annotations

from cloudlet.protocol import load_service
from cloudlet.protocol.validate import validate


def problems(service: str, operation: str, params: dict, skip: frozenset[str] = frozenset()) -> list[str]:
    return validate(load_service(service).operations[operation].input_shape, params, skip)


def test_required_lengths_ranges_and_enums_in_the_requests_order():
    assert problems("dynamodb", "ListTables", {"Limit": 1000, "ExclusiveStartTableName": "ab"}) == [
        "Value '1000' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 100",
        "Value 'ab' at 'exclusiveStartTableName' failed to satisfy constraint: Member must have length greater "
        "than or equal to 3"]
    assert problems("dynamodb", "ListTables", {"ExclusiveStartTableName": "ab", "Limit": 0})[0].startswith(
        "Value 'ab' at 'exclusiveStartTableName'")
    assert problems("dynamodb", "DescribeTable", {}) == [
        "Value null at 'tableName' failed to satisfy constraint: Member must not be null"]
    [enum] = problems("lambda", "ListFunctions", {"FunctionVersion": "BOGUS"})
    assert enum == "Value 'BOGUS' at 'functionVersion' failed to satisfy constraint: Member must satisfy enum value set: [ALL]"
    assert problems("lambda", "CreateFunction", {"Runtime": "nope"}, frozenset({"Runtime"})) == [
        f"Value null at '{m}' failed to satisfy constraint: Member must not be null"
        for m in ("functionName", "role", "code")]


def test_list_members_and_nested_structures_are_named_as_aws_names_them():
    events = [{"timestamp": 1, "message": "ok"}, {"timestamp": 2, "message": ""}, {"message": "x"}]
    found = problems("logs", "PutLogEvents", {"logGroupName": "g", "logStreamName": "s", "logEvents": events})
    assert sorted(found) == sorted([
        "Value '' at 'logEvents.2.member.message' failed to satisfy constraint: Member must have length greater "
        "than or equal to 1",
        "Value null at 'logEvents.3.member.timestamp' failed to satisfy constraint: Member must not be null"])


def test_a_shape_that_contains_itself_is_walked_without_end():
    """DynamoDB's AttributeValue holds maps and lists of itself; a deep, valid item passes, and
    the table name is still judged."""
    item = {"k": {"L": [{"M": {"x": {"S": "v"}, "y": {"L": [{"N": "1"}]}}}]}}
    assert problems("dynamodb", "PutItem", {"TableName": "table", "Item": item}) == []
    assert problems("dynamodb", "PutItem", {"TableName": "", "Item": item}) == [
        "Value '' at 'tableName' failed to satisfy constraint: Member must have length greater than or equal to 1"]


def test_at_most_ten_problems():
    events = [{"message": ""} for _ in range(8)]
    assert len(problems("logs", "PutLogEvents", {"logGroupName": "", "logStreamName": "", "logEvents": events})) == 10
