"""Lambda configuration operations through unmodified boto3: recursion config, runtime management
config, code signing configs (stored and attached; signatures are not verified here) and layer
version permissions, enforced across accounts."""

from __future__ import annotations

import io
import json
import re
import uuid
import zipfile

import pytest
from botocore.exceptions import ClientError

from tests.support.aws import aws_error as error

KEY = "AKIALAMBDACONFIGOPS1"
OTHER_KEY = "AKIALAMBDACONFIGOPS2"
THIRD_KEY = "AKIALAMBDACONFIGOPS3"
FAST = {"Delay": 1, "MaxAttempts": 10}
LAMBDA_DATE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000")
PROFILE = "arn:aws:signer:us-east-1:123456789012:/signing-profiles/MyProfile/abcdef1234"


def make_zip(source: str, name: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr(name, source)
    return buf.getvalue()


def unique(prefix: str = "fn") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"



@pytest.fixture(scope="module")
def account(server) -> str:
    return server.client("sts", key=KEY).get_caller_identity()["Account"]


@pytest.fixture(scope="module")
def other_account(server) -> str:
    return server.client("sts", key=OTHER_KEY).get_caller_identity()["Account"]


@pytest.fixture(scope="module")
def lam(server):
    return server.client("lambda", key=KEY)


@pytest.fixture(scope="module")
def other(server):
    return server.client("lambda", key=OTHER_KEY)


def _create(client, account: str, **extra) -> str:
    name = unique()
    client.create_function(FunctionName=name, Runtime="python3.12", Role=f"arn:aws:iam::{account}:role/r",
                           Handler="handler.handler",
                           Code={"ZipFile": make_zip("def handler(e, c):\n    return e\n", "handler.py")}, **extra)
    client.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig=FAST)
    return name


@pytest.fixture
def fn(lam, account):
    name = _create(lam, account)
    yield name
    try:
        lam.delete_function(FunctionName=name)
    except ClientError:
        pass


# ---- recursion ----

def test_recursion_config_defaults_to_terminate_and_is_stored(lam, fn, account):
    assert lam.get_function_recursion_config(FunctionName=fn)["RecursiveLoop"] == "Terminate"
    assert lam.put_function_recursion_config(FunctionName=fn, RecursiveLoop="Allow")["RecursiveLoop"] == "Allow"
    assert lam.get_function_recursion_config(FunctionName=fn)["RecursiveLoop"] == "Allow"
    full = f"arn:aws:lambda:us-east-1:{account}:function:{fn}"
    assert lam.get_function_recursion_config(FunctionName=full)["RecursiveLoop"] == "Allow"
    lam.put_function_recursion_config(FunctionName=fn, RecursiveLoop="Terminate")
    assert lam.get_function_recursion_config(FunctionName=fn)["RecursiveLoop"] == "Terminate"


def test_recursion_config_errors(server, lam, account):
    missing = unique()
    err = error(lam.put_function_recursion_config, FunctionName=missing, RecursiveLoop="Allow")
    assert (err["code"], err["status"]) == ("ResourceNotFoundException", 404)
    assert err["message"] == f"Function not found: arn:aws:lambda:us-east-1:{account}:function:{missing}"
    assert error(lam.get_function_recursion_config, FunctionName=missing)["code"] == "ResourceNotFoundException"
    raw = server.client("lambda", key=KEY, parameter_validation=False)
    err = error(raw.put_function_recursion_config, FunctionName=missing, RecursiveLoop="Sometimes")
    assert err["code"] == "ValidationException" and "Allow, Terminate" in err["message"]


def test_recursion_config_survives_other_updates_and_goes_with_the_function(lam, account):
    name = _create(lam, account)
    lam.put_function_recursion_config(FunctionName=name, RecursiveLoop="Allow")
    lam.update_function_configuration(FunctionName=name, Timeout=7)
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig=FAST)
    assert lam.get_function_recursion_config(FunctionName=name)["RecursiveLoop"] == "Allow"
    lam.delete_function(FunctionName=name)
    lam.create_function(FunctionName=name, Runtime="python3.12", Role=f"arn:aws:iam::{account}:role/r",
                        Handler="handler.handler", Code={"ZipFile": make_zip("x = 1\n", "handler.py")})
    try:
        assert lam.get_function_recursion_config(FunctionName=name)["RecursiveLoop"] == "Terminate"
    finally:
        lam.delete_function(FunctionName=name)


# ---- runtime management ----

RUNTIME_VERSION = "arn:aws:lambda:us-east-1::runtime:8eeff65f6809a3ce81507fe733fe09b835899b99481ba22fd75b5a7338290ec1"


def test_runtime_management_config_per_qualifier(lam, fn, account):
    unqualified = f"arn:aws:lambda:us-east-1:{account}:function:{fn}"
    got = lam.get_runtime_management_config(FunctionName=fn)
    assert got["UpdateRuntimeOn"] == "Auto" and got["FunctionArn"] == unqualified
    assert "RuntimeVersionArn" not in got
    put = lam.put_runtime_management_config(FunctionName=fn, UpdateRuntimeOn="Manual",
                                            RuntimeVersionArn=RUNTIME_VERSION)
    assert put["UpdateRuntimeOn"] == "Manual" and put["RuntimeVersionArn"] == RUNTIME_VERSION
    assert put["FunctionArn"] == unqualified
    got = lam.get_runtime_management_config(FunctionName=fn)
    assert (got["UpdateRuntimeOn"], got["RuntimeVersionArn"]) == ("Manual", RUNTIME_VERSION)
    assert lam.get_runtime_management_config(FunctionName=fn, Qualifier="$LATEST")["UpdateRuntimeOn"] == "Manual"

    version = lam.publish_version(FunctionName=fn)["Version"]
    lam.put_runtime_management_config(FunctionName=fn, Qualifier=version, UpdateRuntimeOn="FunctionUpdate")
    got = lam.get_runtime_management_config(FunctionName=fn, Qualifier=version)
    assert got["UpdateRuntimeOn"] == "FunctionUpdate" and "RuntimeVersionArn" not in got
    assert got["FunctionArn"] == f"{unqualified}:{version}"
    assert lam.get_runtime_management_config(FunctionName=fn)["UpdateRuntimeOn"] == "Manual"  # $LATEST unchanged
    lam.put_runtime_management_config(FunctionName=fn, UpdateRuntimeOn="Auto")
    got = lam.get_runtime_management_config(FunctionName=fn)
    assert got["UpdateRuntimeOn"] == "Auto" and "RuntimeVersionArn" not in got


def test_runtime_management_config_errors(lam, fn, account):
    err = error(lam.put_runtime_management_config, FunctionName=fn, UpdateRuntimeOn="Manual")
    assert (err["code"], err["status"]) == ("InvalidParameterValueException", 400)
    err = error(lam.get_runtime_management_config, FunctionName=fn, Qualifier="42")
    assert err["code"] == "ResourceNotFoundException"
    assert err["message"] == f"Function not found: arn:aws:lambda:us-east-1:{account}:function:{fn}:42"
    err = error(lam.put_runtime_management_config, FunctionName=unique(), UpdateRuntimeOn="Auto")
    assert err["code"] == "ResourceNotFoundException"


# ---- code signing configs ----

def test_code_signing_config_lifecycle(lam, account):
    created = lam.create_code_signing_config(Description="mine",
                                             AllowedPublishers={"SigningProfileVersionArns": [PROFILE]})
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    csc = created["CodeSigningConfig"]
    assert re.fullmatch(r"csc-[0-9a-f]{17}", csc["CodeSigningConfigId"])
    arn = csc["CodeSigningConfigArn"]
    assert arn == f"arn:aws:lambda:us-east-1:{account}:code-signing-config:{csc['CodeSigningConfigId']}"
    assert csc["CodeSigningPolicies"] == {"UntrustedArtifactOnDeployment": "Warn"}
    assert csc["AllowedPublishers"] == {"SigningProfileVersionArns": [PROFILE]}
    assert csc["Description"] == "mine" and LAMBDA_DATE.fullmatch(csc["LastModified"])

    assert lam.get_code_signing_config(CodeSigningConfigArn=arn)["CodeSigningConfig"] == csc
    updated = lam.update_code_signing_config(CodeSigningConfigArn=arn, Description="changed",
                                             CodeSigningPolicies={"UntrustedArtifactOnDeployment": "Enforce"})
    updated = updated["CodeSigningConfig"]
    assert updated["Description"] == "changed"
    assert updated["CodeSigningPolicies"] == {"UntrustedArtifactOnDeployment": "Enforce"}
    assert updated["AllowedPublishers"] == csc["AllowedPublishers"]
    assert lam.get_code_signing_config(CodeSigningConfigArn=arn)["CodeSigningConfig"] == updated
    listed = [c for c in lam.list_code_signing_configs()["CodeSigningConfigs"] if c["CodeSigningConfigArn"] == arn]
    assert listed == [updated]

    lam.delete_code_signing_config(CodeSigningConfigArn=arn)
    err = error(lam.get_code_signing_config, CodeSigningConfigArn=arn)
    assert (err["code"], err["status"]) == ("ResourceNotFoundException", 404)
    assert err["message"] == f"The Lambda code signing configuration {arn} can not be found."
    assert error(lam.delete_code_signing_config, CodeSigningConfigArn=arn)["code"] == "ResourceNotFoundException"
    assert error(lam.update_code_signing_config, CodeSigningConfigArn=arn,
                 Description="x")["code"] == "ResourceNotFoundException"
    assert error(lam.get_code_signing_config, CodeSigningConfigArn="arn:aws:lambda:us-east-1:1:nope")[
        "code"] == "ValidationException"


def test_create_function_attaches_a_code_signing_config(lam, account):
    arn = lam.create_code_signing_config(AllowedPublishers={"SigningProfileVersionArns": [PROFILE]})[
        "CodeSigningConfig"]["CodeSigningConfigArn"]
    name = _create(lam, account, CodeSigningConfigArn=arn)
    try:
        got = lam.get_function_code_signing_config(FunctionName=name)
        assert (got["CodeSigningConfigArn"], got["FunctionName"]) == (arn, name)
        assert lam.list_functions_by_code_signing_config(CodeSigningConfigArn=arn)["FunctionArns"] == [
            f"arn:aws:lambda:us-east-1:{account}:function:{name}"]
    finally:
        lam.delete_function(FunctionName=name)
    lam.delete_code_signing_config(CodeSigningConfigArn=arn)
    missing = unique()
    err = error(lam.create_function, FunctionName=missing, Runtime="python3.12",
                Role=f"arn:aws:iam::{account}:role/r", Handler="app.handler",
                Code={"ZipFile": make_zip("def handler(e, c):\n    return 1\n", "app.py")}, CodeSigningConfigArn=arn)
    assert (err["code"], err["status"]) == ("CodeSigningConfigNotFoundException", 404)
    assert error(lam.get_function, FunctionName=missing)["code"] == "ResourceNotFoundException"  # not created


def test_code_signing_configs_page(lam):
    arns = [lam.create_code_signing_config(AllowedPublishers={"SigningProfileVersionArns": [PROFILE]})[
        "CodeSigningConfig"]["CodeSigningConfigArn"] for _ in range(3)]
    try:
        seen, marker = [], None
        while True:
            page = lam.list_code_signing_configs(MaxItems=1, **({"Marker": marker} if marker else {}))
            assert len(page["CodeSigningConfigs"]) <= 1
            seen += [c["CodeSigningConfigArn"] for c in page["CodeSigningConfigs"]]
            marker = page.get("NextMarker")
            if not marker:
                break
        assert set(arns) <= set(seen) and len(seen) == len(set(seen))
    finally:
        for arn in arns:
            lam.delete_code_signing_config(CodeSigningConfigArn=arn)


def test_code_signing_config_attached_to_functions(lam, fn, account, other):
    arn = lam.create_code_signing_config(AllowedPublishers={"SigningProfileVersionArns": [PROFILE]})[
        "CodeSigningConfig"]["CodeSigningConfigArn"]
    assert lam.get_function_code_signing_config(FunctionName=fn).get("CodeSigningConfigArn") is None
    put = lam.put_function_code_signing_config(FunctionName=fn, CodeSigningConfigArn=arn)
    assert (put["CodeSigningConfigArn"], put["FunctionName"]) == (arn, fn)
    got = lam.get_function_code_signing_config(FunctionName=fn)
    assert (got["CodeSigningConfigArn"], got["FunctionName"]) == (arn, fn)
    assert lam.list_functions_by_code_signing_config(CodeSigningConfigArn=arn)["FunctionArns"] == [
        f"arn:aws:lambda:us-east-1:{account}:function:{fn}"]

    err = error(lam.delete_code_signing_config, CodeSigningConfigArn=arn)
    assert (err["code"], err["status"]) == ("ResourceConflictException", 409)
    assert lam.get_code_signing_config(CodeSigningConfigArn=arn)["CodeSigningConfig"]["CodeSigningConfigArn"] == arn
    # Another account does not see the config.
    assert error(other.get_code_signing_config, CodeSigningConfigArn=arn)["code"] == "ResourceNotFoundException"

    lam.delete_function_code_signing_config(FunctionName=fn)
    assert lam.get_function_code_signing_config(FunctionName=fn).get("CodeSigningConfigArn") is None
    assert lam.list_functions_by_code_signing_config(CodeSigningConfigArn=arn)["FunctionArns"] == []
    lam.delete_code_signing_config(CodeSigningConfigArn=arn)

    err = error(lam.put_function_code_signing_config, FunctionName=fn, CodeSigningConfigArn=arn)
    assert (err["code"], err["status"]) == ("CodeSigningConfigNotFoundException", 404)
    assert err["message"] == ("The code signing configuration cannot be found. Check that the provided configuration "
                              f"is not deleted: {arn}.")
    assert error(lam.get_function_code_signing_config, FunctionName=unique())["code"] == "ResourceNotFoundException"
    assert error(lam.delete_function_code_signing_config,
                 FunctionName=unique())["code"] == "ResourceNotFoundException"
    assert error(lam.list_functions_by_code_signing_config,
                 CodeSigningConfigArn=arn)["code"] == "ResourceNotFoundException"


def test_deleting_a_function_releases_its_code_signing_config(lam, account):
    arn = lam.create_code_signing_config(AllowedPublishers={"SigningProfileVersionArns": [PROFILE]})[
        "CodeSigningConfig"]["CodeSigningConfigArn"]
    name = _create(lam, account)
    lam.put_function_code_signing_config(FunctionName=name, CodeSigningConfigArn=arn)
    assert error(lam.delete_code_signing_config, CodeSigningConfigArn=arn)["code"] == "ResourceConflictException"
    lam.delete_function(FunctionName=name)
    lam.delete_code_signing_config(CodeSigningConfigArn=arn)


# ---- layer version permissions ----

@pytest.fixture
def layer(lam):
    name = unique("layer")
    content = make_zip("VALUE = 41\n", "python/shared_value.py")
    version = lam.publish_layer_version(LayerName=name, Content={"ZipFile": content},
                                        CompatibleRuntimes=["python3.12"])
    yield name, version["LayerVersionArn"]
    try:
        lam.delete_layer_version(LayerName=name, VersionNumber=1)
    except ClientError:
        pass


def test_layer_version_policy_statements_and_revisions(lam, layer, other_account):
    name, version_arn = layer
    err = error(lam.get_layer_version_policy, LayerName=name, VersionNumber=1)
    assert (err["code"], err["message"]) == ("ResourceNotFoundException",
                                             "No policy is associated with the given resource.")
    added = lam.add_layer_version_permission(LayerName=name, VersionNumber=1, StatementId="one",
                                             Action="lambda:GetLayerVersion", Principal=other_account)
    assert added["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert json.loads(added["Statement"]) == {
        "Sid": "one", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{other_account}:root"},
        "Action": "lambda:GetLayerVersion", "Resource": version_arn}
    first_revision = added["RevisionId"]
    policy = lam.get_layer_version_policy(LayerName=name, VersionNumber=1)
    assert policy["RevisionId"] == first_revision
    document = json.loads(policy["Policy"])
    assert document["Version"] == "2012-10-17" and [s["Sid"] for s in document["Statement"]] == ["one"]

    err = error(lam.add_layer_version_permission, LayerName=name, VersionNumber=1, StatementId="one",
                Action="lambda:GetLayerVersion", Principal="*")
    assert (err["code"], err["status"]) == ("ResourceConflictException", 409)
    assert err["message"] == ("The statement id (one) provided already exists. Please provide a new statement id, "
                              "or remove the existing statement.")
    err = error(lam.add_layer_version_permission, LayerName=name, VersionNumber=1, StatementId="two",
                Action="lambda:GetLayerVersion", Principal="*", RevisionId="not-the-revision")
    assert (err["code"], err["status"]) == ("PreconditionFailedException", 412)

    org = lam.add_layer_version_permission(LayerName=version_arn.rsplit(":", 1)[0], VersionNumber=1,
                                           StatementId="org", Action="lambda:GetLayerVersion", Principal="*",
                                           OrganizationId="o-abcdefghij", RevisionId=first_revision)
    assert json.loads(org["Statement"])["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": "o-abcdefghij"}}
    assert json.loads(org["Statement"])["Principal"] == "*"
    assert org["RevisionId"] != first_revision

    err = error(lam.remove_layer_version_permission, LayerName=name, VersionNumber=1, StatementId="one",
                RevisionId=first_revision)
    assert err["code"] == "PreconditionFailedException"
    err = error(lam.remove_layer_version_permission, LayerName=name, VersionNumber=1, StatementId="nope")
    assert (err["code"], err["message"]) == ("ResourceNotFoundException",
                                             "Statement nope is not found in resource policy.")
    lam.remove_layer_version_permission(LayerName=name, VersionNumber=1, StatementId="one",
                                        RevisionId=org["RevisionId"])
    assert [s["Sid"] for s in json.loads(lam.get_layer_version_policy(
        LayerName=name, VersionNumber=1)["Policy"])["Statement"]] == ["org"]
    lam.remove_layer_version_permission(LayerName=name, VersionNumber=1, StatementId="org")
    assert error(lam.get_layer_version_policy, LayerName=name, VersionNumber=1)["code"] == "ResourceNotFoundException"


def test_layer_version_permission_validation_and_missing_versions(server, lam, layer, account):
    name, _ = layer
    missing = f"arn:aws:lambda:us-east-1:{account}:layer:{name}:9"
    err = error(lam.add_layer_version_permission, LayerName=name, VersionNumber=9, StatementId="s",
                Action="lambda:GetLayerVersion", Principal="*")
    assert (err["code"], err["message"]) == ("ResourceNotFoundException", f"Layer version {missing} does not exist.")
    assert error(lam.get_layer_version_policy, LayerName=name, VersionNumber=9)["code"] == "ResourceNotFoundException"
    assert error(lam.remove_layer_version_permission, LayerName=name, VersionNumber=9,
                 StatementId="s")["code"] == "ResourceNotFoundException"
    raw = server.client("lambda", key=KEY, parameter_validation=False)
    err = error(raw.add_layer_version_permission, LayerName=name, VersionNumber=1, StatementId="s",
                Action="lambda:InvokeFunction", Principal="*")
    assert err["code"] == "ValidationException" and "lambda:GetLayerVersion" in err["message"]
    err = error(raw.add_layer_version_permission, LayerName=name, VersionNumber=1, StatementId="s",
                Action="lambda:GetLayerVersion", Principal="someone")
    assert err["code"] == "ValidationException" and "'principal'" in err["message"]


def test_other_accounts_use_a_layer_only_when_its_policy_allows(server, lam, other, layer, other_account):
    name, version_arn = layer
    third = server.client("lambda", key=THIRD_KEY)
    third_account = server.client("sts", key=THIRD_KEY).get_caller_identity()["Account"]
    assert len({other_account, third_account}) == 2

    # Without a statement: denied, whether read directly or used in a function.
    err = error(other.get_layer_version_by_arn, Arn=version_arn)
    assert (err["code"], err["status"]) == ("AccessDeniedException", 403)
    assert f"is not authorized to perform: lambda:GetLayerVersion on resource: {version_arn}" in err["message"]
    assert error(other.get_layer_version, LayerName=version_arn.rsplit(":", 1)[0],
                 VersionNumber=1)["code"] == "AccessDeniedException"
    name_in_other = unique()
    err = error(other.create_function, FunctionName=name_in_other, Runtime="python3.12",
                Role=f"arn:aws:iam::{other_account}:role/r", Handler="handler.handler",
                Code={"ZipFile": make_zip("def handler(e, c):\n    return 1\n", "handler.py")}, Layers=[version_arn])
    assert err["code"] == "AccessDeniedException"
    # Nor list its versions: a layer version policy can grant lambda:GetLayerVersion only.
    err = error(other.list_layer_versions, LayerName=version_arn.rsplit(":", 1)[0])
    assert (err["code"], err["status"]) == ("AccessDeniedException", 403)
    assert "is not authorized to perform: lambda:ListLayerVersions on resource: " in err["message"]
    # Another account cannot manage the layer's policy either.
    assert error(other.add_layer_version_permission, LayerName=version_arn.rsplit(":", 1)[0], VersionNumber=1,
                 StatementId="me", Action="lambda:GetLayerVersion", Principal="*")["code"] == "AccessDeniedException"

    # A statement for the other account lets it (and only it) in.
    lam.add_layer_version_permission(LayerName=name, VersionNumber=1, StatementId="other",
                                     Action="lambda:GetLayerVersion", Principal=other_account)
    assert other.get_layer_version_by_arn(Arn=version_arn)["LayerVersionArn"] == version_arn
    source = ("import shared_value\n\ndef handler(e, c):\n    return shared_value.VALUE + 1\n")
    other.create_function(FunctionName=name_in_other, Runtime="python3.12",
                          Role=f"arn:aws:iam::{other_account}:role/r", Handler="handler.handler",
                          Code={"ZipFile": make_zip(source, "handler.py")}, Layers=[version_arn])
    try:
        other.get_waiter("function_active_v2").wait(FunctionName=name_in_other, WaiterConfig=FAST)
        out = other.invoke(FunctionName=name_in_other)
        assert json.loads(out["Payload"].read()) == 42
        assert error(third.get_layer_version_by_arn, Arn=version_arn)["code"] == "AccessDeniedException"
        fn_in_third = _create(third, third_account)
        try:
            assert error(third.update_function_configuration, FunctionName=fn_in_third,
                         Layers=[version_arn])["code"] == "AccessDeniedException"
            # An organization-only statement admits no one here (no account belongs to an organization).
            lam.add_layer_version_permission(LayerName=name, VersionNumber=1, StatementId="org",
                                             Action="lambda:GetLayerVersion", Principal="*",
                                             OrganizationId="o-abcdefghij")
            assert error(third.get_layer_version_by_arn, Arn=version_arn)["code"] == "AccessDeniedException"
            # "*" admits everyone.
            lam.add_layer_version_permission(LayerName=name, VersionNumber=1, StatementId="all",
                                             Action="lambda:GetLayerVersion", Principal="*")
            assert third.get_layer_version_by_arn(Arn=version_arn)["Version"] == 1
            third.update_function_configuration(FunctionName=fn_in_third, Layers=[version_arn])
            third.get_waiter("function_updated_v2").wait(FunctionName=fn_in_third, WaiterConfig=FAST)
            layers = third.get_function_configuration(FunctionName=fn_in_third)["Layers"]
            assert [item["Arn"] for item in layers] == [version_arn]
        finally:
            third.delete_function(FunctionName=fn_in_third)
        # Removing the statement takes the access away again.
        lam.remove_layer_version_permission(LayerName=name, VersionNumber=1, StatementId="other")
        lam.remove_layer_version_permission(LayerName=name, VersionNumber=1, StatementId="all")
        assert error(other.get_layer_version_by_arn, Arn=version_arn)["code"] == "AccessDeniedException"
    finally:
        other.delete_function(FunctionName=name_in_other)
