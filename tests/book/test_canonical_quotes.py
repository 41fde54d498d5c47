"""`canonical_quote_data`, the quote path's shortcut past the generic envelope and JSON readers,
accepts only what `decode_event` accepts, and reads it the same: the worker's decisions do not
depend on which reader a quote took (tests/streaming/test_fast_path_decisions.py compares them)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from book.messages import canonical_quote_data
from position_manager import events
from position_manager.errors import InvalidEventError
from position_manager.events import decode_event, encode_event
from tests.fuzz import strategies as fz

TS = "2026-11-24T15:00:00+00:00"


def entry(data: Any, **envelope: str) -> dict[bytes, bytes]:
    fields = encode_event(events.QUOTE_UPDATED, {})
    fields["data"] = data if isinstance(data, str) else encode_event("x.y", data)["data"]
    fields.update(envelope)
    return {k.encode(): v.encode() for k, v in fields.items()}


@pytest.mark.parametrize(
    "data",
    [
        {"symbol": "AAPL", "bid": "187.25", "ask": "187.27", "timestamp": TS},
        {"symbol": "BRK.B", "bid": "0.0001", "ask": "0.0002", "last": "0.0001", "timestamp": TS},
        {"symbol": "AAPL", "bid": "-1", "ask": "1e5", "timestamp": "not a time"},  # parse_quote's
    ],
)
def test_our_bridges_quotes_are_read_as_decode_event_reads_them(data: dict[str, str]) -> None:
    fields = entry(data)
    assert canonical_quote_data(fields) == decode_event(fields).data == data


@pytest.mark.parametrize(
    ("data", "envelope"),
    [
        ('{"symbol": "AAPL", "bid": "1", "ask": "1", "timestamp": "t"}', {}),  # spaces
        ('{"bid":"1","symbol":"AAPL","ask":"1","timestamp":"t"}', {}),  # another order
        ('{"symbol":"AAPL","bid":1.5,"ask":"1","timestamp":"t"}', {}),  # a JSON number
        ('{"symbol":"AA\\u0050L","bid":"1","ask":"1","timestamp":"t"}', {}),  # an escape
        ('{"symbol":"AAPL","bid":"1","ask":"1","timestamp":"t","x":"1"}', {}),  # another key
        ('{"symbol":"AAPL","bid":"1","ask":"1","timestamp":"t\x01"}', {}),  # a control char
        ('{"symbol":"ÄPL","bid":"1","ask":"1","timestamp":"t"}', {}),  # not ASCII
        ('{"symbol":"AAPL","bid":"1","ask":"1","timestamp":"t"}', {"ts": "yesterday"}),
        ('{"symbol":"AAPL","bid":"1","ask":"1","timestamp":"t"}', {"id": "x" * 129}),
        ('{"symbol":"AAPL","bid":"1","ask":"1","timestamp":"t"}', {"event": "order.new"}),
    ],
)
def test_anything_else_takes_the_general_reader(data: str, envelope: dict[str, str]) -> None:
    assert canonical_quote_data(entry(data, **envelope)) is None


def test_an_entry_with_another_field_takes_the_general_reader() -> None:
    fields = entry({"symbol": "AAPL", "bid": "1", "ask": "1", "timestamp": TS})
    assert canonical_quote_data({**fields, b"extra": b"1"}) is None
    assert canonical_quote_data({k: v for k, v in fields.items() if k != b"ts"}) is None


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_it_never_accepts_what_decode_event_refuses(data: st.DataObject) -> None:
    fields = data.draw(fz.entries(events.QUOTES_STREAM))
    fast = canonical_quote_data(fields)
    if fast is None:
        return
    try:
        event = decode_event(fields)
    except InvalidEventError as exc:  # pragma: no cover - the failure this test looks for
        raise AssertionError(f"accepted what decode_event refuses: {exc}") from None
    assert event.event == events.QUOTE_UPDATED
    assert fast == event.data


# Entries near the canonical form: its template filled with any ASCII (quotes, backslashes and
# control characters included, so many are not JSON at all), with or without `last`.
_ascii = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters='"\\'),
    min_size=1,
    max_size=40,
) | st.text(st.characters(max_codepoint=0x7F), max_size=45)
_near_canonical = st.builds(
    lambda s, b, a, last, t, ts, msg_id: {
        b"event": events.QUOTE_UPDATED.encode(),
        b"id": msg_id.encode(),
        b"ts": ts.encode(),
        b"data": (
            f'{{"symbol":"{s}","bid":"{b}","ask":"{a}"'
            + ("" if last is None else f',"last":"{last}"')
            + f',"timestamp":"{t}"}}'
        ).encode(),
    },
    _ascii,
    _ascii,
    _ascii,
    st.none() | _ascii,
    _ascii,
    st.sampled_from([TS, "2026-11-24T15:00:00", "2026-11-24", "yesterday", ""]) | _ascii,
    st.sampled_from(["a" * 32, "", "x" * 128, "x" * 129]) | _ascii,
)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_near_canonical)
def test_near_canonical_entries_read_alike_or_go_the_general_way(
    fields: dict[bytes, bytes],
) -> None:
    fast = canonical_quote_data(fields)
    try:
        event = decode_event(fields)
    except InvalidEventError:
        assert fast is None
        return
    if fast is not None:
        assert fast == event.data
