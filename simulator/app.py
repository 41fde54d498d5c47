"""The HTTP face of the simulator: Alpaca's v2 trading + market-data subset, plus `/sim/*` controls.

Every `/v2` request is counted, authenticated with Alpaca's headers, rate limited per key (429 with
X-RateLimit-* headers) and passed through the fault injector before it reaches the engine.
`/sim/*` routes (quotes, clock, faults, seeding, stats, book) are neither limited nor faulted,
nor authenticated: they exist only when `SimulatorConfig.control_endpoints` asks for them (else
404).
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from position_manager.market_calendar import market_days, next_regular
from position_manager.moving_window import MovingWindow
from position_manager.sample_data import SAMPLE_BOOK
from simulator import serialize
from simulator.activities import activities_page
from simulator.bars import bars_page
from simulator.core import Simulator
from simulator.faults import FaultAction
from simulator.minute_bars import MINUTE_TIMEFRAMES, minute_bars_page
from simulator.order_rules import INVALID, RATE_LIMITED, SimApiError, decimal_field
from simulator.snapshot import book_to_json

Handler = Callable[[Request, Simulator], Any]


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    text = json.dumps(body, default=lambda v: format(v, "f") if isinstance(v, Decimal) else str(v))
    return Response(text, status_code=status, media_type="application/json", headers=headers)


def _error(status: int, code: int, message: str, **extra: Any) -> Response:
    return _json({"code": code, "message": message, **extra}, status)


async def _body(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        return {}
    try:
        return json.loads(raw, parse_float=Decimal)
    except json.JSONDecodeError:
        raise SimApiError(400, INVALID, "request body is not valid JSON") from None


def _when(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise SimApiError(422, INVALID, f"invalid timestamp {value!r}") from None


def rate_limit_headers(limiter: MovingWindow, *, wait: float) -> dict[str, str]:
    """Alpaca's budget headers (`docs/alpaca-notes.md`, "Rate limit"; the OpenAPI specs'
    `ratelimit_*` headers, on 200s, 4xx and 429s alike): the limit per minute, what remains,
    and "the UNIX epoch when the remaining quota changes" (`wait` seconds from now, rounded up
    to whole seconds as the spec's integer)."""
    return {
        "X-RateLimit-Limit": str(limiter.limit),
        "X-RateLimit-Remaining": str(limiter.remaining()),
        "X-RateLimit-Reset": str(math.ceil(time.time() + wait)),
    }


def api(sim: Simulator, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Wrap an Alpaca endpoint: count, authenticate, rate-limit, inject faults, map errors."""

    async def endpoint(request: Request) -> Response:
        route = f"{request.method} {request.url.path}"
        sim.count(route)
        key = request.headers.get("APCA-API-KEY-ID")
        secret = request.headers.get("APCA-API-SECRET-KEY")
        if key != sim.config.api_key or secret != sim.config.secret_key:
            return _error(401, 40110000, "request is not authorized")
        sim.note_arrival(key)
        limiter = sim.limiter_for(key)
        if not limiter.try_acquire():
            sim.count_extra("rate_limited")
            headers = rate_limit_headers(limiter, wait=limiter.seconds_until_free())
            return _json({"code": RATE_LIMITED, "message": "too many requests"}, 429, headers)
        headers = rate_limit_headers(limiter, wait=limiter.seconds_until_change())
        action = sim.faults.decide(route)
        if sim.faults.latency_seconds:
            await asyncio.sleep(sim.faults.latency_seconds)
        if action is FaultAction.ERROR:
            sim.count_extra("faults_error")
            status = sim.faults.error_status
            return _json({"code": status * 100000, "message": "injected fault"}, status)
        try:
            result = handler(request, sim)
            if asyncio.iscoroutine(result):
                result = await result
            response = result if isinstance(result, Response) else _json(result)
        except SimApiError as exc:
            response = _json(exc.body(), exc.status)
        response.headers.update(headers)
        if action is FaultAction.DROP:
            sim.count_extra("faults_dropped")
            await asyncio.sleep(sim.faults.hang_seconds)
        return response

    return endpoint


# --- Alpaca endpoints ------------------------------------------------------------------------
def get_account(request: Request, sim: Simulator) -> dict[str, Any]:
    book = sim.engine.book
    n = sim.engine.account_numbers()
    f = serialize.num
    return {
        "id": book.account_id,
        "account_number": book.account_number,
        "status": "ACTIVE",
        "crypto_status": "INACTIVE",
        "currency": "USD",
        "cash": f(n["cash"]),
        "buying_power": f(n["buying_power"]),
        "regt_buying_power": f(n["buying_power"]),
        "daytrading_buying_power": "0",
        "non_marginable_buying_power": f(max(n["cash"], Decimal(0))),
        "options_buying_power": f(max(n["cash"], Decimal(0))),
        "portfolio_value": f(n["equity"]),
        "equity": f(n["equity"]),
        "last_equity": f(n["last_equity"]),
        "long_market_value": f(n["long_market_value"]),
        "short_market_value": f(n["short_market_value"]),
        "initial_margin": f(n["initial_margin"]),
        "maintenance_margin": f(n["initial_margin"]),
        "last_maintenance_margin": f(n["initial_margin"]),
        "multiplier": f(n["multiplier"]),
        "sma": "0",
        "accrued_fees": "0",
        "pending_transfer_in": "0",
        "pending_transfer_out": "0",
        "daytrade_count": 0,
        "pattern_day_trader": False,
        "shorting_enabled": True,
        "trading_blocked": False,
        "transfers_blocked": False,
        "account_blocked": False,
        "trade_suspended_by_user": False,
        "options_approved_level": 0,
        "options_trading_level": 0,
        "created_at": serialize.ts(book.created_at),
    }


def get_clock(request: Request, sim: Simulator) -> dict[str, Any]:
    now = sim.clock.now()
    next_open, next_close = next_regular(now)
    return serialize.clock_json(now, sim.session().value == "REGULAR", next_open, next_close)


def get_calendar(request: Request, sim: Simulator) -> list[dict[str, str]]:
    today = sim.clock.now().date()
    start = request.query_params.get("start")
    end = request.query_params.get("end")
    first = datetime.fromisoformat(start).date() if start else today
    last = datetime.fromisoformat(end).date() if end else first + timedelta(days=366)
    return [serialize.calendar_json(day) for day in market_days(first, last)]


def _position_body(sim: Simulator, symbol: str) -> dict[str, Any]:
    engine = sim.engine
    position = engine.book.positions[symbol]
    closing = "sell" if position.qty > 0 else "buy"
    price = engine.mark(symbol) or position.avg_entry_price
    return serialize.position_json(position, price, engine.held_for_orders(symbol, closing))


def list_positions(request: Request, sim: Simulator) -> list[dict[str, Any]]:
    with sim.engine.lock:
        return [_position_body(sim, s) for s in sorted(sim.engine.book.positions)]


def get_position(request: Request, sim: Simulator) -> dict[str, Any]:
    symbol = request.path_params["symbol"].upper()
    with sim.engine.lock:
        if symbol not in sim.engine.book.positions:
            raise SimApiError(404, 40410000, "position does not exist")
        return _position_body(sim, symbol)


def close_position(request: Request, sim: Simulator) -> dict[str, Any]:
    params = dict(request.query_params)
    order = sim.engine.close_position(
        request.path_params["symbol"].upper(),
        qty=decimal_field(params, "qty"),
        percentage=decimal_field(params, "percentage"),
    )
    return sim.engine.order_body(order)


def list_orders(request: Request, sim: Simulator) -> list[dict[str, Any]]:
    q = request.query_params
    try:
        limit = int(q.get("limit") or 50)
    except ValueError:
        raise SimApiError(422, INVALID, "limit must be an integer") from None
    if not 1 <= limit <= 500:
        raise SimApiError(422, INVALID, "limit must be between 1 and 500")
    symbols = [s.strip().upper() for s in q.get("symbols", "").split(",") if s.strip()]
    orders = sim.engine.list_orders(
        status=q.get("status") or "open",
        limit=limit,
        after=_when(q.get("after")),
        until=_when(q.get("until")),
        direction=q.get("direction") or "desc",
        symbols=symbols or None,
        side=q.get("side"),
    )
    return [sim.engine.order_body(o) for o in orders]


async def submit_order(request: Request, sim: Simulator) -> dict[str, Any]:
    body = await _body(request)
    return sim.engine.order_body(sim.engine.submit(body))


def get_order_by_client_id(request: Request, sim: Simulator) -> dict[str, Any]:
    client_order_id = request.query_params.get("client_order_id", "")
    return sim.engine.order_body(sim.engine.get_by_client_id(client_order_id))


def get_order(request: Request, sim: Simulator) -> dict[str, Any]:
    return sim.engine.order_body(sim.engine.get_order(request.path_params["order_id"]))


async def replace_order(request: Request, sim: Simulator) -> dict[str, Any]:
    body = await _body(request)
    return sim.engine.order_body(sim.engine.replace(request.path_params["order_id"], body))


def cancel_order(request: Request, sim: Simulator) -> Response:
    sim.engine.cancel(request.path_params["order_id"])
    return Response(status_code=204)


def get_latest_trades(request: Request, sim: Simulator) -> dict[str, Any]:
    symbols = [s for s in request.query_params.get("symbols", "").split(",") if s]
    if not symbols:
        raise SimApiError(400, INVALID, "symbols is required")
    return sim.latest_trades.body(symbols)


def list_activities(request: Request, sim: Simulator) -> list[dict[str, Any]]:
    with sim.engine.lock:
        fills = list(sim.engine.book.fills)
    return activities_page(request.path_params["activity_type"], fills, request.query_params)


def get_bars(request: Request, sim: Simulator) -> dict[str, Any]:
    if request.query_params.get("timeframe") in MINUTE_TIMEFRAMES:
        return minute_bars_page(
            dict(request.query_params),
            sim.clock.now(),
            sim.played_minutes,
            sim.config.max_bars_page,
        )
    return bars_page(
        dict(request.query_params),
        sim.clock.now(),
        sim.config.max_bars_page,
        sim.played_bars,
        sim.config.bar_universe,
    )


# --- /sim controls ---------------------------------------------------------------------------
def control(sim: Simulator, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            result = handler(request, sim)
            if asyncio.iscoroutine(result):
                result = await result
            return result if isinstance(result, Response) else _json(result)
        except SimApiError as exc:
            return _json(exc.body(), exc.status)
        except (ValueError, KeyError, TypeError, ArithmeticError) as exc:
            return _error(400, INVALID, f"bad control request: {exc}")

    return endpoint


async def sim_quotes(request: Request, sim: Simulator) -> dict[str, Any]:
    body = await _body(request)
    quotes = body if isinstance(body, list) else [body]
    for quote in quotes:
        sim.feed_quote(
            str(quote["symbol"]),
            quote["bid"],
            quote["ask"],
            quote.get("last"),
            _when(quote.get("timestamp")),
        )
    return {"accepted": len(quotes)}


async def sim_faults(request: Request, sim: Simulator) -> dict[str, Any]:
    if request.method == "DELETE":
        sim.clear_faults()
    elif request.method == "POST":
        sim.set_faults(**(await _body(request)))
    return sim.faults.snapshot()


async def sim_clock(request: Request, sim: Simulator) -> dict[str, Any]:
    if request.method == "POST":
        body = await _body(request)
        if body.get("time") or body.get("speed") is not None:
            speed = body.get("speed")
            sim.set_clock(_when(body.get("time")), None if speed is None else float(speed))
        if body.get("advance_seconds"):
            sim.advance_clock(float(body["advance_seconds"]))
    return {
        "time": sim.clock.now().isoformat(),
        "session": sim.session().value,
        "speed": sim.clock.speed,
        "real_time": sim.clock.is_real,
    }


async def sim_seed(request: Request, sim: Simulator) -> dict[str, Any]:
    body = await _body(request)
    book = [(s, Decimal(str(q)), Decimal(str(p))) for s, q, p in body.get("book") or SAMPLE_BOOK]
    marks = {k: Decimal(str(v)) for k, v in (body.get("marks") or {}).items()}
    sim.seed_positions(book, marks)
    return {"positions": len(sim.engine.book.positions)}


def sim_stats(request: Request, sim: Simulator) -> dict[str, Any]:
    if request.method == "POST":
        sim.reset_stats()
    return {
        "requests": 0,
        "peak_requests_per_window": 0,
        **sim.stats,
        "rate_window_seconds": sim.config.rate_window_seconds,
    }


def sim_book(request: Request, sim: Simulator) -> Response:
    """The whole book (orders of every status, positions, cash) in the snapshot's format, read
    under the engine's lock: what an outside observer (the chaos run) samples without spending
    the account's rate budget or being faulted."""
    with sim.engine.lock:
        text = book_to_json(sim.engine.book)
    return Response(text, media_type="application/json")


def sim_health(request: Request, sim: Simulator) -> dict[str, Any]:
    """What answers on this port, for `simulator.embedded`'s probe. Always served, never counted,
    limited or faulted: a process looking for the machine's simulator while the broker is faulted
    or its budget spent must still find it (else it binds the taken port and dies), and the probe
    must not spend the account's budget. It says nothing but that it is a simulator."""
    return {"simulator": "position-manager"}


def sim_reset(request: Request, sim: Simulator) -> dict[str, Any]:
    sim.engine.reset()
    sim.reset_stats()
    return {"reset": True}


def build_app(sim: Simulator) -> Starlette:
    def a(path: str, handler: Handler, methods: list[str]) -> Route:
        return Route(path, api(sim, handler), methods=methods)

    def c(path: str, handler: Handler, methods: list[str]) -> Route:
        return Route(path, control(sim, handler), methods=methods)

    routes = [
        a("/v2/account", get_account, ["GET"]),
        a("/v2/clock", get_clock, ["GET"]),
        a("/v2/calendar", get_calendar, ["GET"]),
        a("/v2/positions", list_positions, ["GET"]),
        a("/v2/positions/{symbol}", get_position, ["GET"]),
        a("/v2/positions/{symbol}", close_position, ["DELETE"]),
        a("/v2/orders", list_orders, ["GET"]),
        a("/v2/orders", submit_order, ["POST"]),
        a("/v2/orders:by_client_order_id", get_order_by_client_id, ["GET"]),
        a("/v2/orders/{order_id}", get_order, ["GET"]),
        a("/v2/orders/{order_id}", replace_order, ["PATCH"]),
        a("/v2/orders/{order_id}", cancel_order, ["DELETE"]),
        a("/v2/account/activities/{activity_type}", list_activities, ["GET"]),
        a("/v2/stocks/bars", get_bars, ["GET"]),
        a("/v2/stocks/trades/latest", get_latest_trades, ["GET"]),
    ]
    controls = [
        c("/sim/quotes", sim_quotes, ["POST"]),
        c("/sim/faults", sim_faults, ["GET", "POST", "DELETE"]),
        c("/sim/clock", sim_clock, ["GET", "POST"]),
        c("/sim/seed", sim_seed, ["POST"]),
        c("/sim/stats", sim_stats, ["GET", "POST"]),
        c("/sim/book", sim_book, ["GET"]),
        c("/sim/reset", sim_reset, ["POST"]),
    ]
    routes.append(c("/sim/health", sim_health, ["GET"]))
    return Starlette(routes=routes + controls if sim.config.controls_on() else routes)
