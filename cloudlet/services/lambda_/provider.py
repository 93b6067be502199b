"""AWS Lambda's control plane: functions, versions, aliases, layers, permissions, concurrency,
event invoke configs and function URL configs. Invoke (the data plane) is wired separately.

Each method parses the function it addresses (`_ref`) and hands over to the module that owns the
concern; `functions.py` documents the store layout and `resolve`, the seam Invoke uses.
"""

from __future__ import annotations

import json

from cloudlet.call import CallContext
from cloudlet.compute import TooManyRequests
from cloudlet.infra import Infra
from cloudlet.services.logs.api import LogsApi
from cloudlet.services.provider import Provider, blocking
from cloudlet.services.s3.api import S3Api

from . import (
    aliases,
    code_signing,
    concurrency,
    function_settings,
    functions,
    invoke_stream,
    layer_policy,
    layers,
    lifecycle,
    policy,
    provisioned,
    tagging,
    urls,
    versions,
)
from . import invoke as inv
from . import invoke_configs as eic
from .api import LambdaApi
from .async_invoke import EventInvocations, enqueue_event
from .code import CodeUrls
from .errors import AccessDeniedException, InvalidParameterValueException, pattern_error
from .names import LATEST, FunctionRef, function_ref, is_version, member_pattern
from .preparation import Preparations
from .url_invoke import FunctionUrls

_QUALIFIED_CONCURRENCY = ("This operation is permitted on Lambda functions only. Aliases and versions do not support "
                          "this operation. Please specify either a function name or an unqualified function ARN.")
_QUALIFIED_TAGS = "Tags on function aliases and versions are not supported. Please specify a function ARN."
# Operations authorized by another operation's IAM action (checked against resource policies).
_ACTIONS = {"InvokeWithResponseStream": "InvokeFunction"}


class LambdaProvider(Provider):
    service = "lambda"
    limits = {
        "CreateFunction": "S3ObjectVersion other than null waits for S3 versioning; PackageType Image is "
                          "stored but cannot run",
        "UpdateFunctionCode": "S3ObjectVersion other than null waits for S3 versioning",
        "PublishLayerVersion": "S3ObjectVersion other than null waits for S3 versioning",
        "PutFunctionEventInvokeConfig": "Lambda destinations are delivered to; SQS, SNS and EventBridge "
                                        "destinations are logged and dropped until those services exist",
        "UpdateFunctionEventInvokeConfig": "Lambda destinations are delivered to; SQS, SNS and EventBridge "
                                           "destinations are logged and dropped until those services exist",
        "Invoke": "no Extensions API; the host's node serves every nodejsNN.x",
        "InvokeWithResponseStream": "no Extensions API; streamed responses (up to 200 MB) are not slowed to "
                                    "AWS's 2 MB/s after their first 6 MB",
        "PublishVersion": "SnapStart is emulated: nothing is snapshotted, each environment of the version runs "
                          "init and then the before-snapshot and after-restore hooks",
        "CreateCodeSigningConfig": "stored and attached; signatures are not verified (no AWS Signer, no signed artifacts)",
        "PutFunctionCodeSigningConfig": "stored and attached; signatures are not verified (no AWS Signer, no signed artifacts)",
        "PutFunctionRecursionConfig": "stored and returned; recursive loops are not detected",
        "PutRuntimeManagementConfig": "stored and returned; each runtime has one runtime version here",
        "PutProvisionedConcurrencyConfig": "each replica keeps the environments warm itself (N per replica); "
                                           "a weighted alias's environments are split by weight, rounded",
    }

    def __init__(self, infra: Infra, *, logs: LogsApi, s3: S3Api) -> None:
        super().__init__(infra)
        self.s3 = s3
        self.code_urls = CodeUrls(infra)
        self.invoker = inv.Invoker(infra, logs)
        self.events = EventInvocations(infra, self.invoker)
        self.preparations = Preparations(infra, self.invoker)  # Pending / InProgress -> ready (states.py)
        self.api = LambdaApi(infra, self.invoker, infra.targets)
        infra.blob_holders.add("lambda", functions.held_blobs, after_sweep=self.invoker.sweep_extracted)
        self.function_urls = FunctionUrls(infra, self.invoker)
        self.provisioner = provisioned.Provisioner(infra, self.invoker)  # keeps provisioned environments warm

    async def shutdown(self) -> None:
        await self.invoker.stop()

    def _find_handler(self, operation: str):
        """Operations that change functions make every replica's Invoke cache of resolved
        functions stale (before they answer, so the caller's next Invoke sees the change)."""
        found = super()._find_handler(operation)
        if found is None or operation.startswith(("Get", "List", "Invoke")):
            return found
        fn, mode = found
        invoker, run_store = self.invoker, self.infra.run_store

        if mode == "async":
            async def changing_async(ctx, params):
                try:
                    return await fn(ctx, params)
                finally:
                    await run_store(invoker.changed)

            return changing_async, mode

        def changing(ctx, params):
            try:
                return fn(ctx, params)
            finally:
                invoker.changed()

        return changing, mode

    def routes(self) -> list:
        return [self.function_urls.route(), self.code_urls.route()]

    def reset(self) -> None:
        self.code_urls.reset()

    # ---- addressing ----
    def _ref(self, ctx, params, *, qualified: bool = True, reject: str | None = None,
             member: str = "FunctionName", path: str = "functionName") -> FunctionRef:
        """The function a request addresses. Unqualified operations ignore an ARN's qualifier, or
        reject it with `reject`. Another account's function is reachable only if its policy allows."""
        ref = function_ref(ctx, params[member], params.get("Qualifier") if qualified else None,
                           member=member, path=path)
        if ref.qualifier is not None and not qualified:
            if reject is not None:
                raise InvalidParameterValueException(reject)
            ref = FunctionRef(ref.account, ref.region, ref.name, None)
        if ref.account != ctx.account:
            action = f"lambda:{_ACTIONS.get(ctx.operation, ctx.operation)}"
            with self.store.transaction(write=False) as tx:
                if not policy.allows(tx, ref, ctx.account, action):
                    raise AccessDeniedException(
                        f"User: {ctx.principal} is not authorized to perform: {action} on resource: "
                        f"{ref.qualified_arn} because no resource-based policy allows the {action} action")
        return ref

    # ---- invoke (the data plane) ----
    async def _invocation(self, ctx, params) -> tuple[bytes, str, functions.ResolvedFunction]:
        """What Invoke and InvokeWithResponseStream check first: the payload and the function (which
        must be Active, whatever the InvocationType: an Event for a Failed function is refused now)."""
        payload = params.get("Payload") or b""
        kind = params.get("InvocationType") or "RequestResponse"
        _check_payload(payload, kind)
        resolved = await self.infra.run_store(self._resolve_invoke, ctx, params)
        inv.check_active(resolved)
        return payload, kind, resolved

    async def invoke(self, ctx, params):
        payload, kind, resolved = await self._invocation(ctx, params)
        run_store = self.infra.run_store
        if kind == "DryRun":
            return {"StatusCode": 204}
        if kind == "Event":
            await run_store(self._enqueue_event, ctx, resolved, payload)
            return {"StatusCode": 202}
        resolved = await run_store(inv.pick_version, resolved, self.store)
        client_context = _client_context(params)
        try:
            result = await self.invoker.run(resolved, payload, request_id=ctx.request_id,
                                            client_context=client_context, trace_id=ctx.trace_header or None)
        except TooManyRequests as exc:
            raise inv.throttled(exc) from None
        return inv.invoke_response(result, resolved.version, params.get("LogType"))

    async def invoke_with_response_stream(self, ctx, params):
        """Invoke, answered as an event stream while the function runs (invoke_stream.py)."""
        payload, kind, resolved = await self._invocation(ctx, params)
        if kind == "DryRun":
            return {"StatusCode": 204}
        resolved = await self.infra.run_store(inv.pick_version, resolved, self.store)
        try:
            running = await invoke_stream.start(self.invoker, resolved, payload, request_id=ctx.request_id,
                                                client_context=_client_context(params),
                                                trace_id=ctx.trace_header or None)
        except TooManyRequests as exc:
            raise inv.throttled(exc) from None
        return {"StatusCode": 200, "ExecutedVersion": resolved.version,
                "EventStream": invoke_stream.events(running, params.get("LogType"))}

    async def invoke_async(self, ctx, params):
        """The deprecated InvokeAsync API: an Event invocation answering 202."""
        body = params.get("InvokeArgs") or b""
        body = body.read() if hasattr(body, "read") else body
        if len(body) > inv.INVOKE_ASYNC_PAYLOAD_LIMIT:
            raise inv.RequestTooLargeException(
                f"Request must be smaller than {inv.INVOKE_ASYNC_PAYLOAD_LIMIT} bytes for the InvokeAsync operation",
                Type="User")
        await self.invoke(ctx, {"FunctionName": params["FunctionName"], "InvocationType": "Event", "Payload": body})
        return {"Status": 202}

    def _enqueue_event(self, ctx, resolved: functions.ResolvedFunction, payload: bytes) -> None:
        call = CallContext(resolved.account, resolved.region, ctx.request_id, principal=ctx.principal,
                           trace_header=ctx.trace_header)
        with self.store.transaction() as tx:
            enqueue_event(tx, call, resolved.name, resolved.alias or resolved.version, payload, ctx.request_id)

    def _resolve_invoke(self, ctx, params) -> functions.ResolvedFunction:
        key = (ctx.account, ctx.region, params["FunctionName"], params.get("Qualifier"))
        generation = self.invoker.generation()
        cached = self.invoker.cached_resolved(key, generation)
        if cached is not None:
            return cached
        ref = self._ref(ctx, params)
        resolved = functions.resolve(self.store, ref.account, ref.region, ref.name, ref.qualifier)
        self.invoker.remember_resolved(key, generation, resolved)
        return resolved

    def _url_ref(self, ctx, params) -> FunctionRef:
        ref = self._ref(ctx, params)
        if ref.qualifier is not None and (ref.qualifier == LATEST or is_version(ref.qualifier)):
            raise pattern_error(ref.qualifier, "qualifier", member_pattern(ctx.operation, "Qualifier") or "")
        return ref

    # ---- functions ----
    async def create_function(self, ctx, params):
        out = await self.infra.off_loop(lifecycle.create_function, self, ctx, params)  # (checks the package)
        await self.preparations.settle_soon(FunctionRef(ctx.account, ctx.region, out["FunctionName"], None))
        return out

    def get_function(self, ctx, params):
        return lifecycle.get_function(self, ctx, self._ref(ctx, params))

    def get_function_configuration(self, ctx, params):
        return lifecycle.get_function(self, ctx, self._ref(ctx, params), configuration_only=True)

    def list_functions(self, ctx, params):
        return lifecycle.list_functions(self, ctx, params)

    async def update_function_code(self, ctx, params):
        ref = self._ref(ctx, params, qualified=False)
        out = await self.infra.off_loop(lifecycle.update_function_code, self, ctx, ref, params)
        await self.preparations.settle_soon(ref)
        return out

    async def update_function_configuration(self, ctx, params):
        ref = self._ref(ctx, params, qualified=False)
        out = await self.infra.run_store(lifecycle.update_function_configuration, self, ctx, ref, params)
        await self.preparations.settle_soon(ref)
        return out

    def delete_function(self, ctx, params):
        return lifecycle.delete_function(self, ctx, self._ref(ctx, params))

    # ---- versions and aliases ----
    def publish_version(self, ctx, params):
        return versions.publish_version(self, ctx, self._ref(ctx, params, qualified=False), params)

    def list_versions_by_function(self, ctx, params):
        return versions.list_versions_by_function(self, ctx, self._ref(ctx, params, qualified=False), params)

    def create_alias(self, ctx, params):
        return aliases.create_alias(self, ctx, self._ref(ctx, params, qualified=False), params)

    def get_alias(self, ctx, params):
        return aliases.get_alias(self, ctx, self._ref(ctx, params, qualified=False), params)

    def update_alias(self, ctx, params):
        return aliases.update_alias(self, ctx, self._ref(ctx, params, qualified=False), params)

    def delete_alias(self, ctx, params):
        return aliases.delete_alias(self, ctx, self._ref(ctx, params, qualified=False), params)

    def list_aliases(self, ctx, params):
        return aliases.list_aliases(self, ctx, self._ref(ctx, params, qualified=False), params)

    # ---- concurrency and account ----
    def put_function_concurrency(self, ctx, params):
        ref = self._ref(ctx, params, qualified=False, reject=_QUALIFIED_CONCURRENCY)
        return concurrency.put_function_concurrency(self, ctx, ref, params)

    def get_function_concurrency(self, ctx, params):
        return concurrency.get_function_concurrency(self, ctx, self._ref(ctx, params, qualified=False))

    def delete_function_concurrency(self, ctx, params):
        ref = self._ref(ctx, params, qualified=False, reject=_QUALIFIED_CONCURRENCY)
        return concurrency.delete_function_concurrency(self, ctx, ref)

    def get_account_settings(self, ctx, params):
        return concurrency.get_account_settings(self, ctx)

    # ---- provisioned concurrency (provisioned.py: configs, and the environments kept warm) ----
    def put_provisioned_concurrency_config(self, ctx, params):
        return provisioned.put_provisioned_concurrency_config(self, ctx, self._ref(ctx, params), params)

    def get_provisioned_concurrency_config(self, ctx, params):
        return provisioned.get_provisioned_concurrency_config(self, ctx, self._ref(ctx, params))

    def delete_provisioned_concurrency_config(self, ctx, params):
        return provisioned.delete_provisioned_concurrency_config(self, ctx, self._ref(ctx, params))

    def list_provisioned_concurrency_configs(self, ctx, params):
        return provisioned.list_provisioned_concurrency_configs(self, ctx, self._ref(ctx, params, qualified=False),
                                                                params)

    # ---- permissions and tags ----
    def add_permission(self, ctx, params):
        return policy.add_permission(self, ctx, self._ref(ctx, params), params)

    def remove_permission(self, ctx, params):
        return policy.remove_permission(self, ctx, self._ref(ctx, params), params)

    def get_policy(self, ctx, params):
        return policy.get_policy(self, ctx, self._ref(ctx, params), params)

    def _tagged(self, ctx, params) -> FunctionRef:
        return self._ref(ctx, params, qualified=False, reject=_QUALIFIED_TAGS, member="Resource", path="resource")

    # (a code signing config's or an event source mapping's ARN: tagging.py)
    def tag_resource(self, ctx, params):
        if not tagging.is_function(params["Resource"]):
            return tagging.tag_resource(self, ctx, params)
        return lifecycle.tag_resource(self, ctx, self._tagged(ctx, params), params)

    def untag_resource(self, ctx, params):
        if not tagging.is_function(params["Resource"]):
            return tagging.untag_resource(self, ctx, params)
        return lifecycle.untag_resource(self, ctx, self._tagged(ctx, params), params)

    def list_tags(self, ctx, params):
        if not tagging.is_function(params["Resource"]):
            return tagging.list_tags(self, ctx, params)
        return lifecycle.list_tags(self, ctx, self._tagged(ctx, params))

    # ---- layers ----
    @blocking
    def publish_layer_version(self, ctx, params):
        return layers.publish_layer_version(self, ctx, params)

    def get_layer_version(self, ctx, params):
        return layers.get_layer_version(self, ctx, params)

    def get_layer_version_by_arn(self, ctx, params):
        return layers.get_layer_version_by_arn(self, ctx, params)

    def list_layers(self, ctx, params):
        return layers.list_layers(self, ctx, params)

    def list_layer_versions(self, ctx, params):
        return layers.list_layer_versions(self, ctx, params)

    def delete_layer_version(self, ctx, params):
        return layers.delete_layer_version(self, ctx, params)

    # ---- event invoke configs ----
    def put_function_event_invoke_config(self, ctx, params):
        return eic.put_function_event_invoke_config(self, ctx, self._ref(ctx, params), params)

    def update_function_event_invoke_config(self, ctx, params):
        return eic.put_function_event_invoke_config(self, ctx, self._ref(ctx, params), params, merge=True)

    def get_function_event_invoke_config(self, ctx, params):
        return eic.get_function_event_invoke_config(self, ctx, self._ref(ctx, params), params)

    def delete_function_event_invoke_config(self, ctx, params):
        return eic.delete_function_event_invoke_config(self, ctx, self._ref(ctx, params), params)

    def list_function_event_invoke_configs(self, ctx, params):
        return eic.list_function_event_invoke_configs(self, ctx, self._ref(ctx, params, qualified=False), params)

    # ---- function URLs ----
    def create_function_url_config(self, ctx, params):
        return urls.create_function_url_config(self, ctx, self._url_ref(ctx, params), params)

    def get_function_url_config(self, ctx, params):
        return urls.get_function_url_config(self, ctx, self._url_ref(ctx, params), params)

    def update_function_url_config(self, ctx, params):
        return urls.update_function_url_config(self, ctx, self._url_ref(ctx, params), params)

    def delete_function_url_config(self, ctx, params):
        return urls.delete_function_url_config(self, ctx, self._url_ref(ctx, params), params)

    def list_function_url_configs(self, ctx, params):
        return urls.list_function_url_configs(self, ctx, self._ref(ctx, params, qualified=False), params)

    # ---- recursion and runtime management (function_settings.py) ----
    def put_function_recursion_config(self, ctx, params):
        return function_settings.put_function_recursion_config(self, ctx, self._ref(ctx, params, qualified=False),
                                                               params)

    def get_function_recursion_config(self, ctx, params):
        return function_settings.get_function_recursion_config(self, ctx, self._ref(ctx, params, qualified=False))

    def put_runtime_management_config(self, ctx, params):
        return function_settings.put_runtime_management_config(self, ctx, self._ref(ctx, params), params)

    def get_runtime_management_config(self, ctx, params):
        return function_settings.get_runtime_management_config(self, ctx, self._ref(ctx, params))

    # ---- code signing configs (code_signing.py: stored and attached, signatures not verified) ----
    def create_code_signing_config(self, ctx, params):
        return code_signing.create_code_signing_config(self, ctx, params)

    def get_code_signing_config(self, ctx, params):
        return code_signing.get_code_signing_config(self, ctx, params)

    def update_code_signing_config(self, ctx, params):
        return code_signing.update_code_signing_config(self, ctx, params)

    def delete_code_signing_config(self, ctx, params):
        return code_signing.delete_code_signing_config(self, ctx, params)

    def list_code_signing_configs(self, ctx, params):
        return code_signing.list_code_signing_configs(self, ctx, params)

    def list_functions_by_code_signing_config(self, ctx, params):
        return code_signing.list_functions_by_code_signing_config(self, ctx, params)

    def put_function_code_signing_config(self, ctx, params):
        ref = self._ref(ctx, params, qualified=False)
        return code_signing.put_function_code_signing_config(self, ctx, ref, params)

    def get_function_code_signing_config(self, ctx, params):
        return code_signing.get_function_code_signing_config(self, ctx, self._ref(ctx, params, qualified=False))

    def delete_function_code_signing_config(self, ctx, params):
        return code_signing.delete_function_code_signing_config(self, ctx, self._ref(ctx, params, qualified=False))

    # ---- layer version permissions (layer_policy.py) ----
    def add_layer_version_permission(self, ctx, params):
        return layer_policy.add_layer_version_permission(self, ctx, params)

    def get_layer_version_policy(self, ctx, params):
        return layer_policy.get_layer_version_policy(self, ctx, params)

    def remove_layer_version_permission(self, ctx, params):
        return layer_policy.remove_layer_version_permission(self, ctx, params)


def _check_payload(payload: bytes, kind: str) -> None:
    limit = inv.ASYNC_PAYLOAD_LIMIT if kind == "Event" else inv.SYNC_PAYLOAD_LIMIT
    if len(payload) > limit:
        raise inv.RequestTooLargeException(
            f"Request must be smaller than {limit} bytes for the InvokeFunction operation", Type="User")
    inv.check_json_payload(payload)


def _client_context(params: dict) -> str | None:
    """The ClientContext header decoded (base64 of a JSON object), or None."""
    client_context = params.get("ClientContext")
    if not client_context:
        return None
    try:
        client_context = inv.base64.b64decode(client_context).decode("utf-8")
        json.loads(client_context)
    except ValueError:
        raise InvalidParameterValueException("Client context must be a valid Base64-encoded JSON object.") from None
    return client_context
