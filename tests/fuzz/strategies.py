"""Hypothesis strategies for everything that reads outside input: stream entries (any bytes, any
envelope), event data for each decoder (numbers in every spelling Python's `Decimal`, `float` and
`json` accept or refuse), and environment values for the settings.

Shared by the property tests (tests/fuzz/test_decoders.py) and `benchmarks/fuzz.py`, which
pushes generated entries through a real worker.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

from position_manager import events
from tests.fuzz.corpus import VALID_EVENT, valid_data

EVENT_NAMES = sorted(
    v
    for k, v in vars(events).items()
    if k.isupper() and isinstance(v, str) and "." in v and not v.startswith("pm:")
)

# --- numbers in every spelling ----------------------------------------------------------------
plain_decimals = st.decimals(
    min_value=Decimal("-1e12"), max_value=Decimal("1e12"), places=4, allow_nan=False
).map(lambda d: format(d, "f"))
ODD_NUMBERS = [
    "1e999", "1E3", "1.5e-3", "NaN", "nan", "sNaN", "Infinity", "-inf", "+12", " 12", "12 ",
    "1_000", "0x10", "", ".5", "5.", "--1", "1.2.3", "١٢", "１２", "१२", "0", "-0",
    "0.0000000001", "99999999999999999999", "1" * 5000, "12\n", "1,000",
]  # fmt: skip
odd_number_texts = st.one_of(
    st.sampled_from(ODD_NUMBERS),
    st.text(alphabet=st.characters(categories=["Nd"]), min_size=1, max_size=6),
    st.from_regex(r"-?[0-9]{1,30}(\.[0-9]{0,12})?([eE][-+]?[0-9]{1,4})?", fullmatch=True),
)
json_numbers = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
)
number_values = st.one_of(plain_decimals, odd_number_texts, json_numbers)

json_scalars = st.one_of(
    st.none(), st.booleans(), json_numbers, st.text(max_size=30), odd_number_texts
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
symbols = st.one_of(
    st.sampled_from(["AAPL", "MSFT", "BRK.B", "aapl", "AAPL\n", "ÄAPL", "", "A" * 11]),
    st.text(max_size=12),
    st.just("A" * 10_000),
)
timestamps = st.one_of(
    st.datetimes(timezones=st.just(UTC)).map(datetime.isoformat),
    st.sampled_from(["yesterday", "2026-13-01T00:00:00", "٢٠٢٦-١١-٢٤", ""]),
    st.text(max_size=30),
)

# Each decoder's fields, each drawn from values that are right, wrong or absurd.
FIELDS: dict[str, dict[str, st.SearchStrategy[Any]]] = {
    events.QUOTES_STREAM: {
        "symbol": symbols, "bid": number_values, "ask": number_values, "last": number_values,
        "timestamp": timestamps,
    },
    events.ORDERS_STREAM: {
        "symbol": symbols, "order_id": st.one_of(st.uuids().map(str), st.text(max_size=200)),
        "client_order_id": st.one_of(st.text(max_size=140), json_values),
        "side": st.sampled_from(["buy", "sell", "SELL", "short", "", "ſell"]),
        "order_type": st.one_of(st.sampled_from(["stop", "limit", "market"]), json_values),
        "qty": number_values, "filled_qty": number_values, "filled_avg_price": number_values,
        "price": number_values, "position_qty": number_values, "reason": json_values,
    },
    events.RISK_STREAM: {
        "symbol": symbols, "side": st.sampled_from(["buy", "sell", "BUY", "hold", ""]),
        "qty": number_values, "limit_price": number_values,
        "approval_id": st.one_of(st.from_regex(r"[a-z0-9-]{1,20}", fullmatch=True),
                                 st.text(max_size=120)),
    },
    events.SESSION_STREAM: {
        "session": st.one_of(st.sampled_from(["PRE", "regular", "POST", "CLOSED", "MARS",
                                              "cloſed"]), json_values),
    },
    events.COMMANDS_STREAM: {
        "symbol": symbols,
        "report_date": st.one_of(st.dates().map(str), timestamps, json_values),
    },
}  # fmt: skip


def event_data(stream: str) -> st.SearchStrategy[dict[str, Any]]:
    """Data for `stream`'s decoder: each field present or not, right or wrong, plus extras."""
    fields = FIELDS[stream]
    return st.builds(
        lambda base, extra: {**extra, **base},
        st.fixed_dictionaries({}, optional=fields),
        st.dictionaries(st.text(max_size=8), json_values, max_size=3),
    )


def _nested(depth: int) -> str:
    return '{"symbol":"AAPL","x":' + "[" * depth + "]" * depth + "}"


@st.composite
def mutated_valid_data(draw: st.DrawFn, stream: str) -> dict[str, Any]:
    """The stream's valid data with a few fields replaced by drawn values (sometimes valid
    again, so some generated messages are handled, not refused)."""
    data = valid_data(stream)
    fields = FIELDS[stream]
    for name in draw(st.sets(st.sampled_from(sorted(fields)), max_size=2)):
        data[name] = draw(fields[name])
    return data


def data_texts(stream: str) -> st.SearchStrategy[str]:
    """The data field's text: JSON of `event_data`, or something JSON does not like."""
    return st.one_of(
        mutated_valid_data(stream).map(json.dumps),
        event_data(stream).map(lambda d: json.dumps(d, ensure_ascii=False)),
        event_data(stream).map(json.dumps),  # NaN / Infinity constants from floats
        st.integers(min_value=1, max_value=3000).map(_nested),
        st.integers(min_value=1, max_value=6000).map(lambda n: '{"qty":' + "9" * n + "}"),
        st.sampled_from(["", "{", "[1]", '"x"', "null", '{"a":NaN}', '{"s":"\\ud800"}']),
        st.text(max_size=40),
    )


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


@st.composite
def entries(draw: st.DrawFn, stream: str) -> dict[bytes, bytes]:
    """A stream entry as redis-py hands it over (bytes to bytes): mostly a valid envelope with
    one or more parts spoilt, sometimes raw bytes."""
    if draw(st.integers(0, 19)) == 0:
        return draw(st.dictionaries(st.binary(max_size=12), st.binary(max_size=60),
                                    min_size=1, max_size=4))  # fmt: skip
    event = draw(st.one_of(st.just(VALID_EVENT[stream]), st.sampled_from(EVENT_NAMES),
                           st.text(max_size=20)))  # fmt: skip
    fields: dict[bytes, bytes] = {
        b"event": _utf8(event),
        b"id": _utf8(draw(st.one_of(st.uuids().map(lambda u: u.hex), st.text(max_size=20)))),
        b"ts": _utf8(draw(st.one_of(st.just(datetime.now(UTC).isoformat()), timestamps))),
        b"data": _utf8(draw(data_texts(stream))),
    }
    if draw(st.booleans()):
        fields[b"data"] = draw(st.binary(max_size=80))
    for name in draw(st.sets(st.sampled_from([b"event", b"id", b"ts", b"data"]), max_size=1)):
        del fields[name]
    fields.update(draw(st.dictionaries(st.binary(min_size=1, max_size=6), st.binary(max_size=20),
                                       max_size=2)))  # fmt: skip
    return fields


def valid_entry(stream: str) -> dict[bytes, bytes]:
    """The corpus' valid message of `stream` as an entry (for the benchmark's neighbours)."""
    fields = events.encode_event(VALID_EVENT[stream], valid_data(stream))
    return {k.encode(): v.encode() for k, v in fields.items()}


consumed_streams = st.sampled_from(sorted(events.CONSUMED_EVENTS))
