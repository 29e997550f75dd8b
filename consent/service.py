"""Notice versions, imported from the register file (the gate reads them itself, ``portal.gate.register``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from consent.models import NoticeCoverage, NoticeVersion
from sharing_protocols.vocabulary import CATEGORIES
from sharing_protocols.yaml_register import (
    Build,
    Problems,
    Upserted,
    choice,
    date_field,
    list_field,
    parse_section,
    text_field,
    upsert_versioned,
)


@dataclass(frozen=True)
class NoticeVersionSpec:
    reference: str
    version: str
    title: str
    published_on: date
    summary: str | None
    coverage: frozenset[tuple[str, str]]  # (recipient kind, category)


def parse_notice_versions(records: Any, organisation_kinds: set[str], problems: Problems) -> list[NoticeVersionSpec]:
    """Validate the ``notice_versions`` section of a register file (problems collected, not raised)."""
    return parse_section(
        records,
        "notice_versions",
        problems,
        lambda record, where, found: _parse_notice_version(record, where, found, organisation_kinds),
    )


def _parse_notice_version(
    record: Mapping[str, Any], where: str, problems: Problems, organisation_kinds: set[str]
) -> Build[NoticeVersionSpec]:
    """A notice version's own fields (``parse_section`` checks reference, version, title and duplicates)."""
    summary = text_field(record, "summary", where, problems, required=False, max_len=4000)
    published_on = date_field(record, "published_on", where, problems)
    coverage_record = record.get("coverage")
    coverage: set[tuple[str, str]] = set()
    if not isinstance(coverage_record, dict) or not coverage_record:
        problems.add(f"{where}.coverage", "is required: recipient kind -> list of categories")
    else:
        for kind in coverage_record:
            cwhere = f"{where}.coverage.{kind}"
            if not choice(kind, organisation_kinds, cwhere, problems):
                continue
            for k, category in enumerate(list_field(coverage_record, kind, f"{where}.coverage", problems)):
                if choice(category, CATEGORIES, f"{cwhere}[{k}]", problems):
                    coverage.add((kind, category))

    def build(reference: str, version: str, title: str) -> NoticeVersionSpec:
        assert published_on
        return NoticeVersionSpec(reference, version, title, published_on, summary, frozenset(coverage))

    return build


def save_notice_versions(session: Session, specs: Sequence[NoticeVersionSpec]) -> Upserted[NoticeVersion]:
    """Create or replace each notice version by (reference, version); flush, never commit. A version
    that already says what its spec says is left untouched."""

    def matches(version: NoticeVersion, spec: NoticeVersionSpec) -> bool:
        return (
            version.title,
            version.published_on,
            version.summary,
            {(c.recipient_kind, c.category) for c in version.coverage},
        ) == (spec.title, spec.published_on, spec.summary, set(spec.coverage))

    def apply(version: NoticeVersion, spec: NoticeVersionSpec) -> None:
        version.title = spec.title
        version.published_on = spec.published_on
        version.summary = spec.summary
        version.coverage = [NoticeCoverage(recipient_kind=k, category=c) for (k, c) in sorted(spec.coverage)]

    return upsert_versioned(session, NoticeVersion, specs, matches=matches, apply=apply)
