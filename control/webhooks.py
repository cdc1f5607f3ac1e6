"""Webhooks: POST each event to the organisation's configured URLs, signed, retried.

``emit()`` never waits: it puts the event in a bounded queue (a full queue drops the
event and counts it) and returns, so a slow or failing webhook never delays the API or
the media. One owned background task takes events off the queue and starts one
delivery task per URL (at most ``concurrency`` at once, also owned); a delivery retries
with exponential backoff and jitter until ``max_attempts``.

Each request carries:

* body: ``{"id", "event", "org", "room", "department", "at", "data"}`` (JSON);
* ``X-Consult-Event``: the event name; ``X-Consult-Delivery``: the id (same on retries);
* ``X-Consult-Signature: sha256=<hex>``: HMAC-SHA256 of the raw body with the
  organisation's webhook secret (returned by ``PUT /v1/webhooks``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import random
import uuid
from dataclasses import dataclass
from typing import Any

import aiohttp

from control.domain.rules import WEBHOOK_EVENTS, Event
from control.store import Store, StoreError

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Consult-Signature"


@dataclass(frozen=True)
class WebhookConfig:
    queue_size: int = 1000
    concurrency: int = 16
    max_attempts: int = 6
    backoff_base_s: float = 0.5
    backoff_max_s: float = 60.0
    timeout_s: float = 5.0


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(secret: str, body: bytes, header: str) -> bool:
    """For receivers (and tests): constant-time check of ``X-Consult-Signature``."""
    return hmac.compare_digest(sign(secret, body), header)


async def cancel_and_wait(task: asyncio.Task[None]) -> None:
    """Cancel an owned task and wait for its end, cancelling again if a library swallowed it."""
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=0.5)
    with contextlib.suppress(asyncio.CancelledError):
        exc = task.exception()
        if exc is not None:
            log.warning("task %s ended with %r", task.get_name(), exc)


def _reraise_if_cancelling() -> None:
    """redis-py may turn a cancellation mid-command into a connection error: keep the cancel."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


@dataclass
class WebhookStats:
    queued: int = 0
    delivered: int = 0
    failed: int = 0
    retries: int = 0
    dropped: int = 0


class WebhookDispatcher:
    def __init__(self, store: Store, config: WebhookConfig | None = None) -> None:
        self._store = store
        self.config = config or WebhookConfig()
        self._queue: asyncio.Queue[Event] = asyncio.Queue(self.config.queue_size)
        self._slots = asyncio.Semaphore(self.config.concurrency)
        self._deliveries: set[asyncio.Task[None]] = set()
        self._runner: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._closing = False
        self.stats = WebhookStats()

    async def start(self) -> None:
        if self._runner is not None:
            return
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.config.timeout_s)
        )
        self._runner = asyncio.create_task(self._run(), name="webhook-dispatcher")

    async def close(self) -> None:
        self._closing = True
        tasks = list(self._deliveries)
        if self._runner is not None:
            tasks.append(self._runner)
        for task in tasks:
            await cancel_and_wait(task)
        self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    def emit(self, event: Event) -> bool:
        """Queue an event for delivery without waiting; False if it is not a webhook event or dropped."""
        if event.name not in WEBHOOK_EVENTS:
            return False
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.stats.dropped += 1
            log.warning("webhook queue full (%d); dropped %s", self.config.queue_size, event.name)
            return False
        self.stats.queued += 1
        return True

    async def drain(self) -> None:
        """Wait until every queued event's deliveries finished (tests, shutdown)."""
        await self._queue.join()
        while self._deliveries:
            await asyncio.gather(*list(self._deliveries), return_exceptions=True)

    async def _run(self) -> None:
        while not self._closing:
            event = await self._queue.get()
            try:
                await self._dispatch(event)
            except StoreError as exc:
                _reraise_if_cancelling()
                log.warning("webhook settings unavailable for %s: %s", event.org, exc)
            finally:
                self._queue.task_done()
                del event  # a handed-over chat transcript must not stay referenced here

    async def _dispatch(self, event: Event) -> None:
        settings = await self._store.get_org(event.org)
        if not settings.webhook_urls or not settings.webhook_secret:
            return
        delivery_id = uuid.uuid4().hex
        body = json.dumps(
            {
                "id": delivery_id,
                "event": event.name,
                "org": event.org,
                "room": event.room,
                "department": event.department,
                "at": event.at,
                "data": event.data,
            },
            separators=(",", ":"),
        ).encode()
        for url in settings.webhook_urls:
            await self._slots.acquire()
            task = asyncio.create_task(
                self._deliver(url, body, event.name, delivery_id, settings.webhook_secret)
            )
            self._deliveries.add(task)
            task.add_done_callback(self._delivery_done)

    def _delivery_done(self, task: asyncio.Task[None]) -> None:
        self._deliveries.discard(task)
        self._slots.release()

    async def _deliver(self, url: str, body: bytes, name: str, delivery_id: str, secret: str) -> None:
        headers = {
            "Content-Type": "application/json",
            "X-Consult-Event": name,
            "X-Consult-Delivery": delivery_id,
            SIGNATURE_HEADER: sign(secret, body),
        }
        for attempt in range(self.config.max_attempts):
            if attempt:
                self.stats.retries += 1
                delay = min(self.config.backoff_max_s, self.config.backoff_base_s * 2 ** (attempt - 1))
                await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            if await self._post(url, body, headers):
                self.stats.delivered += 1
                return
        self.stats.failed += 1
        log.warning("webhook %s to %s failed after %d attempts", name, url, self.config.max_attempts)

    async def _post(self, url: str, body: bytes, headers: dict[str, Any]) -> bool:
        if self._session is None:
            raise RuntimeError("WebhookDispatcher.start() must run before deliveries")
        try:
            async with self._session.post(url, data=body, headers=headers) as resp:
                await resp.read()
                return 200 <= resp.status < 300
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.info("webhook POST %s failed: %s", url, exc)
            return False
