"""The position model and its small vocabulary (side, cap class, session, quote)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Literal

from position_manager.cap_class import CapClass
from position_manager.errors import RuleInputError
from position_manager.session import Session
from rules.ticks import check_price

# Where the live stop's level came from: the ATR plan, the fixed fallback (no usable ATR when it
# was placed), or the trail. None: not known (a stop adopted from the broker, or a state written
# before the basis was recorded).
StopBasis = Literal["atr", "fallback", "trailed"]


class Side(StrEnum):
    LONG = "long"
    SHORT = "short"

    @property
    def sign(self) -> int:
        return 1 if self is Side.LONG else -1


def is_whole(qty: Decimal) -> bool:
    return qty == qty.to_integral_value()


@dataclass(frozen=True, slots=True)
class Quote:
    symbol: str
    price: Decimal  # last trade, or mid when there is no last
    timestamp: datetime
    bid: Decimal | None = None
    ask: Decimal | None = None

    def __post_init__(self) -> None:
        check_price(self.price, f"{self.symbol} price")


@dataclass(frozen=True, slots=True)
class Position:
    """One position as the rules see it.

    `quantity` is signed (negative = short) and may be fractional. `original_quantity` is the
    magnitude before any profit-taking, so "half" means half of what was bought. The state the
    broker does not hold (best price, profit levels, the report date already reduced for, the stop
    generation, the stop a hit was reported for) lives here and is persisted by the worker.
    """

    symbol: str
    quantity: Decimal
    entry_price: Decimal
    original_quantity: Decimal
    position_key: str
    cap_class: CapClass = CapClass.LARGE
    stop_price: Decimal | None = None
    target_price: Decimal | None = None
    stop_order_id: str | None = None
    stop_quantity: Decimal | None = None  # magnitude the live stop order covers
    best_price: Decimal | None = None  # high-water mark (long) / low-water mark (short)
    profit_levels_taken: frozenset[int] = field(default_factory=frozenset)
    earnings_reduced_for: date | None = None
    stop_generation: int = 0
    last_price: Decimal | None = None
    last_updated: datetime | None = None
    session: Session = Session.CLOSED
    # The stop order id (or emergency exit client id) a `position.stop_hit` was already said for:
    # one stop is one hit, whether a quote crosses it, crosses it again, or it fills.
    stop_hit_for: str | None = None
    # Exits the broker accepted that have not completely filled: (client order id, shares
    # ordered, shares filled so far). Their unfilled shares are held for them at the broker, so
    # the stop covers only the rest, and no stop is placed while they hold the whole position.
    working_exits: tuple[tuple[str, Decimal, Decimal], ...] = ()
    # Moves on when a working exit dies unfilled (expired, cancelled, rejected): the re-armed
    # exit needs a client order id that was never used.
    exit_generation: int = 0
    # The live stop's id while the broker has not confirmed it yet (a replacement `pending_new`,
    # or a stop `accepted` outside the session): Alpaca refuses to replace it until it lands.
    stop_landing: str | None = None
    # What a pre-earnings exit that filled in part and then died left unsold: the re-armed
    # reduction sells this, not half of what is left (that would sell more than half in all).
    earnings_unsold: Decimal | None = None
    # Where the stop level came from (see StopBasis): a fallback stop is re-planned, and
    # tightened, once a real ATR arrives (rules.replan).
    stop_basis: StopBasis | None = None
    # The working extended-hours stop-breach exit (rules.extended_hours): its broker order id
    # and limit price, so a limit the price ran away from is cancelled and sent again lower.
    breach_exit: tuple[str, Decimal] | None = None

    def __post_init__(self) -> None:
        if not self.symbol:
            raise RuleInputError("position needs a symbol")
        if not self.quantity.is_finite() or self.quantity == 0:
            raise RuleInputError(f"{self.symbol}: quantity must be non-zero, got {self.quantity}")
        check_price(self.entry_price, f"{self.symbol} entry price")
        if not self.original_quantity.is_finite() or self.original_quantity <= 0:
            raise RuleInputError(
                f"{self.symbol}: original quantity must be positive, got {self.original_quantity}"
            )

    @property
    def side(self) -> Side:
        return Side.LONG if self.quantity > 0 else Side.SHORT

    @property
    def size(self) -> Decimal:
        """Magnitude of the position (shares held long or owed short)."""
        return abs(self.quantity)

    @property
    def working_exit_qty(self) -> Decimal:
        return sum((ordered - filled for _, ordered, filled in self.working_exits), Decimal(0))

    def working_exit(self, client_order_id: str) -> tuple[str, Decimal, Decimal] | None:
        return next((w for w in self.working_exits if w[0] == client_order_id), None)

    @property
    def coverable_size(self) -> Decimal:
        """Shares a stop may cover: the position less what working exits already hold."""
        return max(self.size - self.working_exit_qty, Decimal(0))

    @property
    def is_protected(self) -> bool:
        return self.stop_order_id is not None

    def evolve(self, **changes: object) -> Position:
        """A copy with `changes`, validated as a new Position is (`__post_init__`).

        What `dataclasses.replace` does, at a third of its cost: it rebuilds the keyword
        arguments through the generic field machinery (about 12 us for this class), and the
        worker evolves a position on every held quote. Here the slots are copied one by one
        (`_copy_fields`), the changes set, then the same checks run."""
        unknown = changes.keys() - _FIELD_NAMES
        if unknown:
            raise TypeError(f"Position has no field(s) {', '.join(sorted(unknown))}")
        new: Position = _new(Position)
        _copy_fields(self, new)
        for name, value in changes.items():
            _set(new, name, value)
        new.__post_init__()
        return new


_new = object.__new__
_set = object.__setattr__  # a frozen dataclass's own __init__ sets its fields this way


def _copy_fields(source: Position, target: Position) -> None:
    """Every field of `source` into `target`, written out (a loop over the fields costs twice
    as much). A field added to Position must be added here: `tests/rules/test_position_evolve.py`
    fails until it is."""
    _set(target, "symbol", source.symbol)
    _set(target, "quantity", source.quantity)
    _set(target, "entry_price", source.entry_price)
    _set(target, "original_quantity", source.original_quantity)
    _set(target, "position_key", source.position_key)
    _set(target, "cap_class", source.cap_class)
    _set(target, "stop_price", source.stop_price)
    _set(target, "target_price", source.target_price)
    _set(target, "stop_order_id", source.stop_order_id)
    _set(target, "stop_quantity", source.stop_quantity)
    _set(target, "best_price", source.best_price)
    _set(target, "profit_levels_taken", source.profit_levels_taken)
    _set(target, "earnings_reduced_for", source.earnings_reduced_for)
    _set(target, "stop_generation", source.stop_generation)
    _set(target, "last_price", source.last_price)
    _set(target, "last_updated", source.last_updated)
    _set(target, "session", source.session)
    _set(target, "stop_hit_for", source.stop_hit_for)
    _set(target, "working_exits", source.working_exits)
    _set(target, "exit_generation", source.exit_generation)
    _set(target, "stop_landing", source.stop_landing)
    _set(target, "earnings_unsold", source.earnings_unsold)
    _set(target, "stop_basis", source.stop_basis)
    _set(target, "breach_exit", source.breach_exit)


_FIELD_NAMES: frozenset[str] = frozenset(f.name for f in fields(Position))
