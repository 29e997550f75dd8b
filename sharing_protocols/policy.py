"""The value types of an access decision; the pure ``decide`` function arrives with the access gateway.

This module must stay free of Flask, SQLAlchemy and the clock (an import-linter contract enforces it),
so that every rule can be tested as a truth table and every decision explained from plain facts.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Tier(enum.IntEnum):
    """How much a permitted request may see; higher tiers include the lower ones."""

    NOTHING = 0
    EXISTENCE_AND_CONTACT = 1  #: that the person is flagged, and how to reach the lead professional
    DETAIL = 2  #: the named categories' detail as well


@dataclass(frozen=True)
class Reason:
    """One condition the decision checked: a stable code for the log, a sentence for the person."""

    code: str
    text: str
    passed: bool


@dataclass(frozen=True)
class Decision:
    permitted: bool
    tier: Tier
    reasons: tuple[Reason, ...] = ()
    protocol_id: str | None = None
    notice_issue_id: str | None = None
    break_glass: bool = False
    categories: frozenset[str] = field(default_factory=frozenset)

    @property
    def failed(self) -> tuple[Reason, ...]:
        """The conditions that were not met, which the 403 page explains."""
        return tuple(r for r in self.reasons if not r.passed)
