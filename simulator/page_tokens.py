"""The opaque `next_page_token` of the bars endpoints: the last bar sent, as URL-safe base64 of
a small JSON object, refused with Alpaca's 400 when it is not one of ours."""

from __future__ import annotations

import base64
import json
from typing import Any

from simulator.order_rules import INVALID, SimApiError


def encode_token(fields: dict[str, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(fields).encode()).decode()


def decode_token(token: str, *names: str) -> list[str]:
    """The token's `names` fields, in order (400 `invalid page_token` for anything else)."""
    try:
        raw: Any = json.loads(base64.urlsafe_b64decode(token.encode()))
        return [str(raw[name]) for name in names]
    except (ValueError, KeyError, TypeError):
        raise SimApiError(400, INVALID, "invalid page_token") from None
