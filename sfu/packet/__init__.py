"""Sans-I/O packet and timing logic of the media plane.

Pure classes and functions: no sockets, no asyncio, time passed in as ``now`` (monotonic
seconds, or NTP ints where the name says so). The asyncio shell in ``sfu`` calls them from
aiortc's hooks, per RTP packet per subscriber, so the hot paths use ``__slots__``, plain ints
and precompiled ``struct.Struct``s.
"""

from .keyframe import (
    UnsupportedCodecError,
    frame_start_checker,
    is_frame_start,
    is_keyframe,
    keyframe_checker,
)
from .keyframe_gate import KeyframeGate
from .keyframe_throttle import KeyframeRequestThrottle, KeyframeThrottleError
from .nack_tracker import NackTracker, NackTrackerError
from .packet_cache import PacketCache, PacketCacheError
from .rate_window import RateWindow
from .receive_bandwidth import ReceiveBandwidthEstimator
from .renditions import (
    LADDER_HEIGHTS,
    PAUSED,
    RenditionDemand,
    RenditionError,
    Size,
    target_size,
)
from .rewriter import LegRewriter, RewriterError
from .rtp_header import (
    ExtensionIds,
    RtpHeaderError,
    RtpHeaderWriter,
    abs_send_time_from_seconds,
    build_rtx_packet,
    rtp_payload_offset,
    wrap_rtx,
)
from .rtp_reader import ReceivedRtp, RtpParseError, parse_rtp
from .sender_report import (
    LegSenderStats,
    SenderReportClock,
    SenderReportError,
    ntp_from_unix,
    unix_from_ntp,
)
from .seqnum import seq_add, seq_diff, seq_gt, ts_add, ts_diff
from .stall_detector import StallDetectorError, VideoStallDetector

__all__ = [
    "LADDER_HEIGHTS",
    "PAUSED",
    "ExtensionIds",
    "KeyframeGate",
    "KeyframeRequestThrottle",
    "KeyframeThrottleError",
    "LegRewriter",
    "LegSenderStats",
    "NackTracker",
    "NackTrackerError",
    "PacketCache",
    "PacketCacheError",
    "RateWindow",
    "ReceiveBandwidthEstimator",
    "ReceivedRtp",
    "RenditionDemand",
    "RenditionError",
    "RewriterError",
    "RtpHeaderError",
    "RtpHeaderWriter",
    "RtpParseError",
    "SenderReportClock",
    "SenderReportError",
    "Size",
    "StallDetectorError",
    "UnsupportedCodecError",
    "VideoStallDetector",
    "abs_send_time_from_seconds",
    "build_rtx_packet",
    "frame_start_checker",
    "is_frame_start",
    "is_keyframe",
    "keyframe_checker",
    "ntp_from_unix",
    "parse_rtp",
    "rtp_payload_offset",
    "seq_add",
    "seq_diff",
    "seq_gt",
    "target_size",
    "ts_add",
    "ts_diff",
    "unix_from_ntp",
    "wrap_rtx",
]
