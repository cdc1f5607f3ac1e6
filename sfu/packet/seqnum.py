"""Modular arithmetic for RTP sequence numbers (16-bit) and timestamps (32-bit).

RFC 3550 counters wrap; "newer" means "ahead by less than half the space" (RFC 1982 serial
number arithmetic). These are tiny functions called per packet, so they work on plain ints and
allocate nothing beyond the result.
"""

SEQ_MOD = 1 << 16
SEQ_MASK = SEQ_MOD - 1
SEQ_HALF = SEQ_MOD >> 1

TS_MOD = 1 << 32
TS_MASK = TS_MOD - 1
TS_HALF = TS_MOD >> 1


def seq_add(a: int, b: int) -> int:
    """``a + b`` modulo 2**16 (``b`` may be negative)."""
    return (a + b) & SEQ_MASK


def seq_diff(a: int, b: int) -> int:
    """Signed distance ``a - b`` in [-32768, 32767]: positive when ``a`` is newer than ``b``."""
    return ((a - b + SEQ_HALF) & SEQ_MASK) - SEQ_HALF


def seq_gt(a: int, b: int) -> bool:
    """True when ``a`` is strictly newer than ``b`` (serial number order, RFC 1982)."""
    return seq_diff(a, b) > 0


def ts_add(a: int, b: int) -> int:
    """``a + b`` modulo 2**32 (``b`` may be negative)."""
    return (a + b) & TS_MASK


def ts_diff(a: int, b: int) -> int:
    """Signed distance ``a - b`` in [-2**31, 2**31 - 1]: positive when ``a`` is later."""
    return ((a - b + TS_HALF) & TS_MASK) - TS_HALF
