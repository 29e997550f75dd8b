"""The shared parts of the register file import: field checks, and the parse / upsert routine that
protocols (``sharing_protocols.register.service``) and notice versions (``consent.service``) both follow.

Each section of the register file is a list of records identified by (reference, version), each with a
title. ``parse_section`` walks a section: it checks the shape, the identifying fields and duplicates,
and leaves the other fields to the section's own ``parse_record``; problems are collected with their
location, never raised one at a time. ``upsert_versioned`` then creates or replaces each record by
(reference, version), leaving untouched a record that already says what the file says, so a re-import
of an unchanged file writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session


class RegisterError(ValueError):
    """The register file is not valid; ``problems`` lists every problem with its location."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = list(problems)


@dataclass
class Problems:
    items: list[str] = field(default_factory=list)

    def add(self, where: str, what: str) -> None:
        self.items.append(f"{where}: {what}")


def text_field(
    record: Mapping[str, Any], key: str, where: str, problems: Problems, *, required: bool = True, max_len: int = 200
) -> str | None:
    value = record.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            problems.add(f"{where}.{key}", "is required")
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        problems.add(f"{where}.{key}", "must be text")
        return None
    value = value.strip()
    if len(value) > max_len:
        problems.add(f"{where}.{key}", f"must be {max_len} characters or fewer")
        return None
    return value


def date_field(
    record: Mapping[str, Any], key: str, where: str, problems: Problems, *, required: bool = True
) -> date | None:
    value = record.get(key)
    if value is None:
        if required:
            problems.add(f"{where}.{key}", "is required (YYYY-MM-DD)")
        return None
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    problems.add(f"{where}.{key}", f"must be a date written YYYY-MM-DD, not {value!r}")
    return None


def list_field(record: Mapping[str, Any], key: str, where: str, problems: Problems) -> list[Any]:
    value = record.get(key, [])
    if value is None:
        return []
    if not isinstance(value, list):
        problems.add(f"{where}.{key}", "must be a list")
        return []
    return value


def choice(value: Any, allowed: Mapping[str, str] | set[str], where: str, problems: Problems) -> str | None:
    if isinstance(value, str) and value in allowed:
        return value
    problems.add(where, f"{value!r} is not one of: {', '.join(sorted(allowed))}")
    return None


SpecT = TypeVar("SpecT")

#: what a section's ``parse_record`` returns: given the record's reference, version and title (checked
#: by ``parse_section``), build its spec. Called only when the record had no problem at all.
Build = Callable[[str, str, str], SpecT]


def parse_section(
    records: Any,
    section: str,
    problems: Problems,
    parse_record: Callable[[Mapping[str, Any], str, Problems], Build[SpecT]],
) -> list[SpecT]:
    """Validate one section of a register file into specs (problems collected, not raised).

    Args:
        records: the section's value as loaded from YAML (None when the file has no such section).
        section: its name, the start of every problem's location ("protocols[3].title").
        problems: where problems are collected.
        parse_record: checks a record's own fields (everything but reference, version and title),
            adding problems at ``where``, and returns how to build its spec.
    """
    if records is None:
        return []
    if not isinstance(records, list):
        problems.add(section, "must be a list")
        return []
    specs: list[SpecT] = []
    seen: set[tuple[str, str]] = set()
    for i, record in enumerate(records):
        where = f"{section}[{i}]"
        if not isinstance(record, dict):
            problems.add(where, "must be a mapping")
            continue
        before = len(problems.items)
        reference = text_field(record, "reference", where, problems, max_len=40)
        version = text_field(record, "version", where, problems, max_len=20)
        title = text_field(record, "title", where, problems)
        build = parse_record(record, where, problems)
        if reference and version:
            if (reference, version) in seen:
                problems.add(where, f"{reference} v{version} appears twice")
            seen.add((reference, version))
        if len(problems.items) == before:
            assert reference and version and title
            specs.append(build(reference, version, title))
    return specs


class VersionedSpec(Protocol):
    @property
    def reference(self) -> str: ...

    @property
    def version(self) -> str: ...


RowT = TypeVar("RowT")
VSpecT = TypeVar("VSpecT", bound=VersionedSpec)


@dataclass
class Upserted(Generic[RowT]):
    """What ``upsert_versioned`` did: the rows it created and replaced, and how many it left as they were."""

    created: list[RowT] = field(default_factory=list)
    updated: list[RowT] = field(default_factory=list)
    unchanged: int = 0

    @property
    def counts(self) -> dict[str, int]:
        return {"created": len(self.created), "updated": len(self.updated), "unchanged": self.unchanged}


def upsert_versioned(
    session: Session,
    model: Any,
    specs: Sequence[VSpecT],
    *,
    matches: Callable[[Any, VSpecT], bool],
    apply: Callable[[Any, VSpecT], None],
) -> Upserted[Any]:
    """Create or replace each spec's row by (reference, version); flush, never commit.

    Args:
        model: the mapped class, with ``reference`` and ``version`` columns.
        matches: whether an existing row already says everything the spec says (then it is not touched).
        apply: write the spec's values (all but reference and version) onto the row.
    """
    done: Upserted[Any] = Upserted()
    for spec in specs:
        row = session.scalars(
            select(model).where(model.reference == spec.reference, model.version == spec.version)
        ).one_or_none()
        if row is None:
            row = model(reference=spec.reference, version=spec.version)
            session.add(row)
            done.created.append(row)
        elif matches(row, spec):
            done.unchanged += 1
            continue
        else:
            done.updated.append(row)
        apply(row, spec)
    session.flush()
    return done
