"""The places alerts go: one apprise URL each, a printable label without its secrets, and a log
filter that keeps apprise from printing them.

An apprise URL is a credential: `slack://TokenA/TokenB/TokenC`, `tgram://bot_token/chat_id`,
`mailtos://user:password@host`, `jsons://user:password@host/path-with-a-token`. Our own log
lines name a target by `target_label` (the scheme, plus host and port for the generic webhooks,
whose host is a real host), never by its URL; apprise's own records go through `Redactor`, which
replaces every secret part of every configured URL (apprise logs an unparseable URL whole at
ERROR, and URLs, tokens and payloads at DEBUG/TRACE).
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any, Final
from urllib.parse import unquote, unquote_plus

from position_manager.logging import log_kv

log = logging.getLogger(__name__)

# Schemes whose host part is a host (apprise's generic webhooks): shown in labels.
WEBHOOK_SCHEMES: Final = frozenset({"json", "jsons", "form", "forms", "xml", "xmls"})
# Parts shorter than this are not redacted on their own (a port, "to", a chat id's sign): they
# are not secrets, and replacing them everywhere would garble apprise's lines.
MIN_SECRET_CHARS: Final = 4
REDACTED: Final = "***"
APPRISE_LOGGER: Final = "apprise"


def _scheme(url: str) -> str:
    return url.partition("://")[0].lower()


def _netloc_and_rest(url: str) -> tuple[str, str, str]:
    """(userinfo, host[:port], path?query) of `scheme://userinfo@host:port/path?query`."""
    rest = url.partition("://")[2].split("#", 1)[0]
    netloc, _, tail = rest.partition("/")
    if "?" in netloc:  # scheme://host?query
        netloc, _, query = netloc.partition("?")
        tail = "?" + query
    userinfo, _, hostport = netloc.rpartition("@")
    return userinfo, hostport, tail


def target_label(url: str, number: int) -> str:
    """`#1 json://127.0.0.1:8080` or `#2 tgram://***`: which target, never its secrets."""
    scheme = _scheme(url)
    if scheme in WEBHOOK_SCHEMES:
        _user, hostport, _tail = _netloc_and_rest(url)
        return f"#{number} {scheme}://{hostport}"
    return f"#{number} {scheme}://{REDACTED}"


def secret_parts(url: str) -> set[str]:
    """Every part of `url` that may be a secret, raw and percent-decoded: the user info, the
    host (except for the generic webhooks, where it is a host), every path segment and every
    query name and value. Apprise decodes `%40` etc. before it uses (and logs) a part."""
    userinfo, hostport, tail = _netloc_and_rest(url)
    pieces = re.split(r":", userinfo) if userinfo else []
    if _scheme(url) not in WEBHOOK_SCHEMES:
        pieces += re.split(r":", hostport)
    pieces += re.split(r"[/?&=;,]", tail)
    out: set[str] = set()
    for piece in pieces:
        for form in (piece, unquote(piece), unquote_plus(piece)):
            if len(form) >= MIN_SECRET_CHARS:
                out.add(form)
    return out


class Redactor(logging.Filter):
    """Replaces the secret parts of the configured URLs in every record of the `apprise`
    logger (its message, arguments and traceback are folded into one redacted message)."""

    def __init__(self) -> None:
        super().__init__(APPRISE_LOGGER)
        self._lock = threading.Lock()
        self._parts: tuple[str, ...] = ()

    def add(self, url: str) -> None:
        with self._lock:
            self._parts = tuple(sorted(set(self._parts) | secret_parts(url), key=len, reverse=True))

    def redact(self, text: str) -> str:
        for part in self._parts:
            if part in text:
                text = text.replace(part, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a record whose arguments do not format: keep its template only
            message = str(record.msg)
        if record.exc_info:
            message += "\n" + logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
            record.exc_text = None
        record.msg = self.redact(message)
        record.args = None
        return True


_REDACTOR = Redactor()
_INSTALLED = False
_INSTALL_LOCK = threading.Lock()


def redactor() -> Redactor:
    """The one redactor on the `apprise` logger (installed on first use)."""
    global _INSTALLED
    with _INSTALL_LOCK:
        if not _INSTALLED:
            logger = logging.getLogger(APPRISE_LOGGER)
            logger.addFilter(_REDACTOR)
            if logger.level == logging.NOTSET or logger.level < logging.WARNING:
                logger.setLevel(logging.WARNING)
            _INSTALLED = True
    return _REDACTOR


class AlertTarget:
    """One apprise URL. `send` returns True when apprise says the service took the message;
    it never raises (a failing target is the caller's to retry or give up on)."""

    def __init__(self, url: str, number: int) -> None:
        import apprise  # here, not at import time: only a configured notifier pays for it

        redactor().add(url)  # before apprise sees the URL: it may log it
        self.label = target_label(url, number)
        # In memory only: apprise's persistent store would otherwise write under ~/.local.
        asset = apprise.AppriseAsset(storage_mode="memory", secure_logging=True)
        self._apprise = apprise.Apprise(asset=asset)
        self.usable = bool(self._apprise.add(url))
        self._types = {True: apprise.NotifyType.FAILURE, False: apprise.NotifyType.WARNING}

    def send(self, title: str, body: str, *, urgent: bool = False) -> bool:
        try:
            result: Any = self._apprise.notify(
                body=body, title=title, notify_type=self._types[urgent]
            )
            return bool(result)
        except Exception as exc:  # a plugin's own bug must not end the notifier
            log_kv(
                log,
                logging.WARNING,
                "alert target raised",
                target=self.label,
                error=type(exc).__name__,
                detail=_REDACTOR.redact(str(exc))[:200],
            )
            return False


def build_targets(urls: tuple[str, ...]) -> list[AlertTarget]:
    """One target per URL; a URL apprise does not understand is logged (by its label) and
    skipped: the worker protects positions whether or not a person can be told."""
    targets = []
    for number, url in enumerate(urls, start=1):
        target = AlertTarget(url, number)
        if target.usable:
            targets.append(target)
        else:
            log_kv(
                log,
                logging.ERROR,
                "alert URL not understood by apprise, skipped",
                target=target.label,
                hint="check ALERT_URLS against https://github.com/caronc/apprise/wiki",
            )
    return targets
