"""The opaque `next_page_token` of the bars endpoints: the last bar sent, as URL-safe base64 of
a small JSON object, refused with Alpaca's 400 when it is not one of ours."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

from simulator.order_rules import INVALID, SimApiError


def encode_token(fields: dict[str, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(fields).encode()).decode()


def decode_token(token: str, **fields: Callable[[str], Any]) -> tuple[Any, ...]:
    """The token's fields, each read by its parser (`symbol=str, day=date.fromisoformat`), in
    order; 400 `invalid page_token` for anything that is not one of ours."""
    try:
        raw: Any = json.loads(base64.urlsafe_b64decode(token.encode()))
        return tuple(parse(str(raw[name])) for name, parse in fields.items())
    except (ValueError, KeyError, TypeError):
        raise SimApiError(400, INVALID, "invalid page_token") from None
