"""`position-manager notify`: the alert notifier as a process of its own.

The worker runs the notifier on a thread (with ALERT_URLS set); this is for when the worker is
not running: `alert.worker_down` is raised by the Dagster reconciliation job exactly then, so run
`notify` beside `ui` for that alert to reach a person at once. Several notifiers share one
consumer group and one de-duplication key per cause: running both never sends twice.
"""

from __future__ import annotations

import logging
import signal
import threading

from position_manager.config import Settings
from position_manager.errors import PositionManagerError
from position_manager.local_redis import ensure_redis
from position_manager.logging import log_kv
from streaming.notify.notifier import build_notifier, notifier_name

log = logging.getLogger("app.notify")


def run_notifier(settings: Settings, stop: threading.Event | None = None) -> int:
    """Until SIGTERM/SIGINT (or `stop`): 0 on a clean stop, 1 when Redis cannot be reached,
    2 when ALERT_URLS names no usable target."""
    if not settings.alert_url_list:
        log_kv(log, logging.ERROR, "nothing to do: ALERT_URLS is empty")
        return 2
    stop = stop or threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        url, server = ensure_redis(settings)
    except PositionManagerError as exc:
        log_kv(log, logging.ERROR, "notifier failed", error=str(exc))
        return 1
    try:
        notifier = build_notifier(settings, url, consumer_name=notifier_name("notify"))
        if notifier is None:
            return 2  # every URL was refused by apprise (logged by label)
        notifier.start()
        stop.wait()
        notifier.stop()
        return 0
    finally:
        if server is not None:
            server.stop()
