"""HTTPS/WSS served by the server itself (``[server] tls_cert`` / ``tls_key``), reloadable.

One :class:`ssl.SSLContext` per listening process (the single worker, or each worker of a
node, which all accept from the supervisor's one socket). A reload (SIGHUP) first loads the
new files into a *fresh* context, so a bad or mismatched pair is refused with a message and
the running certificate stays; only then is the pair loaded into the live context, which
makes every handshake from then on present the new certificate. Connections already open
(the calls' WebSockets) keep their TLS session: nothing is closed, nothing restarts.
"""

from __future__ import annotations

import logging
import ssl
from pathlib import Path

log = logging.getLogger(__name__)


class TlsError(Exception):
    """The certificate or key cannot be used; the message names the setting and the cause."""


def _load_pair(context: ssl.SSLContext, cert: Path, key: Path) -> None:
    try:
        context.load_cert_chain(certfile=str(cert), keyfile=str(key))
    except FileNotFoundError as exc:
        which = "tls_key" if exc.filename and Path(exc.filename) == key else "tls_cert"
        raise TlsError(f"server.{which}: {exc.filename or cert} does not exist") from None
    except PermissionError as exc:
        raise TlsError(
            f"server.tls_cert/tls_key: cannot read {exc.filename or cert}: permission denied"
        ) from None
    except ssl.SSLError as exc:
        # OpenSSL's reason (PEM_lib, KEY_VALUES_MISMATCH, ...) tells which part is wrong.
        reason = exc.reason or str(exc)
        raise TlsError(
            f"server.tls_cert/tls_key: {cert} and {key} are not a usable PEM certificate chain and its"
            f" private key ({reason})"
        ) from None
    except OSError as exc:
        raise TlsError(
            f"server.tls_cert/tls_key: cannot read {exc.filename or cert}: {exc.strerror or exc}"
        ) from None


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    """A server context holding ``cert`` (PEM chain, leaf first) and ``key`` (PEM); TLS 1.2+."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    _load_pair(context, cert, key)
    return context


class ReloadableTls:
    """The live context of a process and its reload."""

    def __init__(self, cert: Path, key: Path) -> None:
        self.cert = cert
        self.key = key
        self.context = server_context(cert, key)
        self.reloads = 0

    def reload(self) -> bool:
        """Read the files again; True when the new pair is in use, False (logged) when refused."""
        try:
            server_context(self.cert, self.key)  # checked apart first: the live context stays whole
            _load_pair(self.context, self.cert, self.key)
        except TlsError as exc:
            log.error("TLS reload refused, the previous certificate stays in use: %s", exc)
            return False
        self.reloads += 1
        log.warning(
            "TLS certificate reloaded from %s (new connections use it; open ones continue)",
            self.cert,
        )
        return True
