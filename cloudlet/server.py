"""Builds the ASGI app and runs it with uvicorn (httptools parser, uvloop event loop)."""

from __future__ import annotations

import logging
import signal
import sys

from cloudlet.config import Settings
from cloudlet.gateway.app import Gateway
from cloudlet.platform import Platform


def build_app(settings: Settings) -> tuple[Gateway, Platform]:
    platform = Platform(settings)
    return Gateway(platform), platform


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")


def serve(settings: Settings) -> int:
    """Run until SIGINT/SIGTERM: stop accepting, finish in-flight requests, stop background
    services, close the store. Returns the process exit code."""
    import uvicorn

    configure_logging(settings.log_level)
    if settings.log_level.lower() != "debug":
        # uvicorn's own start/stop chatter; cloudlet prints where it listens itself.
        logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
    app, platform = build_app(settings)
    try:
        import uvloop  # noqa: F401
        loop = "uvloop"
    except ImportError:  # pragma: no cover - non-Linux
        loop = "asyncio"
    config = uvicorn.Config(app, host=settings.host, port=settings.port, loop=loop, http="httptools",
                            lifespan="on", access_log=False, log_level=settings.log_level.lower(),
                            server_header=False, date_header=False, timeout_graceful_shutdown=15,
                            log_config=None)
    server = uvicorn.Server(config)
    original_startup = server.startup

    async def startup(sockets=None):
        await original_startup(sockets)
        if server.started:
            where = platform.store.backend
            print(f"cloudlet {platform.version} listening on http://{settings.host}:{settings.port} "
                  f"(state: {where}, data: {platform.data_dir})", flush=True)

    server.startup = startup  # type: ignore[method-assign]
    # uvicorn shuts down gracefully on SIGINT/SIGTERM and then re-raises the signal against
    # the handlers that were installed before it; make those no-ops so a clean stop exits 0.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: None)
    try:
        server.run()
    finally:
        platform.close()
    return 0 if server.started else 1
