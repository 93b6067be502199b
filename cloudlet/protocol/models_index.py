"""An index of every service botocore has a model for: the names a request can carry (signing
name, endpoint prefix, JSON target prefix) and the protocols it may speak.

The gateway tells services apart by these names before it loads any model, for services it
serves and for those it does not (which answer 501 naming the operation). Reading all ~450
models takes seconds, so the index is generated once per botocore release into
`models_index.json` (`cloudlet coverage --write`, with docs/coverage.md); a unit test checks
that it matches the installed botocore.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

INDEX_FILE = Path(__file__).resolve().parent / "models_index.json"


@dataclass(frozen=True)
class ModelEntry:
    service: str          # botocore's name: "apigatewayv2"
    signing: str          # SigV4 signing name: "apigateway"
    endpoint: str         # endpoint prefix (host name): "apigateway"
    target: str           # X-Amz-Target prefix of JSON protocols, "" for others
    protocols: tuple[str, ...]


def entry_of(service: str, metadata: dict) -> ModelEntry:
    protocols = list(metadata.get("protocols") or [metadata["protocol"]])
    if "awsQueryCompatible" in metadata and "query" not in protocols:
        # Moved from query to JSON (SQS): older SDKs still send query requests.
        protocols.append("query")
    return ModelEntry(service, metadata.get("signingName") or metadata.get("endpointPrefix") or service,
                      metadata.get("endpointPrefix") or service, metadata.get("targetPrefix", ""),
                      tuple(protocols))


def build() -> dict[str, ModelEntry]:
    """The index from the installed botocore's models (slow: loads every model)."""
    import botocore.loaders

    loader = botocore.loaders.Loader()
    return {name: entry_of(name, loader.load_service_model(name, "service-2")["metadata"])
            for name in sorted(loader.list_available_services("service-2"))}


def render(index: dict[str, ModelEntry]) -> str:
    import botocore

    # One line per service, so a botocore bump reads as a short diff.
    rows = [f"  {json.dumps(e.service)}: {json.dumps([e.signing, e.endpoint, e.target, list(e.protocols)])}"
            for e in sorted(index.values(), key=lambda e: e.service)]
    return (f'{{"botocore": {json.dumps(botocore.__version__)}, "services": {{\n' + ",\n".join(rows) + "\n}}\n")


@functools.cache
def load() -> dict[str, ModelEntry]:
    data = json.loads(INDEX_FILE.read_text())
    return {name: ModelEntry(name, signing, endpoint, target, tuple(protocols))
            for name, (signing, endpoint, target, protocols) in data["services"].items()}


def indexed_version() -> str:
    """The botocore release the index was generated from."""
    return str(json.loads(INDEX_FILE.read_text())["botocore"])
