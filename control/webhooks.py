"""Webhooks: POST each event to the organisation's configured URLs, signed, retried, durable.

``emit()`` never waits: it puts the event in a bounded queue (a full queue drops the event
and counts it) and returns, so a slow or failing webhook never delays the API or the media.
One owned task takes events off the queue and writes one *delivery* per URL to the outbox
(control/webhook_outbox.py): the store's, so with Redis a delivery survives a restart and
any process of the cluster may send it; ``chat_transcript`` deliveries stay in process
memory (a transcript is never written anywhere). A second owned task claims due deliveries
and sends each in its own owned task (at most ``concurrency`` at once); a failure is retried
with exponential backoff and jitter until ``max_attempts``, then the delivery becomes a dead
letter (counted, kept 7 days in the store without a chat body).

Each request carries:

* body: ``{"id", "event", "org", "room", "department", "at", "data"}`` (JSON);
* ``X-Consult-Event``: the event name; ``X-Consult-Delivery``: the id (same on retries);
* ``X-Consult-Timestamp``: unix seconds of this attempt;
* ``X-Consult-Signatures``: ``sha256=<hex>`` for each valid signing secret (the current
  one first; during a rotation's overlap also the previous one), each the HMAC-SHA256 of
  ``"<timestamp>." + body``: a receiver that checks the timestamp (within 5 minutes) can
  reject replays (:func:`verify`);
* ``X-Consult-Signature``: ``sha256=<hex>`` HMAC of the body alone with the current secret
  (the first version's header, kept for receivers written against it: no replay protection).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import random
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from control.domain.model import OrgSettings
from control.domain.rules import WEBHOOK_EVENTS, Event
from control.metrics import Sample
from control.store import Store, StoreError
from control.webhook_outbox import Delivery, MemoryOutbox, Outbox, StoreOutbox

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Consult-Signature"
SIGNATURES_HEADER = "X-Consult-Signatures"
TIMESTAMP_HEADER = "X-Consult-Timestamp"
#: a receiver's default tolerance for the timestamp (replays older than this are refused)
TOLERANCE_S = 300.0
#: events whose body is never written to the store (consultation content)
MEMORY_ONLY_EVENTS = frozenset({"chat_transcript"})
#: how often the outbox's pending deliveries are counted for /metrics
COUNT_EVERY_S = 10.0


@dataclass(frozen=True)
class WebhookConfig:
    queue_size: int = 1000
    concurrency: int = 16
    max_attempts: int = 6
    backoff_base_s: float = 0.5
    backoff_max_s: float = 60.0
    timeout_s: float = 5.0
    #: how often the outbox is looked at for due deliveries while there is work (deliveries in
    #: flight, or due ones found last time); an emit here wakes the sender at once
    poll_s: float = 1.0
    #: ... and while there is none: what another process left (a restarted or a dead one's
    #: deliveries, whose claims expire) waits at most this long. Keeps a worker at rest at one
    #: Redis write a second (its lease) plus one read per ``idle_poll_s`` (issue 12)
    idle_poll_s: float = 30.0


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(secret: str, body: bytes, header: str) -> bool:
    """For receivers (and tests): constant-time check of ``X-Consult-Signature`` (body only)."""
    return hmac.compare_digest(sign(secret, body), header)


def sign_timestamped(secret: str, timestamp: int, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, timestamp: str, signatures: str, now: float | None = None, tolerance_s: float = TOLERANCE_S) -> bool:
    """For receivers: one of ``X-Consult-Signatures`` is ours and ``X-Consult-Timestamp`` is recent."""
    try:
        stamp = int(timestamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - stamp) > tolerance_s:
        return False
    expected = sign_timestamped(secret, stamp, body)
    return any(hmac.compare_digest(expected, part.strip()) for part in signatures.split(","))


def signing_secrets(settings: OrgSettings, now: float) -> list[str]:
    """The secrets deliveries are signed with now: the current one, and the previous during its overlap."""
    secrets_ = [settings.webhook_secret] if settings.webhook_secret else []
    if settings.webhook_previous_secret and settings.webhook_previous_until > now:
        secrets_.append(settings.webhook_previous_secret)
    return secrets_


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
    failed: int = 0  # deliveries that used up their attempts (dead letters, by this process)
    retries: int = 0
    dropped: int = 0
    attempts_failed: int = 0
    pending: int = 0  # the outbox's pending deliveries, as last counted by the sender loop


class WebhookDispatcher:
    def __init__(
        self,
        store: Store,
        config: WebhookConfig | None = None,
        clock: Callable[[], float] = time.time,
        outbox: Outbox | None = None,
    ) -> None:
        self._store = store
        self.config = config or WebhookConfig()
        self._clock = clock
        self.outbox = outbox if outbox is not None else StoreOutbox(store)
        self._private = MemoryOutbox()  # chat transcripts
        self._queue: asyncio.Queue[Event] = asyncio.Queue(self.config.queue_size)
        self._deliveries: set[asyncio.Task[None]] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._wake = asyncio.Event()
        self._session: aiohttp.ClientSession | None = None
        self._closing = False
        self._counted_at = 0.0
        self._busy = True  # the first look is at once
        self._retry_due = float("inf")  # the earliest retry this process scheduled
        self.stats = WebhookStats()

    async def start(self) -> None:
        if self._tasks:
            return
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.config.timeout_s))
        self._tasks = [
            asyncio.create_task(self._run(), name="webhook-outbox-writer"),
            asyncio.create_task(self._send_loop(), name="webhook-sender"),
        ]

    async def close(self) -> None:
        """Stop; deliveries in flight are cancelled and, in the store, sent again after their lease."""
        self._closing = True
        for task in [*self._deliveries, *self._tasks]:
            await cancel_and_wait(task)
        self._tasks = []
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
        """Wait until every queued event's deliveries finished or died (tests, shutdown)."""
        await self._queue.join()
        while self._deliveries or (await self.counts())["pending"]:
            self._wake.set()
            await asyncio.sleep(0.02)

    async def counts(self) -> dict[str, int]:
        """Pending deliveries and dead letters (of the store's outbox: the whole cluster's)."""
        pending, dead = await self.outbox.counts()
        private_pending, private_dead = await self._private.counts()
        return {"pending": pending + private_pending, "dead_letters": dead + private_dead}

    async def _run(self) -> None:
        while not self._closing:
            event = await self._queue.get()
            try:
                await self._enqueue(event)
            except StoreError as exc:
                _reraise_if_cancelling()
                log.warning("webhook %s for %s not queued, the store is unavailable: %s", event.name, event.org, exc)
            finally:
                self._queue.task_done()
                del event  # a handed-over chat transcript must not stay referenced here

    async def _enqueue(self, event: Event) -> None:
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
        )
        outbox = self._private if event.name in MEMORY_ONLY_EVENTS else self.outbox
        now = self._clock()
        for i, url in enumerate(settings.webhook_urls):
            # one delivery per URL; the body's id is the event's, the delivery header tells URLs apart
            await outbox.put(Delivery(f"{delivery_id}-{i}" if i else delivery_id, event.org, url, event.name, body, next_at=now))
        self._wake.set()

    async def _send_loop(self) -> None:
        lease_s = self.config.timeout_s + 10.0
        while not self._closing:
            self._wake.clear()  # before looking: an emit during the look wakes the next one
            free = self.config.concurrency - len(self._deliveries)
            found = False
            for outbox in (self._private, self.outbox):
                try:
                    due = await outbox.claim_due(self._clock(), lease_s, free)
                except StoreError as exc:
                    _reraise_if_cancelling()
                    log.warning("webhook outbox unavailable: %s", exc)
                    due = []
                for delivery in due:
                    task = asyncio.create_task(self._deliver(outbox, delivery), name=f"webhook-{delivery.delivery_id}")
                    self._deliveries.add(task)
                    task.add_done_callback(self._delivery_done)
                free -= len(due)
                found = found or bool(due)
            self._busy = found or bool(self._deliveries)
            # the gauge: a store read every 10 s, only while there may be something to count
            if (self._busy or self.stats.pending) and self._clock() >= self._counted_at + COUNT_EVERY_S:
                self._counted_at = self._clock()
                with contextlib.suppress(StoreError):
                    self.stats.pending = (await self.counts())["pending"]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_delay())

    def _poll_delay(self) -> float:
        if self._busy or self.stats.pending:
            return self.config.poll_s
        now = self._clock()
        if self._retry_due <= now:
            self._retry_due = float("inf")
            return self.config.poll_s
        return max(self.config.poll_s, min(self.config.idle_poll_s, self._retry_due - now))

    def _delivery_done(self, task: asyncio.Task[None]) -> None:
        self._deliveries.discard(task)
        self._wake.set()  # a slot is free

    async def _deliver(self, outbox: Outbox, delivery: Delivery) -> None:
        try:
            settings = await self._store.get_org(delivery.org)
            ok = await self._post(delivery, signing_secrets(settings, self._clock()))
            if delivery.attempt:
                self.stats.retries += 1
            if not ok:
                self.stats.attempts_failed += 1
            attempt = delivery.attempt + 1
            if ok:
                self.stats.delivered += 1
                await outbox.done(delivery)
            elif attempt >= self.config.max_attempts:
                self.stats.failed += 1
                log.warning("webhook %s to %s failed after %d attempts: dead letter %s", delivery.event, delivery.url, attempt, delivery.delivery_id)
                await outbox.dead(Delivery(delivery.delivery_id, delivery.org, delivery.url, delivery.event, "", attempt)
                                  if delivery.event in MEMORY_ONLY_EVENTS else _attempted(delivery, attempt))
            else:
                delay = min(self.config.backoff_max_s, self.config.backoff_base_s * 2 ** (attempt - 1))
                retry_at = self._clock() + delay * random.uniform(0.8, 1.2)
                self._retry_due = min(self._retry_due, retry_at)
                await outbox.retry_at(_attempted(delivery, attempt), retry_at)
        except StoreError as exc:  # the claim expires and the delivery is sent again
            _reraise_if_cancelling()
            log.warning("webhook %s: the store is unavailable: %s", delivery.delivery_id, exc)

    async def _post(self, delivery: Delivery, secrets_: Sequence[str]) -> bool:
        if self._session is None:
            raise RuntimeError("WebhookDispatcher.start() must run before deliveries")
        if not secrets_:
            return False  # the organisation removed its webhooks' secret: nothing can be signed
        body = delivery.body.encode()
        stamp = int(self._clock())
        headers: dict[str, Any] = {
            "Content-Type": "application/json",
            "X-Consult-Event": delivery.event,
            "X-Consult-Delivery": delivery.delivery_id,
            TIMESTAMP_HEADER: str(stamp),
            SIGNATURES_HEADER: ", ".join(sign_timestamped(s, stamp, body) for s in secrets_),
            SIGNATURE_HEADER: sign(secrets_[0], body),
        }
        try:
            async with self._session.post(delivery.url, data=body, headers=headers) as resp:
                await resp.read()
                return 200 <= resp.status < 300
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.info("webhook POST %s failed: %s", delivery.url, exc)
            return False


def webhook_samples(dispatcher: WebhookDispatcher) -> list[Sample]:
    """This process's webhook figures for /metrics."""
    stats = dispatcher.stats
    return [
        Sample("webhook_events_queued_total", "counter", "webhook events queued for delivery", stats.queued),
        Sample("webhook_events_dropped_total", "counter", "webhook events dropped: the in-process queue was full", stats.dropped),
        Sample("webhook_deliveries_total", "counter", "webhook deliveries answered with 2xx", stats.delivered),
        Sample("webhook_delivery_failures_total", "counter", "webhook attempts that failed (non-2xx, network error, timeout)", stats.attempts_failed),
        Sample("webhook_dead_letters_total", "counter", "webhook deliveries given up after max_attempts (dead letters)", stats.failed),
        Sample("webhook_outbox_pending", "gauge", "webhook deliveries waiting in the outbox (the store's: the whole cluster's)", stats.pending),
    ]


def _attempted(delivery: Delivery, attempt: int) -> Delivery:
    return Delivery(delivery.delivery_id, delivery.org, delivery.url, delivery.event, delivery.body, attempt, delivery.next_at, delivery.claimed_until)
