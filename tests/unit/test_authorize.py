"""The authorize step: IAM action and resource ARNs per operation, from the service tables."""

from __future__ import annotations

import importlib

import pytest

from cloudlet.call import CallContext
from cloudlet.gateway.authorize import Authorization, Authorizer, IamTable, Template, coverage, load_table
from cloudlet.protocol import load_service
from cloudlet.services import PROVIDERS

CTX = CallContext(account="111122223333", region="eu-west-1")


@pytest.fixture(scope="module")
def authorize():
    auth = Authorizer()

    def run(service: str, operation: str, params: dict, ctx: CallContext = CTX) -> Authorization:
        return auth(ctx, service, load_service(service).operations[operation], params)
    return run


@pytest.mark.parametrize("name,expected", [
    ("my-fn", "arn:aws:lambda:eu-west-1:111122223333:function:my-fn"),
    ("my-fn:prod", "arn:aws:lambda:eu-west-1:111122223333:function:my-fn:prod"),
    ("444455556666:function:my-fn", "arn:aws:lambda:eu-west-1:444455556666:function:my-fn"),
    ("arn:aws:lambda:us-west-2:444455556666:function:my-fn",
     "arn:aws:lambda:us-west-2:444455556666:function:my-fn"),
    ("arn:aws-cn:lambda:cn-north-1:444455556666:function:my-fn:7",
     "arn:aws-cn:lambda:cn-north-1:444455556666:function:my-fn:7"),
])
def test_lambda_function_name_forms(authorize, name, expected):
    got = authorize("lambda", "GetFunction", {"FunctionName": name})
    assert got == Authorization("lambda:GetFunction", (expected,))


def test_lambda_action_names_and_qualifiers(authorize):
    got = authorize("lambda", "Invoke", {"FunctionName": "f", "Qualifier": "live", "Payload": b"{}"})
    assert got == Authorization("lambda:InvokeFunction", ("arn:aws:lambda:eu-west-1:111122223333:function:f:live",))
    # Unqualified operations ignore a Qualifier member they do not have.
    got = authorize("lambda", "ListVersionsByFunction", {"FunctionName": "f"})
    assert got.resources == ("arn:aws:lambda:eu-west-1:111122223333:function:f",)
    layer = "arn:aws:lambda:eu-west-1:444455556666:layer:deps:3"
    assert authorize("lambda", "GetLayerVersionByArn", {"Arn": layer}) == Authorization(
        "lambda:GetLayerVersion", (layer,))
    assert authorize("lambda", "GetLayerVersion", {"LayerName": "deps", "VersionNumber": 3}).resources == (
        "arn:aws:lambda:eu-west-1:111122223333:layer:deps:3",)
    assert authorize("lambda", "GetLayerVersion", {
        "LayerName": "arn:aws:lambda:us-east-2:444455556666:layer:deps", "VersionNumber": 3}).resources == (
        "arn:aws:lambda:us-east-2:444455556666:layer:deps:3",)
    assert authorize("lambda", "ListFunctions", {}) == Authorization("lambda:ListFunctions", ("*",))


def test_s3_actions_are_not_always_the_operation(authorize):
    assert authorize("s3", "HeadBucket", {"Bucket": "b"}) == Authorization("s3:ListBucket", ("arn:aws:s3:::b",))
    assert authorize("s3", "ListBuckets", {}) == Authorization("s3:ListAllMyBuckets", ("*",))
    assert authorize("s3", "PutObject", {"Bucket": "b", "Key": "a/b c.txt"}) == Authorization(
        "s3:PutObject", ("arn:aws:s3:::b/a/b c.txt",))


def test_logs_identifier_stands_in_for_the_group_name(authorize):
    group = "arn:aws:logs:eu-west-1:111122223333:log-group:/aws/lambda/f"
    assert authorize("logs", "CreateLogGroup", {"logGroupName": "/aws/lambda/f"}).resources == (group,)
    assert authorize("logs", "DescribeLogStreams", {"logGroupIdentifier": group + ":*"}).resources == (group,)
    assert authorize("logs", "PutLogEvents", {"logGroupName": "g", "logStreamName": "s", "logEvents": []}
                     ).resources == ("arn:aws:logs:eu-west-1:111122223333:log-group:g:log-stream:s",)


def test_dynamodb_and_sts(authorize):
    assert authorize("dynamodb", "GetItem", {"TableName": "t", "Key": {}}).resources == (
        "arn:aws:dynamodb:eu-west-1:111122223333:table/t",)
    arn = "arn:aws:dynamodb:us-east-1:444455556666:table/other"
    assert authorize("dynamodb", "GetItem", {"TableName": arn, "Key": {}}).resources == (arn,)
    assert authorize("sts", "GetCallerIdentity", {}) == Authorization("sts:GetCallerIdentity", ("*",))


def test_missing_required_member_leaves_the_resource_out_and_unknown_operations_have_none(authorize):
    assert authorize("s3", "PutObject", {"Bucket": "b"}).resources == ()
    assert authorize("s3", "GetBucketWebsite", {"Bucket": "b"}) == Authorization("s3:GetBucketWebsite", ())


def test_template_syntax():
    t = Template("arn:{partition}:x:{region}:{account}:thing/{Name}{:Version}")
    base = {"partition": "aws", "region": "r", "account": "a"}
    assert t.render({**base, "Name": "n"}) == "arn:aws:x:r:a:thing/n"
    assert t.render({**base, "Name": "n", "Version": "2"}) == "arn:aws:x:r:a:thing/n:2"
    assert t.render(base) is None
    assert t.required == ("Name",) and t.members == ("Name", "Version")


def test_constant_answers_are_shared(authorize):
    # Operations that name no resource from the request allocate nothing per call.
    assert authorize("sts", "GetCallerIdentity", {}) is authorize("sts", "GetCallerIdentity", {})


@pytest.mark.parametrize("service", sorted(PROVIDERS))
def test_tables_name_real_operations_and_members(service):
    table = load_table(service)
    assert isinstance(table, IamTable)
    ops = load_service(service).operations
    for name in list(table.resources) + list(table.actions):
        assert name in ops, f"{service}: {name} is not an operation"
    for name, declared in table.resources.items():
        shape = ops[name].input_shape
        members = set(shape.members) if shape is not None else set()
        for text in (declared,) if isinstance(declared, str) else declared:
            if text != "*":
                missing = set(Template(text).members) - members
                stand_ins = set(table.members) & members  # a normalised member may fill them
                assert not missing or stand_ins, f"{service}.{name}: template names {missing}, not input members"


def test_coverage_counts_declared_operations():
    done, total = coverage("sts", ["GetCallerIdentity", "AssumeRole", "GetWebIdentityToken"])
    assert (done, total) == (2, 3)
    assert importlib.import_module("cloudlet.services.sts.iam").TABLE.prefix == "sts"


def test_repeated_calls_are_remembered_per_caller_and_values(authorize):
    first = authorize("lambda", "Invoke", {"FunctionName": "f", "Payload": b"1"})
    assert authorize("lambda", "Invoke", {"FunctionName": "f", "Payload": b"2"}) is first  # payload not a member
    assert authorize("lambda", "Invoke", {"FunctionName": "g"}).resources[0].endswith(":function:g")
    other = CallContext(account="999988887777", region="eu-west-1")
    assert authorize("lambda", "Invoke", {"FunctionName": "f"}, other).resources == (
        "arn:aws:lambda:eu-west-1:999988887777:function:f",)
    # A member value that cannot be a dictionary key is still handled (just not remembered).
    assert authorize("s3", "PutObject", {"Bucket": "b", "Key": ["not", "a", "string"]}).action == "s3:PutObject"
