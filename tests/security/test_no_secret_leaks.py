"""No secret leaks: sentinel secrets (Alpaca key id and secret, a Redis password, an Alpha
Vantage key, and a wrong Redis password) go into the environment, the real system runs a day
that also provokes its errors, and then every place it writes is searched for each sentinel,
raw, percent-encoded, repr-escaped and base64-encoded (see `leak_scan`):

- every log record (caplog at DEBUG, the worker's LOG_LEVEL=DEBUG), captured stdout/stderr and
  the output of a `python -m app.worker` process;
- every Redis key name and value of every type, in every database;
- every row of every DuckDB table and view;
- every file under the data directory (the Redis append-only file and log, the simulator's
  snapshot, the Alpha Vantage cache, the Dagster instance's SQLite storage);
- the text of every exception the scenario sees, with everything chained to it;
- the command line of the password-protected redis-server.

The day: a worker on a password-protected Redis, against the simulator speaking with the
sentinel Alpaca keys; quotes that trail a stop; a profit exit; broker faults (401, 403, 429,
500, 503) on the worker's orders and on direct calls; malformed messages (dead letters); Alpha
Vantage unreachable, answering HTTP 500, and echoing the key in its error note; alerts sent
to ALERT_URLS that fail (HTTP 500, a TLS handshake, a URL apprise cannot parse); the Dagster
chain and the history ingest into DuckDB; `position-manager config`; repr(settings); a bad
setting; a wrong Redis password.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

import dagster as dg
import pytest
import redis
from pydantic import SecretStr
from typer.testing import CliRunner

from app import cli
from pipelines.history.jobs import ingest_position_history
from pipelines.lib.alpha_vantage import AlphaVantageClient
from pipelines.materialize import materialize_everything
from pipelines.resources import resources_for
from position_manager import events
from position_manager.config import Settings, load_settings
from position_manager.local_redis import RedisServer, ensure_redis, free_port
from position_manager.logging import configure_logging
from position_manager.redis_url import url_with_password
from simulator import SimulatorHandle, start_simulator
from simulator.config import EngineConfig, SimulatorConfig
from streaming.bridges.market_data import QuoteBridge
from streaming.bridges.trade_updates import TradeUpdateBridge
from streaming.notify.notifier import build_notifier
from tests.pipelines.av_standin import AlphaVantageStandIn, serve_alpha_vantage
from tests.security.leak_scan import LeakScan, Sentinels
from tests.streaming.fake_alpaca_ws import FakeAlpacaStreams
from tests.support.simulator import REGULAR_AT
from tests.support.waits import wait_until
from tests.support.webhook import Webhook
from tests.support.worker_harness import Harness, risk_params
from tests.support.worker_process import run_worker_until_beating, worker_env

S = Sentinels()
FAULTS = (401, 403, 429, 500, 503)
# One position per fault, each with a stop that the next quote trails: the worker's replace is
# the request that meets the fault.
FAULTED = dict(zip(FAULTS, ("KO", "PEP", "XOM", "CVX", "JNJ"), strict=True))


class Day:
    """The scenario's parts, and every exception it met (for the scan)."""

    def __init__(self, data_dir: Path, redis_server: RedisServer, sim: SimulatorHandle) -> None:
        self.data_dir = data_dir
        self.redis_server = redis_server
        self.sim = sim
        self.client = redis.Redis.from_url(redis_server.url)
        self.exceptions: list[tuple[str, BaseException]] = []
        self.texts: list[tuple[str, str]] = []

    def expect_failure(self, where: str, call: Callable[[], Any]) -> None:
        """Run `call`, which must raise; keep what it raised."""
        try:
            call()
        except Exception as exc:  # every kind is scanned
            self.exceptions.append((where, exc))
        else:
            raise AssertionError(f"{where}: expected an error")


@pytest.fixture
def day(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> Iterator[Day]:
    caplog.set_level(logging.DEBUG)
    data_dir = tmp_path / "data"
    server = RedisServer(
        port=free_port(), directory=data_dir / "redis", password=S.redis_password
    ).start()
    engine = EngineConfig(lifecycle="realistic", accept_latency_s=0.0, fill_latency_s=0.0)
    sim = start_simulator(
        SimulatorConfig(engine=engine),
        api_key=S.alpaca_key_id,
        secret_key=S.alpaca_secret,
        redis_url=server.url,
        rate_limit=100_000,
        clock_start=REGULAR_AT,
        clock_speed=0.0,
        snapshot_path=data_dir / "simulator.json",
    )
    for name in ("REDIS_URL", "BROKER", "ALPHA_VANTAGE_URL"):
        monkeypatch.delenv(name, raising=False)
    webhook = Webhook(statuses=[500]).start()  # every alert delivery fails, and is logged
    env = {
        "ALPACA_API_KEY": S.alpaca_key_id,
        "ALPACA_SECRET_KEY": S.alpaca_secret,
        "ALPACA_BASE_URL": sim.url,
        "ALPACA_DATA_URL": sim.url,
        "REDIS_HOST": "127.0.0.1",
        "REDIS_PORT": str(server.port),
        "REDIS_PASSWORD": S.redis_password,
        "REDIS_EMBEDDED": "false",
        "ALPHA_VANTAGE_API_KEY": S.alpha_vantage_key,
        # Nothing listens there: every Alpha Vantage request fails to connect.
        "ALPHA_VANTAGE_URL": f"http://127.0.0.1:{free_port()}/query",
        "DATA_DIR": str(data_dir),
        "SIMULATOR_PORT": str(free_port()),
        "LOG_LEVEL": "DEBUG",
        "ALERT_URLS": alert_urls(webhook.port),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    configure_logging("DEBUG")  # what LOG_LEVEL=DEBUG does in the worker and the CLI
    the_day = Day(data_dir, server, sim)
    try:
        yield the_day
    finally:
        the_day.client.close()
        sim.stop()
        server.stop()
        webhook.stop()


def alert_urls(port: int) -> str:
    """A webhook with a token in its path and a password (HTTP 500), the same over TLS (the
    handshake fails), and a URL apprise cannot parse (it logs those whole)."""
    password = quote(S.alert_password, safe="")
    return (
        f"json://pm:{password}@127.0.0.1:{port}/hooks/{S.alert_token}, "
        f"jsons://127.0.0.1:{port}/hooks/{S.alert_token} bogus://{S.alert_token}/x"
    )


def notify_a_person(day: Day, settings: Settings) -> None:
    """The alert notifier meets the failing endpoints: retried, then given up, logged."""
    notifier = build_notifier(settings, day.redis_server.url, retry_delays=(0.01,), block_ms=50)
    assert notifier is not None and len(notifier.targets) == 2  # the unparseable one skipped
    notifier.prepare()
    notifier.start()
    try:
        events.publish(
            day.client, events.ALERT_LARGE_LOSS, {"symbol": "AAPL", "message": "AAPL is -16%"}
        )
        wait_until(lambda: notifier.stats.given_up == 2, 30, "the alert was not given up")
    finally:
        notifier.stop()


def trade_the_day(day: Day, settings: Settings) -> None:
    """The worker on the protected Redis, with the sentinel keys: trailing, a profit exit,
    broker faults, malformed messages."""
    sim = day.sim.simulator
    book = {"AAPL": Decimal(100), "NVDA": Decimal(50)} | dict.fromkeys(
        FAULTED.values(), Decimal(10)
    )
    sim.seed_positions(
        [(symbol, qty, Decimal(100)) for symbol, qty in book.items()],
        dict.fromkeys(book, Decimal(100)),
    )
    for symbol in book:
        risk_params(day.client, symbol)
    harness = Harness(settings, day.sim, day.client, day.redis_server.url)
    try:
        harness.start()
        for price in ("104", "108", "112"):
            harness.quote("AAPL", price)  # trails the stop up
        harness.quote("NVDA", "121")  # +21 %: the first profit target sells half
        assert harness.events(events.POSITION_TRAILING_STOP_UPDATED)
        assert harness.events(events.POSITION_PROFIT_TAKING)
        for status, symbol in FAULTED.items():
            sim.set_faults(fail_next=1, error_status=status)
            harness.quote(symbol, "106")  # the trail's replace meets the fault
            assert sim.faults.snapshot()["fail_next"] == 0, f"the {status} was not met"
        sim.clear_faults()
        for status in FAULTS:  # the same faults on direct calls, as a Dagster job sees them
            sim.set_faults(fail_next=1, error_status=status)
            day.expect_failure(
                f"list_positions under {status}", harness.new_broker().list_positions
            )
        sim.clear_faults()
        for fields in (
            {"event": events.QUOTE_UPDATED, "data": "{not json"},
            {"event": events.QUOTE_UPDATED, "data": '{"symbol": "AAPL", "bid": "NaN"}'},
            {b"\xff\xfe": b"\x00binary"},
        ):
            day.client.xadd(events.QUOTES_STREAM, fields)  # type: ignore[arg-type]
        day.client.xadd(events.ORDERS_STREAM, {"event": "order.filled", "data": "[]"})
        harness.settle()
        assert len(harness.dead_letters()) >= 4
    finally:
        harness.close()


def bridge_the_streams(day: Day, settings: Settings) -> None:
    """The live bridges authenticate to Alpaca's websockets with the keys (a local server
    speaking Alpaca's frames stands in): a quote and a fill go through each."""
    assert settings.alpaca_api_key is not None and settings.alpaca_secret_key is not None
    key = settings.alpaca_api_key.get_secret_value()
    secret = settings.alpaca_secret_key.get_secret_value()
    streams = FakeAlpacaStreams().start()
    quotes = QuoteBridge(day.client, key, secret, ["AAPL"], url_override=streams.data_url)
    fills = TradeUpdateBridge(day.client, key, secret, url_override=streams.trading_url)
    try:
        for bridge in (quotes, fills):
            bridge.start()
        assert streams.subscribed["data"].wait(10) and streams.subscribed["trading"].wait(10)
        streams.push_quote("AAPL", 112.0, 112.02, REGULAR_AT)
        streams.push_trade_update({"event": "pending_new", "order": {"id": "o-x"}})
        wait_until(lambda: quotes.published == 1, 10, "the quote bridge published nothing")
    finally:
        for bridge in (quotes, fills):
            bridge.stream.stop()
            streams.poke()
            bridge.stop()
        streams.stop()
    assert secret in repr(streams.auth_seen)  # the keys did travel, to the stand-in


def fail_alpha_vantage(day: Day, settings: Settings, stand_in: AlphaVantageStandIn) -> None:
    """Unreachable (the settings' URL), HTTP 500, and an error note that echoes the key."""
    assert settings.alpha_vantage_api_key is not None
    key = settings.alpha_vantage_api_key.get_secret_value()
    unreachable = AlphaVantageClient(key, settings.alpha_vantage_url, day.data_dir / "av-a")
    day.expect_failure("AV unreachable", lambda: unreachable.earnings_calendar("3month"))
    day.expect_failure("AV unreachable overview", lambda: unreachable.overview("AAPL"))
    stand_in.answer("EARNINGS_CALENDAR", "internal error", status=500)
    stand_in.answer(
        "OVERVIEW", f'{{"Error Message": "Invalid API call for apikey={key}. Please retry."}}'
    )
    answering = AlphaVantageClient(key, stand_in.url, day.data_dir / "av-b")
    day.expect_failure("AV 500", lambda: answering.earnings_calendar("3month"))
    day.expect_failure("AV echoing the key", lambda: answering.overview("AAPL"))


def run_the_pipelines(day: Day, settings: Settings, stand_in: AlphaVantageStandIn) -> None:
    """The Dagster chain (its earnings calendar fails: Alpha Vantage is unreachable; its
    profiles get the echoing note) and the history ingest, on an instance under DATA_DIR."""
    home = day.data_dir / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    with dg.instance_for_test(temp_dir=str(home)) as instance:
        chain = materialize_everything(
            settings,
            redis_url=day.redis_server.url,
            overrides={"alpha_vantage_url": stand_in.url},
            last=REGULAR_AT.date(),
            raise_on_error=False,
            log_level="DEBUG",
            instance=instance,
        )
        assert not chain.success  # the earnings calendar failed, as arranged
        history = ingest_position_history.execute_in_process(
            resources=resources_for(settings), instance=instance
        )
        assert history.success
        for record in instance.get_run_records():
            day.texts.append((f"dagster run {record.dagster_run.job_name}", repr(record)))
            for entry in instance.all_logs(record.dagster_run.run_id):
                day.texts.append(("dagster event", repr(entry)))


def test_no_sentinel_secret_leaks_anywhere(
    day: Day, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    settings = load_settings()
    assert settings.has_alpaca_keys and settings.redis_password is not None
    url, started = ensure_redis(settings)  # connects with the password, starts nothing
    assert started is None and redis.Redis.from_url(url).ping()

    trade_the_day(day, settings)
    bridge_the_streams(day, settings)
    notify_a_person(day, settings)
    with serve_alpha_vantage() as stand_in:
        fail_alpha_vantage(day, settings, stand_in)
        run_the_pipelines(day, settings, stand_in)
    config = CliRunner().invoke(cli.app, ["config"])
    assert config.exit_code == 0 and "ALPACA_API_KEY=**********" in config.output
    assert "ALERT_URLS=**********" in config.output
    day.texts += [("position-manager config", config.output), ("repr(settings)", repr(settings))]
    day.texts += [("str(settings)", str(settings)), ("settings json", settings.model_dump_json())]
    day.expect_failure("a bad setting", lambda: load_settings(profit_target_2="0.1"))
    wrong = settings.model_copy(update={"redis_password": SecretStr(S.wrong_redis_password)})
    day.expect_failure("a wrong Redis password", lambda: ensure_redis(wrong))
    # The worker process, on database 1 of the same server (its own book), through REDIS_URL.
    db1 = url_with_password("127.0.0.1", day.redis_server.port, S.redis_password, db=1)
    worker = run_worker_until_beating(
        worker_env(
            day.data_dir / "worker-process",
            **_keys_of(settings),
            REDIS_URL=db1,
            BROKER="simulator",
            LOG_LEVEL="DEBUG",
        ),
        redis.Redis.from_url(db1),
    )
    assert worker.returncode == 0, worker.output

    scan = LeakScan(S)
    scan.log_records(caplog.records)
    captured = capfd.readouterr()
    scan.add("stdout", "test process", captured.out)
    scan.add("stderr", "test process", captured.err)
    scan.add("stdout", "python -m app.worker", worker.output)
    for where, text in day.texts:
        scan.add("text", where, text)
    for where, exc in day.exceptions:
        scan.exception(where, exc)
    scan.redis_everything(day.redis_server.port, S.redis_password)
    scan.duckdb_everything(settings.warehouse_path)
    scan.files_under(day.data_dir)
    assert day.redis_server.process is not None
    scan.add(
        "argv", "redis-server", Path(f"/proc/{day.redis_server.process.pid}/cmdline").read_bytes()
    )

    print("scanned:", scan.checked)
    hits = scan.hits()
    assert not hits, "secrets found:\n" + "\n".join(f"{w} <- {n} ({f})" for w, n, f in hits)
    # The scan looked where it claims to: each kind of place had something in it.
    for kind in ("log", "exception", "redis key", "redis value", "duckdb row", "file"):
        assert scan.checked.get(kind, 0) > 0, kind
    assert len(day.exceptions) >= len(FAULTS) + 6


def _keys_of(settings: Settings) -> dict[str, str]:
    """The sentinel keys, for the worker process's environment."""
    assert settings.alpaca_api_key is not None and settings.alpaca_secret_key is not None
    assert settings.alpha_vantage_api_key is not None
    return {
        "ALPACA_API_KEY": settings.alpaca_api_key.get_secret_value(),
        "ALPACA_SECRET_KEY": settings.alpaca_secret_key.get_secret_value(),
        "ALPHA_VANTAGE_API_KEY": settings.alpha_vantage_api_key.get_secret_value(),
    }


def test_the_scan_finds_a_planted_secret_in_every_form(tmp_path: Path) -> None:
    """The scanner can fail: each form of each sentinel planted somewhere is reported."""
    scan = LeakScan(S)
    scan.add("log", "raw", f"key={S.alpaca_key_id}")
    scan.add("log", "url", f"redis://:{quote(S.redis_password, safe='')}@h:1/0")
    scan.add("log", "b64", b"Basic " + base64.b64encode(f"user:{S.alpaca_secret}".encode()))
    scan.add("log", "tail", f'> TEXT \'{{"key_id": "...{S.alpaca_key_id[-12:]}"}}\'')
    (tmp_path / "f.json").write_text(repr({"k": S.alpha_vantage_key}))
    scan.files_under(tmp_path)
    found = {(where, name) for where, name, _form in scan.hits()}
    assert found == {
        ("log: raw", "ALPACA_API_KEY"),
        ("log: url", "REDIS_PASSWORD"),
        ("log: b64", "ALPACA_SECRET_KEY"),
        ("log: tail", "ALPACA_API_KEY"),
        ("file: f.json", "ALPHA_VANTAGE_API_KEY"),
    }
