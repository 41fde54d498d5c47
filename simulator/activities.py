"""Account activities, as `GET /v2/account/activities/{activity_type}` serves them.

From Alpaca's OpenAPI spec (`/work/shared/alpaca-openapi/trading-api.json`, operation
`getAccountActivitiesByActivityType`, schema `TradingActivities`):
- `after` / `until` (exclusive) filter on the activity's time, as `YYYY-MM-DD` or
  `YYYY-MM-DDTHH:MM:SSZ`; `date` keeps one day;
- `direction` is `asc` or `desc`, **desc by default**;
- `page_size` is 1..100, 100 by default;
- `page_token` is the id of the last activity of the previous page: the next page starts after it;
- `activity_type` is one of the `ActivityType` enum. The simulator records fills only, so every
  other type answers an empty list; an unknown type is refused.

A trading activity's fields are strings (`qty`, `cum_qty`, `leaves_qty`, `price`), its id is
`<yyyymmddhhmmssmmm>::<uuid>` and `type` is `fill` or `partial_fill`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any, Final

from position_manager.market_calendar import NEW_YORK
from simulator.order_rules import INVALID, SimApiError
from simulator.serialize import num, ts
from simulator.state import SimFill

MAX_PAGE_SIZE: Final = 100
# The `ActivityType` enum of the spec.
ACTIVITY_TYPES: Final = frozenset(
    {
        "FILL", "TRANS", "MISC", "ACATC", "ACATS", "CFEE", "CGD", "CSD", "CSW", "DIV", "DIVCGL",
        "DIVCGS", "DIVFEE", "DIVFT", "DIVNRA", "DIVROC", "DIVTW", "DIVTXEX", "FEE", "INT",
        "INTNRA", "INTTW", "JNL", "JNLC", "JNLS", "MA", "NC", "OPASN", "OPCA", "OPCSH", "OPEXC",
        "OPEXP", "OPTRD", "PTC", "PTR", "REORG", "SPIN", "SPLIT", "FOPT",
    }
)  # fmt: skip


def fill_json(fill: SimFill) -> dict[str, Any]:
    """One `TradingActivities` entry."""
    return {
        "id": fill.id,
        "activity_type": "FILL",
        "transaction_time": ts(fill.transaction_time, fractional=True),
        "type": fill.type,
        "price": num(fill.price),
        "qty": num(fill.qty),
        "side": fill.side,
        "symbol": fill.symbol,
        "leaves_qty": num(fill.leaves_qty),
        "order_id": fill.order_id,
        "cum_qty": num(fill.cum_qty),
        "order_status": fill.order_status,
    }


def _when(name: str, value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), datetime.min.time(), UTC)
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise SimApiError(422, INVALID, f"invalid {name}: {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _page_size(value: str | None) -> int:
    if value is None or value == "":
        return MAX_PAGE_SIZE
    try:
        size = int(value)
    except ValueError:
        raise SimApiError(422, INVALID, "page_size must be an integer") from None
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise SimApiError(422, INVALID, f"page_size must be between 1 and {MAX_PAGE_SIZE}")
    return size


def activities_page(
    activity_type: str, fills: Sequence[SimFill], params: Mapping[str, str]
) -> list[dict[str, Any]]:
    """The response for `activity_type` with query `params` over the book's `fills`."""
    kind = activity_type.upper()
    if kind not in ACTIVITY_TYPES:
        raise SimApiError(422, INVALID, f"invalid activity type: {activity_type!r}")
    direction = params.get("direction") or "desc"
    if direction not in ("asc", "desc"):
        raise SimApiError(422, INVALID, f"invalid direction: {direction!r}")
    size = _page_size(params.get("page_size"))
    after = _when("after", params.get("after"))
    until = _when("until", params.get("until"))
    day = params.get("date")
    on = _when("date", day).date() if day else None  # type: ignore[union-attr]
    if kind != "FILL":
        return []
    chosen = [
        f
        for f in sorted(fills, key=lambda f: f.transaction_time)  # stable: same-time fills keep
        if (after is None or f.transaction_time > after)  # their order of execution
        and (until is None or f.transaction_time < until)
        and (on is None or f.transaction_time.astimezone(NEW_YORK).date() == on)
    ]
    if direction == "desc":
        chosen.reverse()
    token = params.get("page_token")
    if token:
        ids = [f.id for f in chosen]
        if token not in ids:
            raise SimApiError(422, INVALID, f"invalid page_token: {token!r}")
        chosen = chosen[ids.index(token) + 1 :]
    return [fill_json(f) for f in chosen[:size]]
