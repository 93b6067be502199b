"""Runs the platform: HTTP server, gateway, background services; stops them in order."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from cloudlet.config import Settings
from cloudlet.gateway.app import Gateway
from cloudlet.gateway.http11 import HttpServer
from cloudlet.platform import Platform

log = logging.getLogger("cloudlet")


def build_app(settings: Settings) -> tuple[Gateway, Platform]:
    platform = Platform(settings)
    return Gateway(platform), platform


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")


async def run(settings: Settings, platform: Platform, gateway: Gateway) -> None:
    """Serve until SIGINT/SIGTERM; then stop accepting, let in-flight requests finish, stop the
    background services. State is closed by the caller."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    server = HttpServer(gateway.handle, max_body=settings.max_body_bytes or sys.maxsize,
                        plan_body=gateway.plan_body, upgrade=gateway.upgrade)
    await server.start(settings.host, settings.port)
    platform.infra.endpoint.port = server.port
    platform.infra.endpoint.serve_socket = server.serve_socket
    await platform.start()
    # Node functions' AWS SDK, installed on the first start (when npm is here) without waiting for it.
    from cloudlet.compute.nodesdk import BackgroundInstall

    node_sdk = BackgroundInstall()
    node_sdk.start()
    print(f"cloudlet {platform.version} listening on http://{settings.host}:{server.port} "
          f"(state: {platform.store.backend}, data: {platform.data_dir})", flush=True)
    print(f"operator token (POST /_cloudlet/reset): {platform.operator_token_file}", flush=True)
    await stop.wait()
    log.info("stopping: finishing in-flight requests")
    await server.stop(grace=15.0)
    node_sdk.stop()
    await platform.stop()


def serve(settings: Settings) -> int:
    """Run in the foreground; returns the process exit code (0 after a clean stop)."""
    configure_logging(settings.log_level)
    try:
        gateway, platform = build_app(settings)
    except Exception as exc:
        log.error("cloudlet could not start: %s", exc)
        return 1
    try:
        try:
            import uvloop
        except ImportError:  # pragma: no cover - platforms without uvloop
            asyncio.run(run(settings, platform, gateway))
        else:
            uvloop.run(run(settings, platform, gateway))
    except OSError as exc:
        log.error("cloudlet could not listen on %s:%s: %s", settings.host, settings.port, exc)
        return 1
    finally:
        platform.close()
    return 0
