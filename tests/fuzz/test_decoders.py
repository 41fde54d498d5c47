"""Property tests: every decoder of outside input is total. Whatever hypothesis generates, a
decoder returns a record that satisfies its bounds or raises the one error the caller handles
(`InvalidEventError`, `ConfigError`); nothing else escapes, and what is stored of a refused
message (the dead letter) can always be written."""

from __future__ import annotations

import contextlib
import json
import os
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from book import messages
from pipelines.history.rows import (
    WAREHOUSE_DECIMAL_LIMIT,
    PositionLedger,
    alert_row,
    order_row,
    position_row,
)
from position_manager import amounts, events, wire
from position_manager.config import Settings, load_settings
from position_manager.errors import ConfigError, InvalidEventError
from position_manager.events import decode_event
from position_manager.redis_schema import (
    DEAD_LETTER_FIELDS,
    DEAD_LETTER_REASON_CHARS,
    DEAD_LETTER_VALUE_CHARS,
    dead_letter_fields,
)
from tests.fuzz import strategies as fz

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _price_ok(value: Decimal | None) -> bool:
    return value is None or 0 < value <= amounts.MAX_PRICE


def _qty_ok(value: Decimal | None) -> bool:
    return value is None or abs(value) <= amounts.MAX_QUANTITY


@FUZZ
@given(stream=fz.consumed_streams, data=st.data())
def test_decode_event_is_total_on_any_entry(stream: str, data: st.DataObject) -> None:
    fields = data.draw(fz.entries(stream))
    try:
        event = decode_event(fields)
    except InvalidEventError:
        return
    assert isinstance(event.data, dict)
    assert isinstance(event.ts, datetime) and event.ts.tzinfo is not None
    json.dumps(event.data).encode("utf-8")  # text all the way down: storable anywhere


@FUZZ
@given(value=fz.number_values | fz.json_values)
def test_amounts_are_plain_ascii_decimals_within_bounds(value: Any) -> None:
    try:
        result = amounts.plain_decimal(value, "x")
    except InvalidEventError:
        return
    assert result.is_finite()
    text = value if isinstance(value, str) else repr(value) if isinstance(value, float) else None
    if text is not None:
        assert text.isascii() and "e" not in text.lower() and text.strip() == text
    for check, ok in ((amounts.price, _price_ok), (amounts.quantity, _qty_ok)):
        with contextlib.suppress(InvalidEventError):
            assert ok(check(value, "x"))


@FUZZ
@given(data=fz.event_data(events.QUOTES_STREAM))
def test_parse_quote_is_total(data: dict[str, Any]) -> None:
    try:
        quote = messages.parse_quote(data)
    except InvalidEventError:
        return
    assert messages.is_valid_symbol(quote.symbol)
    assert _price_ok(quote.bid) and _price_ok(quote.ask) and _price_ok(quote.price)
    assert quote.bid is not None and quote.ask is not None and quote.bid <= quote.ask


@FUZZ
@given(data=fz.event_data(events.ORDERS_STREAM))
def test_parse_order_update_is_total(data: dict[str, Any]) -> None:
    try:
        update = messages.parse_order_update(data)
    except InvalidEventError:
        return
    assert messages.is_valid_symbol(update.symbol)
    assert 0 < len(update.order_id) <= messages.MAX_ID_CHARS
    assert 0 <= update.filled_qty <= amounts.MAX_QUANTITY
    assert _price_ok(update.price) and _qty_ok(update.position_qty)
    assert update.reason is None or len(update.reason) <= messages.MAX_REASON_CHARS + 20


@FUZZ
@given(data=fz.event_data(events.RISK_STREAM))
def test_parse_trade_approval_is_total(data: dict[str, Any]) -> None:
    try:
        approval = messages.parse_trade_approval(data)
    except InvalidEventError:
        return
    assert messages.is_valid_symbol(approval.symbol)
    assert 0 < approval.qty <= amounts.MAX_QUANTITY
    assert _price_ok(approval.limit_price)
    assert approval.approval_id.isascii()


@FUZZ
@given(data=fz.event_data(events.SESSION_STREAM))
def test_parse_session_is_total(data: dict[str, Any]) -> None:
    try:
        messages.parse_session(data)
    except InvalidEventError:
        return
    assert str(data["session"]).isascii()


@FUZZ
@given(data=fz.event_data(events.COMMANDS_STREAM))
def test_command_fields_are_total(data: dict[str, Any]) -> None:
    try:
        messages.symbol_of(data)
        assert isinstance(messages.parse_report_date(data.get("report_date")), date)
    except InvalidEventError:
        return


@FUZZ
@given(text=fz.data_texts(events.QUOTES_STREAM) | st.text())
def test_load_json_object_is_total_and_bounded(text: str) -> None:
    try:
        value = wire.load_json_object(text)
    except InvalidEventError:
        return
    assert isinstance(value, dict)
    assert _depth(value) <= wire.MAX_JSON_DEPTH


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


@FUZZ
@given(value=fz.json_values, extra=st.integers(0, 20))
def test_the_nesting_count_matches_the_real_depth(value: Any, extra: int) -> None:
    nested: Any = value
    for _ in range(extra):
        nested = [nested]
    text = json.dumps(nested)
    assert wire.json_depth_within(text) == (_depth(nested) <= wire.MAX_JSON_DEPTH)


@FUZZ
@given(
    fields=st.dictionaries(
        st.binary(max_size=80) | st.text(max_size=80),
        st.binary(max_size=6000) | st.text(max_size=100),
        max_size=40,
    ),
    reason=st.text() | st.binary().map(repr),
    message_id=st.binary(max_size=30) | st.text(max_size=30),
)
def test_dead_letters_are_always_storable_and_bounded(
    fields: dict[Any, Any], reason: str, message_id: Any
) -> None:
    letter = dead_letter_fields(events.QUOTES_STREAM, message_id, fields, reason)
    for value in letter.values():
        assert isinstance(value, str)
        value.encode("utf-8")  # what redis-py does before XADD: must not raise
    assert len(letter["reason"]) <= DEAD_LETTER_REASON_CHARS + 20
    kept = json.loads(letter["fields"])
    assert len(kept) <= DEAD_LETTER_FIELDS
    assert all(len(v) <= DEAD_LETTER_VALUE_CHARS + 20 for v in kept.values())


@FUZZ
@given(data=fz.event_data(events.ORDERS_STREAM), name=st.sampled_from(fz.EVENT_NAMES))
def test_history_rows_are_storable_or_refused(data: dict[str, Any], name: str) -> None:
    event = decode_event(events.encode_event(name, data))
    for make in (
        lambda: position_row("1-0", event, PositionLedger()),
        lambda: order_row(event),
        lambda: alert_row("1-0", event),
    ):
        try:
            row = make()
        except InvalidEventError:
            continue
        for value in (row or {}).values():
            if isinstance(value, Decimal):
                assert value.is_finite() and abs(value) < WAREHOUSE_DECIMAL_LIMIT
            if isinstance(value, str):
                value.encode("utf-8")


# --- the settings -----------------------------------------------------------------------------
SETTING_NAMES = sorted(name.upper() for name in Settings.model_fields)
env_values = st.one_of(
    fz.number_values.map(str),
    st.sampled_from(["true", "false", "yes", "0", "-1", "", "nan", "inf", "1e999", "sma"]),
    st.text(alphabet=st.characters(blacklist_characters="\x00", codec="utf-8"), max_size=30),
)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper() in SETTING_NAMES:
            monkeypatch.delenv(name)


@settings(
    max_examples=300,
    deadline=None,
    # clean_env only removes the variables the examples set: the same for every example.
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(environment=st.dictionaries(st.sampled_from(SETTING_NAMES), env_values, max_size=4))
def test_the_settings_load_or_name_the_bad_variable(
    clean_env: None, environment: dict[str, str]
) -> None:
    with mock.patch.dict(os.environ, environment):
        try:
            loaded = load_settings()
        except ConfigError as exc:
            message = str(exc)
            assert message.startswith("invalid configuration: ")
            for name in ("ALPACA_API_KEY", "ALPACA_SECRET_KEY", "REDIS_PASSWORD", "REDIS_URL"):
                assert f"{name}=" not in message  # a secret's value is never shown
            return
    for name, value in loaded.model_dump().items():
        if isinstance(value, Decimal | float):
            assert Decimal(value).is_finite(), f"{name.upper()}={value} accepted"
