"""Lambda's control plane through unmodified boto3 and the AWS CLI: functions, versions, aliases,
layers, permissions, tags, concurrency, event invoke configs, function URL configs."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import urllib.error
import urllib.request
import uuid
import zipfile

import pytest
from botocore.exceptions import ClientError

# Its own access key, so these tests get an account of their own on the shared server.
from tests.support.aws import aws_error as error

KEY = "AKIALAMBDACONTROL01"
CODE = "def handler(event, context):\n    return event\n"
FAST = {"Delay": 1, "MaxAttempts": 10}  # waiters: functions are ready within milliseconds here


def make_zip(source: str = CODE, name: str = "handler.py") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, source)
    return buf.getvalue()


def b64sha(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def unique(prefix: str = "fn") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"



@pytest.fixture(scope="module")
def account(server) -> str:
    return server.client("sts", key=KEY).get_caller_identity()["Account"]


@pytest.fixture(scope="module")
def lam(server):
    return server.client("lambda", key=KEY)


@pytest.fixture(scope="module")
def raw(server):
    """A client that leaves range checks to the server."""
    return server.client("lambda", key=KEY, parameter_validation=False)


@pytest.fixture(scope="module")
def role(account) -> str:
    return f"arn:aws:iam::{account}:role/lambda-role"


@pytest.fixture
def fn(lam, role):
    """A fresh python function; yields its name."""
    name = unique()
    lam.create_function(FunctionName=name, Runtime="python3.12", Role=role, Handler="handler.handler",
                        Code={"ZipFile": make_zip()})
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig=FAST)
    yield name
    try:
        lam.delete_function(FunctionName=name)
    except ClientError:
        pass


def updated_v2(lam, name: str) -> None:
    """Wait for an update to be applied (LastUpdateStatus Successful), as clients of AWS must."""
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig=FAST)


def arn(account: str, name: str, qualifier: str | None = None, region: str = "us-east-1") -> str:
    base = f"arn:aws:lambda:{region}:{account}:function:{name}"
    return f"{base}:{qualifier}" if qualifier else base


# ---- functions -------------------------------------------------------------------------------

def test_create_get_list_delete(lam, role, account):
    name = unique()
    data = make_zip()
    created = lam.create_function(
        FunctionName=name, Runtime="python3.12", Role=role, Handler="handler.handler", Code={"ZipFile": data},
        Description="first", Environment={"Variables": {"STAGE": "dev"}}, Tags={"team": "core"})
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert created["FunctionName"] == name
    assert created["FunctionArn"] == arn(account, name)
    assert created["CodeSha256"] == b64sha(data) and created["CodeSize"] == len(data)
    assert created["Timeout"] == 3 and created["MemorySize"] == 128 and created["Version"] == "$LATEST"
    assert created["Environment"] == {"Variables": {"STAGE": "dev"}}
    assert created["State"] == "Pending" and created["PackageType"] == "Zip"  # until its code is ready
    assert created["Architectures"] == ["x86_64"] and created["EphemeralStorage"] == {"Size": 512}
    assert created["TracingConfig"] == {"Mode": "PassThrough"}
    assert created["SnapStart"] == {"ApplyOn": "None", "OptimizationStatus": "Off"}
    assert created["LoggingConfig"] == {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{name}"}
    assert created["RuntimeVersionConfig"]["RuntimeVersionArn"].startswith("arn:aws:lambda:us-east-1::runtime:")
    assert len(created["LastModified"]) == 28 and created["LastModified"].endswith("+0000")
    uuid.UUID(created["RevisionId"])

    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig=FAST)
    got = lam.get_function(FunctionName=name)
    assert got["Configuration"]["LastUpdateStatus"] == "Successful"
    assert got["Configuration"]["RevisionId"] != created["RevisionId"]  # Pending -> Active is a change
    assert got["Tags"] == {"team": "core"} and "Concurrency" not in got
    assert got["Code"]["RepositoryType"] == "S3"
    with urllib.request.urlopen(got["Code"]["Location"]) as r:
        assert r.read() == data
    with pytest.raises(urllib.error.HTTPError) as denied:     # the token is what makes the URL "presigned"
        urllib.request.urlopen(got["Code"]["Location"].split("?")[0])
    assert denied.value.code == 403
    assert lam.get_function_configuration(FunctionName=name)["Description"] == "first"

    listed = [f for f in lam.list_functions()["Functions"] if f["FunctionName"] == name]
    assert len(listed) == 1 and "State" not in listed[0] and listed[0]["CodeSha256"] == b64sha(data)

    assert lam.delete_function(FunctionName=name)["ResponseMetadata"]["HTTPStatusCode"] == 204
    err = error(lam.get_function, FunctionName=name)
    assert err == {"code": "ResourceNotFoundException", "status": 404, "type": "User",
                   "message": f"Function not found: {arn(account, name)}"}
    assert error(lam.delete_function, FunctionName=name)["code"] == "ResourceNotFoundException"


def test_waiters(lam, fn):
    lam.get_waiter("function_active_v2").wait(FunctionName=fn, WaiterConfig={"Delay": 1, "MaxAttempts": 2})
    lam.update_function_configuration(FunctionName=fn, MemorySize=256)
    lam.get_waiter("function_updated_v2").wait(FunctionName=fn, WaiterConfig={"Delay": 1, "MaxAttempts": 2})
    version = lam.publish_version(FunctionName=fn)["Version"]
    lam.get_waiter("published_version_active").wait(FunctionName=fn, Qualifier=version,
                                                     WaiterConfig={"Delay": 1, "MaxAttempts": 2})


def test_function_name_forms(lam, fn, account):
    for form in (fn, arn(account, fn), f"{account}:function:{fn}", f"{fn}:$LATEST"):
        assert lam.get_function_configuration(FunctionName=form)["FunctionName"] == fn
    assert lam.get_function(FunctionName=f"{fn}:$LATEST")["Configuration"]["FunctionArn"] == arn(account, fn, "$LATEST")
    err = error(lam.get_function, FunctionName=f"{fn}:1", Qualifier="2")
    assert err["code"] == "InvalidParameterValueException"
    assert err["message"] == "The derived qualifier from the function name does not match the specified qualifier."
    err = error(lam.get_function, FunctionName=arn(account, fn, region="us-west-2"))
    assert err["message"] == "Functions from 'us-west-2' are not reachable in this region ('us-east-1')"
    err = error(lam.get_function, FunctionName=fn, Qualifier="7")
    assert err["message"] == f"Function not found: {arn(account, fn, '7')}"
    err = error(lam.get_function, FunctionName="bad name!")
    assert err["code"] == "ValidationException" and "at 'functionName' failed to satisfy constraint" in err["message"]


def test_create_validation(lam, raw, role, account, server):
    def create(**overrides):
        kw = {"FunctionName": unique(), "Runtime": "python3.12", "Role": role, "Handler": "handler.handler",
              "Code": {"ZipFile": make_zip()}, **overrides}
        return error(raw.create_function, **kw)

    err = create(Role="not-a-role")
    assert err["code"] == "ValidationException"
    assert err["message"] == ("1 validation error detected: Value 'not-a-role' at 'role' failed to satisfy constraint: "
                              r"Member must satisfy regular expression pattern: arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?"
                              r"[a-zA-Z_0-9+=,.@\-_/]+")
    err = create(Handler="has space")
    assert err["code"] == "ValidationException" and r"at 'handler' failed to satisfy constraint" in err["message"]
    err = create(MemorySize=64)
    assert err["message"] == ("1 validation error detected: Value '64' at 'memorySize' failed to satisfy constraint: "
                              "Member must have value greater than or equal to 128")
    err = create(MemorySize=20000)
    assert err["message"].endswith("Member must have value less than or equal to 10240")
    err = create(Timeout=901)
    assert err["message"] == ("1 validation error detected: Value '901' at 'timeout' failed to satisfy constraint: "
                              "Member must have value less than or equal to 900")
    err = create(Code={"ZipFile": b"not a zip"})
    assert err["code"] == "InvalidParameterValueException"
    assert err["message"] == "Could not unzip uploaded file. Please check your file, then try to upload again."
    assert create(Code={})["message"] == "Please provide a source for function code."
    err = create(Runtime="python3.7")
    assert err["code"] == "InvalidParameterValueException" and err["message"].startswith(
        "The runtime parameter of python3.7 is no longer supported for creating or updating AWS Lambda functions.")
    err = error(lam.create_function, FunctionName=unique(), Role=role, Code={"ZipFile": make_zip()})
    assert err["message"] == "Runtime and Handler are mandatory parameters for functions created with deployment packages."
    err = create(FunctionName="x" * 65)
    assert err["code"] == "InvalidParameterValueException" and "have length less than or equal to 64" in err["message"]
    err = create(Code={"S3Bucket": "no-such-bucket-here", "S3Key": "code.zip"})
    assert err["message"] == ("Error occurred while GetObject. S3 Error Code: NoSuchBucket. S3 Error Message: "
                              "The specified bucket does not exist")
    bucket = unique("code")
    server.client("s3", key=KEY).create_bucket(Bucket=bucket)
    err = create(Code={"S3Bucket": bucket, "S3Key": "missing.zip"})
    assert err["message"] == ("Error occurred while GetObject. S3 Error Code: NoSuchKey. S3 Error Message: "
                              "The specified key does not exist.")
    name = unique()
    lam.create_function(FunctionName=name, Runtime="nodejs20.x", Role=role, Handler="index.handler",
                        Code={"ZipFile": make_zip(name="index.js")})
    err = create(FunctionName=name)
    assert err == {"code": "ResourceConflictException", "status": 409, "type": "User",
                   "message": f"Function already exist: {name}"}
    lam.delete_function(FunctionName=name)


def test_image_functions(lam, role, account):
    name = unique()
    image = f"{account}.dkr.ecr.us-east-1.amazonaws.com/app:1"
    created = lam.create_function(FunctionName=name, PackageType="Image", Role=role, Code={"ImageUri": image})
    assert created["PackageType"] == "Image" and "Runtime" not in created and "Handler" not in created
    code = lam.get_function(FunctionName=name)["Code"]
    assert code == {"RepositoryType": "ECR", "ImageUri": image, "ResolvedImageUri": image}
    err = error(lam.update_function_code, FunctionName=name, ZipFile=make_zip())
    assert err["message"] == "Please provide ImageUri when updating a function with packageType Image."
    err = error(lam.create_function, FunctionName=unique(), PackageType="Image", Role=role, Runtime="python3.12",
                Code={"ImageUri": image})
    assert err["message"] == ("Please don't provide Handler or Runtime or Layer when the intended function "
                              "PackageType is Image.")
    lam.delete_function(FunctionName=name)


def test_regions_are_separate(server, fn):
    west = server.client("lambda", key=KEY, region="us-west-2")
    assert fn not in [f["FunctionName"] for f in west.list_functions()["Functions"]]
    assert error(west.get_function, FunctionName=fn)["code"] == "ResourceNotFoundException"


def test_unzipped_size_limit(lam, role):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive, \
            archive.open("big.bin", "w", force_zip64=True) as member:
        chunk = bytes(1 << 22)
        for _ in range(63):
            member.write(chunk)
    err = error(lam.create_function, FunctionName=unique(), Runtime="python3.12", Role=role,
                Handler="handler.handler", Code={"ZipFile": buf.getvalue()})
    assert err["message"] == "Unzipped size must be smaller than 262144000 bytes"


def test_unknown_runtime_is_a_validation_error(lam, role):
    err = error(lam.create_function, FunctionName=unique(), Runtime="python9.9", Role=role, Handler="h.h",
                Code={"ZipFile": make_zip()})
    assert err["status"] == 400
    assert "Value 'python9.9' at 'runtime' failed to satisfy constraint: Member must satisfy enum value set" in err[
        "message"] or "Value python9.9 at 'runtime'" in err["message"]


def test_unknown_runtime_answers_like_aws(lam, role):
    err = error(lam.create_function, FunctionName=unique(), Runtime="python9.9", Role=role, Handler="h.h",
                Code={"ZipFile": make_zip()})
    assert err["code"] == "InvalidParameterValueException"
    assert err["message"].startswith("Value python9.9 at 'runtime' failed to satisfy constraint: Member must "
                                     "satisfy enum value set: [nodejs20.x, ")


def test_update_configuration_and_code(lam, fn, account):
    before = lam.get_function_configuration(FunctionName=fn)
    updated = lam.update_function_configuration(
        FunctionName=fn, MemorySize=512, Timeout=30, Description="v2", Handler="app.main", Runtime="python3.13",
        Environment={"Variables": {"AB": "1"}}, RevisionId=before["RevisionId"])
    assert updated["MemorySize"] == 512 and updated["Timeout"] == 30 and updated["Runtime"] == "python3.13"
    assert updated["RevisionId"] != before["RevisionId"] and updated["LastUpdateStatus"] == "InProgress"
    updated_v2(lam, fn)
    assert lam.get_function_configuration(FunctionName=fn)["Environment"] == {"Variables": {"AB": "1"}}
    err = error(lam.update_function_configuration, FunctionName=fn, Environment={"Variables": {"A": "1"}})
    assert err["message"] == ("1 validation error detected: Value at 'environment.variables' failed to satisfy "
                              "constraint: Map keys must satisfy constraint: [Member must satisfy regular expression "
                              "pattern: [a-zA-Z]([a-zA-Z0-9_])+]")
    err = error(lam.update_function_configuration, FunctionName=fn,
                Environment={"Variables": {"STAGE": "x", "AWS_REGION": "eu-west-1", "LAMBDA_TASK_ROOT": "/x"}})
    assert (err["code"], err["status"]) == ("InvalidParameterValueException", 400)
    assert err["message"] == ("Lambda was unable to configure your environment variables because the environment "
                              "variables you have provided contains reserved keys that are currently not supported "
                              "for modification. Reserved keys used in this request: AWS_REGION,LAMBDA_TASK_ROOT")
    ok = lam.update_function_configuration(FunctionName=fn, Environment={"Variables": {"AB": "1", "PATH": "/x",
                                                                                       "TZ": "Europe/Paris"}})
    assert ok["Environment"]["Variables"]["TZ"] == "Europe/Paris"  # not reserved: functions may set these
    updated_v2(lam, fn)
    lam.update_function_configuration(FunctionName=fn, Environment={"Variables": {"AB": "1"}})
    updated_v2(lam, fn)
    before = lam.get_function_configuration(FunctionName=fn)
    err = error(lam.update_function_configuration, FunctionName=fn, Timeout=5, RevisionId="stale-" + before["RevisionId"])
    assert err["code"] == "PreconditionFailedException" and err["status"] == 412
    assert err["message"] == ("The Revision Id provided does not match the latest Revision Id. Call the "
                              "GetFunction/GetAlias API to retrieve the latest Revision Id")
    assert error(lam.update_function_configuration, FunctionName=fn, Role="arn:bad")["code"] == "ValidationException"
    assert error(lam.update_function_configuration, FunctionName=unique())["code"] == "ResourceNotFoundException"

    new_zip = make_zip("def handler(e, c):\n    return 42\n")
    dry = lam.update_function_code(FunctionName=fn, ZipFile=new_zip, DryRun=True)
    assert dry["CodeSha256"] == b64sha(new_zip)
    assert lam.get_function_configuration(FunctionName=fn)["CodeSha256"] == before["CodeSha256"]
    published = lam.update_function_code(FunctionName=fn, ZipFile=new_zip, Publish=True)
    assert published["Version"] == "1" and published["FunctionArn"] == arn(account, fn, "1")
    assert published["CodeSha256"] == b64sha(new_zip)
    assert lam.get_function_configuration(FunctionName=fn)["CodeSha256"] == b64sha(new_zip)
    updated_v2(lam, fn)
    err = error(lam.update_function_code, FunctionName=fn, ImageUri="123.dkr.ecr.us-east-1.amazonaws.com/x:1")
    assert err["message"] == "Please don't provide ImageUri when updating a function with packageType Zip."
    assert error(lam.update_function_code, FunctionName=fn, ZipFile=b"junk")["code"] == "InvalidParameterValueException"


def test_versions(lam, fn, account):
    v1 = lam.publish_version(FunctionName=fn, Description="first release")
    assert v1["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert v1["Version"] == "1" and v1["FunctionArn"] == arn(account, fn, "1") and v1["Description"] == "first release"
    # Published from a ready $LATEST, a version is ready at once (AWS records State Active and
    # LastUpdateStatus Successful in PublishVersion's answer).
    assert (v1["State"], v1["LastUpdateStatus"]) == ("Active", "Successful")
    assert lam.publish_version(FunctionName=fn)["Version"] == "1"   # nothing changed since
    err = error(lam.publish_version, FunctionName=fn, CodeSha256="abc")
    assert err["code"] == "InvalidParameterValueException" and err["message"].startswith(
        "CodeSHA256 (abc) is different from current CodeSHA256 in $LATEST (")
    assert error(lam.publish_version, FunctionName=fn, RevisionId="nope")["code"] == "PreconditionFailedException"
    lam.update_function_configuration(FunctionName=fn, Timeout=10)
    updated_v2(lam, fn)
    latest = lam.get_function_configuration(FunctionName=fn)
    v2 = lam.publish_version(FunctionName=fn, CodeSha256=latest["CodeSha256"], RevisionId=latest["RevisionId"])
    assert v2["Version"] == "2" and v2["Timeout"] == 10
    assert lam.get_function_configuration(FunctionName=fn, Qualifier="1")["Timeout"] == 3

    pages = list(lam.get_paginator("list_versions_by_function").paginate(
        FunctionName=fn, PaginationConfig={"PageSize": 1}))
    assert len(pages) == 3
    versions = [v for page in pages for v in page["Versions"]]
    assert [v["Version"] for v in versions] == ["$LATEST", "1", "2"]
    assert versions[0]["FunctionArn"] == arn(account, fn, "$LATEST")

    lam.create_alias(FunctionName=fn, Name="live", FunctionVersion="1")
    err = error(lam.delete_function, FunctionName=fn, Qualifier="1")
    assert err["code"] == "ResourceConflictException"
    assert err["message"] == "Unable to delete version because the following aliases reference it: [live]"
    err = error(lam.delete_function, FunctionName=fn, Qualifier="$LATEST")
    assert err["message"] == "$LATEST version cannot be deleted without deleting the function."
    lam.delete_function(FunctionName=fn, Qualifier="2")
    assert error(lam.get_function, FunctionName=fn, Qualifier="2")["message"] == \
        f"Function not found: {arn(account, fn, '2')}"
    lam.update_function_configuration(FunctionName=fn, Timeout=11)
    updated_v2(lam, fn)
    assert lam.publish_version(FunctionName=fn)["Version"] == "3"     # numbers are never reused


def test_aliases(lam, fn, account):
    lam.publish_version(FunctionName=fn)
    lam.update_function_configuration(FunctionName=fn, Timeout=9)
    updated_v2(lam, fn)
    lam.publish_version(FunctionName=fn)
    alias = lam.create_alias(FunctionName=fn, Name="prod", FunctionVersion="1", Description="production")
    assert alias["AliasArn"] == arn(account, fn, "prod") and alias["FunctionVersion"] == "1"
    err = error(lam.create_alias, FunctionName=fn, Name="prod", FunctionVersion="1")
    assert err["code"] == "ResourceConflictException" and err["message"] == f"Alias already exists: {arn(account, fn, 'prod')}"
    err = error(lam.create_alias, FunctionName=fn, Name="nine", FunctionVersion="9")
    assert err["message"] == f"Function not found: {arn(account, fn, '9')}"
    assert error(lam.create_alias, FunctionName=fn, Name="123", FunctionVersion="1")["code"] == "ValidationException"
    assert lam.get_alias(FunctionName=fn, Name="prod")["Description"] == "production"
    err = error(lam.get_alias, FunctionName=fn, Name="nope")
    assert err["message"] == f"Cannot find alias arn: {arn(account, fn, 'nope')}"

    routed = lam.update_alias(FunctionName=fn, Name="prod",
                              RoutingConfig={"AdditionalVersionWeights": {"2": 0.25}})
    assert routed["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.25}}
    assert routed["RevisionId"] != alias["RevisionId"]
    for routing, code, text in [
        ({"2": 1.0}, "ValidationException", "Map value must satisfy constraint"),
        ({"1": 0.5}, "InvalidParameterValueException", "Function version 1 is already included"),
        ({"2": 0.1, "3": 0.1}, "InvalidParameterValueException", "cannot be greater than 1"),
        ({"5": 0.5}, "ResourceNotFoundException", "Function not found"),
    ]:
        err = error(lam.update_alias, FunctionName=fn, Name="prod", RoutingConfig={"AdditionalVersionWeights": routing})
        assert err["code"] == code and text in err["message"], err
    err = error(lam.create_alias, FunctionName=fn, Name="edge", FunctionVersion="$LATEST",
                RoutingConfig={"AdditionalVersionWeights": {"1": 0.5}})
    assert err["message"] == "$LATEST is not supported for an alias pointing to more than 1 version"
    assert error(lam.update_alias, FunctionName=fn, Name="prod", RevisionId="x")["code"] == "PreconditionFailedException"

    via_alias = lam.get_function(FunctionName=fn, Qualifier="prod")["Configuration"]
    assert via_alias["FunctionArn"] == arn(account, fn, "prod") and via_alias["Version"] == "1"
    lam.create_alias(FunctionName=fn, Name="dev", FunctionVersion="$LATEST")
    assert [a["Name"] for a in lam.list_aliases(FunctionName=fn)["Aliases"]] == ["dev", "prod"]
    assert [a["Name"] for a in lam.list_aliases(FunctionName=fn, FunctionVersion="1")["Aliases"]] == ["prod"]
    page = lam.list_aliases(FunctionName=fn, MaxItems=1)
    assert len(page["Aliases"]) == 1 and page["NextMarker"]
    assert lam.list_aliases(FunctionName=fn, Marker=page["NextMarker"])["Aliases"][0]["Name"] == "prod"
    lam.update_alias(FunctionName=fn, Name="prod", FunctionVersion="2", RoutingConfig={"AdditionalVersionWeights": {}})
    assert "RoutingConfig" not in lam.get_alias(FunctionName=fn, Name="prod")
    lam.delete_alias(FunctionName=fn, Name="prod")
    assert error(lam.get_alias, FunctionName=fn, Name="prod")["code"] == "ResourceNotFoundException"


def test_concurrency_and_account_settings(server, role):
    lam = server.client("lambda", key="AKIALAMBDACONCURRENCY")
    acct = server.client("sts", key="AKIALAMBDACONCURRENCY").get_caller_identity()["Account"]
    role = f"arn:aws:iam::{acct}:role/r"
    settings = lam.get_account_settings()
    assert settings["AccountLimit"] == {"TotalCodeSize": 80530636800, "CodeSizeUnzipped": 262144000,
                                        "CodeSizeZipped": 52428800, "ConcurrentExecutions": 1000,
                                        "UnreservedConcurrentExecutions": 1000}
    assert settings["AccountUsage"] == {"TotalCodeSize": 0, "FunctionCount": 0}
    data = make_zip()
    a, b = unique(), unique()
    for name in (a, b):
        lam.create_function(FunctionName=name, Runtime="python3.12", Role=role, Handler="handler.handler",
                            Code={"ZipFile": data})
    assert lam.get_function_concurrency(FunctionName=a).get("ReservedConcurrentExecutions") is None
    assert lam.put_function_concurrency(FunctionName=a, ReservedConcurrentExecutions=500)[
        "ReservedConcurrentExecutions"] == 500
    assert lam.get_function(FunctionName=a)["Concurrency"] == {"ReservedConcurrentExecutions": 500}
    assert lam.get_function_concurrency(FunctionName=a)["ReservedConcurrentExecutions"] == 500
    settings = lam.get_account_settings()
    assert settings["AccountLimit"]["UnreservedConcurrentExecutions"] == 500
    assert settings["AccountUsage"] == {"TotalCodeSize": 2 * len(data), "FunctionCount": 2}
    err = error(lam.put_function_concurrency, FunctionName=b, ReservedConcurrentExecutions=401)
    assert err["code"] == "InvalidParameterValueException"
    assert err["message"] == ("Specified ReservedConcurrentExecutions for function decreases account's "
                              "UnreservedConcurrentExecution below its minimum value of [100].")
    lam.put_function_concurrency(FunctionName=b, ReservedConcurrentExecutions=400)
    lam.put_function_concurrency(FunctionName=a, ReservedConcurrentExecutions=500)   # replacing its own is fine
    err = error(lam.put_function_concurrency, FunctionName=f"{a}:1", ReservedConcurrentExecutions=1)
    assert err["message"].startswith("This operation is permitted on Lambda functions only.")
    lam.delete_function_concurrency(FunctionName=a)
    assert "Concurrency" not in lam.get_function(FunctionName=a)
    assert lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == 600
    for name in (a, b):
        lam.delete_function(FunctionName=name)


def test_permissions(lam, fn, account):
    err = error(lam.get_policy, FunctionName=fn)
    assert err == {"code": "ResourceNotFoundException", "status": 404, "type": "User",
                   "message": "The resource you requested does not exist."}
    err = error(lam.remove_permission, FunctionName=fn, StatementId="s1")
    assert err["message"] == "No policy is associated with the given resource."
    before = lam.get_function_configuration(FunctionName=fn)["RevisionId"]
    added = lam.add_permission(FunctionName=fn, StatementId="s3-invoke", Action="lambda:InvokeFunction",
                               Principal="s3.amazonaws.com", SourceArn="arn:aws:s3:::my-bucket",
                               SourceAccount=account)
    assert added["ResponseMetadata"]["HTTPStatusCode"] == 201
    statement = json.loads(added["Statement"])
    assert statement == {"Sid": "s3-invoke", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
                         "Action": "lambda:InvokeFunction", "Resource": arn(account, fn),
                         "Condition": {"StringEquals": {"AWS:SourceAccount": account},
                                       "ArnLike": {"AWS:SourceArn": "arn:aws:s3:::my-bucket"}}}
    lam.add_permission(FunctionName=fn, StatementId="acct", Action="lambda:GetFunction", Principal="111122223333")
    err = error(lam.add_permission, FunctionName=fn, StatementId="acct", Action="lambda:InvokeFunction",
                Principal="*")
    assert err["code"] == "ResourceConflictException" and err["message"].startswith(
        "The statement id (acct) provided already exists.")
    assert error(lam.add_permission, FunctionName=fn, StatementId="x", Action="s3:GetObject",
                 Principal="*")["code"] == "ValidationException"
    err = error(lam.add_permission, FunctionName=fn, StatementId="x", Action="lambda:InvokeFunction",
                Principal="*", Qualifier="$LATEST")
    assert err["message"] == "We currently do not support adding policies for $LATEST."
    policy = lam.get_policy(FunctionName=fn)
    document = json.loads(policy["Policy"])
    assert document["Version"] == "2012-10-17" and document["Id"] == "default"
    assert [s["Sid"] for s in document["Statement"]] == ["s3-invoke", "acct"]
    assert document["Statement"][1]["Principal"] == {"AWS": "arn:aws:iam::111122223333:root"}
    assert policy["RevisionId"] == lam.get_function_configuration(FunctionName=fn)["RevisionId"] != before

    lam.publish_version(FunctionName=fn)
    lam.create_alias(FunctionName=fn, Name="live", FunctionVersion="1")
    lam.add_permission(FunctionName=fn, StatementId="alias", Action="lambda:InvokeFunction", Principal="*",
                       Qualifier="live")
    alias_doc = json.loads(lam.get_policy(FunctionName=fn, Qualifier="live")["Policy"])
    assert alias_doc["Statement"][0]["Resource"] == arn(account, fn, "live")

    err = error(lam.remove_permission, FunctionName=fn, StatementId="nope")
    assert err["message"] == "Statement nope is not found in resource policy."
    lam.remove_permission(FunctionName=fn, StatementId="s3-invoke")
    lam.remove_permission(FunctionName=fn, StatementId="acct")
    assert error(lam.get_policy, FunctionName=fn)["code"] == "ResourceNotFoundException"


def test_cross_account_access_follows_the_policy(server, lam, fn, account):
    other = server.client("lambda", key="AKIALAMBDAOTHERACCT")
    other_account = server.client("sts", key="AKIALAMBDAOTHERACCT").get_caller_identity()["Account"]
    err = error(other.get_function, FunctionName=arn(account, fn))
    assert err["code"] == "AccessDeniedException" and err["status"] == 403
    lam.add_permission(FunctionName=fn, StatementId="share", Action="lambda:GetFunction", Principal=other_account)
    assert other.get_function(FunctionName=arn(account, fn))["Configuration"]["FunctionName"] == fn
    assert error(other.update_function_configuration, FunctionName=arn(account, fn),
                 Timeout=5)["code"] == "AccessDeniedException"


def test_tags(lam, fn, account):
    resource = arn(account, fn)
    lam.tag_resource(Resource=resource, Tags={"a": "1", "b": "2"})
    assert lam.list_tags(Resource=resource)["Tags"] == {"a": "1", "b": "2"}
    lam.untag_resource(Resource=resource, TagKeys=["a"])
    assert lam.list_tags(Resource=resource)["Tags"] == {"b": "2"}
    assert lam.get_function(FunctionName=fn)["Tags"] == {"b": "2"}
    assert error(lam.list_tags, Resource=fn)["code"] == "ValidationException"
    err = error(lam.tag_resource, Resource=f"{resource}:1", Tags={"c": "3"})
    assert err["message"] == "Tags on function aliases and versions are not supported. Please specify a function ARN."
    err = error(lam.list_tags, Resource=arn(account, unique()))
    assert err["code"] == "ResourceNotFoundException"
    err = error(lam.tag_resource, Resource=resource, Tags={f"k{i}": "v" for i in range(51)})
    assert err["message"] == "Number of tags exceeds resource tag limit."


def test_layers(lam, role, account):
    layer = unique("layer")
    content = make_zip("VALUE = 1\n", name="python/lib.py")
    v1 = lam.publish_layer_version(LayerName=layer, Content={"ZipFile": content}, CompatibleRuntimes=["python3.12"],
                                   Description="one", LicenseInfo="MIT")
    assert v1["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert v1["Version"] == 1 and v1["LayerVersionArn"] == f"arn:aws:lambda:us-east-1:{account}:layer:{layer}:1"
    assert v1["LayerArn"] == f"arn:aws:lambda:us-east-1:{account}:layer:{layer}"
    assert v1["Content"]["CodeSha256"] == b64sha(content) and v1["Content"]["CodeSize"] == len(content)
    with urllib.request.urlopen(v1["Content"]["Location"]) as r:
        assert r.read() == content
    v2 = lam.publish_layer_version(LayerName=layer, Content={"ZipFile": content}, CompatibleRuntimes=["nodejs20.x"])
    assert v2["Version"] == 2
    assert lam.get_layer_version(LayerName=layer, VersionNumber=1)["Description"] == "one"
    assert lam.get_layer_version_by_arn(Arn=v2["LayerVersionArn"])["Version"] == 2
    assert [v["Version"] for v in lam.list_layer_versions(LayerName=layer)["LayerVersions"]] == [2, 1]
    assert [v["Version"] for v in lam.list_layer_versions(LayerName=layer, CompatibleRuntime="python3.12")[
        "LayerVersions"]] == [1]
    listed = [item for item in lam.list_layers()["Layers"] if item["LayerName"] == layer]
    assert listed[0]["LatestMatchingVersion"]["Version"] == 2
    listed = [item for item in lam.list_layers(CompatibleRuntime="python3.12")["Layers"] if item["LayerName"] == layer]
    assert listed[0]["LatestMatchingVersion"]["Version"] == 1

    name = unique()
    created = lam.create_function(FunctionName=name, Runtime="python3.12", Role=role, Handler="handler.handler",
                                  Code={"ZipFile": make_zip()}, Layers=[v1["LayerVersionArn"]])
    assert created["Layers"] == [{"Arn": v1["LayerVersionArn"], "CodeSize": len(content)}]
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig=FAST)
    missing = f"arn:aws:lambda:us-east-1:{account}:layer:{layer}:9"
    err = error(lam.update_function_configuration, FunctionName=name, Layers=[missing])
    assert err["message"] == f"Layer version {missing} does not exist."
    err = error(lam.update_function_configuration, FunctionName=name, Layers=[v1["LayerVersionArn"], v2["LayerVersionArn"]])
    assert err["message"].startswith("Two different versions of the same layer are not allowed")
    assert "Layers" not in lam.update_function_configuration(FunctionName=name, Layers=[])
    lam.delete_function(FunctionName=name)

    lam.delete_layer_version(LayerName=layer, VersionNumber=1)
    lam.delete_layer_version(LayerName=layer, VersionNumber=1)   # idempotent
    err = error(lam.get_layer_version, LayerName=layer, VersionNumber=1)
    assert err["code"] == "ResourceNotFoundException" and err["message"] == "The resource you requested does not exist."
    assert error(lam.get_layer_version_by_arn, Arn=f"arn:aws:lambda:us-east-1:{account}:layer:{layer}")[
        "code"] == "ValidationException"
    assert lam.publish_layer_version(LayerName=layer, Content={"ZipFile": content})["Version"] == 3


def test_event_invoke_configs(lam, raw, fn, account):
    err = error(lam.get_function_event_invoke_config, FunctionName=fn)
    assert err["message"] == f"The function {arn(account, fn, '$LATEST')} doesn't have an EventInvokeConfig"
    put = lam.put_function_event_invoke_config(FunctionName=fn, MaximumRetryAttempts=1, MaximumEventAgeInSeconds=600)
    assert put["FunctionArn"] == arn(account, fn, "$LATEST") and put["MaximumRetryAttempts"] == 1
    assert put["DestinationConfig"] == {"OnSuccess": {}, "OnFailure": {}}
    queue = f"arn:aws:sqs:us-east-1:{account}:dlq"
    updated = lam.update_function_event_invoke_config(FunctionName=fn,
                                                      DestinationConfig={"OnFailure": {"Destination": queue}})
    assert updated["MaximumRetryAttempts"] == 1 and updated["MaximumEventAgeInSeconds"] == 600
    assert updated["DestinationConfig"]["OnFailure"] == {"Destination": queue}
    got = lam.get_function_event_invoke_config(FunctionName=fn)
    assert got["DestinationConfig"] == updated["DestinationConfig"] and got["LastModified"]
    err = error(raw.put_function_event_invoke_config, FunctionName=fn, MaximumRetryAttempts=3)
    assert err["code"] == "ValidationException" and "less than or equal to 2" in err["message"]
    err = error(raw.put_function_event_invoke_config, FunctionName=fn, MaximumEventAgeInSeconds=30)
    assert err["code"] == "ValidationException" and "greater than or equal to 60" in err["message"]
    err = error(lam.put_function_event_invoke_config, FunctionName=fn)
    assert err["message"] == "You must specify at least one of error handling or destination setting."
    err = error(lam.put_function_event_invoke_config, FunctionName=fn,
                DestinationConfig={"OnSuccess": {"Destination": arn(account, fn)}})
    assert err["message"] == "You can't specify the function as a destination for itself."
    err = error(lam.put_function_event_invoke_config, FunctionName=fn,
                DestinationConfig={"OnSuccess": {"Destination": f"arn:aws:s3:::{fn}"}})
    assert err["code"] == "InvalidParameterValueException" and err["message"] == (
        f"The provided destination config DestinationConfig(onSuccess=OnSuccess(destination=arn:aws:s3:::{fn}), "
        "onFailure=null) is invalid.")
    lam.update_function_event_invoke_config(FunctionName=fn, DestinationConfig={
        "OnFailure": {"Destination": f"arn:aws:s3:::{fn}"}})     # S3 takes failures only
    assert error(lam.put_function_event_invoke_config, FunctionName=fn, Qualifier="4",
                 MaximumRetryAttempts=0)["message"] == "The function doesn't exist."
    lam.publish_version(FunctionName=fn)
    lam.put_function_event_invoke_config(FunctionName=fn, Qualifier="1", MaximumRetryAttempts=0)
    assert lam.get_function_event_invoke_config(FunctionName=f"{fn}:1")["MaximumRetryAttempts"] == 0
    listed = lam.list_function_event_invoke_configs(FunctionName=fn)["FunctionEventInvokeConfigs"]
    assert sorted(c["FunctionArn"] for c in listed) == [arn(account, fn, "$LATEST"), arn(account, fn, "1")]
    lam.delete_function_event_invoke_config(FunctionName=fn)
    assert error(lam.delete_function_event_invoke_config, FunctionName=fn)["code"] == "ResourceNotFoundException"
    assert len(lam.list_function_event_invoke_configs(FunctionName=fn)["FunctionEventInvokeConfigs"]) == 1


def test_function_urls(server, lam, fn, account):
    created = lam.create_function_url_config(FunctionName=fn, AuthType="NONE",
                                             Cors={"AllowOrigins": ["*"]})
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    url = created["FunctionUrl"]
    url_id = url.split("//")[1].split(".")[0]
    assert len(url_id) == 32 and url_id.isalnum() and url_id.islower()
    assert url == f"http://{url_id}.lambda-url.us-east-1.localhost:{server.port}/"
    assert created["FunctionArn"] == arn(account, fn) and "InvokeMode" not in created  # not set: not echoed
    got = lam.get_function_url_config(FunctionName=fn)
    assert got["FunctionUrl"] == url and got["Cors"] == {"AllowOrigins": ["*"]} and got["LastModifiedTime"]
    err = error(lam.create_function_url_config, FunctionName=fn, AuthType="NONE")
    assert err["code"] == "ResourceConflictException" and "FunctionUrlConfig exists for this Lambda function" in err[
        "message"]
    updated = lam.update_function_url_config(FunctionName=fn, AuthType="AWS_IAM")
    assert updated["AuthType"] == "AWS_IAM" and updated["FunctionUrl"] == url
    lam.publish_version(FunctionName=fn)
    lam.create_alias(FunctionName=fn, Name="live", FunctionVersion="1")
    aliased = lam.create_function_url_config(FunctionName=fn, Qualifier="live", AuthType="NONE")
    assert aliased["FunctionArn"] == arn(account, fn, "live") and aliased["FunctionUrl"] != url
    assert error(lam.create_function_url_config, FunctionName=fn, Qualifier="1",
                 AuthType="NONE")["code"] == "ValidationException"
    err = error(lam.create_function_url_config, FunctionName=fn, Qualifier="nope", AuthType="NONE")
    assert err["code"] == "ResourceNotFoundException" and err["message"] == "Function does not exist"
    listed = lam.list_function_url_configs(FunctionName=fn)["FunctionUrlConfigs"]
    assert sorted(c["FunctionArn"] for c in listed) == [arn(account, fn), arn(account, fn, "live")]
    lam.delete_function_url_config(FunctionName=fn)
    err = error(lam.get_function_url_config, FunctionName=fn)
    assert err["code"] == "ResourceNotFoundException" and err["message"] == "The resource you requested does not exist."
    lam.delete_alias(FunctionName=fn, Name="live")
    assert lam.list_function_url_configs(FunctionName=fn)["FunctionUrlConfigs"] == []


def test_list_functions_pagination(server):
    lam = server.client("lambda", key="AKIALAMBDALISTING01")
    acct = server.client("sts", key="AKIALAMBDALISTING01").get_caller_identity()["Account"]
    role = f"arn:aws:iam::{acct}:role/r"
    names = sorted(unique() for _ in range(3))
    for name in names:
        lam.create_function(FunctionName=name, Runtime="python3.12", Role=role, Handler="handler.handler",
                            Code={"ZipFile": make_zip()})
    lam.get_waiter("function_active_v2").wait(FunctionName=names[0], WaiterConfig=FAST)
    lam.publish_version(FunctionName=names[0])
    first = lam.list_functions(MaxItems=2)
    assert [f["FunctionName"] for f in first["Functions"]] == names[:2] and first["NextMarker"]
    second = lam.list_functions(MaxItems=2, Marker=first["NextMarker"])
    assert [f["FunctionName"] for f in second["Functions"]] == names[2:] and "NextMarker" not in second
    pages = list(lam.get_paginator("list_functions").paginate(FunctionVersion="ALL", PaginationConfig={"PageSize": 1}))
    arns = [f["FunctionArn"] for page in pages for f in page["Functions"]]
    assert arns == [arn(acct, names[0], "$LATEST"), arn(acct, names[0], "1"), arn(acct, names[1], "$LATEST"),
                    arn(acct, names[2], "$LATEST")]
    assert error(lam.list_functions, Marker="garbage!")["code"] == "InvalidParameterValueException"
    for name in names:
        lam.delete_function(FunctionName=name)
    assert lam.list_functions()["Functions"] == []


def test_aws_cli(server, tmp_path, account, role):
    name = unique("cli")
    package = tmp_path / "code.zip"
    package.write_bytes(make_zip())

    def cli(*args: str) -> dict:
        out = server.cli("lambda", *args, key=KEY).stdout
        return json.loads(out) if out.strip() else {}

    created = cli("create-function", "--function-name", name, "--runtime", "python3.12", "--role", role,
                  "--handler", "handler.handler", "--zip-file", f"fileb://{package}", "--publish")
    assert created["Version"] == "1" and created["CodeSha256"] == b64sha(package.read_bytes())
    cli("create-alias", "--function-name", name, "--name", "live", "--function-version", "1")
    got = cli("get-function", "--function-name", name, "--qualifier", "live")
    assert got["Configuration"]["FunctionArn"] == arn(account, name, "live")
    versions = cli("list-versions-by-function", "--function-name", name)["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", "1"]
    cli("delete-function", "--function-name", name)
    failed = server.cli("lambda", "get-function", "--function-name", name, key=KEY, check=False)
    assert failed.returncode != 0 and "ResourceNotFoundException" in failed.stderr
