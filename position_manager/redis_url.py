"""The Redis URL the settings point at, and how to talk about it without its password.

Every Redis client of the project is built with `redis.Redis.from_url(url)` (the worker, the
simulator's publisher and quote feed, the Dagster resource), so everything a connection needs
travels in the URL: the password (percent-encoded, so `@`, `/` or `#` in it cannot be misread as
URL syntax), and for `rediss://` the CA bundle (`REDIS_CA_CERT` becomes redis-py's
`ssl_ca_certs` query argument). The URL is therefore a secret; `redis_target` is what may be
shown: scheme, host and port, never the user info.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from position_manager.config import Settings
from position_manager.errors import RedisAuthError


def url_with_password(host: str, port: int, password: str | None, db: int = 0) -> str:
    """`redis://:password@host:port/db` with the password percent-encoded (or no user info)."""
    auth = f":{quote(password, safe='')}@" if password else ""
    return f"redis://{auth}{host}:{port}/{db}"


def configured_url(settings: Settings) -> str:
    """The URL the settings point at (REDIS_URL, else REDIS_HOST/PORT/PASSWORD), with the TLS CA
    bundle added to a `rediss://` URL when REDIS_CA_CERT is set."""
    if settings.redis_url is not None:
        url = settings.redis_url.get_secret_value()
    else:
        password = settings.redis_password.get_secret_value() if settings.redis_password else None
        url = url_with_password(settings.redis_host, settings.redis_port, password)
    if settings.redis_ca_cert is not None:
        url = _with_query(url, ssl_ca_certs=str(settings.redis_ca_cert))
    return url


def _with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.update(params)
    return urlunsplit(parts._replace(query=urlencode(query)))


def redis_target(url: str) -> str:
    """`scheme://host:port` of a Redis URL: safe to log or put in an error (no user, password
    or query)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = parts.port
    except ValueError:
        return "the configured Redis"
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "")


def credentials_refused(url: str) -> RedisAuthError:
    """The error for a Redis that answered but refused our password or ACL user."""
    return RedisAuthError(
        f"Redis at {redis_target(url)} refused our credentials (AUTH failed: wrong or missing "
        "password, or an ACL user without access): check REDIS_PASSWORD or the user info in "
        "REDIS_URL"
    )


def unreachable_reason(url: str, exc: Exception) -> str:
    """Why a Redis did not answer, naming the target and the kind of failure (a TLS handshake
    failure says so), never the URL's user info."""
    text = str(exc)
    if "SSL" in text or "certificate" in text.lower():
        return (
            f"{redis_target(url)} failed the TLS handshake ({type(exc).__name__}): check "
            "REDIS_CA_CERT and the server's certificate"
        )
    return f"{redis_target(url)} does not answer ({type(exc).__name__})"
