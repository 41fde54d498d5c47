"""`Changes.rollback` forgets exactly what was added since its savepoint (one failing message of a
batch), and `states` keeps its order: the commit writes the symbols in the order they came."""

from __future__ import annotations

from book.state import Changes, Held
from tests.rules.helpers import make_position


def held(symbol: str, qty: int = 100) -> Held:
    return Held(make_position(symbol, qty=qty))


def test_rollback_undoes_puts_and_deletes_since_the_mark_in_place() -> None:
    changes = Changes()
    a, b = held("AAA"), held("BBB")
    changes.put(a)
    changes.put(b)
    changes.emit("position.x", {"symbol": "AAA"})
    mark = changes.savepoint()
    changes.put(held("BBB", 50))  # a second state for a symbol put before the mark
    changes.put(held("CCC"))  # a symbol first put after it
    changes.delete("AAA")
    changes.emit("position.y", {"symbol": "CCC"})
    changes.ack("s", b"1-0")
    changes.rollback(mark)
    assert list(changes.states.items()) == [("AAA", a), ("BBB", b)]
    assert changes.events == [("position.x", {"symbol": "AAA"})]
    assert changes.acks == {}


def test_nested_marks_roll_back_one_message_at_a_time() -> None:
    changes = Changes()
    first = changes.savepoint()
    changes.put(held("AAA"))
    second = changes.savepoint()
    changes.put(held("BBB"))
    changes.rollback(second)
    assert list(changes.states) == ["AAA"]
    changes.rollback(first)
    assert changes.states == {}
    assert not changes
