"""One test per leak the sentinel scan (test_no_secret_leaks.py) found, each on its own."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from pipelines.lib.alpha_vantage import AlphaVantageApiError, AlphaVantageClient, AlphaVantageError
from position_manager.config import load_settings
from position_manager.errors import ConfigError
from position_manager.local_redis import free_port
from position_manager.logging import configure_logging
from tests.pipelines.av_standin import serve_alpha_vantage
from tests.security.leak_scan import exception_chain

KEY = "AVKEY0LEAKTEST9"


def test_an_alpha_vantage_note_echoing_the_key_is_quoted_without_it(tmp_path: Path) -> None:
    with serve_alpha_vantage() as stand_in:
        stand_in.answer("OVERVIEW", f'{{"Error Message": "Invalid API call, apikey={KEY}"}}')
        client = AlphaVantageClient(KEY, stand_in.url, tmp_path)
        with pytest.raises(AlphaVantageApiError, match=r"apikey=\*\*\*") as caught:
            client.overview("AAPL")
    assert KEY not in str(caught.value)


def test_an_unreachable_alpha_vantage_error_holds_no_exception_with_the_url(
    tmp_path: Path,
) -> None:
    client = AlphaVantageClient(KEY, f"http://127.0.0.1:{free_port()}/query", tmp_path)
    with pytest.raises(AlphaVantageError, match=r"cannot reach Alpha Vantage \(ConnectionError\)"):
        client.earnings_calendar("3month")
    try:
        client.earnings_calendar("3month")
    except AlphaVantageError as exc:
        chain = list(exception_chain(exc))
    assert len(chain) == 1  # requests' ConnectionError (URL with apikey=) is not its __context__
    assert all(KEY not in str(link) for link in chain)


def test_log_level_debug_keeps_request_lines_and_websocket_frames_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """urllib3's request lines carry Alpha Vantage's apikey=; websockets' frame lines the tail
    of Alpaca's auth frame, i.e. of the secret key."""
    caplog.set_level(logging.DEBUG)
    configure_logging("DEBUG")
    for name in ("urllib3.connectionpool", "websockets.client"):
        assert not logging.getLogger(name).isEnabledFor(logging.DEBUG), name
    assert logging.getLogger("position_manager").isEnabledFor(logging.DEBUG)


def test_a_config_error_carries_no_pydantic_error_showing_the_inputs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ALPACA_API_KEY", "PKLEAKTEST")
    monkeypatch.setenv("ALPACA_SECRET_KEY", "leak-test-secret")
    with pytest.raises(ConfigError) as caught:
        load_settings(profit_target_2="0.1")
    assert caught.value.__context__ is None and caught.value.__cause__ is None
