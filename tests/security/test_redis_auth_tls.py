"""Redis with a password (`requirepass`, loopback) and over TLS: the worker process, a Dagster
job and the pipelines' Redis resource connect with REDIS_PASSWORD or with the password in
REDIS_URL; a wrong password is a clear error that names the problem, never the password, and
never a reason to start an open Redis beside the protected one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
import redis

from pipelines.history.jobs import ingest_position_history
from pipelines.resources import PipelineConfigResource, RedisResource, embedded_resources
from position_manager import events
from position_manager.config import load_settings
from position_manager.errors import RedisAuthError, RedisUnavailableError
from position_manager.local_redis import RedisServer, ensure_redis, free_port
from position_manager.redis_url import configured_url, url_with_password
from simulator.config import SimulatorConfig
from tests.support.tls import TlsFront, self_signed_certificate
from tests.support.worker_process import run_worker_to_exit, run_worker_until_beating, worker_env
from warehouse.connection import open_warehouse

# Characters that mean something in a URL: the password must be percent-encoded to survive.
PASSWORD = "pm test/p@ss#word:%2F ok"
WRONG = "not-the-password-7c1e"


@pytest.fixture
def protected(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(port=free_port(), directory=tmp_path / "redis-pw", password=PASSWORD)
    with server.start(appendonly=False):
        yield server


def _client(server: RedisServer) -> redis.Redis:
    return redis.Redis(port=server.port, password=PASSWORD)


def test_the_protected_server_refuses_a_client_without_the_password(
    protected: RedisServer,
) -> None:
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=protected.port).ping()
    assert _client(protected).ping()


@pytest.mark.parametrize("style", ["REDIS_PASSWORD", "REDIS_URL"])
def test_the_worker_process_connects_with_the_password(
    protected: RedisServer, tmp_path: Path, style: str
) -> None:
    if style == "REDIS_PASSWORD":
        given = {"REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(protected.port)}
        given["REDIS_PASSWORD"] = PASSWORD
    else:
        given = {"REDIS_URL": url_with_password("127.0.0.1", protected.port, PASSWORD)}
    env = worker_env(tmp_path / "data", REDIS_EMBEDDED="false", BROKER="simulator", **given)
    run = run_worker_until_beating(env, _client(protected))
    assert run.returncode == 0, run.output
    assert PASSWORD not in run.output
    # The simulator the worker started used the password too: its quote consumer's group is
    # there (created first thing at its start, before the worker's scan could reach it). Not
    # its order updates: outside the regular session the startup stops rest `accepted`, which
    # Alpaca sends no trade update for, so that proof held only while New York was open.
    groups = {g["name"] for g in _client(protected).xinfo_groups(events.QUOTES_STREAM)}
    assert SimulatorConfig().quote_group.encode() in groups


def test_a_dagster_job_reads_the_streams_with_redis_password(
    protected: RedisServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("REDIS_HOST", "127.0.0.1")
    monkeypatch.setenv("REDIS_PORT", str(protected.port))
    monkeypatch.setenv("REDIS_PASSWORD", PASSWORD)
    settings = load_settings(data_dir=tmp_path / "data")
    opened = {"symbol": "AAPL", "quantity": "10", "entry_price": "100", "side": "long",
              "position_key": "AAPL-l-0123456789"}  # fmt: skip
    events.publish(_client(protected), events.POSITION_OPENED, opened)
    with dg.instance_for_test() as instance:
        result = ingest_position_history.execute_in_process(
            resources=embedded_resources(settings), instance=instance
        )
    assert result.success
    with open_warehouse(settings.warehouse_path, read_only=True) as conn:
        assert conn.execute("SELECT symbol FROM position_events").fetchall() == [("AAPL",)]


def test_the_pipelines_redis_resource_connects_with_the_password_in_redis_url(
    protected: RedisServer,
) -> None:
    url = url_with_password("127.0.0.1", protected.port, PASSWORD)
    resource = RedisResource(
        pm_config=PipelineConfigResource(settings_overrides={"redis_url": url})
    )
    with resource.get_client() as client:
        assert client.ping()


def test_a_wrong_password_is_a_clear_error_naming_the_problem_not_the_password(
    protected: RedisServer, tmp_path: Path
) -> None:
    by_password = load_settings(
        redis_host="127.0.0.1",
        redis_port=protected.port,
        redis_password=WRONG,
        data_dir=tmp_path / "a",
    )
    by_url = load_settings(
        redis_url=url_with_password("127.0.0.1", protected.port, WRONG), data_dir=tmp_path / "b"
    )
    for settings in (by_password, by_url):
        with pytest.raises(RedisAuthError) as caught:
            ensure_redis(settings)
        text = str(caught.value)
        assert "refused our credentials" in text and "REDIS_PASSWORD" in text
        assert f"127.0.0.1:{protected.port}" in text
        assert WRONG not in text and PASSWORD not in text
        # Not a reason to start an open embedded Redis on another port (it used to be).
        assert not (settings.data_dir / "redis").exists()
    resource = RedisResource(pm_config=PipelineConfigResource(
        settings_overrides={"redis_url": url_with_password("127.0.0.1", protected.port, WRONG)}
    ))  # fmt: skip
    with (
        pytest.raises(RedisAuthError, match="refused our credentials") as caught,
        resource.get_client(),
    ):
        pass
    assert WRONG not in str(caught.value)


def test_the_worker_process_with_a_wrong_password_exits_1_saying_why(
    protected: RedisServer, tmp_path: Path
) -> None:
    env = worker_env(
        tmp_path / "data",
        REDIS_HOST="127.0.0.1",
        REDIS_PORT=str(protected.port),
        REDIS_PASSWORD=WRONG,
        BROKER="simulator",
    )
    run = run_worker_to_exit(env)
    assert run.returncode == 1, run.output
    assert "refused our credentials" in run.output
    assert WRONG not in run.output and "Traceback" not in run.output


def test_an_embedded_redis_started_with_redis_password_requires_it(tmp_path: Path) -> None:
    port = free_port()
    settings = load_settings(redis_port=port, redis_password=PASSWORD, data_dir=tmp_path)
    url, server = ensure_redis(settings)
    assert server is not None
    try:
        assert server.port == port  # the configured port, so the UI and the worker share it
        assert redis.Redis.from_url(url).ping()
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=port).ping()
        cmdline = (
            Path(f"/proc/{server.process.pid}/cmdline").read_bytes() if server.process else b""
        )
        assert PASSWORD.encode() not in cmdline  # given on stdin, not in `ps` for all to read
    finally:
        server.stop()


# --- TLS ------------------------------------------------------------------------------------
def _rediss(port: int) -> str:
    return url_with_password("127.0.0.1", port, PASSWORD).replace("redis://", "rediss://", 1)


def test_rediss_with_the_ca_setting_connects_over_tls(
    protected: RedisServer, tmp_path: Path
) -> None:
    certificate = self_signed_certificate(tmp_path)
    with TlsFront(certificate, protected.port) as front:
        settings = load_settings(
            redis_url=_rediss(front.port),
            redis_ca_cert=str(certificate.cert),
            data_dir=tmp_path / "data",
        )
        url, server = ensure_redis(settings)
        assert server is None
        client = redis.Redis.from_url(url)
        assert client.connection_pool.connection_class is redis.SSLConnection
        assert client.set("over-tls", "yes") and _client(protected).get("over-tls") == b"yes"
        assert front.handshakes_failed == 0


def test_the_worker_process_runs_over_rediss(protected: RedisServer, tmp_path: Path) -> None:
    certificate = self_signed_certificate(tmp_path)
    with TlsFront(certificate, protected.port) as front:
        url = _rediss(front.port)
        env = worker_env(
            tmp_path / "data",
            REDIS_URL=url,
            REDIS_CA_CERT=str(certificate.cert),
            BROKER="simulator",
        )
        run = run_worker_until_beating(env, _client(protected))
    assert run.returncode == 0, run.output
    assert front.handshakes_failed == 0


def test_rediss_with_a_certificate_from_another_ca_is_refused_as_a_tls_failure(
    protected: RedisServer, tmp_path: Path
) -> None:
    served = self_signed_certificate(tmp_path, "served")
    other = self_signed_certificate(tmp_path, "other")
    with TlsFront(served, protected.port) as front:
        url = _rediss(front.port)
        settings = load_settings(redis_url=url, redis_ca_cert=str(other.cert), data_dir=tmp_path)
        with pytest.raises(RedisUnavailableError, match="TLS handshake") as caught:
            ensure_redis(settings)
    assert PASSWORD not in str(caught.value)


def test_redis_ca_cert_without_a_rediss_url_is_a_config_error(tmp_path: Path) -> None:
    from position_manager.errors import ConfigError

    with pytest.raises(ConfigError, match="REDIS_CA_CERT"):
        load_settings(redis_ca_cert=str(tmp_path / "ca.pem"), redis_url="redis://127.0.0.1:1/0")


def test_the_ca_setting_travels_in_the_url_every_client_is_built_from(tmp_path: Path) -> None:
    settings = load_settings(
        redis_url="rediss://:pw@127.0.0.1:6380/0?socket_timeout=3",
        redis_ca_cert=str(tmp_path / "ca.pem"),
    )
    pool = redis.Redis.from_url(configured_url(settings)).connection_pool
    assert pool.connection_class is redis.SSLConnection
    assert pool.connection_kwargs["ssl_ca_certs"] == str(tmp_path / "ca.pem")
    assert pool.connection_kwargs["socket_timeout"] == 3.0
