"""Service specs: a botocore service model plus the indexes the gateway needs, loaded once.

Models come from `botocore.loaders` (installed wheels ship them gzipped) and are cached
for the life of the process; a cold load costs 5-40 ms per service.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from .models_index import entry_of
from .router import RestRouter

if TYPE_CHECKING:
    from botocore.model import OperationModel, ServiceModel, Shape


@dataclass(frozen=True)
class Quirks:
    """Per-service deviations from the generic protocol behaviour (a table, not if-branches)."""

    error_style: str = ""              # "s3": bare <Error> documents; else the protocol's default
    validation_error: str = ""         # code for constraint violations; "" = protocol default
    validate: bool = True              # run the generic constraint validator on input
    query_error_type_in_json: bool = False
    # Root element names of XML outputs that botocore's model leaves out (s3's ListBuckets
    # answers <ListAllMyBucketsResult>); clients that check the root need them.
    xml_roots: dict[str, str] = field(default_factory=dict)
    # Top-level input members whose constraints the provider checks with the service's own
    # wording (lambda: a bad Runtime is InvalidParameterValueException).
    unvalidated: frozenset[str] = frozenset()
    # Constraints the service enforces beyond its model, by shape name, checked (and reported
    # with the others) by the generic validator: another "min"/"max", "pattern": True to check
    # the model's pattern (lambda: 10240 MB and 900 s, not the model's 32768 and 5400).
    constraints: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Members every error of the service carries unless the raiser sets them (lambda: AWS sends
    # `"Type": "User"` with the caller's mistakes); applied by the model-generated error classes.
    error_fields: dict[str, str] = field(default_factory=dict)
    # The gateway's deviations (gateway/pipeline.py reads these; it never names a service):
    # a bucket named in the host (`<bucket>.s3.localhost`) is moved into the path for routing;
    bucket_in_host: bool = False
    # SigV4 as S3 does it: the canonical URI is the path as sent (no normalisation, no double
    # encoding), and signature failures carry S3's codes and wording (gateway/sigv4.py).
    s3_signing: bool = False
    # An output member whose presence makes a 200 answer 206 Partial Content (s3: a GetObject or
    # HeadObject of a byte range answers with its ContentRange).
    partial_content: str = ""
    # Errors whose query-era code and HTTP status the model leaves out (sqs: the JSON `__type`
    # QueueDoesNotExist is `AWS.SimpleQueueService.NonExistentQueue` in query answers and in the
    # x-amzn-query-error header), by `__type` name: (query code, status).
    query_errors: dict[str, tuple[str, int]] = field(default_factory=dict)


QUIRKS: dict[str, Quirks] = {
    "lambda": Quirks(unvalidated=frozenset({"Runtime"}), error_fields={"Type": "User"}, constraints={
        "MemorySize": {"max": 10240}, "Timeout": {"max": 900}, "RoleArn": {"pattern": True},
        "Handler": {"pattern": True}}),
    "logs": Quirks(validation_error="InvalidParameterException"),
    # SQS's codes and statuses from its Smithy model's awsQueryError traits (botocore's model
    # dropped them when SQS moved to JSON; its errorfactory maps them back by `__type`).
    "sqs": Quirks(validation_error="InvalidParameterValue", unvalidated=frozenset({"AttributeNames"}), query_errors={
        "QueueDoesNotExist": ("AWS.SimpleQueueService.NonExistentQueue", 400),
        "QueueDeletedRecently": ("AWS.SimpleQueueService.QueueDeletedRecently", 400),
        "QueueNameExists": ("QueueAlreadyExists", 400),
        "PurgeQueueInProgress": ("AWS.SimpleQueueService.PurgeQueueInProgress", 403),
        "MessageNotInflight": ("AWS.SimpleQueueService.MessageNotInflight", 400),
        "ReceiptHandleIsInvalid": ("ReceiptHandleIsInvalid", 404),
        "TooManyEntriesInBatchRequest": ("AWS.SimpleQueueService.TooManyEntriesInBatchRequest", 400),
        "EmptyBatchRequest": ("AWS.SimpleQueueService.EmptyBatchRequest", 400),
        "BatchEntryIdsNotDistinct": ("AWS.SimpleQueueService.BatchEntryIdsNotDistinct", 400),
        "BatchRequestTooLong": ("AWS.SimpleQueueService.BatchRequestTooLong", 400),
        "InvalidBatchEntryId": ("AWS.SimpleQueueService.InvalidBatchEntryId", 400),
        "UnsupportedOperation": ("AWS.SimpleQueueService.UnsupportedOperation", 400),
        "OverLimit": ("OverLimit", 403),
        "InvalidAddress": ("InvalidAddress", 404),
        "InvalidSecurity": ("InvalidSecurity", 403),
        "RequestThrottled": ("RequestThrottled", 403),
        "ResourceNotFoundException": ("ResourceNotFoundException", 404),
        "InvalidParameterValueException": ("InvalidParameterValue", 400),
        "MissingParameterException": ("MissingParameter", 400),
    }),
    "s3": Quirks(error_style="s3", validate=False, bucket_in_host=True, s3_signing=True,
                 partial_content="ContentRange", xml_roots={
        "ListBuckets": "ListAllMyBucketsResult", "ListObjects": "ListBucketResult",
        "ListObjectsV2": "ListBucketResult", "ListObjectVersions": "ListVersionsResult",
        "CreateMultipartUpload": "InitiateMultipartUploadResult", "ListMultipartUploads": "ListMultipartUploadsResult",
        "ListParts": "ListPartsResult", "CompleteMultipartUpload": "CompleteMultipartUploadResult",
        "DeleteObjects": "DeleteResult",
        "CopyObject": "CopyObjectResult", "UploadPartCopy": "CopyPartResult",
        "GetBucketAcl": "AccessControlPolicy", "GetObjectAcl": "AccessControlPolicy",
        "GetBucketTagging": "Tagging", "GetObjectTagging": "Tagging",
        "GetBucketVersioning": "VersioningConfiguration", "GetBucketCors": "CORSConfiguration",
        "GetBucketNotificationConfiguration": "NotificationConfiguration",
        "GetBucketLifecycleConfiguration": "LifecycleConfiguration", "GetBucketPolicyStatus": "PolicyStatus",
    }),
}

_DEFAULT_VALIDATION_CODE = {"query": "ValidationError", "rest-xml": "InvalidArgument"}


@dataclass
class ServiceSpec:
    name: str                       # botocore name, e.g. "lambda"
    model: ServiceModel
    quirks: Quirks = field(default_factory=Quirks)

    @property
    def protocol(self) -> str:
        return self.model.protocol

    @cached_property
    def protocols(self) -> list[str]:
        return list(entry_of(self.name, self.model.metadata).protocols)

    @cached_property
    def operations(self) -> dict[str, OperationModel]:
        return {n: self.model.operation_model(n) for n in self.model.operation_names}

    @cached_property
    def router(self) -> RestRouter:
        # (a request lacking a required query member reaches its operation only where validation answers it)
        return RestRouter(self.model, lacking_query=self.quirks.validate)

    @cached_property
    def target_prefix(self) -> str:
        return self.model.metadata.get("targetPrefix", "")

    @cached_property
    def signing_name(self) -> str:
        md = self.model.metadata
        return md.get("signingName") or md.get("endpointPrefix") or self.name

    @cached_property
    def error_shapes(self) -> dict[str, Shape]:
        """Modeled error shapes by name and by wire code (query services rename codes)."""
        out: dict[str, Shape] = {}
        for shape_name in self.model.shape_names:
            shape = self.model.shape_for(shape_name)
            if shape.metadata.get("exception"):
                out[shape_name] = shape
                code = shape.metadata.get("error", {}).get("code")
                if code:
                    out.setdefault(code, shape)
        return out

    @property
    def validation_error_code(self) -> str:
        return self.quirks.validation_error or _DEFAULT_VALIDATION_CODE.get(self.protocol, "ValidationException")

    @cached_property
    def xml_namespace(self) -> str:
        md = self.model.metadata
        ns = md.get("xmlNamespace")
        if isinstance(ns, dict):
            ns = ns.get("uri")
        return ns or f"https://{md.get('endpointPrefix', self.name)}.amazonaws.com/doc/{md.get('apiVersion', '')}/"


_cache: dict[str, ServiceSpec] = {}
_lock = threading.Lock()


@functools.cache
def _loader():
    # botocore is imported on first use, not at start-up: importing it costs ~100 ms.
    import botocore.loaders

    return botocore.loaders.Loader()


def load_service(name: str) -> ServiceSpec:
    """The spec for botocore service `name` (KeyError if botocore has no such model)."""
    spec = _cache.get(name)
    if spec is not None:
        return spec
    with _lock:
        spec = _cache.get(name)
        if spec is None:
            from botocore.exceptions import UnknownServiceError
            from botocore.model import ServiceModel

            try:
                data = _loader().load_service_model(name, "service-2")
            except UnknownServiceError:
                raise KeyError(name) from None
            spec = ServiceSpec(name, ServiceModel(data, service_name=name), QUIRKS.get(name, Quirks()))
            _cache[name] = spec
    return spec


