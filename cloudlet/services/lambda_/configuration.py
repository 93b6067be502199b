"""A function's configuration: built from CreateFunction, changed by UpdateFunctionConfiguration,
stored in the shape AWS returns (FunctionConfiguration)."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from .errors import InvalidParameterValueException
from .functions import lambda_date, new_revision
from .names import LATEST
from .runtimes import check_runtime
from .validation import check_environment, check_handler, check_limits, check_role, check_snap_start

if TYPE_CHECKING:
    from .code import Package

DEFAULT_TIMEOUT = 3
DEFAULT_MEMORY = 128
IMAGE_FIELDS_MESSAGE = "Please don't provide Handler or Runtime or Layer when the intended function PackageType is Image."


def runtime_version_arn(region: str, runtime: str) -> str:
    return f"arn:aws:lambda:{region}::runtime:{hashlib.sha256(runtime.encode()).hexdigest()}"


def check_create(params: dict) -> None:
    """CreateFunction's own checks (the model's required/enum/range checks already ran)."""
    check_role(params["Role"])
    if params.get("PackageType", "Zip") == "Image":
        if params.get("Runtime") or params.get("Handler") or params.get("Layers"):
            raise InvalidParameterValueException(IMAGE_FIELDS_MESSAGE)
        if not (params.get("Code") or {}).get("ImageUri"):
            raise InvalidParameterValueException("Please provide a source for function code.")
    else:
        if not params.get("Runtime") or params.get("Handler") is None:
            raise InvalidParameterValueException(
                "Runtime and Handler are mandatory parameters for functions created with deployment packages.")
        check_runtime(params["Runtime"])
        check_handler(params["Handler"])
    check_limits(params)
    variables = (params.get("Environment") or {}).get("Variables")
    if variables:
        check_environment(variables)
    check_snap_start(params.get("SnapStart"), params.get("Runtime"))


def new_configuration(account: str, region: str, name: str, arn: str, params: dict,
                      package: Package | None, layers: list[dict]) -> dict:
    """The $LATEST FunctionConfiguration of a new function (its State: states.py)."""
    config: dict = {
        "FunctionName": name,
        "FunctionArn": arn,
        "Role": params["Role"],
        "CodeSize": package.size if package else 0,
        "Description": params.get("Description", ""),
        "Timeout": params.get("Timeout") or DEFAULT_TIMEOUT,
        "MemorySize": params.get("MemorySize") or DEFAULT_MEMORY,
        "LastModified": lambda_date(),
        "CodeSha256": package.sha256 if package else hashlib.sha256(params["Code"]["ImageUri"].encode()).hexdigest(),
        "Version": LATEST,
        "TracingConfig": {"Mode": (params.get("TracingConfig") or {}).get("Mode") or "PassThrough"},
        "RevisionId": new_revision(),
        "PackageType": params.get("PackageType") or "Zip",
        "Architectures": params.get("Architectures") or ["x86_64"],
        "EphemeralStorage": {"Size": (params.get("EphemeralStorage") or {}).get("Size") or 512},
        "SnapStart": {"ApplyOn": (params.get("SnapStart") or {}).get("ApplyOn") or "None",
                      "OptimizationStatus": "Off"},
        "LoggingConfig": _logging_config({"LogFormat": "Text", "LogGroup": f"/aws/lambda/{name}"},
                                         params.get("LoggingConfig")),
    }
    if config["PackageType"] == "Zip":
        config["Runtime"] = params["Runtime"]
        config["Handler"] = params["Handler"]
        config["RuntimeVersionConfig"] = {"RuntimeVersionArn": runtime_version_arn(region, params["Runtime"])}
    elif params.get("ImageConfig"):
        config["ImageConfigResponse"] = {"ImageConfig": params["ImageConfig"]}
    _apply_optional(config, params)
    if layers:
        config["Layers"] = [{"Arn": layer["arn"], "CodeSize": layer["size"]} for layer in layers]
    return config


def _logging_config(current: dict, requested: dict | None) -> dict:
    if not requested:
        return current
    merged = {**current, **requested}
    if merged.get("LogFormat") == "JSON":
        merged.setdefault("ApplicationLogLevel", "INFO")
        merged.setdefault("SystemLogLevel", "INFO")
    else:
        merged.pop("ApplicationLogLevel", None)
        merged.pop("SystemLogLevel", None)
    return merged


def _apply_optional(config: dict, params: dict) -> None:
    """Fields that appear in the configuration only when set."""
    if "Environment" in params:
        config["Environment"] = {"Variables": dict((params["Environment"] or {}).get("Variables") or {})}
    if "DeadLetterConfig" in params:
        target = (params["DeadLetterConfig"] or {}).get("TargetArn")
        if target:
            config["DeadLetterConfig"] = {"TargetArn": target}
        else:
            config.pop("DeadLetterConfig", None)
    if "KMSKeyArn" in params:
        if params["KMSKeyArn"]:
            config["KMSKeyArn"] = params["KMSKeyArn"]
        else:
            config.pop("KMSKeyArn", None)
    if "VpcConfig" in params:
        vpc = params["VpcConfig"] or {}
        if vpc.get("SubnetIds") or vpc.get("SecurityGroupIds"):
            config["VpcConfig"] = {"SubnetIds": vpc.get("SubnetIds") or [],
                                   "SecurityGroupIds": vpc.get("SecurityGroupIds") or [], "VpcId": "",
                                   "Ipv6AllowedForDualStack": bool(vpc.get("Ipv6AllowedForDualStack"))}
        else:
            config.pop("VpcConfig", None)
    if "FileSystemConfigs" in params:
        if params["FileSystemConfigs"]:
            config["FileSystemConfigs"] = params["FileSystemConfigs"]
        else:
            config.pop("FileSystemConfigs", None)


def check_update(config: dict, params: dict) -> None:
    """UpdateFunctionConfiguration's own checks against the current configuration."""
    if "Role" in params:
        check_role(params["Role"])
    image = config.get("PackageType") == "Image"
    if image and (params.get("Runtime") or params.get("Handler") or params.get("Layers")):
        raise InvalidParameterValueException(IMAGE_FIELDS_MESSAGE)
    if params.get("Runtime"):
        check_runtime(params["Runtime"])
    if "Handler" in params:
        check_handler(params["Handler"])
    check_limits(params)
    variables = (params.get("Environment") or {}).get("Variables")
    if variables:
        check_environment(variables)
    check_snap_start(params.get("SnapStart"), params.get("Runtime") or config.get("Runtime"))


def updated_configuration(config: dict, region: str, params: dict, layers: list[dict] | None) -> dict:
    """`config` with UpdateFunctionConfiguration's changes, a new RevisionId and LastModified."""
    new = dict(config)
    for key in ("Role", "Handler", "Description", "Timeout", "MemorySize"):
        if key in params:
            new[key] = params[key]
    if params.get("Runtime"):
        new["Runtime"] = params["Runtime"]
        new["RuntimeVersionConfig"] = {"RuntimeVersionArn": runtime_version_arn(region, params["Runtime"])}
    if (params.get("TracingConfig") or {}).get("Mode"):
        new["TracingConfig"] = {"Mode": params["TracingConfig"]["Mode"]}
    if (params.get("EphemeralStorage") or {}).get("Size"):
        new["EphemeralStorage"] = {"Size": params["EphemeralStorage"]["Size"]}
    if params.get("SnapStart"):
        new["SnapStart"] = {"ApplyOn": params["SnapStart"].get("ApplyOn") or "None", "OptimizationStatus": "Off"}
    if params.get("LoggingConfig"):
        new["LoggingConfig"] = _logging_config(config.get("LoggingConfig") or {}, params["LoggingConfig"])
    if params.get("ImageConfig") is not None:
        new["ImageConfigResponse"] = {"ImageConfig": params["ImageConfig"]}
    _apply_optional(new, params)
    if layers is not None:
        if layers:
            new["Layers"] = [{"Arn": layer["arn"], "CodeSize": layer["size"]} for layer in layers]
        else:
            new.pop("Layers", None)
    touch(new)
    return new


def touch(config: dict) -> None:
    """A changed $LATEST: new RevisionId and LastModified (its LastUpdateStatus: states.py)."""
    config["RevisionId"] = new_revision()
    config["LastModified"] = lambda_date()
