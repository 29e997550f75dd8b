"""What the triage flow tests share: sessions, log reads, known people, reviewing every match.

Nominations are made with ``tests.builders_nominations`` as the journey's submit would leave them. The
demo data supplies the known people (family SF-000101: Kelly, Tyler and Mia Brown) and the accounts.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

from sqlalchemy import Uuid, bindparam, func, select, text
from sqlalchemy.orm import Session

from portal import db
from portal.families.identifiers import synthetic_nhs_number
from portal.families.models import Person, RelationshipKind
from referrals.models import NominatedPerson, Nomination
from referrals.setup import current_framework
from referrals.triage import accept, queue, service
from referrals.triage.demo import REFERENCES as DEMO_REFERENCES
from tests.builders_nominations import (
    Nominee,
    context,
    create_known_person,
    create_nomination,
)

#: a valid NHS number (never issued) that no demo person has
UNKNOWN_NHS = synthetic_nhs_number(5000)


@contextmanager
def session_of(app) -> Iterator[Session]:
    """A session in an app context, committed at the end (as ``@commits`` does after a 2xx)."""
    with app.app_context():
        session = db.session()
        yield session
        session.commit()


def log(app, where: str = "TRUE") -> list:
    with app.app_context():
        return db.session().execute(text(f"SELECT * FROM access_log_entry WHERE {where} ORDER BY seq")).all()


def raw_by_id(table: str, columns: str):
    """The stored row, as the database holds it (encrypted columns undecrypted)."""
    return text(f"SELECT {columns} FROM {table} WHERE id = :i").bindparams(bindparam("i", type_=Uuid))


def last_entry(app):
    return log(app)[-1]


def person_named(session: Session, name: str) -> Person:
    return next(p for p in session.scalars(select(Person)) if p.full_name == name)


def tyler_nomination(session: Session, **kwargs) -> Nomination:
    """A school's nomination of Tyler Brown (spelt "Browne"), who is known, and a child nobody knows."""
    tyler = person_named(session, "Tyler Brown")
    people = (
        Nominee("Tyler", "Browne", tyler.date_of_birth, postcode=tyler.postcode),
        Nominee("Jayden", "Quincey", date(2016, 2, 3), postcode="EX9 9ZZ"),
    )
    return create_nomination(session, people=people, **kwargs)


def review_all(session: Session, ctx, nomination_id: uuid.UUID) -> None:
    """Confirm the best candidate of each person, or record a new person when there is none."""
    framework = current_framework()
    view = service.get_nomination_for(session, ctx, nomination_id, framework)
    version = view.version
    for person in view.people:
        if person.candidates:
            service.review_match(
                session,
                ctx,
                nomination_id,
                person.id,
                service.MatchChoice.CONFIRM,
                version=version,
                person_id=person.candidates[0].person.id,
            )
        else:
            service.review_match(
                session, ctx, nomination_id, person.id, service.MatchChoice.NEW_PERSON, version=version
            )
        version += 1


def version_of(session: Session, nomination_id: uuid.UUID) -> int:
    return session.scalar(select(Nomination.version).where(Nomination.id == nomination_id))


def mine(rows):
    """Queue rows this test made (the demo seed may add its own nominations)."""
    return [r for r in rows if r.reference not in DEMO_REFERENCES]


def demo_open(session: Session) -> int:
    """The demo's nominations still waiting for triage, if the seed made any."""
    return session.scalar(
        select(func.count())
        .select_from(Nomination)
        .where(Nomination.reference.in_(DEMO_REFERENCES), Nomination.status.in_(queue.QUEUE_STATUSES))
    )


def statements(app, call) -> int:
    engine = app.extensions["db_engine"]
    count = 0

    def counted(*_args):
        nonlocal count
        count += 1

    from sqlalchemy import event

    event.listen(engine, "before_cursor_execute", counted)
    try:
        call()
    finally:
        event.remove(engine, "before_cursor_execute", counted)
    return count


def criteria_to_threshold(framework, route_criterion: str) -> set[str]:
    """The route's criterion and as many others as the framework's threshold needs."""
    others = [c.key for c in framework.criteria if c.key != route_criterion]
    return {route_criterion, *others[: framework.threshold - 1]}


def accepted_nomination_for_gp_patient(app):
    """A school nominates a child the GP practice serves (known, in no family); accepted into a new family."""
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
            s, people=(Nominee("Jaden", "Quincey", date(2016, 2, 3), nhs_number=UNKNOWN_NHS, postcode="EX9 9ZZ"),)
        )
    with session_of(app) as s:
        ctx = context(s)
        review_all(s, ctx, nomination.id)
        route = current_framework().route(nomination.route_key)
        nominated = s.scalars(select(NominatedPerson).where(NominatedPerson.nomination_id == nomination.id)).one()
        assert nominated.person_id == child.id
        accept.accept_nomination(
            s,
            ctx,
            nomination.id,
            current_framework(),
            version=version_of(s, nomination.id),
            family=accept.FamilyChoice(new=True),
            criteria={nominated.id: {route.criterion, "health"} & {c.key for c in current_framework().criteria}},
        )
    return nomination.id, child.id
