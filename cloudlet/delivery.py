"""Delivery to a target ARN: the one place that knows how to reach a function, a log group, a
queue, a topic, an event bus ... by its ARN.

Each service registers the targets it owns (`Targets.register("lambda", ...)`) when its provider
is built; nobody imports the target's service to reach it. SNS, EventBridge, Scheduler, S3
notifications, stream pollers and Lambda destinations all deliver through here. Two ways:

* `send(tx, call, target_arn, payload)`: durable, in the caller's transaction. A target whose
  delivery is itself a store write (an Event invocation, a message on a queue, a log event) does
  it right there, exactly once; any other gets an outbox record ("delivery") that delivers it with
  the retry policy and, when given, a dead-letter target.
* `await deliver(call, target_arn, payload)`: now, for callers that handle failure themselves.

Payloads are bytes (UTF-8 JSON for targets that take JSON). A target of a service that is not
served, or an ARN that names no target, raises `UnknownTarget` (or, sent with `unserved=True`,
gets an outbox record that fails when it runs, dead-lettered or logged).

A target kind may also register `check(tx, call, arn)`: whether the caller (a service principal
with its source ARN and account, as AWS checks them) can deliver to the ARN now, asked before a
configuration that will deliver there is accepted (a subscription filter's destination).
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from cloudlet.call import CallContext
from cloudlet.outbox import Failed, Outbox, Record, enqueue
from cloudlet.retry import RetryPolicy
from cloudlet.store import Transaction

DELIVERY = "delivery"
# Targets outside the store: retried for a day, as EventBridge does, backing off to 5 minutes.
DEFAULT_POLICY = RetryPolicy(max_retries=None, max_age_s=86_400,
                             delays_s=(1, 2, 4, 8, 16, 32, 64, 128, 256, 300))

Options = dict[str, Any]
Deliver = Callable[[CallContext, str, bytes, Options], Awaitable[None]]
SendInTx = Callable[[Transaction, CallContext, str, bytes, Options], None]
Check = Callable[[Transaction, CallContext, str], str | None]
# A target whose service is not served cannot become reachable by waiting: fail at once.
_UNSERVED_POLICY = RetryPolicy(max_retries=0, max_age_s=None, delays_s=(1,))


class UnknownTarget(Exception):
    """No registered target answers to this ARN."""


@dataclass(frozen=True)
class Target:
    service: str
    deliver: Deliver | None = None      # reaches the target now (may raise outbox.Failed)
    send_in_tx: SendInTx | None = None  # the delivery is a store write: do it in the caller's tx
    check: Check | None = None          # None if the caller may deliver to the ARN, else why not


def arn_service(arn: str) -> str:
    parts = arn.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn" or not parts[2]:
        raise UnknownTarget(f"{arn!r} is not an ARN")
    return parts[2]


class Targets:
    """The registry of target kinds, by the service part of their ARNs."""

    def __init__(self) -> None:
        self._targets: dict[str, Target] = {}

    def register(self, service: str, *, deliver: Deliver | None = None, send_in_tx: SendInTx | None = None,
                 check: Check | None = None) -> None:
        if deliver is None and send_in_tx is None:
            raise ValueError("a target needs deliver or send_in_tx")
        self._targets[service] = Target(service, deliver, send_in_tx, check)

    def attach(self, outbox: Outbox) -> None:
        """Run durable deliveries to targets outside the store on `outbox`."""
        outbox.register(DELIVERY, run=self._run, policy=DEFAULT_POLICY, on_failure=self._failed)

    def target(self, arn: str) -> Target:
        service = arn_service(arn)
        found = self._targets.get(service)
        if found is None:
            raise UnknownTarget(f"cloudlet cannot deliver to {service} targets yet ({arn})")
        return found

    def serves(self, arn: str) -> bool:
        """Whether a registered target kind answers to `arn`'s service."""
        try:
            self.target(arn)
        except UnknownTarget:
            return False
        return True

    def check(self, tx: Transaction, call: CallContext, arn: str) -> str | None:
        """None if `call` can deliver to `arn` (or its kind cannot tell), else the kind's reason
        (e.g. "not found", "denied"); UnknownTarget if no kind answers to the ARN."""
        target = self.target(arn)
        return None if target.check is None else target.check(tx, call, arn)

    def send(self, tx: Transaction, call: CallContext, arn: str, payload: bytes, *,
             dead_letter: str | None = None, unserved: bool = False, **options: Any) -> None:
        """Deliver durably with `tx` (see the module doc). `dead_letter`: where a delivery that
        exhausts its retries goes instead (with the error in `options["error"]`). `unserved`: a
        target of a service not served here gets its outbox record anyway (it fails when run)."""
        try:
            target: Target | None = self.target(arn)
        except UnknownTarget:
            if not unserved:
                raise
            target = None
        if target is not None and target.send_in_tx is not None:
            target.send_in_tx(tx, call, arn, payload, options)
            return
        body = {"target": arn, "payload": base64.b64encode(payload).decode(), "options": options}
        if dead_letter:
            self.target(dead_letter)  # fail now, not after a day of retries
            body["dead_letter"] = dead_letter
        enqueue(tx, DELIVERY, body, call=call)

    async def deliver(self, call: CallContext, arn: str, payload: bytes, **options: Any) -> None:
        target = self.target(arn)
        if target.deliver is None:
            raise UnknownTarget(f"{arn} takes durable deliveries only")
        await target.deliver(call, arn, payload, options)

    async def _run(self, record: Record) -> None:
        body = record.body
        assert record.call is not None
        try:
            await self.deliver(record.call, body["target"], base64.b64decode(body["payload"]), **body["options"])
        except UnknownTarget as exc:
            raise Failed(str(exc), policy=_UNSERVED_POLICY) from None

    def _failed(self, tx: Transaction, record: Record, failure: Failed) -> None:
        body = record.body
        dead_letter = body.get("dead_letter")
        if not dead_letter or record.call is None:
            return
        options = {**body["options"], "error": failure.to_json(), "failed_target": body["target"]}
        self.send(tx, record.call, dead_letter, base64.b64decode(body["payload"]), **options)
