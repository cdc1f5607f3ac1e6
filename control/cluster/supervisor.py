"""A node's supervisor (``serve --workers N``, N > 1): its workers, its listener, its Redis.

* **One public port**: the supervisor binds it once and every worker inherits the
  listening socket (``pass_fds``) and accepts from its one queue. Chosen over
  SO_REUSEPORT because the port stays open while a worker restarts (with SO_REUSEPORT the
  kernel hashes connections to per-process queues, and a queue of a process that died
  loses what it held), and no other program can bind a share of it. Which worker accepts
  a connection does not matter: it is an entrance and forwards to the room's owner.
* **Workers**: fresh interpreters (``python -m control.cli _worker``), each with its own
  internal port and its share of the UDP range; they die with the supervisor
  (parent-death signal, so a ``kill -9`` of the supervisor takes the whole node down, as a
  machine failure would). A worker that exits unexpectedly gets its lease deleted at once
  (its rooms are free for the next join) and is started again (1 s, doubling to 30 s while
  it keeps dying young).
* **Redis**: the configured one, or a private redis-server (:mod:`control.cluster.private_redis`),
  started again if it dies (the workers re-register by themselves).
* **TLS** (``[server] tls_cert``/``tls_key``): each worker wraps the inherited socket in its
  own TLS context; SIGHUP to the supervisor checks the new files and tells every worker to
  reload them (``reload_tls``): new connections get the new certificate, calls go on.
* **Signals**: SIGTERM/SIGINT drain every worker with ``cluster.drain_grace_s`` (a second
  signal: now); ``consult-sfu drain`` reaches a worker, which asks the supervisor the same
  through its control channel. Workers still running ``grace + 15 s`` later are killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from control import logs
from control.cluster.private_redis import PrivateRedis, PrivateRedisError
from control.cluster.registry import ClusterRegistry
from control.cluster.serve import load_tls, port_slice
from control.config import Config, ConfigError, resolve_secret
from control.store import StoreError, create_store

log = logging.getLogger(__name__)

RESTART_MIN_S = 1.0
RESTART_MAX_S = 30.0
#: A worker that lived this long before dying is restarted after RESTART_MIN_S again.
HEALTHY_AFTER_S = 60.0
KILL_AFTER_GRACE_S = 15.0
READY_TIMEOUT_S = 120.0


@dataclass
class _Child:
    index: int
    process: asyncio.subprocess.Process | None = None
    channel: asyncio.StreamWriter | None = None
    worker_id: str | None = None
    started: float = 0.0
    restart_delay: float = RESTART_MIN_S
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)


class Supervisor:
    def __init__(self, config: Config, workers: int, global_args: list[str], worker_args: list[str]) -> None:
        self.config = config
        self.workers = workers
        self.global_args = global_args  # repeated for each worker: --config
        self.worker_args = worker_args  # and --host / --port
        self.children = [_Child(i) for i in range(workers)]
        self.redis: PrivateRedis | None = None
        self.registry: ClusterRegistry | None = None
        self.stopping = False
        self.stop_deadline: float | None = None
        self.listener: socket.socket | None = None
        self._done = asyncio.Event()
        self._close_listener: asyncio.TimerHandle | None = None
        self.exit_code = 0
        self.private_url: str | None = None

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):  # first: a signal during start-up stops it cleanly
            loop.add_signal_handler(sig, self._on_signal)
        loop.add_signal_handler(signal.SIGHUP, self.reload_tls)
        resolve_secret(self.config)  # created once here, not raced by N workers
        load_tls(self.config)  # ConfigError now, rather than N workers refusing to start
        ice = self.config.sfu.ice
        for index in range(self.workers):
            port_slice(ice.port_min, ice.port_max, index, self.workers)  # ConfigError: every share too small
        if ice.udp_port and ice.udp_port + self.workers - 1 > 65535:
            raise ConfigError(f"ice.udp_port: {self.workers} workers need ports {ice.udp_port}-{ice.udp_port + self.workers - 1}, beyond 65535")
        private_url = None
        if self.config.store.backend == "memory":
            self.redis = PrivateRedis(self.config.cluster.redis_server)
            try:
                await self.redis.start()
            except PrivateRedisError as exc:
                raise ConfigError(f"cluster.workers: {exc}") from None
            private_url = self.redis.url
        self.private_url = private_url
        self.registry = ClusterRegistry(create_store(self.config.store, private_url))
        try:
            self.listener = socket.create_server(
                (self.config.server.host, self.config.server.port), backlog=1024, reuse_port=False
            )
        except OSError as exc:
            await self.registry.store.close()
            await self._stop_redis()
            address = f"{self.config.server.host}:{self.config.server.port}"
            raise ConfigError(f"server.host/server.port: cannot listen on {address}: {exc.strerror or exc}") from None
        self.listener.set_inheritable(True)
        if self.stopping:  # told to stop while starting
            self.listener.close()
            await self.registry.store.close()
            await self._stop_redis()
            return self.exit_code
        watchers = [asyncio.create_task(self._keep(child), name=f"worker-{child.index}") for child in self.children]
        redis_watch = asyncio.create_task(self._keep_redis(), name="private-redis") if self.redis else None
        try:
            ready: asyncio.Future[Any] = asyncio.ensure_future(asyncio.gather(*(c.ready.wait() for c in self.children)))
            stopped: asyncio.Future[Any] = asyncio.ensure_future(self._done.wait())
            await asyncio.wait({ready, stopped}, timeout=READY_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED)
            ready.cancel()
            stopped.cancel()
            if not self.stopping:
                store = "private redis-server" if self.redis else self.config.store.backend
                logs.announce(
                    f"consult-sfu serving on {self.config.public_url} with {self.workers} workers"
                    f" (loop: {type(loop).__module__}, store: {store})",
                    self.config.server.log_format,
                )
            await asyncio.gather(*watchers)
        finally:
            for task in watchers:
                task.cancel()
            if redis_watch is not None:
                redis_watch.cancel()
            await asyncio.gather(*watchers, *([redis_watch] if redis_watch else []), return_exceptions=True)
            if self._close_listener is not None:
                self._close_listener.cancel()
            self._stop_listening()
            await self.registry.store.close()
            await self._stop_redis()
        return self.exit_code

    async def _stop_redis(self) -> None:
        if self.redis is not None:
            await self.redis.stop()

    # ------------------------------------------------------------ signals and drain

    def _on_signal(self) -> None:
        self.drain(self.config.cluster.drain_grace_s if not self.stopping else 0.0)

    def drain(self, grace_s: float) -> None:
        """Drain every worker (a second call can only bring the deadline forward)."""
        deadline = time.monotonic() + grace_s + KILL_AFTER_GRACE_S
        if self.stop_deadline is None or deadline < self.stop_deadline:
            self.stop_deadline = deadline
            # At the drain deadline the workers stop listening; so does the supervisor's copy of
            # the socket, so the port refuses connections and re-joins go to other nodes.
            if self._close_listener is not None:
                self._close_listener.cancel()
            self._close_listener = asyncio.get_running_loop().call_later(grace_s, self._stop_listening)
        if not self.stopping:
            log.warning("node draining: workers stop taking rooms; deadline in %.0f s", grace_s)
        self.stopping = True
        self._done.set()
        for child in self.children:
            self._send(child, {"drain": grace_s})

    def reload_tls(self) -> None:
        """SIGHUP: every worker reloads the certificate, if the new files are usable."""
        if self.config.server.tls_cert is None:
            log.warning("SIGHUP: no TLS configured (server.tls_cert), nothing to reload")
            return
        try:
            load_tls(self.config)
        except ConfigError as exc:
            log.error("TLS reload refused, the workers keep the previous certificate: %s", exc)
            return
        for child in self.children:
            self._send(child, {"reload_tls": True})

    def _stop_listening(self) -> None:
        if self.listener is not None and self.listener.fileno() != -1:
            self.listener.close()

    def _send(self, child: _Child, message: dict[str, Any]) -> None:
        if child.channel is not None:
            with contextlib.suppress(OSError, RuntimeError):
                child.channel.write(json.dumps(message).encode() + b"\n")

    # ------------------------------------------------------------ workers

    async def _keep(self, child: _Child) -> None:
        """Run worker ``child.index`` until the node stops, restarting it when it dies."""
        while not self.stopping:
            await self._start(child)
            assert child.process is not None
            code = await self._wait(child)
            was_ready = child.ready.is_set()
            await self._forget(child)
            if self.stopping:
                break
            if code == 2 and not was_ready:
                log.error("worker %d refused to start (exit code 2): stopping the node", child.index)
                self.exit_code = 2
                self.drain(0.0)
                break
            lived = time.monotonic() - child.started
            child.restart_delay = RESTART_MIN_S if lived > HEALTHY_AFTER_S else min(RESTART_MAX_S, child.restart_delay * 2)
            log.error("worker %d exited unexpectedly (code %s); starting it again in %.0f s", child.index, code, child.restart_delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._done.wait(), child.restart_delay)

    async def _start(self, child: _Child) -> None:
        assert self.listener is not None
        parent_end, child_end = socket.socketpair()
        child_end.set_inheritable(True)
        argv = [
            sys.executable, "-m", "control.cli", *self.global_args, "_worker", *self.worker_args,
            "--index", str(child.index), "--workers", str(self.workers),
            "--listen-fd", str(self.listener.fileno()), "--control-fd", str(child_end.fileno()),
            "--supervisor-pid", str(os.getpid()),
        ]
        if self.private_url is not None:
            argv += ["--private-redis", self.private_url]
        child.process = await asyncio.create_subprocess_exec(
            *argv, pass_fds=(self.listener.fileno(), child_end.fileno()), stdin=asyncio.subprocess.DEVNULL
        )
        child_end.close()
        child.started = time.monotonic()
        reader, writer = await asyncio.open_unix_connection(sock=parent_end)
        child.channel = writer
        task = asyncio.create_task(self._listen(child, reader))
        child.tasks.add(task)
        task.add_done_callback(child.tasks.discard)
        if self.stopping:  # asked to stop while it was starting
            self._send(child, {"drain": 0.0})

    async def _listen(self, child: _Child, reader: asyncio.StreamReader) -> None:
        while line := await reader.readline():
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if not isinstance(message, dict):
                continue
            if isinstance(message.get("ready"), str):
                child.worker_id = message["ready"]
                child.ready.set()
            elif isinstance(message.get("drain_request"), int | float):
                self.drain(float(message["drain_request"]))

    async def _wait(self, child: _Child) -> int:
        """The worker's exit code; killed if it outlives the drain deadline by KILL_AFTER_GRACE_S."""
        assert child.process is not None
        exited = asyncio.ensure_future(child.process.wait())
        while True:
            try:
                return await asyncio.wait_for(asyncio.shield(exited), 0.5)
            except TimeoutError:
                if self.stop_deadline is not None and time.monotonic() >= self.stop_deadline:
                    log.error("worker %d still runs after the drain deadline: killing it", child.index)
                    with contextlib.suppress(ProcessLookupError):
                        child.process.kill()

    async def _forget(self, child: _Child) -> None:
        if child.channel is not None:
            child.channel.close()
            child.channel = None
        for task in list(child.tasks):
            task.cancel()
        await asyncio.gather(*child.tasks, return_exceptions=True)
        if child.worker_id is not None and not self.stopping and self.registry is not None:
            try:
                await self.registry.remove_worker(child.worker_id)
            except StoreError as exc:
                log.warning("could not delete the lease of worker %s (it expires by itself): %s", child.worker_id, exc)
        child.worker_id = None
        child.ready.clear()

    async def _keep_redis(self) -> None:
        assert self.redis is not None
        while True:
            await asyncio.sleep(1.0)
            if not self.redis.alive() and not self.stopping:
                log.error("the private redis-server died; starting it again (workers re-register by themselves)")
                try:
                    await self.redis.start()
                except PrivateRedisError as exc:
                    log.error("%s", exc)


def run_supervisor(
    config: Config, workers: int, global_args: list[str], worker_args: list[str], loop_factory: Any = None
) -> int:
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(Supervisor(config, workers, global_args, worker_args).run())
