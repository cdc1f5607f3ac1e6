"""How a worker process was started (by ``serve`` itself, or by a node's supervisor)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WorkerOptions:
    #: this worker's index in its node, and the node's number of workers
    index: int = 0
    workers: int = 1
    #: the node's private redis-server (``serve --workers N`` with no Redis configured)
    private_redis_url: str | None = None
    #: the supervisor's end of this worker's control channel (JSON lines); None: not supervised
    control_fd: int | None = None
    #: the node's listening socket, inherited from the supervisor; None: bind it here
    listen_fd: int | None = None

    @property
    def supervised(self) -> bool:
        return self.control_fd is not None
