import logging
import os
import socket
from pathlib import Path

import pytest
import redis

from position_manager.config import load_settings
from position_manager.errors import RedisUnavailableError
from position_manager.local_redis import (
    RedisServer,
    ensure_redis,
    find_redis_server_binary,
    free_port,
)


def test_session_redis_supports_streams_and_xautoclaim(redis_client: redis.Redis) -> None:
    redis_client.xgroup_create("s", "g", id="0", mkstream=True)
    redis_client.xadd("s", {"a": "1"})
    redis_client.xreadgroup("g", "c1", {"s": ">"}, count=1)
    _next, claimed, *_ = redis_client.xautoclaim("s", "g", "c2", min_idle_time=0)
    assert [fields for _id, fields in claimed] == [{b"a": b"1"}]


def test_binary_is_found() -> None:
    assert find_redis_server_binary().exists()


def test_ensure_redis_starts_a_server_when_none_answers(tmp_path: Path) -> None:
    settings = load_settings(redis_port=free_port(), data_dir=tmp_path)
    url, server = ensure_redis(settings)
    try:
        assert server is not None
        assert redis.Redis.from_url(url).ping()
        assert (tmp_path / "redis").is_dir()
    finally:
        assert server is not None
        server.stop()


def test_ensure_redis_uses_a_server_that_answers(redis_server: RedisServer, tmp_path: Path) -> None:
    settings = load_settings(redis_port=redis_server.port, data_dir=tmp_path)
    url, server = ensure_redis(settings)
    assert server is None
    assert str(redis_server.port) in url


def test_unreachable_redis_url_is_a_clear_error(tmp_path: Path) -> None:
    settings = load_settings(redis_url=f"redis://127.0.0.1:{free_port()}/0", data_dir=tmp_path)
    with pytest.raises(RedisUnavailableError, match="REDIS_URL"):
        ensure_redis(settings)


def test_embedded_off_and_nothing_listening_is_a_clear_error(tmp_path: Path) -> None:
    settings = load_settings(redis_port=free_port(), redis_embedded=False, data_dir=tmp_path)
    with pytest.raises(RedisUnavailableError, match="REDIS_EMBEDDED"):
        ensure_redis(settings)


def test_server_context_manager_stops_the_process(tmp_path: Path) -> None:
    server = RedisServer(port=free_port(), directory=tmp_path)
    with server:
        assert server.process is not None
        proc = server.process
    assert proc.poll() is not None


def test_ensure_redis_starts_on_the_configured_port_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    caplog.set_level(logging.INFO, logger="position_manager.local_redis")
    url, server = ensure_redis(load_settings(redis_port=port, data_dir=tmp_path))
    try:
        assert server is not None and server.port == port and f":{port}" in url
        assert f"port={port}" in caplog.text and "embedded redis-server started" in caplog.text
    finally:
        assert server is not None
        server.stop()


def test_a_configured_port_held_by_something_else_is_refused_not_moved(tmp_path: Path) -> None:
    """A listener that is not Redis holds REDIS_PORT: no server on another port that the
    worker and the Dagster UI would never find, but an error naming the port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        settings = load_settings(redis_port=port, data_dir=tmp_path)
        with pytest.raises(RedisUnavailableError, match=f"REDIS_PORT {port} .* not a usable Redis"):
            ensure_redis(settings)
    assert not (tmp_path / "redis").exists()


def test_a_server_can_join_a_process_group(tmp_path: Path) -> None:
    with RedisServer(port=free_port(), directory=tmp_path, process_group=0) as server:
        assert server.process is not None
        pid = server.process.pid
        assert os.getpgid(pid) == pid != os.getpgid(0)
        assert os.getsid(pid) == os.getsid(0)  # same session: other children can join it
