"""Event invocations: outbox records (kind "lambda.invoke") run with the function's own retry
settings, then reported to its destinations and dead-letter queue as AWS reports them.

Invoke with InvocationType Event (and every service delivering to a function, such as another
function's destination) writes a record in its transaction; the outbox runs it at least once. A
function error is retried MaximumRetryAttempts times (default 2) after CLOUDLET_LAMBDA_RETRY_DELAYS
(AWS: 1 and 2 minutes); a throttle is retried with backoff without using up retries; nothing is
retried at or past MaximumEventAgeInSeconds (default 6 hours). Then:

* success: the OnSuccess destination gets an invocation record (condition "Success");
* failure: the OnFailure destination gets one ("RetriesExhausted" or "EventAgeExceeded"), and the
  function's DeadLetterConfig target gets the event itself, with RequestID, ErrorCode and
  ErrorMessage attributes.

Destinations are delivered through delivery.py. Functions are reachable; queues, topics and buses
are not served yet, so a record bound for one is logged and dropped, saying so.
"""

from __future__ import annotations

import base64
import json
import logging
from datetime import UTC, datetime
from typing import Any

from cloudlet.call import CallContext
from cloudlet.compute import TooManyRequests
from cloudlet.delivery import Targets, UnknownTarget
from cloudlet.infra import Infra
from cloudlet.outbox import Done, Failed, Record, enqueue
from cloudlet.protocol.errors import ServiceError
from cloudlet.retry import RetryPolicy
from cloudlet.store import Transaction

from . import functions, invoke_configs
from .invoke import Invoker, pick_version
from .names import LATEST

log = logging.getLogger("cloudlet.lambda")

KIND = "lambda.invoke"
SERVICE_PRINCIPAL = "lambda.amazonaws.com"
DEFAULT_RETRIES = 2
DEFAULT_MAX_AGE_S = 21600


def enqueue_event(tx: Transaction, call: CallContext, function: str, qualifier: str | None, payload: bytes,
                  request_id: str) -> None:
    """An Event invocation of `function` (name or ARN) in the call's account and region, written
    in `tx`. The function is resolved when it runs, as on AWS (a deleted function drops it)."""
    enqueue(tx, KIND, {"function": function, "qualifier": qualifier, "request_id": request_id,
                       "payload": base64.b64encode(payload).decode()}, call=call)


def iso_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _json_or_text(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")


class EventInvocations:
    """The outbox kind that runs Event invocations, and their destinations."""

    def __init__(self, infra: Infra, invoker: Invoker) -> None:
        self.infra = infra
        self.invoker = invoker
        self.store = infra.store
        self.targets: Targets = infra.targets
        delays = tuple(float(x) for x in infra.settings.lambda_retry_delays.split(",") if x.strip()) or (60, 120)
        self.delays = delays
        infra.outbox.register(KIND, run=self.run, on_failure=self.failed, max_in_flight=1024,
                              policy=RetryPolicy(DEFAULT_RETRIES, DEFAULT_MAX_AGE_S, delays))

    def _policy(self, config: dict[str, Any]) -> RetryPolicy:
        return RetryPolicy(max_retries=config.get("MaximumRetryAttempts", DEFAULT_RETRIES),
                           max_age_s=config.get("MaximumEventAgeInSeconds", DEFAULT_MAX_AGE_S),
                           delays_s=self.delays)

    async def run(self, record: Record) -> Done | None:
        body, call = record.body, record.call
        assert call is not None
        payload = base64.b64decode(body["payload"])
        run_store = self.infra.run_store
        try:
            resolved = await run_store(functions.resolve, self.store, call.account, call.region, body["function"],
                                       body["qualifier"])
            resolved = await run_store(pick_version, resolved, self.store)
            qualifier = resolved.alias or body["qualifier"] or LATEST
            config = await run_store(invoke_configs.event_invoke_config, self.store, resolved.account,
                                     resolved.region, resolved.name, qualifier) or {}
        except ServiceError as exc:
            log.warning("dropping Event invocation %s: %s", body["request_id"], exc.message)
            return None
        qualified = ":" in resolved.arn.split(":function:", 1)[1]
        function_arn = resolved.arn if qualified else f"{resolved.arn}:{LATEST}"
        detail = {"functionArn": function_arn, "version": resolved.version,
                  "destination": ((config.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination"),
                  "deadLetter": (resolved.configuration.get("DeadLetterConfig") or {}).get("TargetArn")}
        policy = self._policy(config)
        try:
            result = await self.invoker.run(resolved, payload, request_id=body["request_id"],
                                            trace_id=call.trace_header or None)
        except TooManyRequests as exc:
            raise Failed(f"throttled: {exc.reason}", throttled=True, policy=policy,
                         detail={**detail, "statusCode": 429}) from None
        except ServiceError as exc:  # not Active since it was queued (invoke.check_active): retried, then reported
            error = json.dumps({"errorMessage": exc.message, "errorType": exc.code}).encode()
            raise Failed(f"{exc.code}: {exc.message}", policy=policy,
                         detail={**detail, "statusCode": exc.status,
                                 "response": base64.b64encode(error).decode()}) from None
        if result.function_error:
            raise Failed(f"function error ({result.function_error})", policy=policy,
                         detail={**detail, "functionError": result.function_error,
                                 "response": base64.b64encode(result.payload).decode()})
        on_success = ((config.get("DestinationConfig") or {}).get("OnSuccess") or {}).get("Destination")
        if not on_success:
            return None
        invocation = self._invocation_record(record, payload, "Success", 1, {
            "statusCode": 200, "executedVersion": resolved.version}, _json_or_text(result.payload),
            function_arn)
        return Done(after=lambda tx: self._deliver(tx, call, function_arn, on_success, invocation))

    def failed(self, tx: Transaction, record: Record, failure: Failed) -> None:
        """The retries are over: tell the OnFailure destination and the dead-letter queue."""
        call, detail = record.call, failure.detail
        assert call is not None
        function_arn = detail.get("functionArn")
        if not function_arn:  # failed before the function was found: nothing to report to
            log.warning("Event invocation %s failed: %s", record.body.get("request_id"), failure.message)
            return
        payload = base64.b64decode(record.body["payload"])
        policy = failure.policy or self._policy({})
        exhausted = not failure.throttled and policy.max_retries is not None \
            and record.attempts.retries >= policy.max_retries
        response: dict[str, Any] = {"statusCode": detail.get("statusCode", 200), "executedVersion": detail["version"]}
        if detail.get("functionError"):
            response["functionError"] = detail["functionError"]
        response_payload = _json_or_text(base64.b64decode(detail["response"])) if detail.get("response") else None
        log.warning("Event invocation %s of %s failed after %d tries%s", record.body["request_id"], function_arn,
                    record.attempts.tries, "" if exhausted else ", at its maximum event age")
        if detail.get("destination"):
            invocation = self._invocation_record(record, payload, "RetriesExhausted" if exhausted else
                                                 "EventAgeExceeded", record.attempts.tries, response,
                                                 response_payload, function_arn)
            self._deliver(tx, call, function_arn, detail["destination"], invocation)
        if detail.get("deadLetter"):
            error = response_payload if isinstance(response_payload, dict) else {}
            attributes = {"RequestID": record.body["request_id"],
                          "ErrorCode": str(response["statusCode"]),
                          "ErrorMessage": str(error.get("errorMessage") or failure.message)}
            self._deliver(tx, call, function_arn, detail["deadLetter"], payload, attributes=attributes)

    def _invocation_record(self, record: Record, payload: bytes, condition: str, count: int,
                           response: dict[str, Any], response_payload: Any, function_arn: str) -> bytes:
        """AWS's invocation record, as destinations receive it."""
        out: dict[str, Any] = {
            "version": "1.0", "timestamp": iso_now(),
            "requestContext": {"requestId": record.body["request_id"], "functionArn": function_arn,
                               "condition": condition, "approximateInvokeCount": count},
            "requestPayload": _json_or_text(payload), "responseContext": response}
        if response_payload is not None:
            out["responsePayload"] = response_payload
        return json.dumps(out, separators=(",", ":")).encode()

    def _deliver(self, tx: Transaction, call: CallContext, function_arn: str, target: str, body: bytes,
                 **options: Any) -> None:
        as_lambda = call.as_service(SERVICE_PRINCIPAL, function_arn)
        try:
            self.targets.send(tx, as_lambda, target, body, **options)
        except UnknownTarget as exc:
            log.warning("%s: not delivered to %s (%s)", function_arn, target, exc)
