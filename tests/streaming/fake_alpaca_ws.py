"""A local websocket server speaking Alpaca's stream frames, for the real alpaca-py clients.

Market data: msgpack frames (connected, authenticated, subscription, quotes with `t` as a msgpack
Timestamp, ext type -1). Trade updates: JSON frames (authorization, listening, trade_updates).
Frames to push are queued with `push_quote` / `push_trade_update` once a client has subscribed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from datetime import datetime
from typing import Any

import msgpack
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed


class FakeAlpacaStreams:
    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._queues: dict[str, asyncio.Queue[bytes | str]] = {}
        self.subscribed = {"data": threading.Event(), "trading": threading.Event()}
        self.later_quote_subscriptions: list[str] = []
        self.auth_seen: list[Any] = []
        self.trading_sockets: list[ServerConnection] = []  # every trade-update connection
        self.port = 0

    def start(self) -> FakeAlpacaStreams:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(5)
        return self

    async def _serve(self) -> None:
        self._queues = {"data": asyncio.Queue(), "trading": asyncio.Queue()}
        self._server = await serve(self._handle, "127.0.0.1", 0)
        self.port = next(iter(self._server.sockets)).getsockname()[1]

    @property
    def data_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v2/iex"

    @property
    def trading_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/stream"

    async def _handle(self, ws: ServerConnection) -> None:
        path = ws.request.path if ws.request else ""
        if path.startswith("/v2/"):
            await self._data(ws)
        else:
            await self._trading(ws)

    async def _pump(self, ws: ServerConnection, kind: str) -> None:
        queue = self._queues[kind]
        while True:
            await ws.send(await queue.get())

    async def _data(self, ws: ServerConnection) -> None:
        await ws.send(msgpack.packb([{"T": "success", "msg": "connected"}]))
        auth = msgpack.unpackb(await ws.recv())
        self.auth_seen.append(auth)
        await ws.send(msgpack.packb([{"T": "success", "msg": "authenticated"}]))
        sub = msgpack.unpackb(await ws.recv())
        await ws.send(
            msgpack.packb(
                [{"T": "subscription", "trades": [], "quotes": sub.get("quotes", []), "bars": []}]
            )
        )
        self.subscribed["data"].set()
        await self._stream_until_closed(ws, "data")

    async def _stream_until_closed(self, ws: ServerConnection, kind: str) -> None:
        """Push queued frames until the client goes away, so no handler is ever left pending
        (the server can then close cleanly)."""
        tasks = {
            asyncio.create_task(self._pump(ws, kind)),
            asyncio.create_task(self._read_until_closed(ws, kind)),
        }
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _read_until_closed(self, ws: ServerConnection, kind: str) -> None:
        """Client frames while streaming: market-data subscribe frames are recorded (a bridge
        following new symbols); anything else is ignored."""
        with contextlib.suppress(ConnectionClosed):
            async for frame in ws:
                if kind != "data":
                    continue
                message = msgpack.unpackb(frame)
                if isinstance(message, dict) and message.get("action") == "subscribe":
                    self.later_quote_subscriptions.extend(message.get("quotes", []))

    async def _trading(self, ws: ServerConnection) -> None:
        auth = json.loads(await ws.recv())
        self.auth_seen.append(auth)
        await ws.send(
            json.dumps(
                {
                    "stream": "authorization",
                    "data": {"status": "authorized", "action": "authenticate"},
                }
            )
        )
        json.loads(await ws.recv())  # listen
        await ws.send(json.dumps({"stream": "listening", "data": {"streams": ["trade_updates"]}}))
        self.trading_sockets.append(ws)
        self.subscribed["trading"].set()
        await self._stream_until_closed(ws, "trading")

    def _put(self, kind: str, frame: bytes | str) -> None:
        self._loop.call_soon_threadsafe(self._queues[kind].put_nowait, frame)

    def push_quote(self, symbol: str, bid: float, ask: float, at: datetime) -> None:
        frame = {
            "T": "q",
            "S": symbol,
            "bp": bid,
            "bs": 1,
            "ap": ask,
            "as": 2,
            "bx": "V",
            "ax": "V",
            "c": ["R"],
            "z": "C",
            "t": msgpack.Timestamp.from_datetime(at),
        }
        self._put("data", msgpack.packb([frame], datetime=False))

    def push_trade_update(self, data: dict[str, Any]) -> None:
        self._put("trading", json.dumps({"stream": "trade_updates", "data": data}))

    def drop_trading(self) -> None:
        """Close the live trade-update connections (a network blip): the client reconnects."""

        async def _drop() -> None:
            for ws in self.trading_sockets:
                await ws.close()

        asyncio.run_coroutine_threadsafe(_drop(), self._loop).result(5)

    def poke(self) -> None:
        """A harmless frame on both streams: wakes a client blocked in recv so it sees a stop
        request at once (alpaca-py checks for one only between frames or every 5 s)."""
        self._put("data", msgpack.packb([{"T": "subscription", "quotes": []}]))
        self._put("trading", json.dumps({"stream": "listening", "data": {"streams": []}}))

    def stop(self) -> None:
        async def _close() -> None:
            self._server.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 2)

        asyncio.run_coroutine_threadsafe(_close(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
