"""Deployment packages: checking a zip, storing it as a blob, fetching one from S3, and the URL
GetFunction / GetLayerVersion hand out to download it (AWS's presigned `Code.Location`)."""

from __future__ import annotations

import hashlib
import hmac
import io
import re
import secrets
import stat
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from cloudlet.gateway.routes import Route
from cloudlet.infra import Infra
from cloudlet.protocol import HttpResponse
from cloudlet.services.s3.api import S3Api, S3ReadError
from cloudlet.store import BlobStore, ConflictError, Store
from cloudlet.store.keyspace import global_key

from .errors import InvalidParameterValueException, RequestEntityTooLargeException
from .functions import code_sha256

if TYPE_CHECKING:
    import zipfile

    from cloudlet.gateway.context import RequestContext

ZIPPED_LIMIT = 52_428_800
UNZIPPED_LIMIT = 262_144_000
TOTAL_CODE_LIMIT = 80_530_636_800
CODE_SIZE_LIMITS = {"TotalCodeSize": TOTAL_CODE_LIMIT, "CodeSizeUnzipped": UNZIPPED_LIMIT,
                    "CodeSizeZipped": ZIPPED_LIMIT}
CODE_PATH = "/_cloudlet/lambda/code/"
_CODE_PATH_RE = re.compile(re.escape(CODE_PATH) + r"([0-9a-f]{64})\.zip")
_SECRET_KEY = global_key("lambda", "code-url-secret")


@dataclass(frozen=True, slots=True)
class Package:
    """A stored zip: blob digest (hex), AWS's CodeSha256 (base64) and size in bytes."""

    digest: str
    sha256: str
    size: int

    def record(self) -> dict:
        return {"digest": self.digest, "size": self.size}


def check_zip(data: bytes) -> None:
    """A zip Lambda can unpack, checked whole at upload so a bad one is refused then, never at
    invoke: every member readable with the size and CRC its directory entry gives, no name
    that leaves the package, no member under another that is not a directory, symbolic links
    only to places inside the package, and at most 250 MB once unzipped."""
    import zipfile  # (packages come with the first deployment: not loaded at start-up)

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
            unzipped = sum(info.file_size for info in members)
            if unzipped > UNZIPPED_LIMIT:
                raise InvalidParameterValueException(f"Unzipped size must be smaller than {UNZIPPED_LIMIT} bytes")
            _check_layout(members)
            for info in members:
                _check_member(archive, info)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, NotImplementedError, OSError,
            RuntimeError):
        raise InvalidParameterValueException(UNZIP_ERROR) from None


UNZIP_ERROR = "Could not unzip uploaded file. Please check your file, then try to upload again."


def member_path(name: str) -> PurePosixPath | None:
    """Where a member lands inside the package, or None if its name leaves it."""
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts:
        return None
    return path


def is_symlink(info: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(info.external_attr >> 16)


def _check_layout(members: list[zipfile.ZipInfo]) -> None:
    files: set[PurePosixPath] = set()
    for info in members:
        path = member_path(info.filename)
        if path is None:
            raise ValueError(f"{info.filename} leaves the package")
        if not info.is_dir():
            files.add(path)
    for path in files:
        if any(parent in files for parent in path.parents):
            raise ValueError(f"{path} is under a member that is not a directory")


def _check_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
    size = 0
    target = b""
    with archive.open(info) as member:  # reading to the end checks the CRC
        while chunk := member.read(1 << 20):
            size += len(chunk)
            if is_symlink(info):
                target += chunk
                if size > 4096:
                    raise ValueError("a symbolic link's target is at most 4 KB")
    if size != info.file_size:
        raise ValueError(f"{info.filename}: {size} bytes, its directory entry says {info.file_size}")
    if is_symlink(info):
        path = member_path(info.filename)
        link = PurePosixPath(target.decode("utf-8"))
        if path is None or not target or link.is_absolute() or _escapes(path.parent, link):
            raise ValueError(f"{info.filename} links outside the package")


def _escapes(base: PurePosixPath, link: PurePosixPath) -> bool:
    depth = len(base.parts)
    for part in link.parts:
        if part == "..":
            depth -= 1
            if depth < 0:
                return True
        elif part not in (".", ""):
            depth += 1
    return False


def package_of(blobs: BlobStore, s3: S3Api, ctx: RequestContext, code: dict, *, store: bool = True) -> Package:
    """Check and store the package a FunctionCode / LayerVersionContentInput names: an inline
    ZipFile or an S3 object (read through S3's internal API, as the caller). With `store=False`
    (DryRun) only its digest and size are computed."""
    data = code.get("ZipFile")
    if data is not None:
        if len(data) > ZIPPED_LIMIT:
            raise RequestEntityTooLargeException(f"Zipped size must be smaller than {ZIPPED_LIMIT} bytes")
    elif code.get("S3Bucket") and code.get("S3Key"):
        try:
            data = s3.get_object(ctx, code["S3Bucket"], code["S3Key"], code.get("S3ObjectVersion"))
        except S3ReadError as err:
            raise InvalidParameterValueException(
                f"Error occurred while GetObject. S3 Error Code: {err.code}. S3 Error Message: {err.message}"
            ) from None
    else:
        raise InvalidParameterValueException("Please provide a source for function code.")
    check_zip(data)
    digest = blobs.put(data) if store else hashlib.sha256(data).hexdigest()
    return Package(digest, code_sha256(digest), len(data))


class CodeUrls:
    """Download URLs for stored packages, like AWS's presigned `Code.Location`: the blob digest
    plus a token only this platform can make (a secret kept in the store, shared by replicas)."""

    def __init__(self, infra: Infra) -> None:
        self.store: Store = infra.store
        self.blobs: BlobStore = infra.blobs
        self.run_store = infra.run_store
        self._secret: bytes | None = None

    def reset(self) -> None:
        self._secret = None

    def _token(self, digest: str) -> str:
        if self._secret is None:
            store = self.store
            value = store.get(_SECRET_KEY)
            if value is None:
                try:
                    store.put(_SECRET_KEY, secrets.token_hex(32).encode(), if_absent=True)
                except ConflictError:
                    pass                                  # another replica made it first
                value = store.get(_SECRET_KEY)
            if value is None:  # it was made a moment ago: only a reset in between takes it away
                raise RuntimeError("the code URL secret vanished from the store")
            self._secret = value
        return hmac.new(self._secret, digest.encode(), hashlib.sha256).hexdigest()[:40]

    def location(self, ctx: RequestContext, digest: str) -> str:
        """Where the package can be downloaded (GetFunction's Code.Location), on this server's host."""
        host = (ctx.request.headers.get("host") if ctx.request is not None else "") or "localhost:4566"
        return f"http://{host}{CODE_PATH}{digest}.zip?token={self._token(digest)}"

    def route(self) -> Route:
        """The data-plane route serving `location` URLs; the token is the credential, so the
        route needs no identity."""
        return Route("lambda-code", path_prefix=CODE_PATH, handler=self._handle)

    async def _handle(self, ctx: RequestContext) -> HttpResponse:
        req = ctx.request
        assert req is not None
        m = _CODE_PATH_RE.fullmatch(req.path)
        token = req.query_value("token") or ""
        size = None
        if req.method in ("GET", "HEAD") and m is not None:
            size = await self.run_store(self._size_if_allowed, m.group(1), token)
        if size is None or m is None:
            return HttpResponse(403 if m is not None else 404, {"Content-Type": "application/xml"},
                                b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>")
        digest = m.group(1)
        headers = {"Content-Type": "application/zip", "Content-Length": str(size)}
        body = b"" if req.method == "HEAD" else self.blobs.iter_chunks(digest)
        return HttpResponse(200, headers, body)

    def _size_if_allowed(self, digest: str, token: str) -> int | None:
        """The package's size when `token` is its token and it exists (reads the store)."""
        blobs = self.blobs
        if not hmac.compare_digest(token, self._token(digest)) or not blobs.exists(digest):
            return None
        return blobs.size(digest)
