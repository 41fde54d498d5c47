"""Running an alpaca-py stream client (its own asyncio loop) on a daemon thread."""

from __future__ import annotations

import logging
import threading
from typing import Any, Self

log = logging.getLogger(__name__)


class StreamThread:
    """`start()` runs `self.stream.run` on a thread; `stop()` asks the stream to stop, joins."""

    stream: Any
    thread_name = "stream-bridge"

    def start(self) -> Self:
        self._thread = threading.Thread(target=self.stream.run, name=self.thread_name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        try:
            self.stream.stop()
        except Exception:
            log.debug("%s stop", self.thread_name, exc_info=True)
        self._thread.join(timeout=5)
