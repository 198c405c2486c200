"""Running the sandbox: start/stop on 127.0.0.1 inside an event loop, and the foreground runner.

:func:`start_server` is used by :mod:`.testing` (in a background thread) and by :func:`serve`
(the ``sectigo-operator sandbox-scm`` command). The host is always the loopback address.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from .app import build_app
from .config import SandboxConfig
from .service import Sandbox

HOST = "127.0.0.1"
DEFAULT_PORT = 8843
log = logging.getLogger(__name__)


@dataclass
class RunningServer:
    """A started sandbox: its state object, aiohttp runner and bound port."""

    sandbox: Sandbox
    runner: web.AppRunner
    port: int
    tls: bool

    @property
    def base_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{HOST}:{self.port}"

    async def stop(self) -> None:
        await self.runner.cleanup()
        self.sandbox.close()


async def start_server(
    config: SandboxConfig,
    state_dir: Path,
    port: int = 0,
    ssl_context: ssl.SSLContext | None = None,
) -> RunningServer:
    """Open the state directory, bind 127.0.0.1:``port`` (0: any free port) and start serving."""
    sandbox = Sandbox(config, state_dir)
    runner = web.AppRunner(build_app(sandbox), access_log=None, handle_signals=False)
    await runner.setup()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, port))
    except OSError:
        sock.close()
        await runner.cleanup()
        sandbox.close()
        raise
    site = web.SockSite(runner, sock, ssl_context=ssl_context)
    await site.start()
    bound = sock.getsockname()[1]
    return RunningServer(sandbox, runner, bound, ssl_context is not None)


async def serve(
    config: SandboxConfig,
    state_dir: Path,
    port: int = DEFAULT_PORT,
    ready_file: Path | None = None,
) -> None:
    """Serve until SIGINT/SIGTERM. Writes the base URL to ``ready_file`` once listening."""
    server = await start_server(config, state_dir, port)
    log.info("sandbox SCM listening on %s (state in %s)", server.base_url, state_dir)
    print(f"sandbox SCM listening on {server.base_url}", flush=True)
    if ready_file is not None:
        await asyncio.to_thread(ready_file.write_text, server.base_url + "\n", "utf-8")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await server.stop()
        log.info("sandbox SCM stopped")
