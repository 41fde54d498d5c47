"""The project's error hierarchy: every error a caller can act on has its own type.

Messages name the symbol, the order id and what to do; they never carry a secret.
"""

from __future__ import annotations


class PositionManagerError(Exception):
    """Base of every error this project raises on purpose."""


class ConfigError(PositionManagerError):
    """A setting is missing or invalid; the message names the variable."""


class RedisUnavailableError(PositionManagerError):
    """No Redis could be reached or started."""


class RedisAuthError(RedisUnavailableError):
    """A Redis answered but refused our password or ACL user (never shown in the message)."""


class InvalidEventError(PositionManagerError):
    """A stream message is malformed; it goes to the dead-letter stream with this reason."""


class RuleInputError(PositionManagerError, ValueError):
    """A rule was given an impossible input (NaN or non-positive price, zero quantity...)."""


class CalendarRangeError(PositionManagerError, ValueError):
    """A date outside the exchange calendar the project builds: no session is guessed for it."""
