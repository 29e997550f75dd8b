"""Eligibility against the framework's threshold: the criteria each member meets, and the family's.

Pure: the framework and the criteria recorded in, the verdict out. A family is eligible when its members
between them meet at least ``framework.threshold`` different criteria (two of six in 2015; needs under
three of ten outcomes from 2022), whoever in the family meets each.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from referrals.framework import Criterion, Framework

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class Eligibility(Generic[K]):
    framework_key: str
    framework_version: str
    threshold: int
    #: member -> the criteria they meet, in the framework's order
    per_member: Mapping[K, tuple[Criterion, ...]]
    #: every criterion some member meets, in the framework's order
    family: tuple[Criterion, ...]

    @property
    def met(self) -> int:
        return len(self.family)

    @property
    def eligible(self) -> bool:
        return self.met >= self.threshold

    @property
    def still_needed(self) -> int:
        return max(0, self.threshold - self.met)


def criteria_for_categories(framework: Framework, categories: Collection[str]) -> frozenset[str]:
    """The criteria evidenced by these data categories (a flag's concerns, recorded before triage)."""
    return frozenset(c.key for c in framework.criteria if c.category in categories)


def eligibility(framework: Framework, member_criteria: Mapping[K, Collection[str]]) -> Eligibility[K]:
    """Judge a family's eligibility from the criteria keys each member meets.

    Raises:
        ValueError: a key that is not one of this framework's criteria (recorded under another one).
    """
    known = {c.key for c in framework.criteria}
    unknown = set().union(*member_criteria.values()) - known if member_criteria else set()
    if unknown:
        raise ValueError(f"not criteria of framework {framework.key}: {', '.join(sorted(unknown))}")
    per_member = {
        member: tuple(c for c in framework.criteria if c.key in keys) for member, keys in member_criteria.items()
    }
    everyone = set().union(*member_criteria.values()) if member_criteria else set()
    family = tuple(c for c in framework.criteria if c.key in everyone)
    return Eligibility(framework.key, framework.version, framework.threshold, per_member, family)
