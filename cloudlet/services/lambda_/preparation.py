"""The step that makes a created or updated function ready: the outbox kind "lambda.prepare".

CreateFunction and UpdateFunction* write a record (states.py) in the transaction of the change.
Running it unpacks the code package and layers where execution environments read them (what an
invocation would otherwise do first), then settles the function's state in the store: Active /
Successful, or Failed with the reason (a package that cannot be unpacked). A new RevisionId marks
the change of $LATEST; a version published with the change turns Active with it. The record is
durable, so a function left Pending by a killed server is settled by the next one to start (or by
another replica); a record whose function was deleted, or changed again since, is dropped.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from cloudlet.infra import Infra
from cloudlet.outbox import Record
from cloudlet.protocol.errors import ServiceError

from . import states
from .functions import function_key, load_function, new_revision, version_key
from .names import LATEST, FunctionRef, function_arn

if TYPE_CHECKING:
    from .invoke import Invoker

log = logging.getLogger("cloudlet.lambda")


# How long a create or an update waits for its own preparation before answering. Most packages
# unpack in milliseconds: then the function is ready when the caller hears back (its answer
# still says Pending / InProgress, as AWS's does), and a script that invokes right after creating
# or updating runs the new code instead of meeting a Pending function or the previous code.
# A slower preparation goes on after the answer (and the durable record stands behind it).
SETTLE_INLINE_S = 0.25


class Preparations:
    """The outbox kind that prepares functions and settles their state."""

    def __init__(self, infra: Infra, invoker: Invoker) -> None:
        self.infra = infra
        self.invoker = invoker
        self._running: set[asyncio.Task] = set()
        infra.outbox.register(states.KIND, run=self.run, max_in_flight=64)

    async def settle_soon(self, ref: FunctionRef, budget: float = SETTLE_INLINE_S) -> None:
        """Prepare $LATEST of `ref` now if it waits for that, for up to `budget` seconds (see
        SETTLE_INLINE_S); its outbox record then finds it settled."""
        revision = await self.infra.run_store(self._waiting, ref)
        if revision is None:
            return
        task = asyncio.ensure_future(self.prepare(ref, revision))
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        try:
            await asyncio.wait_for(asyncio.shield(task), budget)
        except TimeoutError:
            pass  # it goes on after the answer

    def _waiting(self, ref: FunctionRef) -> str | None:
        """The revision $LATEST of `ref` waits to be prepared at, or None."""
        found = self.infra.store.get_json(function_key(ref.account, ref.region, ref.name))
        if found is None or not states.preparing(found["config"]):
            return None
        return str(found.get("revision"))

    async def run(self, record: Record) -> None:
        body = record.body
        await self.prepare(FunctionRef(body["account"], body["region"], body["name"], None), body["revision"])

    async def prepare(self, ref: FunctionRef, revision: str) -> None:
        """Prepare $LATEST of `ref` as it is at `revision` and settle its state (nothing if it is
        not waiting for that: deleted, or changed again, that change having a record of its own)."""
        digests = await self.infra.run_store(self._digests, ref, revision)
        if digests is None:
            return
        failure: tuple[str, str] | None = None
        try:
            await self.infra.off_loop(self._unpack, digests)
        except ServiceError as exc:  # a package that does not unpack safely
            failure = (states.INVALID_ZIP, exc.message)
        except Exception as exc:
            log.exception("could not prepare function %s", ref.arn())
            failure = (states.INTERNAL_ERROR, f"{type(exc).__name__}: {exc}")
        updated = await self.infra.run_store(self._settle, ref, revision, failure)
        if updated:  # $LATEST's environments ran the previous code: they stop now
            self.invoker.retire(function_arn(ref.account, ref.region, ref.name), LATEST)

    def _digests(self, ref: FunctionRef, revision: str) -> list[str] | None:
        """The blobs to unpack for $LATEST at `revision` (none for an image), or None if it is not
        waiting for them."""
        with self.infra.store.transaction(write=False) as tx:
            found = tx.get_json(function_key(ref.account, ref.region, ref.name))
        if found is None or found.get("revision") != revision or not states.preparing(found["config"]):
            return None
        code = (found.get("code") or {}).get("digest")
        return ([code] if code else []) + [layer["digest"] for layer in found.get("layers", [])]

    def _unpack(self, digests: list[str]) -> None:
        for digest in digests:
            self.invoker.extracted(digest)

    def _settle(self, ref: FunctionRef, revision: str, failure: tuple[str, str] | None) -> bool:
        """Settle $LATEST (and the version published with it); True if an update settled."""
        def settle(tx: Any) -> bool:
            try:
                record, stored = load_function(tx, ref)
            except ServiceError:
                return False
            if record.get("revision") != revision:
                return False
            updating = record["config"].get("State") == "Active"
            if not states.settled(record, failure):
                return False
            updating = updating and record["config"]["LastUpdateStatus"] == "Successful"
            record["config"]["RevisionId"] = new_revision()
            last = record.get("last_published")
            if last is not None:
                key = version_key(ref.account, ref.region, ref.name, int(last))
                version = tx.get_json(key)
                if version is not None and version.get("revision") == revision \
                        and states.settle(version["config"], failure):
                    tx.put_json(key, version)
            tx.put_json(function_key(ref.account, ref.region, ref.name), record, if_version=stored)
            tx.put(self.invoker.GENERATION_KEY, b"")  # cached resolutions (every replica's) are stale
            return updating

        return self.infra.store.transact(settle)
