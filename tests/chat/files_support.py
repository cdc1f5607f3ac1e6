"""Files for the sharing tests, and an uploader speaking the HTTP API."""

from __future__ import annotations

import io
import os
import zipfile
from typing import Any

import aiohttp


def png(size: int = 2000) -> bytes:
    return b"\x89PNG\r\n\x1a\n" + os.urandom(size - 8)


def pdf(size: int) -> bytes:
    return b"%PDF-1.7\n" + os.urandom(size - 9)


def docx(real: bool = True) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        if real:
            archive.writestr("[Content_Types].xml", "<Types/>")
            archive.writestr("word/document.xml", "<document/>")
        else:
            archive.writestr("payload.exe", b"MZ" + os.urandom(100))
    return out.getvalue()


async def upload(base: str, room: str, token: str | None, data: bytes, name: str | None = "file.bin", **kwargs: Any) -> tuple[int, dict[str, Any]]:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    params = {} if name is None else {"name": name}
    async with aiohttp.ClientSession() as http, http.post(f"{base}/files/{room}", params=params, data=data, headers=headers, **kwargs) as resp:
        return resp.status, await resp.json()


async def download(base: str, url: str) -> tuple[int, bytes, dict[str, str]]:
    async with aiohttp.ClientSession() as http, http.get(f"{base}/{url}") as resp:
        return resp.status, await resp.read(), dict(resp.headers)
