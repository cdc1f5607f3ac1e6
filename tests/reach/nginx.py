"""Debian's nginx, started by a test on loopback with deploy/nginx/consult-sfu.conf."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from tests.browser.conftest import stop_server
from tests.reach.certs import SelfSigned

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
SITE = Path(__file__).resolve().parents[2] / "deploy" / "nginx" / "consult-sfu.conf"


def site_for_test(https_port: int, http_port: int, upstream_port: int, cert: SelfSigned) -> str:
    """The documented site file, moved to loopback: ports, certificate, no IPv6 listeners."""
    text = SITE.read_text()
    replacements = {
        "    listen [::]:80;\n": "",
        "    listen [::]:443 ssl;\n": "",
        "listen 80;": f"listen 127.0.0.1:{http_port};",
        "listen 443 ssl;": f"listen 127.0.0.1:{https_port} ssl;",
        "server 127.0.0.1:8080;": f"server 127.0.0.1:{upstream_port};",
        "/etc/letsencrypt/live/video.example.org/fullchain.pem": str(cert.cert),
        "/etc/letsencrypt/live/video.example.org/privkey.pem": str(cert.key),
    }
    for old, new in replacements.items():
        assert old in text, f"deploy/nginx/consult-sfu.conf no longer has {old!r}: update the test"
        text = text.replace(old, new)
    return text


@contextlib.contextmanager
def running_nginx(folder: Path, site: str, port: int) -> Iterator[Path]:
    """nginx in the foreground, one process, everything under ``folder``; yields its error log."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "site.conf").write_text(site)
    temp = {name: folder / name for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
    for path in temp.values():
        path.mkdir(exist_ok=True)
    error_log = folder / "error.log"
    (folder / "nginx.conf").write_text(
        f"""daemon off;
master_process off;
pid {folder}/nginx.pid;
error_log {error_log} info;
events {{ worker_connections 256; }}
http {{
    access_log {folder}/access.log;
    client_body_temp_path {temp["body"]};
    proxy_temp_path {temp["proxy"]};
    fastcgi_temp_path {temp["fastcgi"]};
    uwsgi_temp_path {temp["uwsgi"]};
    scgi_temp_path {temp["scgi"]};
    include {folder}/site.conf;
}}
"""
    )
    proc = subprocess.Popen(
        [NGINX, "-p", str(folder), "-c", str(folder / "nginx.conf"), "-e", str(error_log)],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"nginx exited with {proc.returncode}: {error_log.read_text(errors='replace')}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"nginx does not listen on {port}: {error_log.read_text(errors='replace')}")
            time.sleep(0.1)
        yield error_log
    finally:
        stop_server(proc)
