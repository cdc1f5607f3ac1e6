"""CPU time and resident memory of a server process and its descendants, from /proc.

CPU is utime + stime of every process in the tree (threads included, since /proc/<pid>/stat
sums them), in clock ticks converted to seconds. A process that is gone counts as 0, so
use differences between samples taken while the server runs.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class ProcSample:
    at: float
    cpu_s: float
    rss_bytes: int


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name is in parentheses and may contain spaces: split after the last ')'
    return text[text.rfind(")") + 2 :].split()


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tasks:
        try:
            found.extend(int(c) for c in Path(f"/proc/{pid}/task/{tid}/children").read_text().split())
        except OSError:
            continue
    return found


def process_tree(pid: int, limit: int = 256) -> list[int]:
    pids: list[int] = []
    queue = [pid]
    while queue and len(pids) < limit:
        current = queue.pop()
        pids.append(current)
        queue.extend(_children(current))
    return pids


def sample(pid: int, now: float) -> ProcSample:
    cpu_ticks = 0
    rss_pages = 0
    for p in process_tree(pid):
        fields = _stat_fields(p)
        if fields is None:
            continue
        # after the command: state(0) ppid(1) ... utime(11) stime(12) ... rss(21)
        cpu_ticks += int(fields[11]) + int(fields[12])
        rss_pages += int(fields[21])
    return ProcSample(now, cpu_ticks / _TICKS, rss_pages * _PAGE)


def core_busy_s(cpu: int) -> float | None:
    """Busy seconds (everything but idle and iowait) of one CPU since boot, from /proc/stat."""
    try:
        lines = Path("/proc/stat").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith(f"cpu{cpu} "):
            values = [int(v) for v in line.split()[1:]]
            idle = values[3] + (values[4] if len(values) > 4 else 0)
            return (sum(values[:8]) - idle) / _TICKS
    return None


async def wait_until_settled(
    pid: int, *, below_s_per_s: float = 0.03, window_s: float = 1.0, timeout_s: float = 30.0
) -> tuple[float, bool]:
    """Wait until the process tree uses less than ``below_s_per_s`` CPU over ``window_s``.

    A server the tester has just started may still be loading things in the background
    (our caption and effect workers load their models for a few seconds): measuring then
    would count start-up as forwarding. Returns (seconds waited, settled?); bounded by
    ``timeout_s``.
    """
    began = time.monotonic()
    previous = sample(pid, began)
    while time.monotonic() - began < timeout_s:
        await asyncio.sleep(window_s)
        current = sample(pid, time.monotonic())
        if (current.cpu_s - previous.cpu_s) / max(current.at - previous.at, 1e-3) < below_s_per_s:
            return time.monotonic() - began, True
        previous = current
    return time.monotonic() - began, False
