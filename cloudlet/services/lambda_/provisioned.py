"""Provisioned concurrency: Put/Get/Delete/ListProvisionedConcurrencyConfigs, and the Provisioner
that really keeps the environments they ask for initialized.

A config belongs to an alias or a published version (never $LATEST, nor an alias of $LATEST) and
is stored at `provisioned_key` (functions.py): {"requested", "last_modified", "status", "reason",
"allocated", "attempt"}. Put answers IN_PROGRESS with nothing allocated; the Provisioner reads
the configs, asks the compute engine to keep that many initialized environments of the version
the qualifier names (`ComputeManager.provision`; an alias is resolved here, the engine never
knows of it) and writes back what it got: READY once all are initialized, FAILED with
StatusReason FUNCTION_ERROR_INIT_FAILURE when an init fails (a new Put tries again).

Limits, as AWS counts them: the configs of a function with reserved concurrency share it; those
of other functions count against the account's unreserved concurrency, which must keep its
minimum of 100 (concurrency.py). GetAccountSettings and GetFunctionConcurrency do not show them.

Weighted aliases: AWS allocates per version. The additional version gets round(N x weight) of
the N environments, the alias's version the rest.

Replicas: every replica runs a Provisioner and keeps the environments itself, so an invocation
is warm on whichever replica it lands (N environments per replica, not N in all). The status in
the store is the view of the replica that wrote it last; each one rewrites it when its own
changes, so a restarted or lagging replica shows IN_PROGRESS until it caught up.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cloudlet.background import call_on_loop, sleep_or_stop
from cloudlet.protocol.errors import ServiceError

from . import functions
from .concurrency import MIN_UNRESERVED, concurrency_limit
from .errors import E, InvalidParameterValueException, ResourceConflictException, ResourceNotFoundException
from .functions import (
    PROVISIONED,
    child_key,
    load_function,
    load_version,
    new_revision,
    now_epoch,
    provisioned_key,
)
from .names import LATEST, FunctionRef, function_arn, is_version
from .paging import paginate

if TYPE_CHECKING:
    from cloudlet.gateway.context import RequestContext
    from cloudlet.infra import Infra

    from .invoke import Invoker
    from .provider import LambdaProvider

log = logging.getLogger("cloudlet.lambda")

PUT_LATEST = "Provisioned Concurrency Configs cannot be applied to unpublished function versions."
NOT_ALIAS_OR_VERSION = "The function resource provided must be an alias or a published version."
NOT_FOUND = "No Provisioned Concurrency Config found for this function"
OVER_RESERVED = ("Requested Provisioned Concurrency should not be greater than the reservedConcurrentExecution "
                 "for function")
ALIAS_ON_PROVISIONED_VERSION = ("Alias can't be used for Provisioned Concurrency configuration on an already "
                                "Provisioned version")
VERSION_OF_PROVISIONED_ALIAS = "Version is pointed by a Provisioned Concurrency alias"
INIT_FAILURE = "FUNCTION_ERROR_INIT_FAILURE"

ProvisionedConcurrencyConfigNotFoundException = E.ProvisionedConcurrencyConfigNotFoundException


def last_modified(epoch: float) -> str:
    """AWS's LastModified of these configs: `2019-11-21T19:32:12+0000` (no milliseconds)."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def render(config: dict, arn: str | None = None) -> dict:
    out: dict[str, Any] = {} if arn is None else {"FunctionArn": arn}
    out.update({
        "RequestedProvisionedConcurrentExecutions": config["requested"],
        "AvailableProvisionedConcurrentExecutions": config["allocated"],
        "AllocatedProvisionedConcurrentExecutions": config["allocated"],
        "Status": config["status"],
        "LastModified": last_modified(config["last_modified"]),
    })
    if config.get("reason"):
        out["StatusReason"] = config["reason"]
    return out


def split(count: int, primary: str, weights: dict[str, float] | None) -> dict[str, int]:
    """How many of `count` environments each version of an alias gets (its additional version by
    weight, rounded; the alias's version the rest)."""
    shares: dict[str, int] = {}
    for version, weight in (weights or {}).items():
        shares[version] = min(count, round(count * weight))
    shares[primary] = count - sum(shares.values())
    return {v: n for v, n in shares.items() if n > 0}


def _qualifier(ref: FunctionRef, latest: str) -> str:
    if not ref.qualifier or ref.qualifier == LATEST:
        raise InvalidParameterValueException(latest)
    return ref.qualifier


def _target(tx: Any, ref: FunctionRef, qualifier: str) -> tuple[dict, dict | None]:
    """The function record and the alias `qualifier` names (None for a version); AWS's errors for
    a function, version or alias that does not exist."""
    record, _ = load_function(tx, ref, qualifier)
    if is_version(qualifier):
        load_version(tx, ref, qualifier)
        return record, None
    alias = tx.get_json(child_key("alias", ref.account, ref.region, ref.name, qualifier))
    if alias is None:
        raise ResourceNotFoundException(f"Cannot find alias arn: {ref.arn(qualifier)}")
    return record, alias


def _alias_versions(alias: dict) -> list[str]:
    weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
    return [alias["FunctionVersion"], *weights]


def _check_limits(p: LambdaProvider, tx: Any, ref: FunctionRef, record: dict, qualifier: str, wanted: int) -> None:
    """Provisioned concurrency counts against the function's reserved concurrency when it has one,
    else against the account's unreserved concurrency (which keeps its minimum)."""
    reserved = record.get("reserved_concurrency")
    own = functions.provisioned_total(tx, ref.account, ref.region, ref.name, skip=qualifier)
    if reserved is not None:
        if own + wanted > reserved:
            raise InvalidParameterValueException(OVER_RESERVED)
        return
    unreserved = concurrency_limit(p) - functions.total_reserved(tx, ref.account, ref.region) - own
    for key, raw in tx.range(provisioned_key(ref.account, ref.region)):
        name = key[-2]
        if name == ref.name:
            continue
        other = tx.get_json(functions.function_key(ref.account, ref.region, name))
        if other is not None and other.get("reserved_concurrency") is None:
            unreserved -= json.loads(raw)["requested"]
    if wanted > unreserved:
        raise InvalidParameterValueException(
            f"Specified ConcurrentExecutions for function is greater than account's unreserved concurrency "
            f"[{unreserved}].")
    if unreserved - wanted < MIN_UNRESERVED:
        raise InvalidParameterValueException(
            "Specified ConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below "
            f"its minimum value of [{MIN_UNRESERVED}].")


# ---- operations ---------------------------------------------------------------------------------

def put_provisioned_concurrency_config(p: LambdaProvider, ctx: RequestContext, ref: FunctionRef,
                                       params: dict) -> dict:
    qualifier = _qualifier(ref, PUT_LATEST)
    wanted = params["ProvisionedConcurrentExecutions"]

    def put(tx: Any) -> dict:
        record, alias = _target(tx, ref, qualifier)
        if alias is not None:
            if alias["FunctionVersion"] == LATEST:
                raise InvalidParameterValueException(PUT_LATEST)
            if any(tx.get(provisioned_key(ref.account, ref.region, ref.name, v)) is not None
                   for v in _alias_versions(alias)):
                raise ResourceConflictException(ALIAS_ON_PROVISIONED_VERSION)
        else:
            for _, raw in tx.range(child_key("alias", ref.account, ref.region, ref.name)):
                other = json.loads(raw)
                if qualifier in _alias_versions(other) and tx.get(
                        provisioned_key(ref.account, ref.region, ref.name, other["Name"])) is not None:
                    raise ResourceConflictException(VERSION_OF_PROVISIONED_ALIAS)
        _check_limits(p, tx, ref, record, qualifier, wanted)
        key = provisioned_key(ref.account, ref.region, ref.name, qualifier)
        found = tx.get_json_versioned(key)
        previous = found[0] if found else None
        # A failed allocation is tried again from scratch; otherwise the environments kept stay.
        attempt = previous["attempt"] if previous and previous["status"] != "FAILED" else new_revision()
        config = {"requested": wanted, "last_modified": now_epoch(), "status": "IN_PROGRESS", "reason": None,
                  "allocated": 0, "attempt": attempt}
        if found:
            tx.put_json(key, config, if_version=found[1])
        else:
            tx.put_json(key, config, if_absent=True)
        return config

    config = p.store.transact(put)
    p.provisioner.wake()
    return render(config)


def get_provisioned_concurrency_config(p: LambdaProvider, ctx: RequestContext, ref: FunctionRef) -> dict:
    qualifier = _qualifier(ref, NOT_ALIAS_OR_VERSION)
    with p.store.transaction(write=False) as tx:
        _target(tx, ref, qualifier)
        config = tx.get_json(provisioned_key(ref.account, ref.region, ref.name, qualifier))
    if config is None:
        raise ProvisionedConcurrencyConfigNotFoundException(NOT_FOUND)
    return render(config)


def delete_provisioned_concurrency_config(p: LambdaProvider, ctx: RequestContext, ref: FunctionRef) -> dict:
    """Deleting a config that does not exist succeeds, as on AWS (the model gives this operation no
    ProvisionedConcurrencyConfigNotFoundException); the function and qualifier must exist."""
    qualifier = _qualifier(ref, NOT_ALIAS_OR_VERSION)

    def delete(tx: Any) -> None:
        _target(tx, ref, qualifier)
        tx.delete(provisioned_key(ref.account, ref.region, ref.name, qualifier))

    p.store.transact(delete)
    p.provisioner.wake()
    return {}


def list_provisioned_concurrency_configs(p: LambdaProvider, ctx: RequestContext, ref: FunctionRef,
                                         params: dict) -> dict:
    with p.store.transaction(write=False) as tx:
        load_function(tx, ref)
        configs = [(key[-1], json.loads(raw))
                   for key, raw in tx.range(provisioned_key(ref.account, ref.region, ref.name))]
    page, marker = paginate(configs, lambda item: item[0], params.get("Marker"), params.get("MaxItems"))
    return {"ProvisionedConcurrencyConfigs": [render(c, ref.arn(q)) for q, c in page],
            **({"NextMarker": marker} if marker else {})}


# ---- the Provisioner ----------------------------------------------------------------------------

POLL_S = 0.25     # how often it looks for changes (Lambda's control-plane generation) and engine news
RESCAN_S = 5.0    # how often it reads every config anyway


@dataclass
class Wanted:
    """A config as the Provisioner applies it: its store key and record, and the environments it
    asks of the engine, {engine key: (resolved version, count)} (None: its function is not ready)."""

    key: tuple
    config: dict
    parts: dict[str, tuple[functions.ResolvedFunction, int]] | None
    failure: bool = False  # it cannot run here at all (an image function)


class Provisioner:
    """A background service (on every replica): makes the engine keep the environments the stored
    configs ask for, releases those no config asks for any more (deleted configs, aliases, versions
    and functions, re-pointed aliases), and writes each config's status back."""

    name = "lambda-provisioned"

    def __init__(self, infra: Infra, invoker: Invoker) -> None:
        self.infra = infra
        self.store = infra.store
        self.invoker = invoker
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        infra.background.add(self)

    def wake(self) -> None:
        """Read the configs again at the next look (callable from any thread)."""
        if self._wake is not None:
            call_on_loop(self._loop, self._wake.set)

    async def run(self, stopping: asyncio.Event) -> None:
        self._loop, self._wake = asyncio.get_running_loop(), asyncio.Event()
        await self.infra.run_store(self.restarted)
        generation: int | None = None
        wanted: list[Wanted] = []
        scanned = 0.0
        while not stopping.is_set():
            now = time.monotonic()
            current = await self.infra.run_store(self.invoker.generation)
            if current != generation or self._wake.is_set() or now - scanned >= RESCAN_S:
                self._wake.clear()
                generation, scanned = current, now
                wanted = await self.infra.run_store(self.scan)
            try:
                await self.apply(wanted)
            except Exception:
                log.exception("keeping provisioned environments failed")
            if await sleep_or_stop(stopping, POLL_S):
                break

    def restarted(self) -> None:
        """This replica starts holding no environments: READY configs say IN_PROGRESS until it
        initialized theirs again."""
        def reset(tx: Any) -> None:
            for key, raw in tx.range(PROVISIONED):
                config = json.loads(raw)
                if config["status"] == "READY":
                    tx.put_json(key, {**config, "status": "IN_PROGRESS", "allocated": 0})

        self.store.transact(reset)

    def scan(self) -> list[Wanted]:
        """Every stored config, with the versions it asks environments of."""
        out: list[Wanted] = []
        with self.store.transaction(write=False) as tx:
            rows = list(tx.range(PROVISIONED))
        for key, raw in rows:
            account, region, name, qualifier = key[-4:]
            config = json.loads(raw)
            arn = function_arn(account, region, name, qualifier)
            try:
                resolved = functions.resolve(self.store, account, region, name, qualifier)
            except ServiceError:  # its function, version or alias went meanwhile: the delete drops it
                continue
            if resolved.configuration.get("State", "Active") != "Active":
                out.append(Wanted(key, config, None))
                continue
            if resolved.code_digest is None:
                out.append(Wanted(key, config, None, failure=True))
                continue
            parts: dict[str, tuple[functions.ResolvedFunction, int]] = {}
            for version, count in split(config["requested"], resolved.version, resolved.routing).items():
                target = resolved if version == resolved.version else functions.resolve(
                    self.store, account, region, name, version)
                parts[f"{arn}#{version}#{config['attempt']}"] = (target, count)
            out.append(Wanted(key, config, parts))
        return out

    async def apply(self, wanted: list[Wanted]) -> None:
        """Make the engine keep what `wanted` asks, and write back each config's status."""
        if not wanted and self.invoker.engine() is None:
            return  # nothing provisioned, and no engine started for nothing
        manager = await self.invoker.compute()
        keys: set[str] = set()
        statuses: list[tuple[Wanted, str, str | None, int]] = []
        for item in wanted:
            if item.failure:
                statuses.append((item, "FAILED", INIT_FAILURE, 0))
                continue
            if item.parts is None:
                statuses.append((item, "IN_PROGRESS", None, 0))
                continue
            ready, failed = 0, False
            for key, (resolved, count) in item.parts.items():
                keys.add(key)
                try:
                    spec = await self.invoker.spec(resolved)
                except Exception:  # its code cannot be unpacked here: nothing can start
                    log.exception("no environment of %s can start", resolved.arn)
                    failed = True
                    continue
                manager.provision(key, spec, count)
                state = manager.provisioned(key)
                if state is not None:
                    ready += min(state.ready, count)
                    failed = failed or state.failure is not None
            if failed:
                statuses.append((item, "FAILED", INIT_FAILURE, ready))
            else:
                statuses.append((item, "READY" if ready >= item.config["requested"] else "IN_PROGRESS", None, ready))
        for key in manager.provisions():
            if key not in keys:
                manager.provision(key, None, 0)
        changed = [s for s in statuses if (s[0].config["status"], s[0].config.get("reason"),
                                            s[0].config["allocated"]) != s[1:]]
        if changed:
            await self.infra.run_store(self._write_statuses, changed)

    def _write_statuses(self, changed: list[tuple[Wanted, str, str | None, int]]) -> None:
        def write(tx: Any) -> None:
            for item, status, reason, allocated in changed:
                found = tx.get_json_versioned(item.key)
                if found is None or found[0]["last_modified"] != item.config["last_modified"]:
                    continue  # deleted, or put again, meanwhile: the next look sees it
                config = {**found[0], "status": status, "reason": reason, "allocated": allocated}
                tx.put_json(item.key, config, if_version=found[1])
                item.config.update(status=status, reason=reason, allocated=allocated)

        self.store.transact(write)
