"""A tiny local HTTP endpoint that records what apprise's `json://` target posts to it.

`Webhook.statuses` decides the answers: the next status is popped for each request, the last
one repeats (`[500]`: always failing, `[500, 200]`: fails once, then takes everything)."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from position_manager.local_redis import free_port


@dataclass(frozen=True)
class Received:
    path: str
    body: dict[str, Any]
    status: int  # what the endpoint answered


@dataclass
class Webhook:
    statuses: list[int] = field(default_factory=lambda: [200])
    received: list[Received] = field(default_factory=list)
    port: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    def url(self, path: str = "hook", user: str = "") -> str:
        """The apprise URL of this endpoint (`json://[user@]127.0.0.1:PORT/path`)."""
        return f"json://{user + '@' if user else ''}127.0.0.1:{self.port}/{path}"

    def answer(self, *statuses: int) -> None:
        with self._lock:
            self.statuses = list(statuses)

    def posts(self, status: int | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self.received if status is None or r.status == status]

    def start(self) -> Webhook:
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {"raw": raw.decode("utf-8", "replace")}
                with hook._lock:
                    status = hook.statuses.pop(0) if len(hook.statuses) > 1 else hook.statuses[0]
                    hook.received.append(Received(self.path, body, status))
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.port = free_port()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
