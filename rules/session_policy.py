"""What each market session allows: the one table every action consults.

| session | P&L | protective stop | trail | profit-taking / earnings | exits as |
|---------|-----|-----------------|-------|--------------------------|----------|
| PRE     | yes | yes (see below) | no    | no (monitor only)        | -        |
| REGULAR | yes | yes             | yes   | yes                      | market   |
| POST    | yes | yes             | no    | yes                      | limit, ext. hours |
| CLOSED  | cache only | yes      | no    | no                       | -        |

A missing protective stop is the one order placed in every session: a GTC stop sent outside the
regular session waits at the broker and is live from the open, while waiting for the open would
leave the position naked through the opening auction. The rest is the product's session table.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from position_manager.session import Session


class ExitStyle(StrEnum):
    MARKET = "market"
    EXTENDED_LIMIT = "extended_limit"


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    publish_pnl: bool
    place_protective_stop: bool
    trail_stops: bool
    take_profit: bool
    reduce_for_earnings: bool
    exit_style: ExitStyle | None


SESSION_POLICY: dict[Session, SessionPolicy] = {
    Session.PRE: SessionPolicy(True, True, False, False, False, None),
    Session.REGULAR: SessionPolicy(True, True, True, True, True, ExitStyle.MARKET),
    Session.POST: SessionPolicy(True, True, False, True, True, ExitStyle.EXTENDED_LIMIT),
    Session.CLOSED: SessionPolicy(False, True, False, False, False, None),
}


def policy_for(session: Session) -> SessionPolicy:
    return SESSION_POLICY[session]
