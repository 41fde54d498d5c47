"""Typed broker errors the rest of the system acts on, mapped from Alpaca's JSON error bodies."""

from __future__ import annotations

from decimal import Decimal

from position_manager.errors import PositionManagerError


class BrokerError(PositionManagerError):
    """Base: something the broker said or failed to say. `retryable` tells the caller."""

    retryable = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: int | None = None,
        symbol: str | None = None,
        order_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.symbol = symbol
        self.order_id = order_id


class InsufficientQuantityError(BrokerError):
    """403/40310000: shares are held by open orders (e.g. the stop). Shrink the stop first."""

    def __init__(
        self,
        message: str,
        *,
        requested: Decimal | None = None,
        available: Decimal | None = None,
        held_for_orders: Decimal | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.requested = requested
        self.available = available
        self.held_for_orders = held_for_orders


class InsufficientBuyingPowerError(BrokerError):
    """403: not enough buying power. Not retried: a person must act."""


class OrderNotFoundError(BrokerError):
    """404: no such order (or position)."""


class OrderRejectedError(BrokerError):
    """422 or another 4xx: the order is invalid as sent. Not retried."""


class DuplicateClientOrderIdError(OrderRejectedError):
    """The client_order_id was used before: the order already exists (look it up)."""


class RateLimitedError(BrokerError):
    """429: over the per-key request budget (or our own limiter said no)."""

    retryable = True


class BrokerUnavailableError(BrokerError):
    """5xx, timeout, connection refused, or the circuit breaker is open."""

    retryable = True
