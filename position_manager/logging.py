"""Structured key=value logging: one line per decision, with symbol and order id.

`log_kv(logger, "stop placed", symbol="AAPL", order_id=...)` keeps log lines greppable and keeps
secrets out by construction (callers pass named fields, never whole settings objects).
"""

from __future__ import annotations

import logging
from typing import Any

_CONFIGURED = False
# Libraries whose DEBUG lines carry what they send verbatim: urllib3 logs every request line
# with its query string (`GET /query?function=...&apikey=...`: Alpha Vantage takes its key only
# there), and websockets logs every frame, shortened to its head and tail (the tail of Alpaca's
# auth frame is the end of the secret key). They stay at INFO even with LOG_LEVEL=DEBUG.
VERBATIM_LOGGERS = ("urllib3", "websockets")
# apprise logs the URLs it was given (their tokens) at TRACE and DEBUG, and an unparseable one
# whole at ERROR: it stays at WARNING, and the notifier redacts its records (streaming.notify).
QUIET_LOGGERS = {"apprise": logging.WARNING}


def configure_logging(level: str = "INFO") -> None:
    """Idempotent root logging setup for the CLI and the worker."""
    global _CONFIGURED
    for name in VERBATIM_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO)
    for name, quiet in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(quiet)
    if _CONFIGURED:
        logging.getLogger().setLevel(level)
        return
    logging.basicConfig(
        level=level,
        format="%(asctime)s level=%(levelname)s logger=%(name)s %(message)s",
    )
    _CONFIGURED = True


def _fmt(value: Any) -> str:
    text = str(value)
    return f'"{text}"' if (" " in text or not text) else text


def kv(message: str, **fields: Any) -> str:
    """Render `message key=value ...` with stable field order."""
    parts = [f'msg="{message}"']
    parts.extend(f"{key}={_fmt(val)}" for key, val in fields.items() if val is not None)
    return " ".join(parts)


def log_kv(logger: logging.Logger, level: int, message: str, **fields: Any) -> None:
    if logger.isEnabledFor(level):
        logger.log(level, kv(message, **fields))
