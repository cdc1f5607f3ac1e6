"""The interface the scenario runner drives; each adapter hides its server's protocol.

A run starts the target, prepares its rooms, then for every participant: ``join``
(signalling ready), ``publish`` (returns a :class:`PublisherRef` others subscribe to) and
``subscribe`` (to the other publishers of the room). Adapters report every receiver they
get through ``PeerContext.on_receiver`` so the runner can attach a probe.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from aiortc import RTCRtpReceiver

from loadtest.safety import Network
from loadtest.tracks import PacketAudioTrack, PacketVideoTrack


class TargetError(Exception):
    """The target misbehaved or refused (signalling error, timeout, bad reply)."""


@dataclass(frozen=True)
class PublisherRef:
    identity: str  # the tester's name for the publisher
    server_id: str  # the server's id for it (participant id, Janus feed id, relay publisher id)


@dataclass(frozen=True)
class PeerContext:
    identity: str
    networks: Sequence[Network]
    on_receiver: Callable[[RTCRtpReceiver, str, str], None]  # (receiver, publisher identity, kind)
    timeout_s: float = 15.0


class Participant(ABC):
    @abstractmethod
    async def join(self) -> None:
        """Signalling ready (joined the room)."""

    @abstractmethod
    async def publish(self, video: PacketVideoTrack, audio: PacketAudioTrack | None) -> PublisherRef:
        """Publish the tracks; returns once the server accepted them."""

    @abstractmethod
    async def subscribe(self, publishers: Sequence[PublisherRef]) -> None:
        """Receive these publishers' tracks; returns once the subscription is negotiated."""

    @abstractmethod
    async def close(self) -> None:
        """Leave and close every connection (idempotent)."""


class Target(ABC):
    name: str = ""
    cpu: int | None = None  # the CPU the server is pinned to, if any
    #: which process's CPU and memory are measured, and whether it forwards payloads unchanged
    forwards_payload: bool = True

    @property
    @abstractmethod
    def networks(self) -> Sequence[Network]:
        """Remote ICE candidates and URLs are accepted only inside these networks."""

    @property
    @abstractmethod
    def host_addresses(self) -> Sequence[str]:
        """Addresses the tester's peers gather ICE candidates on."""

    @abstractmethod
    async def start(self) -> None: ...

    @abstractmethod
    async def stop(self) -> None:
        """Stop everything start() created (idempotent, also after a failed start)."""

    @abstractmethod
    def server_pid(self) -> int | None:
        """The server process to measure (None when the tester did not start it)."""

    async def packets_forwarded(self) -> int | None:
        """The server's own forwarded-packet counter, when it exposes one."""
        return None

    async def prepare_room(self, room: str, publishers: int) -> None:  # noqa: B027 - optional hook
        """Create the room when the server needs that before joins."""

    @abstractmethod
    def participant(self, room: str, ctx: PeerContext) -> Participant: ...
