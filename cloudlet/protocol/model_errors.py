"""Error classes generated from a service's botocore model.

`errors_for("lambda").ResourceNotFoundException` is a ServiceError subclass named after the
model's error shape, whose `code`, `status` and `sender_fault` are the shape's (`error.code`,
`error.httpStatusCode`, `error.senderFault`). A service re-exports the ones it raises from its
errors module (`ResourceNotFoundException = E.ResourceNotFoundException`); an error the model
does not name stays declared by hand there, with a comment saying so.

Per-service extra members every error carries (Lambda's `Type: "User"`) come from the
service's `Quirks.error_fields`, not from branches here.

The model is read when a class is first used (raised, or its `status` read), not when the
service module is imported: importing botocore and loading the models would add ~170 ms to
start-up, and the platform warms the models after it starts listening.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any, ClassVar

from .errors import ServiceError
from .service import QUIRKS, Quirks, load_service

__all__ = ["ModelErrors", "ModeledError", "errors_for"]


class ModeledError(ServiceError):
    """Base of generated error classes: `service`'s error shape named like the class."""

    service: ClassVar[str] = ""
    field_defaults: ClassVar[Mapping[str, Any]] = {}

    def __init__(self, message: str = "", **kwargs: Any) -> None:
        _resolve(type(self))
        for name, value in self.field_defaults.items():
            kwargs.setdefault(name, value)
        super().__init__(message, **kwargs)


class _FromModel:
    """A class attribute read from the model on first access, when it (and its siblings) is
    replaced by a plain class attribute. Instances may still override it (`status=...`)."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: object, owner: type) -> Any:
        _resolve(owner)
        return getattr(owner, self.name)


def _resolve(cls: type) -> None:
    """Set code, status and sender_fault of the generated class `cls` is or derives from, once."""
    for generated in cls.__mro__:
        if isinstance(generated.__dict__.get("status"), _FromModel) and issubclass(generated, ModeledError):
            _read_model(generated)
            return


def _read_model(cls: type[ModeledError]) -> None:
    shape = load_service(cls.service).error_shapes.get(cls.__name__)
    if shape is None or shape.name != cls.__name__:
        raise LookupError(f"{cls.service}'s model has no error shape {cls.__name__}: declare it by hand")
    meta = shape.metadata.get("error") or {}
    status = int(meta.get("httpStatusCode", ServiceError.status))
    cls.code = meta.get("code", shape.name)
    cls.status = status
    cls.sender_fault = bool(meta.get("senderFault", status < 500))


class ModelErrors:
    """The modeled errors of one service, as attributes: `E.ResourceNotFoundException`."""

    def __init__(self, service: str, quirks: Quirks) -> None:
        self.service = service
        self._field_defaults = dict(quirks.error_fields)
        self._classes: dict[str, type[ServiceError]] = {}
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> type[ServiceError]:
        if name.startswith("_"):
            raise AttributeError(name)
        with self._lock:
            cls = self._classes.get(name)
            if cls is None:
                namespace: dict[str, Any] = {"service": self.service, "field_defaults": self._field_defaults,
                                             "code": _FromModel(), "status": _FromModel(),
                                             "sender_fault": _FromModel()}
                cls = self._classes[name] = type(name, (ModeledError,), namespace)
        return cls

    def issued(self) -> dict[str, type[ServiceError]]:
        """The classes handed out so far, by name (tests check each names a modeled shape)."""
        with self._lock:
            return dict(self._classes)

    def every(self) -> dict[str, type[ServiceError]]:
        """A class for every error shape of the model, by name (loads the model)."""
        spec = load_service(self.service)
        return {name: getattr(self, name) for name, shape in spec.error_shapes.items() if shape.name == name}


_namespaces: dict[str, ModelErrors] = {}
_namespaces_lock = threading.Lock()


def errors_for(service: str) -> ModelErrors:
    """The generated error classes of botocore service `service` (one namespace per service)."""
    with _namespaces_lock:
        found = _namespaces.get(service)
        if found is None:
            found = _namespaces[service] = ModelErrors(service, QUIRKS.get(service, Quirks()))
        return found
