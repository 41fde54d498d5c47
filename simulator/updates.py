"""Where the engine reports what happened: Alpaca-shaped trade updates and "the book changed".

Every state change is reported as a trade update to `on_update` (the simulator turns it into an
`order.*` event, exactly as the live trade-update bridge does) and marks the book dirty through
`on_change` for the snapshot writer. One small object, so the parts that change orders
(`OrderDesk`, `Matcher`) report the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from simulator.serialize import order_json
from simulator.state import EngineState, SimOrder

TradeUpdate = dict[str, Any]


class TradeUpdates:
    def __init__(
        self,
        state: EngineState,
        on_update: Callable[[TradeUpdate], None] | None = None,
        on_change: Callable[[], None] | None = None,
        realistic: bool = False,
    ) -> None:
        self.state = state
        self.realistic = realistic
        self._on_update = on_update
        self._on_change = on_change

    def changed(self) -> None:
        if self._on_change is not None:
            self._on_change()

    def emit(self, event: str, order: SimOrder | dict[str, Any], **extra: Any) -> None:
        """Report `event` for `order` (a record, or an already-shaped body for refusals), with the
        position's quantity after it and `extra` fields (a fill's price and qty, a reason)."""
        if self._on_update is None:
            return
        body = order_json(order, self.realistic) if isinstance(order, SimOrder) else order
        position = self.state.book.positions.get(str(body.get("symbol")))
        update: TradeUpdate = {
            "event": event,
            "timestamp": self.state.clock.now().isoformat(),
            "order": body,
            "position_qty": format(position.qty, "f") if position else "0",
            **{k: (format(v, "f") if isinstance(v, Decimal) else v) for k, v in extra.items()},
        }
        self._on_update(update)
