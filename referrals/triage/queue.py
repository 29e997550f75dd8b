"""The coordinator's triage queue: filters, pagination, a fixed number of queries per page."""

from __future__ import annotations

import enum
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session, aliased

from portal import gate
from portal.access_log.events import EventType
from portal.gate import AccessContext, Triage
from portal.organisations.models import Organisation
from referrals.framework import Framework
from referrals.labels import STATUS_LABELS
from referrals.models import (
    NominatedPerson,
    Nomination,
    NominationStatus,
)
from referrals.triage.core import (
    PER_PAGE,
    QUEUE_STATUSES,
    route_title,
)
from sharing_protocols.policy import TriageAction


class Age(enum.StrEnum):
    UNDER_A_WEEK = "under-7-days"
    ONE_TO_FOUR_WEEKS = "7-to-28-days"
    OVER_FOUR_WEEKS = "over-28-days"

    @property
    def label(self) -> str:
        return {
            "under-7-days": "Less than a week",
            "7-to-28-days": "1 to 4 weeks",
            "over-28-days": "More than 4 weeks",
        }[self.value]


@dataclass(frozen=True)
class QueueFilters:
    route: str | None = None
    organisation_id: uuid.UUID | None = None
    age: Age | None = None
    status: NominationStatus | None = None

    def describe(self) -> str:
        """For the access log: which filters, never any personal data."""
        parts = [
            f"route={self.route}" if self.route else "",
            f"organisation={self.organisation_id}" if self.organisation_id else "",
            f"age={self.age.value}" if self.age else "",
            f"status={self.status.value}" if self.status else "",
        ]
        return ";".join(p for p in parts if p) or "none"


@dataclass(frozen=True)
class QueueRow:
    id: uuid.UUID
    reference: str
    status: NominationStatus
    status_label: str
    route_title: str
    organisation: str
    submitted_at: datetime | None
    age_days: int | None
    people: int
    #: the name of the person the concern is about
    subject_name: str
    linked: bool


@dataclass(frozen=True)
class QueuePage:
    rows: list[QueueRow]
    total: int
    page: int
    per_page: int
    filters: QueueFilters
    #: organisations that have submitted nominations, for the filter: (id, name)
    organisations: list[tuple[uuid.UUID, str]] = field(default_factory=list)

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))


def _conditions(filters: QueueFilters, at: datetime) -> list[ColumnElement[bool]]:
    statuses = [filters.status] if filters.status else list(QUEUE_STATUSES)
    where = [Nomination.status.in_(statuses)]
    if filters.route:
        where.append(Nomination.route_key == filters.route)
    if filters.organisation_id:
        where.append(Nomination.organisation_id == filters.organisation_id)
    week, month = at - timedelta(days=7), at - timedelta(days=28)
    if filters.age == Age.UNDER_A_WEEK:
        where.append(Nomination.submitted_at > week)
    elif filters.age == Age.ONE_TO_FOUR_WEEKS:
        where += [Nomination.submitted_at <= week, Nomination.submitted_at > month]
    elif filters.age == Age.OVER_FOUR_WEEKS:
        where.append(Nomination.submitted_at <= month)
    return where


def _page_rows(session: Session, where: list[ColumnElement[bool]], page: int) -> Sequence[Any]:
    """One page of the queue, oldest submission first, with each nomination's organisation, number of
    people and the name of the person the concern is about: one statement."""
    subject = aliased(NominatedPerson)
    people = (
        select(func.count(NominatedPerson.id))
        .where(NominatedPerson.nomination_id == Nomination.id)
        .correlate(Nomination)
        .scalar_subquery()
    )
    return session.execute(
        select(
            Nomination.id,
            Nomination.reference,
            Nomination.status,
            Nomination.route_key,
            Nomination.submitted_at,
            Nomination.linked_to_id,
            Organisation.name.label("organisation"),
            people.label("people"),
            subject.given_name,
            subject.family_name,
        )
        .join(Organisation, Organisation.id == Nomination.organisation_id)
        .outerjoin(subject, (subject.nomination_id == Nomination.id) & (subject.ordinal == 0))
        .where(*where)
        .order_by(Nomination.submitted_at, Nomination.id)
        .offset((page - 1) * PER_PAGE)
        .limit(PER_PAGE)
    ).all()


def _organisations(session: Session) -> list[tuple[uuid.UUID, str]]:
    """Organisations that have submitted nominations, for the filter."""
    submitting = select(Nomination.organisation_id).where(Nomination.status != NominationStatus.DRAFT)
    return [
        (r.id, r.name)
        for r in session.execute(
            select(Organisation.id, Organisation.name)
            .where(Organisation.id.in_(submitting))
            .order_by(Organisation.name)
        )
    ]


def _queue_row(r: Any, framework: Framework, at: datetime) -> QueueRow:
    return QueueRow(
        id=r.id,
        reference=r.reference or "",
        status=r.status,
        status_label=STATUS_LABELS[r.status],
        route_title=route_title(framework, r.route_key),
        organisation=r.organisation,
        submitted_at=r.submitted_at,
        age_days=(at - r.submitted_at).days if r.submitted_at else None,
        people=r.people or 0,
        subject_name=f"{r.given_name} {r.family_name}" if r.given_name is not None else "",
        linked=r.status == NominationStatus.LINKED or r.linked_to_id is not None,
    )


def list_nominations(
    session: Session, ctx: AccessContext, framework: Framework, filters: QueueFilters, *, page: int = 1
) -> QueuePage:
    """The triage queue, oldest submission first, a page at a time: three queries whatever the page size.

    Raises:
        AccessDenied: not a coordinator of the council (logged).
    """
    permit = gate.authorise(
        session, ctx, Triage(TriageAction.LIST_NOMINATIONS), attempted=EventType.TRIAGE_QUEUE_LISTED
    )
    where = _conditions(filters, ctx.at)
    total = session.scalar(select(func.count()).select_from(Nomination).where(*where)) or 0
    page = max(1, min(page, max(1, math.ceil(total / PER_PAGE))))
    rows = _page_rows(session, where, page)
    organisations = _organisations(session)
    gate.record(
        session,
        ctx,
        EventType.TRIAGE_QUEUE_LISTED,
        permit,
        detail={
            "page": str(page),
            "results": str(total),
            "nominations": ",".join(r.reference or "" for r in rows),
            "filters": filters.describe(),
        },
    )
    queue = [_queue_row(r, framework, ctx.at) for r in rows]
    return QueuePage(queue, total, page, PER_PAGE, filters, organisations)
