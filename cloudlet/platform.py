"""The running platform: settings, state store, blob store, outbox, providers and background work.

One Platform serves one process: it builds the facilities (`Infra`) and the providers (each
given the facilities and the internal APIs it uses), starts and stops them. The gateway turns
HTTP requests into provider calls.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import shutil
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from cloudlet import __version__
from cloudlet.background import BackgroundManager, sleep_or_stop
from cloudlet.blob_gc import BlobHolders, BlobSweeper
from cloudlet.config import Settings, ephemeral_parent
from cloudlet.delivery import Targets
from cloudlet.gateway.detect import ServiceDetector
from cloudlet.gateway.identity import Identities
from cloudlet.infra import Infra
from cloudlet.outbox import Outbox
from cloudlet.protocol import load_service
from cloudlet.replicas import Replica
from cloudlet.services import PROVIDERS, build_providers
from cloudlet.services.provider import Provider
from cloudlet.store import DiskBlobStore, open_store

log = logging.getLogger("cloudlet")


class StoreMaintenance:
    """Keeps the embedded store small: periodic WAL checkpoints and stale temp-blob cleanup."""

    name = "store-maintenance"

    def __init__(self, platform: Platform, interval: float = 60.0) -> None:
        self.platform = platform
        self.interval = interval

    async def run(self, stopping: asyncio.Event) -> None:
        while not await sleep_or_stop(stopping, self.interval):
            await asyncio.to_thread(self.platform.blobs.clean_tmp, 3600)
            checkpoint = getattr(self.platform.store, "checkpoint", None)
            if checkpoint is not None:
                await asyncio.to_thread(checkpoint)


def write_operator_token(data_dir: Path, token: str) -> Path:
    """The token the platform's state-changing endpoints (POST /_cloudlet/reset) ask for, in a file
    only this user may read, for the operator's tools."""
    path = data_dir / "operator-token"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    os.chmod(path, 0o600)
    return path


def unmount_under(root: Path) -> None:
    """Unmount what a killed cloudlet left mounted under `root` (its functions' /tmp
    filesystems, compute/scratch.py); the check reads one /proc file, the rest loads on need."""
    prefix = str(root).rstrip("/") + "/"
    try:
        with open("/proc/self/mountinfo") as f:
            if not any(line.split()[4].startswith(prefix) for line in f):
                return
    except OSError:
        return
    from cloudlet.compute.scratch import unmount_under as unmount

    unmount(root)


def _sweep_ephemeral(parent: Path) -> None:
    """Remove the ephemeral state of cloudlet processes that died without cleaning up (kill -9)."""
    for stale in parent.glob("cloudlet-*-*"):
        pid = stale.name.split("-")[1]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists() and stale.is_dir():
            unmount_under(stale)  # its functions' /tmp filesystems (compute/scratch.py)
            shutil.rmtree(stale, ignore_errors=True)


class Platform:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.version = __version__
        self._tmpdir: str | None = None
        data_dir = settings.data_dir
        if settings.ephemeral:
            self._tmpdir = tempfile.mkdtemp(prefix=f"cloudlet-{os.getpid()}-", dir=ephemeral_parent())
            _sweep_ephemeral(Path(self._tmpdir).parent)
            data_dir = Path(self._tmpdir)
        data_dir.mkdir(parents=True, exist_ok=True)
        unmount_under(data_dir)  # what a killed run of ours left mounted (functions' /tmp)
        self.data_dir = data_dir
        self.operator_token = settings.operator_token or secrets.token_urlsafe(24)
        self.operator_token_file = write_operator_token(data_dir, self.operator_token)
        self.store = open_store(settings.database_url or None, data_dir, schema=settings.postgres_schema,
                                synchronous=settings.sqlite_synchronous, guard_loop=settings.debug_loop_blocking)
        self.blobs = DiskBlobStore(settings.blob_dir or data_dir / "blobs")
        self.identities = Identities(settings, self.store)
        self.detector = ServiceDetector(list(PROVIDERS))
        self._implemented: dict[str, int] = {}  # operations per service, counted by _warm_models
        self.executor = ThreadPoolExecutor(max_workers=settings.worker_threads, thread_name_prefix="cloudlet-worker")
        self.background = BackgroundManager()
        self.background.add(StoreMaintenance(self))
        self.replica = Replica(self.store, self.run_store)
        self.outbox = Outbox(self.store, self.replica, self.run_store)
        self.targets = Targets()
        self.targets.attach(self.outbox)
        self.blob_holders = BlobHolders()
        self.background.add(BlobSweeper(self.store, self.blobs, self.blob_holders, settings.blob_sweep_seconds))
        self.infra = Infra(settings=settings, store=self.store, blobs=self.blobs, data_dir=data_dir,
                           executor=self.executor, background=self.background, outbox=self.outbox,
                           targets=self.targets, identities=self.identities, replica=self.replica,
                           blob_holders=self.blob_holders)
        self.background.add(self.replica)
        self.background.add(self.outbox)
        self.providers: dict[str, Provider] = build_providers(self.infra)
        self.started = False

    async def run_store(self, fn, *args):
        """Run store-bound work: inline with the embedded SQLite store, on a worker thread with
        PostgreSQL (see Infra.run_store)."""
        if self.store.backend == "sqlite":
            return fn(*args)
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    async def start(self) -> None:
        await self.run_store(self.replica.beat)  # before anything leases work in its name
        await self.background.start()
        self.started = True
        # Warm the service models off the event loop so the first requests do not pay for them.
        threading.Thread(target=self._warm_models, name="cloudlet-warm", daemon=True).start()

    def _warm_models(self) -> None:
        for name, provider in self.providers.items():
            try:
                spec = load_service(name)
                _ = spec.operations, spec.error_shapes
                if spec.protocol in ("rest-json", "rest-xml"):
                    _ = spec.router
                self._implemented[name] = len(provider.implemented_operations())
            except Exception:  # pragma: no cover - warming is best effort
                log.exception("warming model %s failed", name)
        try:
            self.detector.warm()
        except Exception:  # pragma: no cover
            log.exception("warming service detection failed")

    async def stop(self) -> None:
        await self.background.stop()
        for provider in self.providers.values():
            try:
                await provider.shutdown()
            except Exception:  # pragma: no cover - keep stopping the others
                log.exception("stopping %s failed", provider.service)
        self.started = False

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=False)
        self.store.close()
        if self._tmpdir:
            shutil.rmtree(self._tmpdir, ignore_errors=True)

    def reset(self) -> None:
        """Wipe all state (POST /_cloudlet/reset)."""
        self.store.reset()
        self.blobs.clear()
        for provider in self.providers.values():
            provider.reset()

    def health(self) -> dict:
        services: dict[str, dict] = {}
        for name in self.providers:
            services[name] = {"state": "running" if self.started else "stopped"}
            if name in self._implemented:  # (counted once its model is loaded: health answers at once)
                services[name]["operations_implemented"] = self._implemented[name]
        return {
            "version": self.version,
            "services": services,
            "store": self.store.backend,
            "replica": self.replica.id,
            "background": dict(self.background.state),
            "outbox": self.outbox.stats(),
        }
