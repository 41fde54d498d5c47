"""Sentinel secrets and the scanner that looks for them everywhere the system writes.

Each sentinel is distinctive (no real text contains it) and has the characters that URL
encoding changes, so a secret that was percent-encoded into a URL, base64-encoded into an auth
header or repr()-escaped is found as well as the raw string. A part of a secret counts too: any
`WINDOW` consecutive characters of it (a log line that shortens a frame to its head and tail
still shows the end of the key), also as space-separated hex (how a binary frame is logged).
`LeakScan.add` takes any text or bytes with a label saying where it came from; `hits()` lists
(where, which secret, which form).
"""

from __future__ import annotations

import base64
import logging
import traceback
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import duckdb
import redis

WINDOW = 12  # characters of a secret that count as a leak on their own


@dataclass(frozen=True)
class Sentinels:
    alpaca_key_id: str = "PKSNTNL4Q7Z2KEYID9X"
    alpaca_secret: str = "snTnlSecret/Alp+aca=9f3b2c7d1e4a"
    redis_password: str = "snTnl redis@pw#4d8e/1a"
    alpha_vantage_key: str = "SNTNLAVKEY0X7Y3W"
    wrong_redis_password: str = "snTnl-wrong/redis pw-55"
    # ALERT_URLS: a webhook's path token and its basic-auth password (apprise URLs carry both).
    alert_token: str = "SNTNLalertHOOK4k9q2w"
    alert_password: str = "snTnl alert/pw@7c"

    def secrets(self) -> dict[str, str]:
        return {
            "ALPACA_API_KEY": self.alpaca_key_id,
            "ALPACA_SECRET_KEY": self.alpaca_secret,
            "REDIS_PASSWORD": self.redis_password,
            "ALPHA_VANTAGE_API_KEY": self.alpha_vantage_key,
            "wrong REDIS_PASSWORD": self.wrong_redis_password,
            "ALERT_URLS token": self.alert_token,
            "ALERT_URLS password": self.alert_password,
        }

    def forms(self) -> dict[tuple[str, str], bytes]:
        """(secret name, form) -> the bytes to look for."""
        out: dict[tuple[str, str], bytes] = {}
        for name, secret in self.secrets().items():
            raw = secret.encode()
            forms = {
                "raw": raw,
                "url-encoded": quote(secret, safe="").encode(),
                "form-encoded": quote_plus(secret).encode(),
                "repr": repr(secret)[1:-1].encode(),
            }
            for offset, piece in enumerate(base64_cores(raw)):
                forms[f"base64@{offset}"] = piece
                forms[f"urlsafe-base64@{offset}"] = piece.replace(b"+", b"-").replace(b"/", b"_")
            for start in range(len(raw) - WINDOW + 1):
                part = raw[start : start + WINDOW]
                forms[f"part@{start}"] = part
                forms[f"hex part@{start}"] = part.hex(" ").encode()
            forms["hex"] = raw.hex(" ").encode()
            seen: set[bytes] = set()
            for form, needle in forms.items():  # a form equal to an earlier one is not repeated
                if needle not in seen:
                    seen.add(needle)
                    out[(name, form)] = needle
        return out


def base64_cores(raw: bytes) -> list[bytes]:
    """For each of the three alignments a secret can have inside a base64-encoded blob, the
    part of its encoding that does not depend on the bytes around it."""
    cores = []
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw + b"\0\0\0")
        start = (offset * 4 + 2) // 3  # characters touched by the padding in front
        end = ((offset + len(raw)) * 4) // 3  # characters made from the secret's last byte
        cores.append(encoded[start:end])
    return cores


@dataclass
class LeakScan:
    sentinels: Sentinels
    checked: dict[str, int] = field(default_factory=dict)  # kind -> items looked at
    _found: list[tuple[str, str, str]] = field(default_factory=list)

    def add(self, kind: str, where: str, content: str | bytes | None) -> None:
        if content is None:
            return
        data = content.encode(errors="backslashreplace") if isinstance(content, str) else content
        self.checked[kind] = self.checked.get(kind, 0) + 1
        for (name, form), needle in self.sentinels.forms().items():
            if needle in data:
                self._found.append((f"{kind}: {where}", name, form.split("@")[0]))

    def hits(self) -> list[tuple[str, str, str]]:
        return sorted(set(self._found))

    # --- sources ----------------------------------------------------------------------------
    def log_records(self, records: Iterable[logging.LogRecord]) -> None:
        formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
        for record in records:
            self.add("log", record.name, formatter.format(record))

    def exception(self, where: str, exc: BaseException) -> None:
        """The text of `exc` and of everything chained to it, including a context that
        `raise ... from None` hides from tracebacks (it is still there for any handler that
        walks `__context__`)."""
        for link in exception_chain(exc):
            text = "".join(traceback.format_exception_only(type(link), link))
            self.add("exception", f"{where} ({type(link).__name__})", text + repr(link.args))

    def redis_everything(self, port: int, password: str | None) -> None:
        """Every key name and value of every database of the Redis on 127.0.0.1:`port`:
        strings, hashes, lists, sets, sorted sets, streams (entries, groups, consumers)."""
        with redis.Redis(port=port, password=password) as client:
            databases = [int(db[2:]) for db in client.info("keyspace")] or [0]
        for db in databases:
            scoped = redis.Redis(port=port, password=password, db=db)
            for key in scoped.scan_iter(count=1000):
                self.add("redis key", f"db{db}", key)
                for part in _redis_value(scoped, key):
                    self.add("redis value", f"db{db} {key!r}", part)
            scoped.close()

    def duckdb_everything(self, path: Path) -> None:
        with duckdb.connect(str(path), read_only=True) as conn:
            tables = conn.execute(
                "SELECT table_schema, table_name FROM information_schema.tables"
            ).fetchall()
            for schema, table in tables:
                rows = conn.execute(f'SELECT * FROM "{schema}"."{table}"').fetchall()
                for row in rows:
                    self.add("duckdb row", f"{schema}.{table}", repr(row))

    def files_under(self, root: Path) -> None:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                self.add("file", str(path.relative_to(root)), path.read_bytes())


def exception_chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    while stack:
        link = stack.pop()
        if id(link) in seen:
            continue
        seen.add(id(link))
        yield link
        stack += [e for e in (link.__cause__, link.__context__) if e is not None]
        if isinstance(link, BaseExceptionGroup):
            stack += list(link.exceptions)


def _redis_value(client: redis.Redis, key: bytes) -> Iterator[Any]:
    kind = client.type(key)
    kind = kind.decode() if isinstance(kind, bytes) else kind
    if kind == "string":
        yield client.get(key)
    elif kind == "hash":
        for name, value in client.hgetall(key).items():
            yield name
            yield value
    elif kind == "list":
        yield from client.lrange(key, 0, -1)
    elif kind == "set":
        yield from client.smembers(key)
    elif kind == "zset":
        yield from client.zrange(key, 0, -1)
    elif kind == "stream":
        for entry_id, fields in client.xrange(key) or []:
            yield entry_id
            for name, value in (fields or {}).items():
                yield name
                yield value
        for group in client.xinfo_groups(key):
            yield repr(group)
            yield from (repr(c) for c in client.xinfo_consumers(key, group["name"]))
    else:
        yield f"<unscanned type {kind}>"
