"""Upload and download of shared files (main app, not /v1: participants use them, not the platform).

``POST /files/<room>?name=<file name>`` — the file's bytes as the body, the participant's
join token as ``Authorization: Bearer <token>`` (not an API key). The uploader must be inside
the consultation now (on this server). The body is streamed: refused as soon as it passes
25 MiB (``[files] max_file_bytes``) or the room's 200 MiB, or when its first bytes are not an
allowed kind matching the name. ``201`` answers the shared file (``file_id``, ``name``,
``size``, ``content_type``, ``message_id``); everyone inside gets ``file_shared``.

``GET /files/<room>/<file_id>?t=<link>`` — the bytes, with the link a participant got from
``get_file_link`` (short-lived, bound to them, refused once they left), as an attachment
with the type the server recognised and ``nosniff`` / a sandboxing CSP / ``no-store``.

Errors are ``{"error": {"code", "message"}}``: 401 ``unauthorized``, ``invalid_token``,
``token_expired``; 403 ``wrong_room``, ``not_in_room``, ``invalid_link``, ``link_expired``;
404 ``not_found`` (no such file, or gone with the consultation); 409 ``room_ended``,
``too_many_files``, ``chat_full``; 413 ``too_large``, ``room_full``; 415 ``unsupported_type``;
422 ``invalid_name``, ``empty``; 503 ``unavailable``. Whatever the error, and when the
upload breaks off halfway, nothing of it stays.
"""

from __future__ import annotations

import asyncio
import logging
import unicodedata
from typing import TYPE_CHECKING
from urllib.parse import quote

from aiohttp import ClientPayloadError, web

from control.features.files import links
from control.features.files.kinds import HEAD_BYTES, FileKind, Refused, check_container, classify
from control.features.files.storage import BlobClosed
from control.features.files.vault import HeldFile, Upload, VaultRefusal
from control.tokens import TokenError, verify
from signalling.codec import ProtocolError
from signalling.session import ParticipantSession, SessionState

if TYPE_CHECKING:
    from control.features.files.feature import FilesFeature

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
MAX_NAME_CHARS = 200
READ_CHUNK = 64 * 1024


def error(status: int, code: str, message: str) -> web.Response:
    response = web.json_response({"error": {"code": code, "message": message}}, status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


def clean_name(raw: str | None) -> str | None:
    """The file's name as shown: its last path part, no control or format characters, at most 200 characters."""
    if raw is None:
        return None
    base = raw.replace("\\", "/").rsplit("/", 1)[-1]
    text = "".join(c for c in base if unicodedata.category(c) not in ("Cc", "Cf", "Cs", "Zl", "Zp"))
    text = " ".join(text.split()).lstrip(". ")
    if len(text) > MAX_NAME_CHARS:
        stem, dot, ext = text.rpartition(".")
        text = (stem[: MAX_NAME_CHARS - len(ext) - 1] + dot + ext) if dot and len(ext) <= 10 else text[:MAX_NAME_CHARS]
    return text or None


def _feature(request: web.Request) -> FilesFeature:
    from control.features.files.feature import FILES_KEY

    return request.app[FILES_KEY]


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


@routes.post("/files/{room}")
async def upload(request: web.Request) -> web.StreamResponse:
    feature = _feature(request)
    room = request.match_info["room"]
    token = _bearer(request)
    if token is None:
        return error(401, "unauthorized", "send your join token as 'Authorization: Bearer <token>'")
    try:
        claims = verify(feature.secret, token)
    except TokenError as exc:
        return error(401, exc.reason, exc.message)
    if claims.room != room:
        return error(403, "wrong_room", "this join token is for another consultation")
    session = feature.inside(room, claims.identity)
    if session is None:
        ended = await feature.room_ended(room)
        if ended:
            return error(409, "room_ended", "the consultation has ended: files can no longer be shared")
        return error(403, "not_in_room", "only participants inside the consultation can share files")
    name = clean_name(request.query.get("name"))
    if name is None:
        return error(422, "invalid_name", "query parameter 'name' (the file's name) is required")
    try:
        upload = feature.vault.begin(room, request.content_length)
    except VaultRefusal as exc:
        return error(exc.status, exc.code, exc.message)
    try:
        held = await _receive(request, feature, upload, name, session)
    except VaultRefusal as exc:
        return error(exc.status, exc.code, exc.message)
    except Refused as exc:
        return error(415, "unsupported_type", str(exc))
    finally:
        upload.abort()  # a no-op once committed; else nothing of it stays
    try:
        record = await feature.share(session, held)
    except ProtocolError as exc:
        feature.vault.discard(held)
        status = {"chat_full": 409, "wrong_state": 409, "unavailable": 503}.get(exc.code, 409)
        code = "room_ended" if exc.code == "wrong_state" else exc.code
        return error(status, code, exc.message)
    return web.json_response({**held.info(), "message_id": record.message_id}, status=201)


async def _receive(request: web.Request, feature: FilesFeature, upload: Upload, name: str, session: ParticipantSession) -> HeldFile:
    """Stream the body into the upload's blob; the committed file, or a refusal."""
    config = feature.config
    head = b""
    kind: FileKind | None = None
    size = 0
    try:
        while True:
            chunk = await request.content.read(READ_CHUNK)
            if not chunk:
                break
            size += len(chunk)
            upload.grow(size)
            if kind is None:
                head += chunk
                if len(head) < HEAD_BYTES:
                    continue
                kind = classify(head[:HEAD_BYTES], name, config.kinds)
                chunk, head = head, b""
            await upload.blob.write(chunk)
        if size == 0:
            raise VaultRefusal(422, "empty", "the file is empty")
        if kind is None:  # smaller than the head
            kind = classify(head, name, config.kinds)
            await upload.blob.write(head)
        with upload.blob.open_whole() as whole:
            await asyncio.to_thread(check_container, kind, whole)
    except BlobClosed:
        raise VaultRefusal(409, "room_ended", "the consultation ended during the upload") from None
    except (ConnectionError, ClientPayloadError, asyncio.IncompleteReadError) as exc:
        log.info("upload of %r to %s broke off after %d bytes: %s", name, upload.room, size, exc)
        raise VaultRefusal(400, "incomplete", "the upload broke off before the end") from None
    context = session.context
    assert context is not None and session.participant_id is not None
    sender = {"participant_id": session.participant_id, "identity": context.identity, "name": context.name, "role": context.role}
    return upload.commit(name=name, kind=kind, sender=sender, at=feature.clock())


@routes.get("/files/{room}/{file_id}")
async def download(request: web.Request) -> web.StreamResponse:
    feature = _feature(request)
    room, file_id = request.match_info["room"], request.match_info["file_id"]
    try:
        link = links.check(feature.link_key, request.query.get("t", ""), room, file_id, feature.clock())
    except links.LinkError as exc:
        return error(403, exc.code, exc.message)
    participant = feature.registry.get(room, link.participant_id)
    if participant is None or participant.state is not SessionState.JOINED:
        return error(403, "not_in_room", "only participants inside the consultation can download its files")
    held = feature.vault.get(room, file_id)
    if held is None:
        return error(404, "not_found", "this file is no longer available: files are deleted when the consultation ends")
    response = web.StreamResponse(
        headers={
            "Content-Type": held.kind.content_type,
            "Content-Length": str(held.size),
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(held.name, safe='')}",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox; default-src 'none'",
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
        }
    )
    await response.prepare(request)
    try:
        async for chunk in held.blob.chunks():
            await response.write(chunk)
    except BlobClosed:  # the consultation ended meanwhile: stop sending its file
        if request.transport is not None:
            request.transport.close()
        return response
    await response.write_eof()
    feature.downloads += 1
    return response

