"""Plain builders for triage tests: submitted nominations and known people, written as the real code
writes them (encrypted fields, blind indexes, blocking keys), without going through the journey's pages.

Each takes keyword overrides with defaults that make sense on the demo data (``portal/demo``), and needs
an app context (the key ring). The nominator is a demo account, by subject.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.crypto import blind_index
from portal.families.models import Person, RelationshipKind, RelationshipSource, ServiceRelationship
from portal.gate import AccessContext
from portal.organisations.models import CodeScheme, Organisation, User
from referrals.framework import Framework
from referrals.matching import fill_blocking_keys
from referrals.models import (
    FamilyTold,
    HouseholdRole,
    NominatedPerson,
    Nomination,
    NominationEvent,
    NominationEventKind,
    NominationStatus,
)
from referrals.setup import current_framework
from tests.conftest import build_app, free_port, seeded

FRAMEWORKS = ["troubled_families_2015", "supporting_families_2022"]


def triage_app(database_url: str, tmp_path: Path, framework: str) -> Flask:
    """The seeded portal running under the named framework file."""
    return seeded(build_app(database_url, tmp_path, free_port(), {"PORTAL_FRAMEWORK_FILE": framework}))


@dataclass(frozen=True)
class Nominee:
    """A person as a nominator describes them."""

    given_name: str = "Jayden"
    family_name: str = "Carter"
    date_of_birth: date | None = date(2015, 6, 14)
    nhs_number: str | None = None
    upn: str | None = None
    postcode: str | None = "EX4 4QJ"
    role: HouseholdRole = HouseholdRole.SUBJECT


def user(session: Session, subject: str) -> User:
    found = session.scalar(select(User).where(User.subject == subject))
    assert found is not None, f"no demo user {subject}"
    return found


def context(session: Session, subject: str = "sf.coordinator", *, at: datetime | None = None) -> AccessContext:
    u = user(session, subject)
    return AccessContext(
        user_id=u.id,
        organisation_id=u.organisation_id,
        organisation_kind=u.organisation.kind.value,
        roles=frozenset(r.value for r in u.roles),
        request_id=uuid.uuid4().hex,
        ip="127.0.0.1",
        user_agent="pytest",
        at=at or datetime.now(UTC),
    )


def route_for(framework: Framework, kind: str, key: str | None = None):
    """The route named, or the one most particular to the sector (a school's attendance route)."""
    routes = framework.routes_for(kind)
    assert routes, f"no route for {kind} in {framework.key}"
    if key:
        return next(r for r in routes if r.key == key)
    return min(routes, key=lambda r: len(r.sectors))


def create_nomination(
    session: Session,
    *,
    nominator: str = "school.practitioner",
    people: tuple[Nominee, ...] = (Nominee(),),
    framework: Framework | None = None,
    route_key: str | None = None,
    status: NominationStatus = NominationStatus.SUBMITTED,
    submitted_at: datetime | None = None,
    reference: str | None = None,
    concern: str = "Attendance has fallen to 78% this term and the family has stopped answering calls.",
    linked_to: Nomination | None = None,
    family_id: uuid.UUID | None = None,
) -> Nomination:
    """A nomination as the journey's submit leaves it: the row, its people and the ``submitted`` event."""
    framework = framework or current_framework()
    author = user(session, nominator)
    route = route_for(framework, author.organisation.kind.value, route_key)
    submitted = submitted_at or datetime.now(UTC) - timedelta(days=2)
    nomination = Nomination(
        reference=reference or f"SFN-{secrets.token_hex(3).upper()}",
        status=status,
        framework_key=framework.key,
        framework_version=framework.version,
        route_key=route.key,
        category=route.category,
        organisation_id=author.organisation_id,
        nominator_id=author.id,
        no_immediate_risk=True,
        concern=concern,
        tried="Two meetings with the parents; an attendance plan.",
        family_told=FamilyTold.TOLD_AND_NOTICE_GIVEN,
        created_at=submitted - timedelta(hours=1),
        updated_at=submitted,
        submitted_at=None if status == NominationStatus.DRAFT else submitted,
        linked_to_id=linked_to.id if linked_to else None,
        family_id=family_id,
    )
    for ordinal, p in enumerate(people):
        nomination.people.append(
            NominatedPerson(
                ordinal=ordinal,
                role=p.role,
                given_name=p.given_name,
                family_name=p.family_name,
                date_of_birth=p.date_of_birth,
                nhs_number=p.nhs_number,
                nhs_number_index=blind_index("nhs_number", p.nhs_number) if p.nhs_number else None,
                upn=p.upn,
                upn_index=blind_index("upn", p.upn) if p.upn else None,
                postcode=p.postcode,
            )
        )
    session.add(nomination)
    session.flush()
    if status != NominationStatus.DRAFT:
        session.add(
            NominationEvent(
                nomination_id=nomination.id, at=submitted, actor_id=author.id, kind=NominationEventKind.SUBMITTED
            )
        )
    if status == NominationStatus.LINKED:
        session.add(
            NominationEvent(
                nomination_id=nomination.id,
                at=submitted,
                actor_id=author.id,
                kind=NominationEventKind.DUPLICATE_LINKED,
                message="This person is already known to the Supporting Families team.",
                shared_with_nominator=True,
            )
        )
    session.flush()
    return nomination


def create_known_person(
    session: Session,
    *,
    given_name: str = "Jayden",
    family_name: str = "Carter",
    date_of_birth: date | None = date(2015, 6, 14),
    nhs_number: str | None = None,
    upn: str | None = None,
    postcode: str | None = "EX4 4QJ",
    served_by: tuple[tuple[str, str, RelationshipKind], ...] = (),
) -> Person:
    """A person the programme knows (not in any family), optionally served by demo organisations,
    each given as (code scheme, code, relationship kind)."""
    person = Person(
        nhs_number=nhs_number,
        nhs_number_index=blind_index("nhs_number", nhs_number) if nhs_number else None,
        upn=upn,
        upn_index=blind_index("upn", upn) if upn else None,
        given_name=given_name,
        family_name=family_name,
        date_of_birth=date_of_birth,
        postcode=postcode,
    )
    fill_blocking_keys(person)
    session.add(person)
    session.flush()
    for scheme, code, kind in served_by:
        organisation = session.scalar(
            select(Organisation).where(Organisation.code_scheme == CodeScheme(scheme), Organisation.code == code)
        )
        assert organisation is not None, f"no demo organisation {scheme}:{code}"
        session.add(
            ServiceRelationship(
                organisation_id=organisation.id,
                person_id=person.id,
                kind=kind,
                source=RelationshipSource.MANUAL,
                valid_from=date.today() - timedelta(days=100),
            )
        )
    session.flush()
    return person
