"""Reading a stream entry without trusting it: bounded first, then decoded, always total.

Anyone can XADD anything to a Redis stream: bytes that are not UTF-8, binary field names, a
megabyte of JSON, an array nested 100,000 deep (the `json` module recurses: `RecursionError`), an
integer of 5,000 digits (`int()` refuses more than 4,300: `ValueError`). Every consumer (the
worker, the history job) reads an entry through `entry_text` and its JSON through
`load_json_object`, so any input either decodes or raises `InvalidEventError` with a reason that
is safe to store; nothing else escapes. The work per entry is bounded *before* anything is
parsed:

- `MAX_ENTRY_BYTES`: the whole entry (names and values). Our largest event, an order update, is
  under 1 KiB; 64 KiB leaves room for any honest producer and caps what one message can cost.
- `MAX_FIELDS`, `MAX_FIELD_NAME_BYTES`: the envelope has four fields with short names.
- `MAX_JSON_DEPTH`: our events are one object deep (two with a nested list); 16 is generous and
  far below the interpreter's recursion limit.
- `MAX_NUMBER_CHARS`: a JSON number token longer than this is refused before `int()` or
  `float()` sees it. No price or quantity needs more than 16 integer + 9 fraction digits.

`printable` is the other half: what a dead letter stores of a message that could not be read
(escaped, so any bytes can be written back to Redis as text, and bounded).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any, Final

from position_manager.errors import InvalidEventError

MAX_ENTRY_BYTES: Final = 64 * 1024
MAX_FIELDS: Final = 16
MAX_FIELD_NAME_BYTES: Final = 64
MAX_JSON_DEPTH: Final = 16
MAX_NUMBER_CHARS: Final = 40
# How much of a bad value a reason quotes.
REASON_QUOTE_CHARS: Final = 60

# A JSON string (escapes included) or one structural bracket: enough to measure nesting without
# parsing, in one C-level regex pass.
_STRUCTURE: Final = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')
# A \uD800-\uDFFF escape: the only way JSON text can produce a lone surrogate (which cannot be
# encoded as UTF-8, so Redis, DuckDB and every log file would refuse it later).
_SURROGATE_ESCAPE: Final = re.compile(r"\\u[dD][89abAB]", re.ASCII)


def quoted(value: object, limit: int = REASON_QUOTE_CHARS) -> str:
    """A short, escaped repr of a bad value for a reason: never the whole megabyte."""
    if isinstance(value, str | bytes) and len(value) > limit:
        return f"{value[:limit]!r}... ({len(value)} long)"
    text = repr(value)
    return text if len(text) <= limit * 2 else f"{text[: limit * 2]}... ({len(text)} long)"


def entry_text(fields: Mapping[Any, Any]) -> dict[str, str]:
    """The entry's fields as text, or `InvalidEventError`: too many fields, too many bytes, a
    field name or value that is not UTF-8. Sizes are checked before anything is decoded."""
    if len(fields) > MAX_FIELDS:
        raise InvalidEventError(f"entry has {len(fields)} fields, over the limit of {MAX_FIELDS}")
    size = 0
    for name, value in fields.items():
        if not isinstance(name, bytes | str) or not isinstance(value, bytes | str):
            raise InvalidEventError("entry fields must be text")
        if len(name) > MAX_FIELD_NAME_BYTES:
            raise InvalidEventError(f"field name of {len(name)} bytes: {quoted(name)}")
        size += len(name) + len(value)
    if size > MAX_ENTRY_BYTES:
        raise InvalidEventError(f"entry is {size} bytes, over the limit of {MAX_ENTRY_BYTES}")
    try:  # the usual entry, all UTF-8 bytes, decoded at once; anything else field by field
        return {name.decode(): value.decode() for name, value in fields.items()}
    except (AttributeError, UnicodeDecodeError):
        pass
    out: dict[str, str] = {}
    for name, value in fields.items():
        key = _utf8(name, "field name", name)
        out[key] = _utf8(value, f"field {key!r}", name)
    return out


def _utf8(raw: bytes | str, what: str, name: bytes | str) -> str:
    if isinstance(raw, str):
        if _has_surrogate(raw):
            raise InvalidEventError(f"{what} is not UTF-8 text: {quoted(raw)}")
        return raw
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = raw[exc.start : exc.start + 1]
        raise InvalidEventError(
            f"{what} is not UTF-8 (byte {bad!r} at {exc.start}): {quoted(raw)}"
        ) from None


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def json_depth_within(raw: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when no array or object in `raw` nests deeper than `limit` (brackets inside strings
    do not count). Linear, without recursion; a quote (one object) costs two `str.count` calls."""
    if raw.count("[") + raw.count("{") <= limit:
        return True
    depth = 0
    for match in _STRUCTURE.finditer(raw):
        token = match.group()
        if token in ("[", "{"):
            depth += 1
            if depth > limit:
                return False
        elif token in ("]", "}"):
            depth -= 1
    return True


def _json_int(token: str) -> int:
    if len(token) > MAX_NUMBER_CHARS:
        raise InvalidEventError(
            f"number of {len(token)} digits, over the limit of {MAX_NUMBER_CHARS}: {quoted(token)}"
        )
    return int(token)


def _json_float(token: str) -> float:
    if len(token) > MAX_NUMBER_CHARS:
        raise InvalidEventError(
            f"number of {len(token)} characters, over the limit of {MAX_NUMBER_CHARS}: "
            f"{quoted(token)}"
        )
    value = float(token)
    if not math.isfinite(value):
        raise InvalidEventError(f"number is not finite: {quoted(token)}")
    return value


def _json_constant(token: str) -> Any:
    raise InvalidEventError(f"{token} is not a number (JSON has no NaN or Infinity)")


_DECODER: Final = json.JSONDecoder(
    parse_int=_json_int, parse_float=_json_float, parse_constant=_json_constant
)


def load_json_object(raw: str, what: str = "data") -> dict[str, Any]:
    """A JSON object from text that `entry_text` has bounded, or `InvalidEventError`: not JSON,
    not an object, nested deeper than `MAX_JSON_DEPTH`, a number too long or not finite, a lone
    surrogate escape. The nesting is measured before the parser (which recurses) runs."""
    if len(raw) > MAX_ENTRY_BYTES:
        raise InvalidEventError(f"{what} is {len(raw)} characters, over {MAX_ENTRY_BYTES}")
    if not json_depth_within(raw):
        raise InvalidEventError(f"{what} nests deeper than {MAX_JSON_DEPTH} levels")
    try:
        value = _DECODER.decode(raw)
    except json.JSONDecodeError as exc:
        raise InvalidEventError(f"{what} is not JSON: {exc.msg} at {exc.pos}") from None
    except RecursionError:  # unreachable after the depth check; kept so the decoder is total
        raise InvalidEventError(f"{what} nests too deep") from None
    except (ValueError, TypeError) as exc:
        raise InvalidEventError(f"{what} is not JSON: {quoted(str(exc))}") from None
    if not isinstance(value, dict):
        raise InvalidEventError(f"{what} must be a JSON object")
    if _SURROGATE_ESCAPE.search(raw) and _has_surrogate(json.dumps(value, ensure_ascii=False)):
        raise InvalidEventError(f"{what} holds a lone UTF-16 surrogate (not UTF-8 text)")
    return value


def printable(value: object, limit: int) -> str:
    """`value` as text that can always be stored: bytes that are not UTF-8 and lone surrogates
    escaped (``\\xff``, ``\\ud800``), cut to `limit` characters with the original length noted.
    Only the first `limit` bytes of a huge value are looked at."""
    if isinstance(value, bytes):
        head = value[:limit].decode("utf-8", "backslashreplace")
        length = len(value)
    else:
        text = value if isinstance(value, str) else str(value)
        head = text[:limit].encode("utf-8", "backslashreplace").decode("utf-8")
        length = len(text)
    if length > limit or len(head) > limit:
        return f"{head[:limit]}...[{length} long]"
    return head
