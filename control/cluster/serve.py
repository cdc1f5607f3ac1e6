"""``consult-sfu serve``: one worker in this process, or a supervisor and N worker processes.

``--workers 1`` (or ``cluster.workers = 1``): this process is the node's only worker, as
before the cluster existed (no supervisor). More: :mod:`control.cluster.supervisor` starts
them, each a fresh interpreter running the hidden ``_worker`` subcommand, all serving the
one public port through a listening socket they inherit (see the supervisor for why).

A worker's main loop: serve until told to stop; SIGTERM or SIGINT (or ``consult-sfu drain``,
or its supervisor) starts a drain with ``cluster.drain_grace_s``; a second signal brings the
deadline to now. Once drained, the server stops: the listener closes last.

With ``[server] tls_cert``/``tls_key`` the worker serves HTTPS/WSS on its listener (its own
TLS context over the inherited socket); SIGHUP (or the supervisor's ``reload_tls``, which it
sends when it gets SIGHUP) reloads the pair for new connections (control/tls.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import signal
import socket
from typing import TYPE_CHECKING, Any

from aiohttp import web

from control import logs
from control.cluster.options import WorkerOptions
from control.config import Config, ConfigError
from control.tls import ReloadableTls, TlsError

if TYPE_CHECKING:  # the worker's side: a node's supervisor imports port_slice only, never aiortc
    from control.cluster.install import ClusterHandle

log = logging.getLogger(__name__)


def port_slice(port_min: int, port_max: int, index: int, workers: int) -> tuple[int, int]:
    """Worker ``index``'s share of the node's UDP range (contiguous, the remainder to the last)."""
    if (port_min, port_max) == (0, 0) or workers == 1:
        return port_min, port_max
    size = (port_max - port_min + 1) // workers
    if size < 2:
        raise ConfigError(
            f"ice.port_min/port_max: {port_max - port_min + 1} ports cannot be shared by {workers} workers"
            " (each needs at least 2); widen the range or lower --workers"
        )
    low = port_min + index * size
    high = port_max if index == workers - 1 else low + size - 1
    return low, high


def worker_config(config: Config, options: WorkerOptions) -> Config:
    low, high = port_slice(config.sfu.ice.port_min, config.sfu.ice.port_max, options.index, options.workers)
    udp_port = config.sfu.ice.udp_port + options.index if config.sfu.ice.udp_port else 0
    ice = dataclasses.replace(config.sfu.ice, port_min=low, port_max=high, udp_port=udp_port)
    return dataclasses.replace(config, sfu=dataclasses.replace(config.sfu, ice=ice))


def load_tls(config: Config) -> ReloadableTls | None:
    """The TLS context of ``[server] tls_cert``/``tls_key`` (None: plain HTTP); ConfigError if unusable."""
    cert, key = config.server.tls_cert, config.server.tls_key
    if cert is None or key is None:
        return None
    try:
        return ReloadableTls(cert, key)
    except TlsError as exc:
        raise ConfigError(str(exc)) from None


def run_worker(config: Config, options: WorkerOptions, loop_factory: Any = None) -> None:
    """Serve as one worker until drained (blocking; the process's main loop)."""
    config = worker_config(config, options)
    tls = load_tls(config)
    ssl_context = tls.context if tls is not None else None

    async def main() -> None:
        from control.app import create_app

        app = create_app(config, worker=options)
        runner = web.AppRunner(app, access_log=logs.access_logger(), access_log_class=logs.AccessLogger, handle_signals=False)
        await runner.setup()
        if options.listen_fd is not None:
            site: web.BaseSite = web.SockSite(runner, socket.socket(fileno=options.listen_fd), ssl_context=ssl_context)
        else:
            site = web.TCPSite(runner, config.server.host, config.server.port, ssl_context=ssl_context)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            address = f"{config.server.host}:{config.server.port}"
            raise ConfigError(f"server.host/server.port: cannot listen on {address}: {exc.strerror or exc}") from None
        from control.cluster.install import CLUSTER

        handle = app[CLUSTER]
        handle.worker.on_moving_out = site.stop
        loop = asyncio.get_running_loop()
        signals = 0

        def on_signal() -> None:
            nonlocal signals
            signals += 1
            handle.drain_here(config.cluster.drain_grace_s if signals == 1 else 0.0)

        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, on_signal)
        if tls is not None:
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(signal.SIGHUP, tls.reload)
        channel: asyncio.Task[None] | None = None
        if options.control_fd is not None:
            channel = asyncio.create_task(_control_channel(options.control_fd, handle, tls), name="worker-control")
        else:
            logs.announce(f"consult-sfu serving on {config.public_url} (loop: {type(loop).__module__})", config.server.log_format)
        try:
            await handle.drained.wait()
        finally:
            if channel is not None:
                channel.cancel()
                await asyncio.gather(channel, return_exceptions=True)
            await runner.cleanup()

    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(main())


async def _control_channel(fd: int, handle: ClusterHandle, tls: ReloadableTls | None = None) -> None:
    """JSON lines with the supervisor: ``ready`` and ``drain_request`` up, ``drain`` and ``reload_tls`` down."""
    reader, writer = await asyncio.open_unix_connection(sock=socket.socket(fileno=fd))

    def send(message: dict[str, Any]) -> None:
        with contextlib.suppress(OSError, RuntimeError):
            writer.write(json.dumps(message).encode() + b"\n")

    handle.ask_supervisor = lambda grace: send({"drain_request": grace})
    send({"ready": handle.worker.worker_id, "internal_url": handle.worker.internal_url, "pid": os.getpid()})
    try:
        while line := await reader.readline():
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if isinstance(message, dict) and isinstance(message.get("drain"), int | float):
                handle.drain_here(float(message["drain"]))
            elif isinstance(message, dict) and message.get("reload_tls") is True and tls is not None:
                tls.reload()
        # The supervisor is gone (it never leaves its workers behind): stop now.
        log.warning("worker %s: supervisor gone; stopping", handle.worker.worker_id)
        handle.drain_here(0.0)
    finally:
        writer.close()
