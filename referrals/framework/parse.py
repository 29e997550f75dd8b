"""Reading a framework file: safe YAML, duplicate keys refused, every problem collected with its place.

A framework file decides who may bring a family into the programme, so a mistake in it must stop the
portal at start, with every problem named where it is in the file so a council officer fixes them all in
one pass, rather than surface later as a nomination that cannot be made or an eligibility decision that
counted the wrong thing.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import yaml

from referrals.framework.model import Criterion, Framework, FrameworkError, Indicator, Route
from sharing_protocols.policy import PROGRAMME_MEMBERSHIP

MAX_FILE_CHARS = 200_000  # a framework is a few pages; anything larger is the wrong file
_KEY = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")
_KEY_MAX = 60
T = TypeVar("T")
_ABSENT = object()


def load_framework(path: str | Path, organisation_kinds: Collection[str]) -> Framework:
    """Read and validate a framework file; see :func:`parse_framework`."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise FrameworkError(source, ["the file is not UTF-8 text; save it as UTF-8"]) from None
    except OSError as exc:
        raise FrameworkError(source, [f"the file cannot be read: {exc.strerror or exc}"]) from None
    return parse_framework(text, source, organisation_kinds)


def parse_framework(text: str, source: str, organisation_kinds: Collection[str]) -> Framework:
    """Validate a framework file's text and build the framework.

    Args:
        text: the YAML text.
        source: where it came from (a path), named in the error.
        organisation_kinds: the organisation kinds routes may name (the values of ``OrganisationKind``).

    Raises:
        FrameworkError: listing every problem found, each starting with its place in the file
            (``routes[2].sectors[0]: 'gp' is not an organisation kind; ...``), never a YAML exception.
    """
    if not organisation_kinds:
        raise ValueError("organisation_kinds must name at least one organisation kind")
    if len(text) > MAX_FILE_CHARS:
        raise FrameworkError(source, [f"the file is larger than {MAX_FILE_CHARS:,} characters"])
    try:
        document, duplicates = _load_yaml(text)
    except yaml.YAMLError as exc:
        raise FrameworkError(source, [_yaml_problem(exc)]) from None
    checker = _Checker(duplicates, frozenset(organisation_kinds))
    framework = checker.framework(document)
    if checker.problems or framework is None:
        raise FrameworkError(source, checker.problems or ["the file is not a valid framework"])
    return framework


# ------------------------------------------------------------------------------------------ YAML


def _load_yaml(text: str) -> tuple[Any, list[str]]:
    """Load YAML safely, finding duplicate keys first: plain YAML keeps the last and drops the others
    without a word, so a council officer who pasted a section twice would never know which one counts."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, []
        duplicates = _duplicate_keys(node)
        return loader.construct_document(node), duplicates
    finally:
        loader.dispose()


def _duplicate_keys(root: yaml.Node) -> list[str]:
    problems: list[str] = []
    seen: set[int] = set()  # aliases share nodes; visit each once, which also defuses alias bombs
    stack: list[tuple[yaml.Node, str]] = [(root, "")]
    while stack:
        node, where = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        children: list[tuple[yaml.Node, str]] = []
        if isinstance(node, yaml.MappingNode):
            first_line: dict[str, int] = {}
            for key_node, value_node in node.value:
                name = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
                path = _at(where, name)
                line = key_node.start_mark.line + 1
                if name in first_line:
                    problems.append(f"{path}: appears twice (lines {first_line[name]} and {line}); keep one")
                first_line.setdefault(name, line)
                children.append((value_node, path))
        elif isinstance(node, yaml.SequenceNode):
            children = [(item, f"{where}[{i}]") for i, item in enumerate(node.value)]
        stack.extend(reversed(children))
    return problems


def _yaml_problem(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        context = f" ({exc.context})" if exc.context else ""
        return f"line {mark.line + 1}, column {mark.column + 1}: not valid YAML: {exc.problem}{context}"
    return f"not valid YAML: {exc}"


def _at(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _listed(values: Iterable[str]) -> str:
    return ", ".join(sorted(values))


# ------------------------------------------------------------------------------------ validation

# (required keys, optional keys) of each kind of record; any other key is refused, to catch typos
_TOP = ({"key", "name", "version", "period", "threshold", "categories", "criteria", "routes"}, {"description"})
_CRITERION = ({"key", "number", "title", "category", "indicators"}, {"description"})
_INDICATOR = ({"key", "text"}, set[str]())
_ROUTE = ({"key", "title", "criterion", "sectors"}, {"category", "indicator", "hint"})


class _Checker:
    """Walks the document once, collecting every problem rather than stopping at the first, so a council
    officer fixes the file in one pass."""

    def __init__(self, duplicates: list[str], kinds: frozenset[str]) -> None:
        self.problems = list(duplicates)
        self.kinds = kinds

    def add(self, where: str, what: str) -> None:
        self.problems.append(f"{where or 'the file'}: {what}")

    def framework(self, doc: Any) -> Framework | None:
        if doc is None:
            self.add("", "is empty; it must hold a framework (see the comment at the top of a shipped file)")
            return None
        top = self.mapping(doc, "", _TOP)
        if top is None:
            return None
        key = self.identifier(top, "key", "")
        name = self.text(top, "name", "", 200)
        version = self.text(top, "version", "", 40)
        period = self.text(top, "period", "", 40)
        description = self.text(top, "description", "", 2000, required=False)
        labels = self.categories(top.get("categories", _ABSENT))
        raw_criteria = _records(top.get("criteria"))
        criteria = self.items(top, "criteria", "", 20, lambda item, at: self.criterion(item, at, labels))
        self.unique(criteria, "key")
        self.unique(criteria, "number")
        self.unique([(f"{at}.indicators[{j}]", i) for at, c in criteria for j, i in enumerate(c.indicators)], "key")
        for at, criterion in criteria:
            if not 1 <= criterion.number <= len(raw_criteria):
                self.add(f"{at}.number", f"must be from 1 to {len(raw_criteria)} (the number of criteria)")
        # judged on what the file says, not on what parsed, so one broken entry does not cause a cascade
        raw_routes = _records(top.get("routes"))
        used = _texts(c.get("category") for c in raw_criteria) | _texts(r.get("category") for r in raw_routes)
        every_category_given = bool(raw_criteria) and all(isinstance(c.get("category"), str) for c in raw_criteria)
        for category in labels:
            if every_category_given and category not in used:
                self.add(f"categories.{category}", "is declared but no criterion or route uses it; remove it")
        # a route naming a criterion the file has, but which had problems of its own, is not reported again
        by_key: dict[str, Criterion | None] = {
            c.get("key"): None for c in raw_criteria if isinstance(c.get("key"), str)
        }
        by_key |= {c.key: c for _, c in criteria}
        routes = self.items(top, "routes", "", 60, lambda item, at: self.route(item, at, labels, by_key))
        self.unique(routes, "key")
        covered = _texts(r.get("criterion") for r in raw_routes)
        for at, criterion in criteria:
            if isinstance(top.get("routes"), list) and criterion.key not in covered:
                self.add(at, f"no route lets a partner nominate under {criterion.key!r}; add one under routes")
        threshold = self.threshold(top, len(raw_criteria))
        if not self.problems and (len(criteria), len(routes)) != (len(top["criteria"]), len(top["routes"])):
            self.add("", "is not a valid framework")  # a guard: every dropped entry should have said why
        if self.problems or key is None or name is None or version is None or period is None or threshold is None:
            return None
        return Framework(
            key=key,
            name=name,
            version=version,
            period=period,
            description=description or "",
            threshold=threshold,
            category_labels=tuple(labels.items()),
            criteria=tuple(c for _, c in criteria),
            routes=tuple(r for _, r in routes),
        )

    def categories(self, value: Any) -> dict[str, str]:
        where = "categories"
        if value is _ABSENT:
            return {}  # reported by mapping()
        if not isinstance(value, dict) or not value:
            self.add(where, "must map each data category to its label, e.g. 'health: Health'")
            return {}
        labels: dict[str, str] = {}
        for category in value:
            if self.category_format(category, _at(where, str(category))):
                text = self.text(value, category, where, 100)
                if text is not None:
                    labels[category] = text
        return labels

    def criterion(self, item: Any, at: str, labels: Mapping[str, str]) -> Criterion | None:
        before = len(self.problems)
        record = self.mapping(item, at, _CRITERION)
        if record is None:
            return None
        key = self.identifier(record, "key", at)
        number = self.integer(record, "number", at)
        title = self.text(record, "title", at, 200)
        category = self.declared_category(record, at, labels)
        description = self.text(record, "description", at, 2000, required=False) or ""
        indicators = self.items(record, "indicators", at, 50, self.indicator)
        if len(self.problems) > before or key is None or number is None or title is None or category is None:
            return None
        return Criterion(key, number, title, category, description, tuple(i for _, i in indicators))

    def indicator(self, item: Any, at: str) -> Indicator | None:
        record = self.mapping(item, at, _INDICATOR)
        if record is None:
            return None
        key, text = self.identifier(record, "key", at), self.text(record, "text", at, 500)
        return Indicator(key, text) if key and text else None

    def route(
        self, item: Any, at: str, labels: Mapping[str, str], criteria: Mapping[str, Criterion | None]
    ) -> Route | None:
        before = len(self.problems)
        record = self.mapping(item, at, _ROUTE)
        if record is None:
            return None
        key = self.identifier(record, "key", at)
        title = self.text(record, "title", at, 200)
        hint = self.text(record, "hint", at, 1000, required=False) or ""
        criterion = None
        name = self.identifier(record, "criterion", at)
        if name is not None and criteria:
            criterion = criteria.get(name)
            if name not in criteria:
                self.add(f"{at}.criterion", f"{name!r} is not the key of any criterion; {_expected(name, criteria)}")
        category = criterion.category if criterion else None
        if "category" in record:
            category = self.declared_category(record, at, labels)
        indicator = self.identifier(record, "indicator", at) if "indicator" in record else None
        if indicator is not None and criterion is not None:
            keys = {i.key for i in criterion.indicators}
            if indicator not in keys:
                self.add(
                    f"{at}.indicator", f"{indicator!r} is not an indicator of {name!r}; {_expected(indicator, keys)}"
                )
        sectors = self.sectors(record.get("sectors"), f"{at}.sectors") if "sectors" in record else None
        if len(self.problems) > before or None in (key, title, criterion, category, sectors):
            return None
        assert key and title and criterion and category and sectors
        return Route(key, title, criterion.key, category, sectors, hint, indicator)

    def sectors(self, value: Any, where: str) -> frozenset[str] | None:
        if not isinstance(value, list) or not value:
            self.add(where, f"must be a list of one or more organisation kinds: {_listed(self.kinds)}")
            return None
        good: set[str] = set()
        for i, kind in enumerate(value):
            if not isinstance(kind, str) or kind not in self.kinds:
                self.add(f"{where}[{i}]", f"{kind!r} is not an organisation kind; {_expected(kind, self.kinds)}")
            elif kind in good:
                self.add(f"{where}[{i}]", f"{kind!r} is listed twice")
            else:
                good.add(kind)
        return frozenset(good) if len(good) == len(value) else None

    def threshold(self, top: Mapping[str, Any], criteria: int) -> int | None:
        value = self.integer(top, "threshold", "")
        if value is not None and criteria and not 1 <= value <= criteria:
            self.add("threshold", f"must be a whole number from 1 to {criteria} (the number of criteria), not {value}")
            return None
        return value

    # ------------------------------------------------------------------------------------- fields

    def mapping(self, value: Any, where: str, keys: tuple[set[str], set[str]]) -> dict[str, Any] | None:
        required, allowed = keys[0], keys[0] | keys[1]
        if not isinstance(value, dict):
            self.add(where, f"must be a mapping with the keys {_listed(allowed)}, not {_kind(value)}")
            return None
        for key in value:
            if not isinstance(key, str) or key not in allowed:
                self.add(_at(where, str(key)), f"is not a known key; {_expected(key, allowed)}")
        for key in sorted(required - set(value)):
            self.add(_at(where, key), "is required")
        return value

    def items(
        self, record: Mapping[str, Any], key: str, where: str, most: int, parse: Callable[[Any, str], T | None]
    ) -> list[tuple[str, T]]:
        """Parse a list under ``key``; returns (place, parsed) for each item that had no problem."""
        at = _at(where, key)
        value = record.get(key)
        if key not in record:
            return []  # reported by mapping()
        if not isinstance(value, list) or not 1 <= len(value) <= most:
            found = f"it has {len(value)}" if isinstance(value, list) else f"not {_kind(value)}"
            self.add(at, f"must be a list of 1 to {most} entries; {found}")
            return []
        parsed = [(f"{at}[{i}]", parse(item, f"{at}[{i}]")) for i, item in enumerate(value)]
        return [(place, item) for place, item in parsed if item is not None]

    def unique(self, items: list[tuple[str, Any]], attr: str) -> None:
        first: dict[Any, str] = {}
        for at, item in items:
            value = getattr(item, attr)
            if value in first:
                self.add(f"{at}.{attr}", f"{value!r} is already used by {first[value]}; each {attr} must be unique")
            first.setdefault(value, at)

    def text(self, record: Mapping[str, Any], key: Any, where: str, most: int, required: bool = True) -> str | None:
        at = _at(where, str(key))
        value = record.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required and key in record:
                self.add(at, "must not be empty")
            return None
        if not isinstance(value, str):
            self.add(at, f"must be text, not {_kind(value)}; put it in quotes")
            return None
        if len(value.strip()) > most:
            self.add(at, f"must be {most} characters or fewer (it has {len(value.strip())})")
            return None
        return value.strip()

    def identifier(self, record: Mapping[str, Any], key: str, where: str) -> str | None:
        value = self.text(record, key, where, _KEY_MAX)
        if value is not None and not _KEY.fullmatch(value):
            self.add(_at(where, key), f"{value!r} must be lowercase letters, digits and single underscores")
            return None
        return value

    def integer(self, record: Mapping[str, Any], key: str, where: str) -> int | None:
        value = record.get(key)
        if key in record and (isinstance(value, bool) or not isinstance(value, int)):
            self.add(_at(where, key), f"must be a whole number, not {_kind(value)}")
            return None
        return value

    def category_format(self, category: Any, where: str) -> bool:
        if not isinstance(category, str) or not _KEY.fullmatch(category) or len(category) > _KEY_MAX:
            self.add(where, f"{category!r} is not a data category: use lowercase letters and underscores")
            return False
        if category == PROGRAMME_MEMBERSHIP:
            self.add(
                where, f"{PROGRAMME_MEMBERSHIP!r} is the flag itself, not a concern; it cannot evidence a criterion"
            )
            return False
        return True

    def declared_category(self, record: Mapping[str, Any], where: str, labels: Mapping[str, str]) -> str | None:
        if "category" not in record:
            return None  # reported by mapping() where it is required
        value = record["category"]
        where = _at(where, "category")
        if value is None or value == "":
            self.add(where, "must not be empty")
            return None
        if not self.category_format(value, where):
            return None
        if labels and value not in labels:
            self.add(where, f"{value!r} is not declared under categories; {_expected(value, labels)}")
            return None
        return value if labels else None


def _records(value: Any) -> list[dict[Any, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _texts(values: Iterable[Any]) -> set[str]:
    return {value for value in values if isinstance(value, str)}


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, date):
        return f"the date {value}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return repr(value)


def _expected(value: Any, allowed: Iterable[str]) -> str:
    allowed = sorted(allowed)
    close = difflib.get_close_matches(str(value), allowed, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"{hint}expected one of: {', '.join(allowed)}"
