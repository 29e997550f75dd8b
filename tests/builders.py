"""The test data builders, in one place: contexts for the demo users, colleagues, routes, people,
nominations (drafted through the journey's services, or written as a submission leaves them), known
people and the triage steps that follow.

Every row is written by its owner's writer, as the demo's are: nominations by the demo writers
(``referrals.journey.demo.write_nomination``, ``referrals.triage.demo.write_submitted``), known people by
``portal.families.records`` (through ``referrals.triage.demo.add_known_person``), users by
``portal.organisations.records``, and drafts and decisions by the journey's and triage's services. Where
the demo already takes a step (a user's context, reviewing every match, the route a sector uses) the
builder calls it, so the step is written once. The defaults make sense on the demo data
(``portal.demo``); every builder needs an app context (the key ring).

Plain functions, no fixtures: those are in the ``conftest.py`` nearest the modules that share them.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal import db
from portal.families.identifiers import synthetic_nhs_number, synthetic_upn
from portal.families.models import Person, RelationshipKind
from portal.gate import AccessContext
from portal.organisations import records as organisation_records
from portal.organisations.models import CodeScheme, Organisation, Role, User
from referrals.framework import Framework, Route
from referrals.journey import service
from referrals.journey.demo import Nominee, route_for
from referrals.models import HouseholdRole, NominatedPerson, Nomination, NominationStatus
from referrals.setup import current_framework
from referrals.triage import accept
from referrals.triage import demo as triage_demo

#: a valid NHS number (never issued) that no demo person has
UNKNOWN_NHS = synthetic_nhs_number(5000)

# ------------------------------------------------------------------------------ sessions and calls


@contextmanager
def session_of(app: Flask) -> Iterator[Session]:
    """A session in an app context, committed at the end (as ``@commits`` does after a 2xx)."""
    with app.app_context():
        session = db.session()
        yield session
        session.commit()


def call(app: Flask, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a service function in its own transaction, committed when it returns (as ``commits`` does)."""
    with session_of(app) as session:
        return function(session, *args, **kwargs)


def framework_of(app: Flask) -> Framework:
    return app.extensions["framework"]


# --------------------------------------------------------------------------- users and contexts


def user(session: Session, subject: str) -> User:
    found = session.scalar(select(User).where(User.subject == subject))
    assert found is not None, f"no demo user {subject}"
    return found


def context(session: Session, subject: str = "sf.coordinator", *, at: datetime | None = None) -> AccessContext:
    """The demo user's context, as a request from this machine would make it."""
    return triage_demo.acting_as(
        user(session, subject),
        at or datetime.now(UTC),
        request_id=uuid.uuid4().hex,
        ip="127.0.0.1",
        user_agent="pytest",
    )


def context_of(app: Flask, subject: str) -> AccessContext:
    """``context`` for a test that holds the app rather than a session."""
    with app.app_context():
        return context(db.session(), subject)


def add_colleague(app: Flask, of_subject: str, subject: str, roles: tuple[Role, ...] = (Role.PRACTITIONER,)) -> str:
    """Another user in the same organisation as ``of_subject`` (the demo has one practitioner each)."""
    with session_of(app) as session:
        other = user(session, of_subject)
        organisation_records.add_user(
            session,
            issuer=other.issuer,
            subject=subject,
            organisation_id=other.organisation_id,
            display_name=f"Colleague {subject}",
            email=f"{subject}@example.test",
            roles=roles,
        )
    return subject


def person_named(session: Session, name: str) -> Person:
    found = triage_demo.person_named(session, name)
    assert found is not None, f"no demo person {name}"
    return found


# ------------------------------------------------------------------------------------- routes


def route_not_for(framework: Framework, kind: str) -> Route:
    """A route of the framework that this sector may not use."""
    return next(r for r in framework.routes if kind not in r.sectors)


# ---------------------------------------------------------------- the partner's journey: drafts

_counter = iter(range(5000, 10_000))


def a_person(**overrides: Any) -> service.PersonAnswers:
    """A valid, invented person (NHS number in the never-issued 999 range, a UPN with LA code 999)."""
    n = next(_counter)
    values: dict[str, Any] = {
        "given_name": "Jamie",
        "family_name": f"Tester{n}",
        "date_of_birth": date(2015, 4, 3),
        "nhs_number": synthetic_nhs_number(700_000 + n),
        "upn": synthetic_upn(n),
        "postcode": "EX1 1AA",
        "role": "subject",
    }
    return service.PersonAnswers(**{**values, **overrides})


def complete_draft(
    app: Flask,
    ctx: AccessContext,
    route: Route,
    person: service.PersonAnswers | None = None,
    *,
    members: tuple[service.PersonAnswers, ...] = (),
    told: str = "told_and_notice_given",
) -> uuid.UUID:
    """A draft with every answer, made page by page through the services (one commit per page)."""
    framework = framework_of(app)
    draft_id = uuid.uuid4()
    assert call(app, service.start_draft, ctx, framework, draft_id, immediate_risk=False) == draft_id
    call(app, service.choose_route, ctx, framework, draft_id, route.key)
    call(app, service.save_person, ctx, draft_id, person or a_person())
    for member in members:
        call(app, service.add_member, ctx, draft_id, member)
    call(app, service.save_concern, ctx, draft_id, "Misses most Mondays; seems tired and hungry.")
    call(app, service.save_tried, ctx, draft_id, "Two meetings with the parents and a referral to the school nurse.")
    if call(app, service.save_family_told, ctx, draft_id, told):
        reason = "The parent asked us to wait until after a hospital appointment."
        call(app, service.save_not_told_reason, ctx, draft_id, reason)
    return draft_id


# ------------------------------------------------- sent nominations and known people, for triage


def nominee(
    given_name: str = "Jayden",
    family_name: str = "Carter",
    date_of_birth: date | None = date(2015, 6, 14),
    *,
    nhs_number: str | None = None,
    upn: str | None = None,
    postcode: str | None = "EX4 4QJ",
    role: HouseholdRole = HouseholdRole.SUBJECT,
) -> Nominee:
    """A person as a nominator describes them; by default a child nobody knows."""
    return Nominee(given_name, family_name, date_of_birth, nhs_number=nhs_number, upn=upn, postcode=postcode, role=role)


def create_nomination(
    session: Session,
    *,
    nominator: str = "school.practitioner",
    people: tuple[Nominee, ...] | None = None,
    framework: Framework | None = None,
    route_key: str | None = None,
    status: NominationStatus = NominationStatus.SUBMITTED,
    submitted_at: datetime | None = None,
    reference: str | None = None,
    concern: str = "Attendance has fallen to 78% this term and the family has stopped answering calls.",
    linked_to: Nomination | None = None,
    family_id: uuid.UUID | None = None,
) -> Nomination:
    """A nomination as the journey's submit leaves it (``referrals.triage.demo.write_submitted``), under
    the route named or the one most particular to the nominator's sector; sent two days ago by default."""
    framework = framework or current_framework()
    author = user(session, nominator)
    route = framework.route(route_key) if route_key else route_for(framework, author.organisation.kind.value)
    return triage_demo.write_submitted(
        session,
        framework,
        author,
        route,
        people or (nominee(),),
        submitted_at=submitted_at or datetime.now(UTC) - timedelta(days=2),
        concern=concern,
        reference=reference or f"SFN-{secrets.token_hex(3).upper()}",
        status=status,
        family_id=family_id,
        linked_to_id=linked_to.id if linked_to else None,
    )


def create_known_person(
    session: Session, *, served_by: tuple[tuple[str, str, RelationshipKind], ...] = (), **described: Any
) -> Person:
    """A person the programme knows (not in any family), described as ``nominee`` takes them (by keyword),
    optionally served by demo organisations, each given as (code scheme, code, relationship kind), for the
    last hundred days."""
    served = []
    for scheme, code, kind in served_by:
        organisation = session.scalar(
            select(Organisation.id).where(Organisation.code_scheme == CodeScheme(scheme), Organisation.code == code)
        )
        assert organisation is not None, f"no demo organisation {scheme}:{code}"
        served.append((organisation, kind))
    since = date.today() - timedelta(days=100)
    person = triage_demo.add_known_person(session, nominee(**described), served, since=since)
    session.flush()
    return person


def tyler_nomination(session: Session, **kwargs: Any) -> Nomination:
    """A school's nomination of Tyler Brown (spelt "Browne"), who is known, and a child nobody knows."""
    tyler = person_named(session, "Tyler Brown")
    people = (
        nominee("Tyler", "Browne", tyler.date_of_birth, postcode=tyler.postcode),
        nominee("Jayden", "Quincey", date(2016, 2, 3), postcode="EX9 9ZZ"),
    )
    return create_nomination(session, people=people, **kwargs)


# ------------------------------------------------------------------------------- triage steps


def review_all(session: Session, ctx: AccessContext, nomination_id: uuid.UUID) -> None:
    """Confirm the best candidate of each person, or record a new person when there is none, as the
    demo's coordinator does (``referrals.triage.demo.review_all``), under the running framework."""
    triage_demo.review_all(session, ctx, nomination_id, current_framework())


def criteria_to_threshold(framework: Framework, route_criterion: str) -> set[str]:
    """The route's criterion and as many others as the framework's threshold needs."""
    others = [c.key for c in framework.criteria if c.key != route_criterion]
    return {route_criterion, *others[: framework.threshold - 1]}


def accepted_nomination_for_gp_patient(app: Flask) -> tuple[uuid.UUID, uuid.UUID]:
    """A school nominates a child the GP practice serves (known, in no family); accepted into a new family.
    Returns the nomination's id and the child's."""
    with session_of(app) as s:
        child = create_known_person(
            s,
            given_name="Jayden",
            family_name="Quincey",
            date_of_birth=date(2016, 2, 3),
            nhs_number=UNKNOWN_NHS,
            postcode="EX9 9ZZ",
            served_by=(("ods", "Y99001", RelationshipKind.REGISTERED_PATIENT),),
        )
        nomination = create_nomination(
            s, people=(nominee("Jaden", "Quincey", date(2016, 2, 3), nhs_number=UNKNOWN_NHS, postcode="EX9 9ZZ"),)
        )
    with session_of(app) as s:
        ctx = context(s)
        framework = current_framework()
        review_all(s, ctx, nomination.id)
        route = framework.route(nomination.route_key)
        nominated = s.scalars(select(NominatedPerson).where(NominatedPerson.nomination_id == nomination.id)).one()
        assert nominated.person_id == child.id
        accept.accept_nomination(
            s,
            ctx,
            nomination.id,
            framework,
            version=triage_demo.current_version(s, nomination.id),
            family=accept.FamilyChoice(new=True),
            criteria={nominated.id: {route.criterion, "health"} & {c.key for c in framework.criteria}},
        )
    return nomination.id, child.id
