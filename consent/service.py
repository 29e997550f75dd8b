"""Notice versions (imported from the register file), notices given, objections: facts for the gate."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import String, cast, func, select
from sqlalchemy.orm import Session

from consent.models import NoticeCoverage, NoticeGiven, NoticeGivenMember, NoticeVersion, Objection, ObjectionStatus
from sharing_protocols import policy
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


def notice_version_facts(session: Session) -> dict[str, tuple[str, frozenset[tuple[str, str]]]]:
    """Every notice version: id -> (its reference, as quoted to users, and its coverage), for the cache."""
    versions: dict[str, tuple[str, set[tuple[str, str]]]] = {}
    rows = session.execute(
        select(
            NoticeVersion.id,
            NoticeVersion.reference,
            NoticeVersion.version,
            NoticeCoverage.recipient_kind,
            NoticeCoverage.category,
        ).outerjoin(NoticeCoverage, NoticeCoverage.version_id == NoticeVersion.id)
    ).all()
    for r in rows:
        entry = versions.setdefault(str(r.id), (f"{r.reference} v{r.version}", set()))
        if r.recipient_kind is not None:
            entry[1].add((r.recipient_kind, r.category))
    return {key: (ref, frozenset(coverage)) for key, (ref, coverage) in versions.items()}


def notice_facts(session: Session, family_ids: Collection[uuid.UUID]) -> tuple[policy.NoticeGiven, ...]:
    """The notices given to these families, with members and coverage, in one query whatever the count."""
    if not family_ids:
        return ()
    members = (
        select(func.aggregate_strings(cast(NoticeGivenMember.person_id, String), ","))
        .where(NoticeGivenMember.notice_id == NoticeGiven.id)
        .scalar_subquery()
    )
    coverage = (
        select(func.aggregate_strings(NoticeCoverage.recipient_kind + ":" + NoticeCoverage.category, ","))
        .where(NoticeCoverage.version_id == NoticeGiven.version_id)
        .scalar_subquery()
    )
    rows = session.execute(
        select(
            NoticeGiven.id,
            NoticeGiven.family_id,
            NoticeGiven.given_on,
            NoticeVersion.reference,
            NoticeVersion.version,
            members.label("members"),
            coverage.label("coverage"),
        )
        .join(NoticeVersion, NoticeVersion.id == NoticeGiven.version_id)
        .where(NoticeGiven.family_id.in_(family_ids))
    ).all()
    return tuple(
        policy.NoticeGiven(
            id=str(r.id),
            version_ref=f"{r.reference} v{r.version}",
            family_id=str(r.family_id),
            # SQLite keeps UUIDs as 32 hex digits and PostgreSQL with dashes: normalise both
            member_person_ids=frozenset(str(uuid.UUID(m)) for m in r.members.split(",")) if r.members else frozenset(),
            given_on=r.given_on,
            coverage=frozenset(tuple(c.split(":", 1)) for c in r.coverage.split(",")) if r.coverage else frozenset(),
        )
        for r in rows
    )


def objection_facts(session: Session, person_ids: Collection[uuid.UUID]) -> tuple[policy.Objection, ...]:
    if not person_ids:
        return ()
    rows = session.scalars(select(Objection).where(Objection.person_id.in_(person_ids))).all()
    return tuple(
        policy.Objection(
            id=str(o.id),
            person_id=str(o.person_id),
            category=o.category,
            purpose=o.purpose,
            upheld=o.status == ObjectionStatus.UPHELD,
            basis=o.basis or "",
        )
        for o in rows
    )
