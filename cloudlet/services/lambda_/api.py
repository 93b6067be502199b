"""What other services may ask of Lambda: invoke a function.

`invoke(call, function, payload, kind)` runs it now ("RequestResponse") or durably later
("Event"); `send_event(tx, ...)` writes an Event invocation in the caller's transaction. A function
ARN is also a delivery target (delivery.py): a delivered payload becomes an Event invocation, or a
synchronous one with `invocation_type="RequestResponse"`.

Deliveries are not checked against the function's policy here: the call context names the caller
(a service principal and its source ARN for service deliveries), and the target's `check` answers
whether that caller may invoke the function (asked when a service accepts a configuration that
will deliver to it, as CloudWatch Logs does for a subscription filter).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cloudlet.call import CallContext
from cloudlet.compute import TooManyRequests
from cloudlet.delivery import Targets
from cloudlet.infra import Infra
from cloudlet.outbox import Failed
from cloudlet.protocol.errors import ServiceError
from cloudlet.store import Transaction

from . import functions, policy
from .async_invoke import enqueue_event
from .invoke import Invoker, pick_version
from .names import FunctionRef, split_function_name


@dataclass(frozen=True)
class Invocation:
    """The outcome of a synchronous invocation."""

    payload: bytes
    function_error: str | None
    executed_version: str


class LambdaApi:
    def __init__(self, infra: Infra, invoker: Invoker, targets: Targets) -> None:
        self.infra = infra
        self.invoker = invoker
        targets.register("lambda", send_in_tx=self._send_in_tx, deliver=self._deliver, check=self._check)

    def send_event(self, tx: Transaction, call: CallContext, function: str, payload: bytes,
                   qualifier: str | None = None, request_id: str | None = None) -> str:
        """An Event invocation of `function` (name or ARN), run once `tx` commits; its request id
        (`request_id`, or a new one)."""
        request_id = request_id or _new_request_id()
        enqueue_event(tx, call, function, qualifier, payload, request_id)
        return request_id

    async def invoke(self, call: CallContext, function: str, payload: bytes,
                     kind: str = "RequestResponse") -> Invocation | None:
        """Invoke `function` (name or ARN) as the caller. "Event" returns None once the invocation
        is durable; "RequestResponse" returns its outcome (compute.TooManyRequests if throttled,
        the function's ResourceNotFoundException if there is none)."""
        if kind == "Event":
            def write() -> None:
                with self.infra.store.transaction() as tx:
                    self.send_event(tx, call, function, payload)
            await self.infra.run_store(write)
            return None
        store = self.infra.store
        resolved = await self.infra.run_store(functions.resolve, store, call.account, call.region, function)
        resolved = await self.infra.run_store(pick_version, resolved, store)
        result = await self.invoker.run(resolved, payload, request_id=call.request_id or _new_request_id(),
                                        trace_id=call.trace_header or None)
        return Invocation(result.payload, result.function_error, resolved.version)

    def _send_in_tx(self, tx: Transaction, call: CallContext, arn: str, payload: bytes,
                    options: dict[str, Any]) -> None:
        self.send_event(tx, call, arn, payload, request_id=options.get("request_id"))

    def _check(self, tx: Transaction, call: CallContext, arn: str) -> str | None:
        """Whether the function (and its qualifier) exists and its policy lets the calling
        service principal invoke it, given the call's source ARN and account."""
        parts = split_function_name(arn)
        if parts is None:
            return "not found"
        name, qualifier, account, region = parts
        ref = FunctionRef(account or call.account, region or call.region, name, qualifier)
        try:
            record, _ = functions.load_function(tx, ref)
            functions.resolve_in(tx, ref, record)
        except ServiceError:
            return "not found"
        context = {"AWS:SourceArn": call.source_arn, "AWS:SourceAccount": call.source_account or call.account}
        if not policy.allows_service(tx, ref, call.principal, "lambda:InvokeFunction", context):
            return "denied"
        return None

    async def _deliver(self, call: CallContext, arn: str, payload: bytes, options: dict[str, Any]) -> None:
        try:
            outcome = await self.invoke(call, arn, payload, options.get("invocation_type", "RequestResponse"))
        except TooManyRequests as exc:
            raise Failed(f"{arn} is throttled: {exc.reason}", throttled=True) from None
        except ServiceError as exc:  # no such function, or one that is not Active
            raise Failed(f"{arn}: {exc.code}: {exc.message}") from None
        if outcome is not None and outcome.function_error:
            raise Failed(f"{arn} returned a function error ({outcome.function_error})")


def _new_request_id() -> str:
    import uuid  # (on first use: with the `platform` module it loads, ~4 ms of start-up)

    return str(uuid.uuid4())
