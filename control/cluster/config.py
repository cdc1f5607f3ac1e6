"""``[cluster]`` settings: workers of a node, leases, drain, placement caps.

Environment: ``CONSULT_SFU_CLUSTER_<KEY>`` (e.g. ``CONSULT_SFU_CLUSTER_WORKERS=4``);
``serve --workers N`` wins over both.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass


@dataclass(frozen=True)
class ClusterConfig:
    #: Media worker processes of this node; 0: one per CPU. 1 is a single process (no supervisor).
    workers: int = 0
    #: This node's name in `consult-sfu nodes` and in worker ids; empty: ``<hostname>:<port>``.
    node_name: str = ""
    #: Address of the workers' internal endpoint (entrances forward WebSockets there). Loopback
    #: for one machine; with several machines, an address the other nodes reach (a LAN address).
    internal_host: str = "127.0.0.1"
    #: First internal port (worker i listens on internal_port + i); 0: any free port.
    internal_port: int = 0
    #: A worker's lease lives this long unless renewed (s): how long a dead worker's rooms wait.
    lease_s: float = 3.0
    #: Lease renewal period (s): one Redis write per period per worker at rest.
    heartbeat_s: float = 1.0
    #: SIGTERM / `consult-sfu drain`: how long running consultations may go on (s) before their
    #: participants are moved to another node (or, with none left, told the server shuts down).
    drain_grace_s: float = 60.0
    #: Placement caps per worker (0: no cap). A worker at a cap takes no new room.
    max_participants: int = 0
    max_streams: int = 0
    #: CPU share of one core (0.9 = 90 %) above which a worker takes no new room; 0: no cap.
    max_cpu: float = 0.0
    #: The redis-server binary a multi-worker node starts when no Redis is configured.
    redis_server: str = "redis-server"

    def __post_init__(self) -> None:
        problems = validate(self)
        if problems:
            raise ValueError(problems[0])

    def resolved_workers(self) -> int:
        return self.workers if self.workers > 0 else max(1, os.cpu_count() or 1)

    def resolved_node_name(self, port: int) -> str:
        return self.node_name or f"{socket.gethostname()}:{port}"


def validate(config: ClusterConfig) -> list[str]:
    """Problems with the settings, each naming the setting and the rule (empty: fine)."""
    problems = []
    if config.workers < 0:
        problems.append(f"cluster.workers must be 0 (one per CPU) or more, got {config.workers}")
    if config.lease_s <= 0 or config.heartbeat_s <= 0:
        problems.append("cluster.lease_s and cluster.heartbeat_s must be positive")
    elif config.heartbeat_s * 2 > config.lease_s:
        problems.append(
            f"cluster.heartbeat_s ({config.heartbeat_s}) must be at most half of cluster.lease_s ({config.lease_s}):"
            " a lease must survive one missed renewal"
        )
    if config.drain_grace_s < 0:
        problems.append(f"cluster.drain_grace_s must be 0 or more, got {config.drain_grace_s}")
    if not 0 <= config.internal_port < 65536:
        problems.append(f"cluster.internal_port must be 0-65535, got {config.internal_port}")
    if min(config.max_participants, config.max_streams) < 0 or config.max_cpu < 0:
        problems.append("cluster.max_participants, max_streams and max_cpu must be 0 (no cap) or more")
    if any(c in config.node_name for c in "/ \t\n"):
        problems.append(f"cluster.node_name must not contain '/' or spaces, got {config.node_name!r}")
    return problems
