"""Logging: text or JSON lines, an access log, and a request id on every line of a request.

``server.log_format``: ``text`` (default: ``time LEVEL logger: message``) or ``json`` (one
object per line: ``time``, ``level``, ``logger``, ``message``, ``request_id`` when the line
belongs to a request, ``exception`` with the traceback when there is one, and the access
log's own fields). Both go to stderr (the journal, under systemd).

Request ids: every HTTP request and WebSocket connection gets one — the client's
``X-Request-Id`` when it is a short token (at most 64 letters, digits, ``.``, ``_``, ``-``:
a reverse proxy's id carries through), else a new random one — answered in ``X-Request-Id``.
It lives in a context variable for the request's task, so every line logged while serving
it carries it, the WebSocket session's included (its writer task inherits the context),
and the access line that ends it (logger ``consult_sfu.access``: method, path, status,
bytes, duration, client address, user agent; the query string is left out: it may hold a
download link's signature).
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
REQUEST_ID_KEY = web.RequestKey("request_id", str)
HEADER = "X-Request-Id"
_VALID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
ACCESS_LOGGER = "consult_sfu.access"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = REQUEST_ID.get()
        return True


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        request_id = getattr(record, "request_id", None)
        return f"{line} [request {request_id}]" if request_id else line


class JsonFormatter(logging.Formatter):
    #: LogRecord attributes that are not extra fields
    _STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "request_id"}

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id:
            out["request_id"] = request_id
        out.update({k: v for k, v in vars(record).items() if k not in self._STANDARD and not k.startswith("_")})
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, separators=(",", ":"))


def configure(level: str, log_format: str) -> None:
    """The root logger's one handler (stderr), in ``log_format`` (text or json)."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(_RequestIdFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)


@web.middleware
async def request_id_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    given = request.headers.get(HEADER, "")
    request_id = given if _VALID.match(given) else secrets.token_hex(8)
    request[REQUEST_ID_KEY] = request_id
    REQUEST_ID.set(request_id)  # this request's task (and the tasks it starts) only
    return await handler(request)


async def _answer_request_id(request: web.Request, response: web.StreamResponse) -> None:
    request_id = request.get(REQUEST_ID_KEY)
    if request_id is not None:
        response.headers.setdefault(HEADER, request_id)


def install(app: web.Application) -> None:
    """Request ids on ``app`` (the main application; /v1 is under it)."""
    app.middlewares.append(request_id_middleware)
    app.on_response_prepare.append(_answer_request_id)


class AccessLogger(AbstractAccessLogger):
    """One line per finished request (a WebSocket's when it closes)."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        request_id = request.get(REQUEST_ID_KEY)
        fields = {
            "method": request.method,
            "path": request.path,
            "status": response.status,
            "bytes": response.body_length,
            "duration_ms": round(time * 1000, 1),
            "remote": request.remote,
            "user_agent": request.headers.get("User-Agent", ""),
            "request_id": request_id,
        }
        self.logger.info(
            '%s %s %s %sB %.1fms %s "%s"', request.method, request.path, response.status, response.body_length,
            time * 1000, request.remote, fields["user_agent"], extra=fields,
        )

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)


def access_logger() -> logging.Logger:
    return logging.getLogger(ACCESS_LOGGER)


def announce(text: str, log_format: str) -> None:
    """The start-up line on stdout (scripts wait for it): plain, or a JSON log object."""
    if log_format == "json":
        now = time.time()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z"
        text = json.dumps({"time": stamp, "level": "INFO", "logger": "consult_sfu", "message": text}, separators=(",", ":"))
    print(text, flush=True)
