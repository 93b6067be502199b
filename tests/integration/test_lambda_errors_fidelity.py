"""Lambda's validation and error answers as AWS records them: codes, statuses and messages,
through unmodified boto3 against a started server.

Sources of the wording: users' records of AWS's answers (the 70167211-byte request limit of
CreateFunction / UpdateFunctionCode / PublishLayerVersion), LocalStack's AWS-validated provider
and snapshots (Invoke's ":$LATEST", "Cannot find alias arn:", "Layers are not in the same region",
"Value null at 'tagKeys'", the code signing config's "can not be found"), AWS's quotas page
(https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html: 50 MB zipped direct upload).
"""

from __future__ import annotations

import io
import os
import zipfile

import pytest
from botocore.exceptions import ClientError

from tests.integration.test_lambda_control import FAST, arn, error, make_zip, unique

KEY = "AKIALAMBDAFIDELITY01"


@pytest.fixture(scope="module")
def account(server) -> str:
    return server.client("sts", key=KEY).get_caller_identity()["Account"]


@pytest.fixture(scope="module")
def lam(server):
    return server.client("lambda", key=KEY)


@pytest.fixture(scope="module")
def raw(server):
    """A client that leaves required-member and range checks to the server."""
    return server.client("lambda", key=KEY, parameter_validation=False)


@pytest.fixture(scope="module")
def role(account) -> str:
    return f"arn:aws:iam::{account}:role/lambda-role"


@pytest.fixture
def fn(lam, role):
    name = unique("fid")
    lam.create_function(FunctionName=name, Runtime="python3.12", Role=role, Handler="handler.handler",
                        Code={"ZipFile": make_zip()})
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig=FAST)
    yield name
    try:
        lam.delete_function(FunctionName=name)
    except ClientError:
        pass


def _zip_over_50mb() -> bytes:
    """A zip a little over 52428800 bytes (incompressible), whose base64 JSON body is still under
    AWS's 70167211-byte request limit."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return event\n")
        archive.writestr("blob.bin", os.urandom(52_428_800))
    data = buf.getvalue()
    assert 52_428_800 < len(data) and (len(data) + 2) // 3 * 4 + 1000 < 70_167_211
    return data


def test_zip_over_the_direct_upload_limit_is_413_zipped_size(lam, fn, role):
    data = _zip_over_50mb()
    expected = ("RequestEntityTooLargeException", 413, "Zipped size must be smaller than 52428800 bytes")
    err = error(lam.create_function, FunctionName=unique("fid"), Runtime="python3.12", Role=role,
                Handler="handler.handler", Code={"ZipFile": data})
    assert (err["code"], err["status"], err["message"]) == expected
    err = error(lam.update_function_code, FunctionName=fn, ZipFile=data)
    assert (err["code"], err["status"], err["message"]) == expected
    # A body over the request limit is refused as a whole, with AWS's request wording.
    err = error(lam.update_function_code, FunctionName=fn, ZipFile=os.urandom(53 * 1024 * 1024))
    assert (err["code"], err["status"], err["message"]) == (
        "RequestEntityTooLargeException", 413,
        "Request must be smaller than 70167211 bytes for the UpdateFunctionCode operation")


def test_delete_function_of_a_missing_version_succeeds(lam, fn, account):
    resp = lam.delete_function(FunctionName=fn, Qualifier="42")
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert lam.get_function(FunctionName=fn)["Configuration"]["FunctionName"] == fn  # the function stays
    # ...but a missing function is still not found.
    missing = unique("fid")
    assert error(lam.delete_function, FunctionName=missing, Qualifier="42") == {
        "code": "ResourceNotFoundException", "status": 404, "type": "User",
        "message": f"Function not found: {arn(account, missing)}"}


def test_untag_resource_without_tag_keys(raw, fn, account):
    assert error(raw.untag_resource, Resource=arn(account, fn)) == {
        "code": "ValidationException", "status": 400, "type": None,
        "message": "1 validation error detected: Value null at 'tagKeys' failed to satisfy constraint: "
                   "Member must not be null"}


def test_tag_errors_name_the_resource_type(lam, account):
    function = arn(account, unique("fid"))
    mapping = f"arn:aws:lambda:us-east-1:{account}:event-source-mapping:a1b2c3d4-5678-90ab-cdef-111111111111"
    signing = f"arn:aws:lambda:us-east-1:{account}:code-signing-config:csc-0123456789abcdef0"
    for resource, message in [
        (function, f"Function not found: {function}"),
        (mapping, "The resource you requested does not exist."),
        (signing, f"The Lambda code signing configuration {signing} can not be found."),
    ]:
        expected = {"code": "ResourceNotFoundException", "status": 404, "type": "User", "message": message}
        assert error(lam.tag_resource, Resource=resource, Tags={"a": "b"}) == expected, resource
        assert error(lam.list_tags, Resource=resource) == expected, resource
        assert error(lam.untag_resource, Resource=resource, TagKeys=["a"]) == expected, resource
    # An existing code signing config is tagged like a function.
    config = lam.create_code_signing_config(AllowedPublishers={"SigningProfileVersionArns": [
        f"arn:aws:signer:us-east-1:{account}:/signing-profiles/p/abcdef0123"]})["CodeSigningConfig"]
    try:
        lam.tag_resource(Resource=config["CodeSigningConfigArn"], Tags={"a": "1", "b": "2"})
        lam.untag_resource(Resource=config["CodeSigningConfigArn"], TagKeys=["a"])
        assert lam.list_tags(Resource=config["CodeSigningConfigArn"])["Tags"] == {"b": "2"}
    finally:
        lam.delete_code_signing_config(CodeSigningConfigArn=config["CodeSigningConfigArn"])
    err = error(lam.list_tags, Resource=config["CodeSigningConfigArn"])
    assert err["message"] == f"The Lambda code signing configuration {config['CodeSigningConfigArn']} can not be found."


def test_layers_from_another_region(lam, fn, role, account):
    layer = f"arn:aws:lambda:eu-west-1:{account}:layer:elsewhere:1"
    expected = {"code": "InvalidParameterValueException", "status": 400, "type": "User",
                "message": "Layers are not in the same region as the function. "
                           "Layers are expected to be in region us-east-1."}
    assert error(lam.update_function_configuration, FunctionName=fn, Layers=[layer]) == expected
    assert error(lam.create_function, FunctionName=unique("fid"), Runtime="python3.12", Role=role,
                 Handler="handler.handler", Code={"ZipFile": make_zip()}, Layers=[layer]) == expected


def test_invoke_of_a_missing_function_names_latest(lam, fn, account):
    missing = unique("fid")

    def not_found(target: str) -> dict:
        return {"code": "ResourceNotFoundException", "status": 404, "type": "User",
                "message": f"Function not found: {target}"}

    latest = not_found(arn(account, missing, "$LATEST"))
    assert error(lam.invoke, FunctionName=missing) == latest
    assert error(lam.invoke, FunctionName=missing, InvocationType="Event") == latest
    assert error(lam.invoke, FunctionName=arn(account, missing)) == latest
    assert error(lam.invoke_async, FunctionName=missing, InvokeArgs=b"{}") == latest
    assert error(lam.invoke_with_response_stream, FunctionName=missing) == latest
    # With a qualifier, the qualifier is named.
    assert error(lam.invoke, FunctionName=missing, Qualifier="3") == not_found(arn(account, missing, "3"))
    assert error(lam.invoke, FunctionName=fn, Qualifier="7") == not_found(arn(account, fn, "7"))
    assert error(lam.invoke_with_response_stream, FunctionName=fn, Qualifier="live") == \
        not_found(arn(account, fn, "live"))


def test_add_permission_on_a_missing_alias(lam, fn, account):
    err = error(lam.add_permission, FunctionName=fn, Qualifier="nosuch", StatementId="s1",
                Action="lambda:InvokeFunction", Principal="s3.amazonaws.com")
    assert err == {"code": "ResourceNotFoundException", "status": 404, "type": "User",
                   "message": f"Cannot find alias arn: {arn(account, fn, 'nosuch')}"}
    err = error(lam.add_permission, FunctionName=fn, Qualifier="9", StatementId="s1",
                Action="lambda:InvokeFunction", Principal="s3.amazonaws.com")
    assert err["message"] == f"Function not found: {arn(account, fn, '9')}"


def test_every_violation_is_reported_in_one_message(raw, fn, role):
    err = error(raw.create_function, FunctionName=unique("fid"), Runtime="python3.12", Role="not-a-role",
                Handler="bad handler", Code={"ZipFile": make_zip()}, Timeout=1000, MemorySize=20000)
    assert (err["code"], err["status"]) == ("ValidationException", 400)
    assert err["message"] == (
        "4 validation errors detected: "
        "Value 'not-a-role' at 'role' failed to satisfy constraint: Member must satisfy regular expression "
        r"pattern: arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+; "
        r"Value 'bad handler' at 'handler' failed to satisfy constraint: Member must satisfy regular expression "
        r"pattern: [^\s]+; "
        "Value '1000' at 'timeout' failed to satisfy constraint: Member must have value less than or equal to 900; "
        "Value '20000' at 'memorySize' failed to satisfy constraint: Member must have value less than or equal "
        "to 10240")
    err = error(raw.update_function_configuration, FunctionName=fn, MemorySize=64, Timeout=901)
    assert err["message"] == (
        "2 validation errors detected: "
        "Value '901' at 'timeout' failed to satisfy constraint: Member must have value less than or equal to 900; "
        "Value '64' at 'memorySize' failed to satisfy constraint: Member must have value greater than or equal "
        "to 128")
    # Enum sets print in the model's order.
    err = error(raw.create_function, FunctionName=unique("fid"), Runtime="python3.12", Role=role,
                Handler="handler.handler", Code={"ZipFile": make_zip()}, PackageType="Jar")
    assert err["message"] == ("1 validation error detected: Value 'Jar' at 'packageType' failed to satisfy "
                              "constraint: Member must satisfy enum value set: [Zip, Image]")
