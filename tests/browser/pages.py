"""What the browser tests do with a page: open a room, join, read WebRTC stats and pixels.

Everything is read through `window.consult` (the room page exposes its client there) and
the page's DOM, the way a person would see it, with the engine-neutral `BrowserPage`
(tests/browser/engine.py), so each helper works in Chromium and Firefox alike.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from tests.browser.engine import BrowserPage

INBOUND_JS = """
async () => {
  const client = window.consult.client;
  if (!client || !client.pcs.subscribe) return [];
  const report = await client.pcs.subscribe.getStats();
  const out = [];
  report.forEach((s) => {
    if (s.type === 'inbound-rtp') {
      out.push({kind: s.kind, framesDecoded: s.framesDecoded || 0, packetsReceived: s.packetsReceived || 0,
                frameHeight: s.frameHeight || 0, mid: s.mid || null});
    }
  });
  return out;
}
"""

# Mean and max luma of a <video> (by selector) drawn on a canvas (null when it has no picture yet).
VIDEO_LUMA_JS = """
(selector) => {
  const video = document.querySelector(selector);
  if (!video || video.readyState < 2 || !video.videoWidth) return null;
  const c = document.createElement('canvas');
  c.width = 64; c.height = 48;
  const ctx = c.getContext('2d');
  ctx.drawImage(video, 0, 0, 64, 48);
  const d = ctx.getImageData(0, 0, 64, 48).data;
  let sum = 0, max = 0;
  for (let i = 0; i < d.length; i += 4) {
    const y = (d[i] * 3 + d[i + 1] * 6 + d[i + 2]) / 10;
    sum += y; if (y > max) max = y;
  }
  return {mean: sum / (d.length / 4), max, width: video.videoWidth, height: video.videoHeight};
}
"""


async def open_and_join(page: BrowserPage, url: str, *, timeout_s: float = 30.0) -> None:
    """Open a join link, wait for the pre-join preview, press Join, wait until joined."""
    await page.goto(url)
    await join(page, timeout_s=timeout_s)


async def join(page: BrowserPage, *, timeout_s: float = 30.0) -> None:
    """From the pre-join view: wait for the preview, press Join, wait until joined."""
    await page.wait_for_selector("body[data-view='prejoin']", timeout_s=timeout_s)
    await page.wait_for("() => document.getElementById('prejoin-preview').videoWidth > 0", timeout_s=timeout_s, what="the pre-join preview")
    await page.click("#join-button")
    await page.wait_for_selector("body[data-state='connected'][data-view='call']", timeout_s=timeout_s)
    # Both our tracks published (the server confirmed their producers).
    await page.wait_for(
        """() => { const c = window.consult.client;
                   const m = c.publications.get('microphone'), v = c.publications.get('camera');
                   return !!(m && v && m.producerId && v.producerId); }""",
        timeout_s=timeout_s,
        what="camera and microphone published",
    )


async def inbound(page: BrowserPage) -> list[dict[str, Any]]:
    return list(await page.evaluate(INBOUND_JS))


async def totals(page: BrowserPage) -> dict[str, int]:
    stats = await inbound(page)
    return {
        "frames": sum(s["framesDecoded"] for s in stats if s["kind"] == "video"),
        "audio_packets": sum(s["packetsReceived"] for s in stats if s["kind"] == "audio"),
    }


async def eventually(check: Callable[[], Awaitable[bool]], timeout_s: float, what: str, interval_s: float = 0.3) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for: {what}")


async def wait_media_flowing(page: BrowserPage, *, videos: int = 1, timeout_s: float = 45.0) -> dict[str, int]:
    """Wait until video frames are decoded and audio packets arrive, and both keep rising."""
    first: dict[str, int] = {}

    async def started() -> bool:
        nonlocal first
        first = await totals(page)
        stats = await inbound(page)
        decoding = [s for s in stats if s["kind"] == "video" and s["framesDecoded"] > 0]
        return len(decoding) >= videos and first["audio_packets"] > 0

    try:
        await eventually(started, timeout_s, f"{videos} decoding video(s) and audio packets")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; inbound-rtp now: {await inbound(page)}") from None

    async def rising() -> bool:
        now = await totals(page)
        return now["frames"] > first["frames"] + 5 and now["audio_packets"] > first["audio_packets"] + 10

    await eventually(rising, 30.0, "frames decoded and audio packets still rising")
    return await totals(page)


async def remote_tile_luma(page: BrowserPage, selector: str = ".tile-camera:not(.tile-self) video") -> dict[str, Any] | None:
    result = await page.evaluate(VIDEO_LUMA_JS, selector)
    return dict(result) if result else None


async def wait_visible_picture(page: BrowserPage, selector: str = ".tile-camera:not(.tile-self) video", timeout_s: float = 20.0) -> dict[str, Any]:
    """The remote <video> shows a picture that is not black."""
    seen: dict[str, Any] = {}

    async def bright() -> bool:
        nonlocal seen
        luma = await remote_tile_luma(page, selector)
        if luma:
            seen = luma
        return bool(luma and luma["max"] > 60 and luma["mean"] > 15)

    await eventually(bright, timeout_s, f"a non-black picture in {selector} (last: {seen})")
    return seen
