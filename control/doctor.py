"""``consult-sfu doctor``: what stands between a browser outside and a working call.

Read from the configuration and checked from this machine: the public URL (HTTPS, its
certificate trusted and not about to expire, the server answering there), the TLS files the
server itself would load, the addresses announced for media (public or not, bindable here),
the UDP ports (the range and its size per worker, or the one port per worker of
``ice.udp_port``), and each TURN URL (an allocation with a test
credential minted like a participant's, and an expired one that must be refused). Each
finding is one line, ``ok``, ``warn`` or ``FAIL`` with what to do; the exit code is 1 when
anything failed. What it cannot see: a firewall between the internet and this machine (it
says so when everything else is fine).
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from control.config import Config
from control.turn import ice_server

Level = Literal["ok", "warn", "fail"]
#: A certificate closer than this to its end is reported (certbot renews at 30 days).
EXPIRY_WARNING_DAYS = 14


@dataclass(frozen=True)
class Finding:
    level: Level
    topic: str
    message: str

    def line(self) -> str:
        label = {"ok": "ok  ", "warn": "warn", "fail": "FAIL"}[self.level]
        return f"{label} {self.topic}: {self.message}"


def _client_context(ca: Path | None) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if ca is not None:
        context.load_verify_locations(cafile=str(ca))
    return context


# ------------------------------------------------------------------ certificates


@dataclass(frozen=True)
class CertInfo:
    not_after: datetime.datetime
    names: tuple[str, ...]  # DNS names and IP addresses it is valid for


def cert_info(pem_or_der: bytes) -> CertInfo:
    from cryptography import x509

    cert = (
        x509.load_pem_x509_certificates(pem_or_der)[0]
        if pem_or_der.lstrip().startswith(b"-----")
        else x509.load_der_x509_certificate(pem_or_der)
    )
    names: list[str] = []
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names += san.get_values_for_type(x509.DNSName)
        names += [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        pass
    return CertInfo(cert.not_valid_after_utc, tuple(names))


def covers(names: tuple[str, ...], host: str) -> bool:
    host = host.lower().rstrip(".")
    for name in (n.lower().rstrip(".") for n in names):
        if name == host or (name.startswith("*.") and host.partition(".")[2] == name[2:] and "." in name[2:]):
            return True
    return False


def expiry_findings(topic: str, info: CertInfo, host: str, now: datetime.datetime) -> list[Finding]:
    out: list[Finding] = []
    days = (info.not_after - now).total_seconds() / 86400
    when = info.not_after.strftime("%Y-%m-%d %H:%M UTC")
    if days < 0:
        out.append(Finding("fail", topic, f"the certificate expired on {when}: renew it (certbot renew), then reload"))
    elif days < EXPIRY_WARNING_DAYS:
        out.append(Finding("warn", topic, f"the certificate expires in {days:.0f} days ({when}): is renewal running (systemctl list-timers certbot)?"))
    else:
        out.append(Finding("ok", topic, f"the certificate is valid until {when} ({days:.0f} days)"))
    if host and not covers(info.names, host):
        out.append(Finding("fail", topic, f"the certificate is for {', '.join(info.names) or 'no name'}, not {host}: browsers refuse it"))
    return out


def check_tls_files(config: Config, now: datetime.datetime) -> list[Finding]:
    cert, key = config.server.tls_cert, config.server.tls_key
    if cert is None or key is None:
        return []
    from control.tls import TlsError, server_context

    try:
        server_context(cert, key)
    except TlsError as exc:
        return [Finding("fail", "TLS files", str(exc))]
    host = urlsplit(config.public_url).hostname or ""
    return expiry_findings("TLS files", cert_info(cert.read_bytes()), host, now)


# ------------------------------------------------------------------ the public URL


def check_public_url(config: Config) -> list[Finding]:
    url = urlsplit(config.public_url)
    host = url.hostname or ""
    if not config.server.public_url:
        return [Finding("warn", "public URL", f"server.public_url is not set: join links say {config.public_url}, which only this machine reaches")]
    if url.scheme != "https":
        local = _is_loopback_name(host)
        level: Level = "warn" if local else "fail"
        return [Finding(level, "public URL", f"{config.public_url} is not HTTPS: browsers give camera and microphone to HTTPS pages only (docs/deployment.md, step 5)")]
    return [Finding("ok", "public URL", config.public_url)]


def _is_loopback_name(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def check_served(config: Config, ca: Path | None, timeout_s: float, now: datetime.datetime) -> list[Finding]:
    """Connect to the public URL as a browser would: DNS, TLS trusted, /healthz answers."""
    import aiohttp

    url = urlsplit(config.public_url)
    host = url.hostname or ""
    port = url.port or (443 if url.scheme == "https" else 80)
    out: list[Finding] = []
    topic = "served"
    if url.scheme == "https":
        context = _client_context(ca)
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port, ssl=context, server_hostname=host), timeout_s)
        except ssl.SSLCertVerificationError as exc:
            return [Finding("fail", topic, f"{host}:{port} presents a certificate browsers do not trust: {exc.verify_message}")]
        except (OSError, TimeoutError) as exc:
            return [Finding("fail", topic, f"nothing answers at {host}:{port} ({_reason(exc)}): is the server (or nginx) running, the DNS name right?")]
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
        writer.close()
        out += expiry_findings(topic, cert_info(der), host, now)
    try:
        session_timeout = aiohttp.ClientTimeout(total=timeout_s)
        connector = aiohttp.TCPConnector(ssl=_client_context(ca) if url.scheme == "https" else False)
        async with aiohttp.ClientSession(timeout=session_timeout, connector=connector) as session, session.get(
            config.public_url.rstrip("/") + "/healthz"
        ) as response:
            if response.status == 200:
                out.append(Finding("ok", topic, f"{config.public_url}/healthz answers 200"))
            else:
                out.append(Finding("fail", topic, f"{config.public_url}/healthz answers {response.status}: is it consult-sfu behind this name?"))
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        out.append(Finding("fail", topic, f"{config.public_url}/healthz cannot be fetched: {_reason(exc)}"))
    return out


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    return str(exc) or type(exc).__name__


# ------------------------------------------------------------------ media addresses and ports


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return ip.is_global


def check_addresses(config: Config) -> list[Finding]:
    ice = config.sfu.ice
    out: list[Finding] = []
    announced = ice.announced()
    mapping = ice.announced_by_local()
    for local in ice.host_addresses:
        family = socket.AF_INET6 if ":" in local else socket.AF_INET
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as probe:
                probe.bind((local, 0))
        except OSError as exc:
            out.append(Finding("fail", "media address", f"{local} (ice.host_addresses) is not an address of this machine: {exc.strerror}"))
    shown = ", ".join(f"{a} (bound on {local})" if local in mapping else a for local, a in zip(ice.host_addresses, announced, strict=True))
    if any(_public(a) for a in announced):
        out.append(Finding("ok", "media address", f"announced: {shown}"))
        private = [a for a in announced if not _public(a)]
        if private:
            out.append(Finding("warn", "media address", f"also announced, reachable only inside your network: {', '.join(private)}"))
    else:
        # A development machine (loopback only, plain HTTP) is fine as it is; anything else is not.
        development = _all_loopback(announced) and not config.public_url.startswith("https")
        relay = "" if config.turn.enabled else "; and no TURN is configured to relay for them"
        out.append(Finding(
            "warn" if development else "fail", "media address",
            f"announced: {shown}: no public address, browsers outside cannot send media here (behind 1:1 NAT set"
            f" ice.announced_addresses to the public address; docs/deployment.md, step 6){relay}",
        ))
    return out


def _all_loopback(addresses: tuple[str, ...]) -> bool:
    return all(ipaddress.ip_address(a).is_loopback for a in addresses)


def check_ports(config: Config, workers: int) -> list[Finding]:
    ice = config.sfu.ice
    if ice.udp_port:
        return [_one_port(ice.udp_port, ice.port_min, ice.port_max, max(1, workers))]
    if (ice.port_min, ice.port_max) == (0, 0):
        return [Finding("warn", "UDP ports", "ice.port_min/port_max are not set: media uses any UDP port, so a firewall must let all through; set a range (e.g. 40000-40999) and open it")]
    size = ice.port_max - ice.port_min + 1
    per_worker = size // max(1, workers)
    message = f"open UDP {ice.port_min}-{ice.port_max} in the firewall ({size} ports, {per_worker} per worker for {workers} worker(s): about {per_worker // 2} participants each)"
    level: Level = "ok" if per_worker >= 2 else "fail"
    return [Finding(level, "UDP ports", message)]


def _one_port(udp_port: int, port_min: int, port_max: int, workers: int) -> Finding:
    """``ice.udp_port``: worker i on udp_port + i, each with every connection on its one port."""
    last = udp_port + workers - 1
    if last > 65535:
        return Finding("fail", "UDP ports", f"ice.udp_port {udp_port} with {workers} worker(s) needs ports up to {last}, beyond 65535: lower ice.udp_port")
    ports = f"{udp_port}-{last}" if workers > 1 else str(udp_port)
    message = f"open UDP {ports} (one port per worker, ice.udp_port) in the firewall, for {workers} worker(s) and any number of participants"
    if (port_min, port_max) != (0, 0):
        # The server's host candidates are all on udp_port: the range is not needed.
        message += f"; the range ice.port_min-port_max ({port_min}-{port_max}) is then not used, keep it closed"
    return Finding("ok", "UDP ports", message)


# ------------------------------------------------------------------ TURN


class _Quiet(asyncio.DatagramProtocol):
    """The relayed side of the test allocation: nothing is sent through it."""


async def _allocate(url: str, username: str, password: str, ca: Path | None, timeout_s: float) -> tuple[str, int]:
    import aioice.turn
    from aiortc.rtcicetransport import parse_stun_turn_uri

    parsed = parse_stun_turn_uri(url)
    tls = parsed["scheme"] == "turns"
    transport, _ = await asyncio.wait_for(
        aioice.turn.create_turn_endpoint(
            _Quiet, (parsed["host"], parsed["port"]), username, password, lifetime=60,
            ssl=_client_context(ca) if tls else None, transport=parsed["transport"] or ("tcp" if tls else "udp"),
        ),
        timeout_s,
    )
    try:
        address: tuple[str, int] = transport.get_extra_info("sockname")
        return address
    finally:
        transport.close()


async def check_turn(config: Config, ca: Path | None, timeout_s: float, now: float) -> list[Finding]:
    import aioice.stun

    turn = config.turn
    if not turn.enabled:
        return [Finding("warn", "TURN", "no [turn] configured: participants on networks that block UDP cannot connect (docs/deployment.md, step 7)")]
    out: list[Finding] = []
    fresh = ice_server(turn, "doctor", now)
    expired = ice_server(turn, "doctor", now - turn.ttl_s - 3600)
    for url in turn.urls:
        try:
            relayed = await _allocate(url, fresh["username"], fresh["credential"], ca, timeout_s)
        except aioice.stun.TransactionFailed as exc:
            hint = ": turn.secret is not coturn's static-auth-secret (or use-auth-secret is off)" if "401" in str(exc) else ""
            out.append(Finding("fail", "TURN", f"{url} refused a fresh test credential ({exc}){hint}"))
            continue
        except ssl.SSLCertVerificationError as exc:
            out.append(Finding("fail", "TURN", f"{url}: its certificate is not trusted: {exc.verify_message}"))
            continue
        except (OSError, TimeoutError, ConnectionError, ValueError) as exc:
            out.append(Finding("fail", "TURN", f"{url}: {_reason(exc)}: is coturn running there, the port open ({_transport(url)})?"))
            continue
        try:
            await _allocate(url, expired["username"], expired["credential"], ca, timeout_s)
        except aioice.stun.TransactionFailed:
            out.append(Finding("ok", "TURN", f"{url} relays with a participant's credential (relayed address {relayed[0]}:{relayed[1]}) and refuses an expired one"))
        except (OSError, TimeoutError, ConnectionError, ssl.SSLError):
            out.append(Finding("ok", "TURN", f"{url} relays with a participant's credential (relayed address {relayed[0]}:{relayed[1]})"))
        else:
            out.append(Finding("fail", "TURN", f"{url} accepted an EXPIRED credential: is coturn's use-auth-secret set, and its clock right?"))
    return out


def _transport(url: str) -> str:
    if url.startswith("turns:"):
        return "TCP, TLS"
    return "TCP" if "transport=tcp" in url else "UDP"


# ------------------------------------------------------------------ all of it


async def diagnose(config: Config, *, workers: int, ca: Path | None = None, timeout_s: float = 5.0) -> list[Finding]:
    now = datetime.datetime.now(datetime.UTC)
    findings = [*check_public_url(config), *check_tls_files(config, now)]
    findings += await check_served(config, ca, timeout_s, now)
    findings += check_addresses(config)
    findings += check_ports(config, workers)
    findings += await check_turn(config, ca, timeout_s, time.time())
    return findings


def summary(findings: list[Finding]) -> str:
    failed = sum(1 for f in findings if f.level == "fail")
    warned = sum(1 for f in findings if f.level == "warn")
    if failed:
        return f"{failed} problem(s), {warned} warning(s): browsers outside will not all get through"
    tail = " (checked from this machine: a firewall in front of it is not seen from here; try the /settings network test from a phone on mobile data)"
    return f"no problem found, {warned} warning(s){tail}"
