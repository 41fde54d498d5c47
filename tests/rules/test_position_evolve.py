"""`Position.evolve` is `dataclasses.replace`, only faster (the worker evolves a position on
every held quote): every field is copied, every change applied, the same checks run."""

from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal

import pytest

from position_manager.cap_class import CapClass
from position_manager.errors import RuleInputError
from position_manager.session import Session
from rules.model import Position
from tests.rules.helpers import T0, make_position

# A value for every field, none of them its default: a field evolve forgot would read back
# as its default and fail the comparison below.
EVERY_FIELD: dict[str, object] = {
    "symbol": "NVDA",
    "quantity": Decimal(-40),
    "entry_price": Decimal("120.50"),
    "original_quantity": Decimal(80),
    "position_key": "NVDA-short-1",
    "cap_class": CapClass.MICRO,
    "stop_price": Decimal("130.00"),
    "target_price": Decimal("90.00"),
    "stop_order_id": "s-1",
    "stop_quantity": Decimal(40),
    "best_price": Decimal("110.00"),
    "profit_levels_taken": frozenset({1}),
    "earnings_reduced_for": date(2026, 12, 3),
    "stop_generation": 3,
    "last_price": Decimal("111.00"),
    "last_updated": T0,
    "session": Session.POST,
    "stop_hit_for": "s-0",
    "working_exits": (("x-1", Decimal(10), Decimal(4)),),
    "exit_generation": 2,
    "stop_landing": "s-1",
    "earnings_unsold": Decimal(6),
    "stop_basis": "trailed",
    "breach_exit": ("b-1", Decimal("131.00")),
}


def test_every_field_is_covered_here() -> None:
    assert set(EVERY_FIELD) == {f.name for f in dataclasses.fields(Position)}


def test_evolve_with_no_change_copies_every_field() -> None:
    pos = Position(**EVERY_FIELD)  # type: ignore[arg-type]
    copy = pos.evolve()
    assert copy == pos and copy is not pos
    for f in dataclasses.fields(Position):
        assert getattr(copy, f.name) == EVERY_FIELD[f.name], f.name


@pytest.mark.parametrize("name", sorted(EVERY_FIELD))
def test_evolve_changes_a_field_as_replace_does(name: str) -> None:
    pos = make_position()
    value = EVERY_FIELD[name]
    if name in ("quantity", "original_quantity"):
        value = Decimal(7)
    assert pos.evolve(**{name: value}) == dataclasses.replace(pos, **{name: value})  # type: ignore[arg-type]


def test_evolve_checks_what_a_new_position_checks() -> None:
    pos = make_position()
    with pytest.raises(RuleInputError):
        pos.evolve(quantity=Decimal(0))
    with pytest.raises(RuleInputError):
        pos.evolve(entry_price=Decimal("NaN"))
    with pytest.raises(TypeError):
        pos.evolve(stop_prize=Decimal(90))
    assert pos.quantity == 100  # the original is untouched
