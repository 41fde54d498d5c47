"""The committed corpus of hostile messages (tests/fuzz/corpus/*.json), as stream entries.

One JSON file per case. A case starts from a *valid* message of each stream it targets (the
stream's usual event and data: `VALID_EVENT`, `valid_data`) and spoils one thing, so what is
refused is exactly that thing:

- ``streams``: ``"all"`` (the five streams the worker consumes) or a list of short names;
- ``data_patch``: keys merged into the valid data (``null`` removes a key), or ``data``: the data
  field itself; ``event``, ``id``, ``ts``: envelope fields replaced; ``drop``: envelope fields
  removed; ``extra_fields``: ``[name, value]`` pairs added; ``raw``: only the extra fields;
- ``reason``: what the dead letter's reason must contain (or ``{"short name": ..., "*": ...}``).

Byte values are spelt so that the files stay small and readable: a string is UTF-8 text,
``{"hex": "fffe"}`` raw bytes, ``{"repeat": value, "times": n}`` and ``{"concat": [...]}``
build the megabyte payloads and the 5,000-deep nestings.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from position_manager import events

CORPUS_DIR = Path(__file__).parent / "corpus"
SHORT = {
    "quotes": events.QUOTES_STREAM,
    "orders": events.ORDERS_STREAM,
    "risk": events.RISK_STREAM,
    "session": events.SESSION_STREAM,
    "commands": events.COMMANDS_STREAM,
}
VALID_EVENT = {
    events.QUOTES_STREAM: events.QUOTE_UPDATED,
    events.ORDERS_STREAM: events.ORDER_NEW,
    events.RISK_STREAM: events.TRADE_APPROVED,
    events.SESSION_STREAM: events.SESSION_CHANGED,
    events.COMMANDS_STREAM: events.COMMAND_REDUCE_FOR_EARNINGS,
}
QUOTE_TS = "2026-11-24T15:00:00+00:00"


def valid_data(stream: str) -> dict[str, Any]:
    """A message the worker handles on `stream` (AAPL is the held symbol, MSFT the approved)."""
    if stream == events.QUOTES_STREAM:
        return {"symbol": "AAPL", "bid": "100", "ask": "100.02", "last": "100.01",
                "timestamp": QUOTE_TS}  # fmt: skip
    if stream == events.ORDERS_STREAM:
        return {"symbol": "AAPL", "order_id": "0c9c6b9e-0000-4000-8000-00000000f022",
                "client_order_id": "by-hand-1", "side": "sell", "order_type": "limit",
                "qty": "1", "filled_qty": "0", "status": "new"}  # fmt: skip
    if stream == events.RISK_STREAM:
        return {"symbol": "MSFT", "side": "buy", "qty": "1", "approval_id": "fuzz-valid"}
    if stream == events.SESSION_STREAM:
        return {"session": "REGULAR"}
    return {"symbol": "AAPL", "report_date": "2026-11-27"}


@dataclass(frozen=True)
class Case:
    """One hostile entry for one stream."""

    name: str
    stream: str
    fields: dict[bytes, bytes]
    reason: str
    description: str


def to_bytes(spec: Any) -> bytes:
    """A byte value from its spelling in the corpus (see the module docstring)."""
    if isinstance(spec, str):
        return spec.encode("utf-8")
    if "hex" in spec:
        return bytes.fromhex(spec["hex"])
    if "repeat" in spec:
        return to_bytes(spec["repeat"]) * int(spec["times"])
    if "concat" in spec:
        return b"".join(to_bytes(part) for part in spec["concat"])
    raise ValueError(f"unknown byte spelling: {spec!r}")


def build(spec: dict[str, Any], stream: str, event_id: str) -> dict[bytes, bytes]:
    """The entry's fields for `stream`: the valid envelope with the case's spoilage."""
    fields: dict[bytes, bytes] = {}
    if not spec.get("raw"):
        data = valid_data(stream)
        for key, value in spec.get("data_patch", {}).items():
            if value is None:
                data.pop(key, None)
            else:
                data[key] = value
        envelope: dict[str, Any] = {
            "event": VALID_EVENT[stream],
            "id": event_id,
            "ts": QUOTE_TS,
            "data": json.dumps(data, ensure_ascii=False),
        }
        for name in ("event", "id", "ts", "data"):
            if name in spec:
                envelope[name] = spec[name]
        for name in spec.get("drop", ()):
            envelope.pop(name)
        fields = {name.encode(): to_bytes(value) for name, value in envelope.items()}
    for name, value in spec.get("extra_fields", ()):
        fields[to_bytes(name)] = to_bytes(value)
    return fields


def _streams(spec: dict[str, Any]) -> list[str]:
    wanted = spec["streams"]
    return list(SHORT.values()) if wanted == "all" else [SHORT[s] for s in wanted]


def _reason(spec: dict[str, Any], stream: str) -> str:
    reason = spec["reason"]
    if isinstance(reason, str):
        return reason
    short = next(name for name, full in SHORT.items() if full == stream)
    return str(reason.get(short, reason.get("*")))


def load_corpus() -> list[Case]:
    """Every case of the corpus, once per stream it targets, in file-name order."""
    cases = []
    for path in sorted(CORPUS_DIR.glob("*.json")):
        spec = json.loads(path.read_text(encoding="utf-8"))
        for n, stream in enumerate(_streams(spec)):
            event_id = f"fuzz-{path.stem}-{n}"
            fields = build(spec, stream, event_id)
            reason = _reason(spec, stream)
            cases.append(Case(path.stem, stream, fields, reason, spec["description"]))
    return cases
