"""Error classes generated from the botocore models carry the models' codes and statuses."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import pytest

import cloudlet.services
from cloudlet.protocol import load_service
from cloudlet.protocol.errors import ServiceError
from cloudlet.protocol.model_errors import ModelErrors, errors_for
from cloudlet.protocol.service import Quirks
from cloudlet.services import PROVIDERS


@pytest.mark.parametrize("service", sorted(PROVIDERS))
def test_every_generated_class_matches_the_model(service):
    spec = load_service(service)
    classes = errors_for(service).every()
    shapes = {name for name, shape in spec.error_shapes.items() if shape.name == name}
    assert set(classes) == shapes
    for name, cls in classes.items():
        meta = spec.error_shapes[name].metadata.get("error") or {}
        status = meta.get("httpStatusCode", 400)
        assert issubclass(cls, ServiceError) and cls.__name__ == name
        assert (cls.code, cls.status) == (meta.get("code", name), status), name
        assert cls.sender_fault == meta.get("senderFault", status < 500), name
        err = cls("m")
        assert (err.code, err.status, err.message) == (cls.code, status, "m")


def test_classes_services_use_name_modeled_shapes():
    for module in pkgutil.walk_packages(cloudlet.services.__path__, "cloudlet.services."):
        importlib.import_module(module.name)
    for service in PROVIDERS:
        shapes = load_service(service).error_shapes
        for name in errors_for(service).issued():
            assert name in shapes and shapes[name].name == name, f"{service} has no modeled error {name}"


def test_one_class_per_name_and_service_defaults():
    e = errors_for("lambda")
    assert e.ResourceNotFoundException is errors_for("lambda").ResourceNotFoundException
    assert e.ResourceNotFoundException is not errors_for("logs").ResourceNotFoundException
    assert e.ResourceNotFoundException("x").fields == {"Type": "User"}
    assert e.ResourceNotFoundException("x", Type="Service").fields == {"Type": "Service"}
    assert errors_for("logs").ResourceNotFoundException("x").fields == {}
    assert errors_for("sts").IDPCommunicationErrorException("x").code == "IDPCommunicationError"


def test_explicit_status_wins():
    assert errors_for("lambda").ResourceConflictException("x", status=400).status == 400


def test_unmodeled_name_fails_when_used():
    cls = ModelErrors("lambda", Quirks()).NoSuchThingException    # not the shared namespace: it is checked above
    with pytest.raises(LookupError, match="no error shape NoSuchThingException"):
        cls("x")


def test_importing_a_service_does_not_load_botocore():
    code = ("import sys, cloudlet.services.lambda_.errors, cloudlet.services.logs.groups, cloudlet.services.s3.errors;"
            "assert 'botocore' not in sys.modules, 'botocore was imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
