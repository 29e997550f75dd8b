"""The framework's shape: criteria, indicators, routes and threshold, and the questions pages ask of it.

Frozen, so the framework loaded at start can be shared by every request without anyone changing it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

SHIPPED_DIR = Path(__file__).resolve().parent.parent / "frameworks"
#: the frameworks shipped with the portal, by key; PORTAL_FRAMEWORK_FILE may name one instead of a path
SHIPPED_FRAMEWORKS: Mapping[str, Path] = MappingProxyType(
    {
        "troubled_families_2015": SHIPPED_DIR / "troubled_families_2015.yaml",
        "supporting_families_2022": SHIPPED_DIR / "supporting_families_2022.yaml",
    }
)
DEFAULT_FRAMEWORK = "troubled_families_2015"


class FrameworkError(ValueError):
    """The framework file is not valid; ``problems`` lists every problem, each with its place in the file."""

    def __init__(self, source: str, problems: Iterable[str]) -> None:
        self.source = source
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        count = f"{len(self.problems)} problem" + ("" if len(self.problems) == 1 else "s")
        super().__init__(f"the framework file {source} has {count}:\n{lines}")


@dataclass(frozen=True)
class Indicator:
    key: str  #: stable identifier, recorded with an eligibility decision
    text: str  #: what the coordinator reads


@dataclass(frozen=True)
class Criterion:
    """A headline criterion (2015) or headline outcome (2022): one of the problems a family can have."""

    key: str  #: stable identifier, recorded with an eligibility decision
    number: int  #: its number in the programme's list, for display
    title: str
    category: str  #: the data category that evidences it, as sharing protocols and notices name it
    description: str
    indicators: tuple[Indicator, ...]


@dataclass(frozen=True)
class Route:
    """An equivalent-concern route: how a partner brings in a family no dataset shows yet."""

    key: str
    title: str  #: what a nominator reads, e.g. "School attendance of equivalent concern"
    criterion: str  #: the key of the criterion a nomination under it evidences
    category: str  #: the data category the nomination carries to the council
    sectors: frozenset[str]  #: the organisation kinds whose practitioners may use it
    hint: str  #: guidance shown to the nominator
    indicator: str | None = None  #: the indicator an accepted nomination meets, if the file names one


@dataclass(frozen=True)
class Framework:
    key: str
    name: str
    version: str  #: the council's version of the file, recorded with decisions made under it
    period: str  #: the programme period it implements, e.g. "2015-2020"
    description: str
    threshold: int  #: how many criteria a family must meet to be eligible
    category_labels: tuple[tuple[str, str], ...]  #: (category, label) in the order the file declares them
    criteria: tuple[Criterion, ...]
    routes: tuple[Route, ...]

    @property
    def categories(self) -> tuple[str, ...]:
        return tuple(category for category, _label in self.category_labels)

    def criterion(self, key: str) -> Criterion:
        for criterion in self.criteria:
            if criterion.key == key:
                return criterion
        raise KeyError(f"no criterion {key!r} in framework {self.key}")

    def route(self, key: str) -> Route:
        for route in self.routes:
            if route.key == key:
                return route
        raise KeyError(f"no route {key!r} in framework {self.key}")

    def routes_for(self, kind: str) -> tuple[Route, ...]:
        """The routes a practitioner of this organisation kind may nominate under, in the file's order."""
        return tuple(route for route in self.routes if kind in route.sectors)

    def eligible(self, criteria_met: Collection[str]) -> bool:
        """Whether meeting these criteria makes a family eligible.

        Raises:
            ValueError: a key that is not one of this framework's criteria. Silently ignoring it could
                hide a decision recorded under another framework, which an auditor would then not find.
        """
        unknown = set(criteria_met) - {c.key for c in self.criteria}
        if unknown:
            raise ValueError(f"not criteria of framework {self.key}: {', '.join(sorted(unknown))}")
        return len(set(criteria_met)) >= self.threshold

    def category_label(self, category: str) -> str:
        return dict(self.category_labels).get(category) or category.replace("_", " ").capitalize()
