"""Minimal client of the Janus HTTP API (sessions, handles, plugin messages, long poll).

Requests to a plugin are asynchronous in Janus: the POST returns ``ack`` and the
plugin's reply arrives later as an event with the same ``transaction``, through the
session's long-poll GET. One owned poll task per session routes events to the waiting
request (by transaction) or to the handle's callback (``trickle``, ``webrtcup``...).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from loadtest.targets.base import TargetError

Event = dict[str, Any]
POLL_MAX_EVENTS = 10
MAX_SESSION_S = 4 * 3600  # bound on one session's poll loop (a run is far shorter)


class JanusSession:
    def __init__(self, http: aiohttp.ClientSession, base_url: str, timeout_s: float = 15.0) -> None:
        self.http = http
        self.base_url = base_url
        self.timeout_s = timeout_s
        self.session_id: int | None = None
        self.pending: dict[str, asyncio.Future[Event]] = {}
        self.handle_events: dict[int, Callable[[Event], None]] = {}
        self.poller: asyncio.Task[None] | None = None

    async def _post(self, url: str, body: dict[str, Any]) -> tuple[str, Event]:
        transaction = secrets.token_hex(6)
        future: asyncio.Future[Event] = asyncio.get_running_loop().create_future()
        self.pending[transaction] = future
        try:
            async with self.http.post(url, json={**body, "transaction": transaction}) as resp:
                reply: Event = await resp.json(content_type=None)
        except BaseException:
            self.pending.pop(transaction, None)
            raise
        if reply.get("janus") == "error":
            self.pending.pop(transaction, None)
            raise TargetError(f"janus: {reply.get('error', {}).get('reason', reply)}")
        return transaction, reply

    async def create(self) -> None:
        _, reply = await self._post(self.base_url, {"janus": "create"})
        self.session_id = int(reply["data"]["id"])
        self.pending.clear()
        self.poller = asyncio.create_task(self._poll())

    async def attach(self, plugin: str, on_event: Callable[[Event], None] | None = None) -> int:
        tx, reply = await self._post(self._url(), {"janus": "attach", "plugin": plugin})
        self.pending.pop(tx, None)
        handle = int(reply["data"]["id"])
        if on_event is not None:
            self.handle_events[handle] = on_event
        return handle

    async def request(self, handle: int, body: dict[str, Any], jsep: dict[str, Any] | None = None) -> Event:
        """A plugin message; returns the plugin's reply (sync ``success`` or async ``event``)."""
        message: dict[str, Any] = {"janus": "message", "body": body}
        if jsep is not None:
            message["jsep"] = jsep
        tx, reply = await self._post(f"{self._url()}/{handle}", message)
        if reply.get("janus") != "ack":
            self.pending.pop(tx, None)
            return reply
        try:
            event = await asyncio.wait_for(self.pending[tx], self.timeout_s)
        finally:
            self.pending.pop(tx, None)
        data = event.get("plugindata", {}).get("data", {})
        if "error" in data:
            raise TargetError(f"janus videoroom: {data.get('error')} ({data.get('error_code')})")
        return event

    def _url(self) -> str:
        if self.session_id is None:
            raise TargetError("janus session not created")
        return f"{self.base_url}/{self.session_id}"

    async def _poll(self) -> None:
        url = f"{self._url()}?maxev={POLL_MAX_EVENTS}"
        failures = 0
        deadline = time.monotonic() + MAX_SESSION_S
        while failures < 5 and time.monotonic() < deadline:
            try:
                async with self.http.get(url, timeout=aiohttp.ClientTimeout(total=45)) as resp:
                    body = await resp.json(content_type=None)
                failures = 0
            except (aiohttp.ClientError, TimeoutError, ValueError, OSError):
                failures += 1
                await asyncio.sleep(0.2)
                continue
            for event in body if isinstance(body, list) else [body]:
                self._route(event)

    def _route(self, event: Event) -> None:
        future = self.pending.get(str(event.get("transaction", "")))
        if future is not None and event.get("janus") in ("event", "success", "error") and not future.done():
            future.set_result(event)
            return
        callback = self.handle_events.get(int(event.get("sender", 0) or 0))
        if callback is not None:
            callback(event)

    async def destroy(self) -> None:
        if self.session_id is not None:
            with contextlib.suppress(aiohttp.ClientError, TargetError, TimeoutError, OSError):
                await self._post(self._url(), {"janus": "destroy"})
        if self.poller is not None:
            self.poller.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.poller
        for future in self.pending.values():
            future.cancel()
        self.pending.clear()
