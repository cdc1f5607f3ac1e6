"""Every use of aiortc's, aioice's and pylibsrtp's private API lives in this package, and only here.

aiortc 1.16.0 is built to decode what it receives and encode what it sends. An SFU needs
neither, so we take over a few places; each module is one seam, and each has guard tests in
tests/sfu/aiortc_hooks/ that fail loudly, naming the attribute, if an upgrade moves it (the
pins in setup.cfg are exact for this reason). Nothing here falls back silently when private
state is missing: it raises :class:`HookError`.

* :mod:`.ice` — aioice's process-wide behaviour (announced addresses, UDP port range, remote
  networks, no STUN parse for media datagrams), all given back by :func:`restore_aioice`;
* :mod:`.udp_mux` — every server ICE connection on one UDP port (``ice.udp_port``), by ufrag
  and remote address (the table: :mod:`sfu.udp_demux`);
* :mod:`.receive` — a publisher's packets taken off the socket and handed to our producer;
* :mod:`.send` — subscriber legs written synchronously to the nominated ICE pair;
* :mod:`.srtp` — SRTP through libsrtp without pylibsrtp's per-call Python layers;
* :mod:`.frames` — aiortc's jitter buffer and codecs, for the rendition pipeline;
* :mod:`.transceivers` — negotiated codecs, and starting what aiortc's connect pass missed.
"""

from sfu.aiortc_hooks._private import HookError
from sfu.aiortc_hooks.frames import EncodedFrame, FrameAssembler, VideoDecoder, VideoEncoder
from sfu.aiortc_hooks.ice import (
    configure_announced_addresses,
    configure_host_addresses,
    configure_port_range,
    configure_remote_networks,
    configure_stun_fast_path,
    configure_udp_mux,
    patched_aioice_attributes,
    restore_aioice,
)
from sfu.aiortc_hooks.receive import (
    ReceiverTap,
    ReceiveStatistics,
    RtpSink,
    SenderReportSink,
    hook_receiver,
)
from sfu.aiortc_hooks.send import (
    RtcpObserver,
    RtcpSink,
    SenderHandle,
    SendParameters,
    sdes_packet,
    send_now,
    take_over_sender,
)
from sfu.aiortc_hooks.srtp import SrtpContext, srtp_context
from sfu.aiortc_hooks.transceivers import negotiated_codecs, start_pending_transceivers
from sfu.aiortc_hooks.udp_mux import UdpMux, use_shared_udp_port

__all__ = [
    "EncodedFrame",
    "FrameAssembler",
    "HookError",
    "ReceiveStatistics",
    "ReceiverTap",
    "RtcpObserver",
    "RtcpSink",
    "RtpSink",
    "SendParameters",
    "SenderHandle",
    "SenderReportSink",
    "SrtpContext",
    "UdpMux",
    "VideoDecoder",
    "VideoEncoder",
    "configure_announced_addresses",
    "configure_host_addresses",
    "configure_port_range",
    "configure_remote_networks",
    "configure_stun_fast_path",
    "configure_udp_mux",
    "hook_receiver",
    "negotiated_codecs",
    "patched_aioice_attributes",
    "restore_aioice",
    "sdes_packet",
    "send_now",
    "srtp_context",
    "start_pending_transceivers",
    "take_over_sender",
    "use_shared_udp_port",
]
