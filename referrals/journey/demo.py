"""Demo nominations: drafts and nominations in every state, by the demo school and GP practice users.

Everyone here is invented (NHS numbers in the never-issued 999 range, UPNs with LA code 999). Written
directly, not through the journey's services: the seed is a command-line task, so what it writes is
logged as one system entry (``demo_data_seeded``), not as if the demo users had typed it. Idempotent:
a second run finds the first one's nominations and writes nothing.

Call ``seed_demo_nominations(session, framework, today)`` from ``portal.demo.seed`` after the demo
families (the linked nomination needs Kelly Brown of family SF-000101).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.access_log import EventType, SubjectRef
from portal.crypto import blind_index
from portal.families.identifiers import indexed_identifiers, synthetic_nhs_number, synthetic_upn
from portal.families.models import FamilyMember, Person
from portal.gate import record_system
from portal.organisations.models import User
from referrals.framework import Framework
from referrals.models import (
    FamilyTold,
    HouseholdRole,
    NominatedPerson,
    Nomination,
    NominationEvent,
    NominationEventKind,
    NominationStatus,
)
from referrals.states import record_nominator_relationship

S = NominationStatus
K = NominationEventKind
#: the demo's references; the first tells a second run that the demo nominations exist
REFERENCES = ("SFN-DM2B7C", "SFN-DM3C8D", "SFN-DM4D9F", "SFN-DM5F2G", "SFN-DM6G3H")
#: Kelly Brown, family SF-000101's first member, in ``portal.demo.families``
KELLY_NHS_NUMBER = synthetic_nhs_number(1)


@dataclass
class DemoNominations:
    nominations: int = 0
    subjects: list[SubjectRef] | None = None


def _at(today: date, days_ago: int, hour: int = 10) -> datetime:
    return datetime.combine(today - timedelta(days=days_ago), time(hour, 0), UTC)


def _person(
    ordinal: int,
    role: HouseholdRole,
    given: str,
    family: str,
    born: date | None,
    n: int | None,
    *,
    upn: bool = False,
    postcode: str | None = None,
) -> NominatedPerson:
    nhs = synthetic_nhs_number(900_000 + n) if n is not None and not upn else None
    pupil = synthetic_upn(8_000 + n) if n is not None and upn else None
    return NominatedPerson(
        ordinal=ordinal,
        role=role,
        given_name=given,
        family_name=family,
        date_of_birth=born,
        **indexed_identifiers(nhs, pupil),
        postcode=postcode,
    )


def _route(framework: Framework, kind: str, category: str) -> tuple[str, str]:
    route = next(r for r in framework.routes_for(kind) if r.category == category)
    return route.key, route.category


def seed_demo_nominations(session: Session, framework: Framework, today: date) -> DemoNominations:
    """Write the demo nominations if they are not there yet, and log what was written; flush, never commit.

    Returns:
        How many nominations were written (0 on a second run, or without the demo users).

    Raises:
        AuditUnavailable: the log entry could not be written (the caller must roll back).
    """
    if session.scalar(select(Nomination.id).where(Nomination.reference == REFERENCES[0])) is not None:
        return DemoNominations()
    users = {u.subject: u for u in session.scalars(select(User).where(User.subject.like("%.practitioner")))}
    coordinator = session.scalar(select(User).where(User.subject == "sf.coordinator"))
    school, gp = users.get("school.practitioner"), users.get("gp.practitioner")
    if school is None or gp is None or coordinator is None:
        return DemoNominations()
    attendance = _route(framework, "school", "education")
    health = _route(framework, "gp_practice", "health")
    born = today.year

    def nomination(user: User, route: tuple[str, str], status: NominationStatus, days_ago: int, **values) -> Nomination:
        created = _at(today, days_ago + 1)
        submitted = _at(today, days_ago) if status is not S.DRAFT else None
        row = Nomination(
            id=uuid.uuid4(),
            status=status,
            version=3,
            framework_key=framework.key,
            framework_version=framework.version,
            route_key=route[0],
            category=route[1],
            organisation_id=user.organisation_id,
            nominator_id=user.id,
            no_immediate_risk=True,
            created_at=created,
            updated_at=submitted or created,
            submitted_at=submitted,
            nominator_seen_at=submitted,
            **values,
        )
        if submitted:
            row.events.append(
                NominationEvent(actor_id=user.id, kind=K.SUBMITTED, at=submitted, shared_with_nominator=True)
            )
        session.add(row)
        return row

    told = {"family_told": FamilyTold.TOLD_AND_NOTICE_GIVEN}
    written: list[Nomination] = []

    # Oakfield School: a draft half done, one waiting, one the council has a question about, one accepted
    draft = nomination(school, attendance, S.DRAFT, 0, concern="Late most mornings since Easter.")
    draft.people = [
        _person(0, HouseholdRole.SUBJECT, "Ellis", "Morgan", date(born - 8, 5, 14), 1, upn=True, postcode="EX2 4PL")
    ]
    written.append(draft)

    waiting = nomination(
        school,
        attendance,
        S.SUBMITTED,
        3,
        reference=REFERENCES[0],
        **told,
        concern="Attendance 82% this term; authorised absences for illness every week.",
        tried="Two meetings with the parent; school nurse referral.",
    )
    waiting.people = [
        _person(0, HouseholdRole.SUBJECT, "Noah", "Price", date(born - 9, 2, 3), 2, upn=True, postcode="EX3 1RD"),
        _person(1, HouseholdRole.PARENT_CARER, "Jade", "Price", date(born - 31, 7, 22), None),
    ]
    written.append(waiting)

    question = nomination(
        school,
        attendance,
        S.MORE_INFORMATION_REQUESTED,
        6,
        reference=REFERENCES[1],
        family_told=FamilyTold.NOT_TOLD,
        not_told_reason="Mum asked us to wait until the review.",
        concern="Often hungry; falls asleep in class.",
        tried="Breakfast club place offered.",
    )
    question.people = [
        _person(0, HouseholdRole.SUBJECT, "Amelia", "Hart", date(born - 10, 11, 9), 3, upn=True, postcode="EX4 6JQ")
    ]
    question.events.append(
        NominationEvent(
            actor_id=coordinator.id,
            kind=K.INFORMATION_REQUESTED,
            at=_at(today, 1, 15),
            shared_with_nominator=True,
            message="Has the family been offered an early help assessment?",
        )
    )
    written.append(question)

    # Riverside Medical Practice: a draft, one not accepted (with the reason), one linked to a known family
    gp_draft = nomination(gp, health, S.DRAFT, 1)
    gp_draft.people = [
        _person(0, HouseholdRole.SUBJECT, "Owen", "Fletcher", date(born - 36, 3, 30), 4, postcode="EX1 3TT")
    ]
    written.append(gp_draft)

    declined = nomination(
        gp,
        health,
        S.NOT_ACCEPTED,
        20,
        reference=REFERENCES[2],
        **told,
        concern="Parent's depression poorly managed; children missing appointments.",
        tried="Medication review; referral to talking therapies.",
        decided_at=_at(today, 12),
        decided_by_id=coordinator.id,
        decision_reason="The family already has a social worker: we have passed your concern on.",
    )
    declined.people = [_person(0, HouseholdRole.SUBJECT, "Lena", "Shaw", date(born - 29, 9, 1), 5, postcode="EX5 2AB")]
    declined.events.append(
        NominationEvent(
            actor_id=coordinator.id,
            kind=K.NOT_ACCEPTED,
            at=_at(today, 12),
            shared_with_nominator=True,
            message=declined.decision_reason,
        )
    )
    written.append(declined)

    kelly = session.execute(
        select(Person.id, FamilyMember.family_id)
        .join(FamilyMember, FamilyMember.person_id == Person.id)
        .where(Person.nhs_number_index == blind_index("nhs_number", KELLY_NHS_NUMBER))
    ).first()
    subjects: list[SubjectRef] = []
    if kelly is not None:
        linked = nomination(
            gp,
            health,
            S.LINKED,
            9,
            reference=REFERENCES[3],
            family_id=kelly.family_id,
            **told,
            concern="Poorly controlled diabetes; the children do the shopping.",
            tried="Diabetes reviews; two missed.",
        )
        linked.people = [
            NominatedPerson(
                ordinal=0,
                role=HouseholdRole.SUBJECT,
                given_name="Kelly",
                family_name="Brown",
                **indexed_identifiers(KELLY_NHS_NUMBER, None),
            )
        ]
        linked.events.append(
            NominationEvent(
                actor_id=gp.id,
                kind=K.DUPLICATE_LINKED,
                at=_at(today, 9),
                shared_with_nominator=True,
                message="This person is already known to the Supporting Families team: "
                "your information has been added to the existing record.",
            )
        )
        written.append(linked)
        accepted = nomination(
            school,
            attendance,
            S.ACCEPTED,
            30,
            reference=REFERENCES[4],
            family_id=kelly.family_id,
            **told,
            concern="Tyler's attendance fell to 78% in the spring term.",
            tried="Attendance panel; a mentor.",
            decided_at=_at(today, 25),
            decided_by_id=coordinator.id,
        )
        accepted.people = [_person(0, HouseholdRole.SUBJECT, "Tyler", "Brown", None, None, postcode="EX1 1AB")]
        accepted.events.append(
            NominationEvent(
                actor_id=coordinator.id,
                kind=K.ACCEPTED,
                at=_at(today, 25),
                shared_with_nominator=True,
                message="Thank you: the family is now supported by the programme.",
            )
        )
        written.append(accepted)
        session.flush()
        record_nominator_relationship(session, organisation_id=gp.organisation_id, person_id=kelly.id, on=today)
        subjects = [SubjectRef(family_id=kelly.family_id, categories=("education", "health"))]
    session.flush()
    if subjects:
        record_system(
            session,
            EventType.DEMO_DATA_SEEDED,
            subjects,
            {"source": "seed-demo", "what": "nominations", "rows": str(len(written))},
        )
    return DemoNominations(nominations=len(written), subjects=subjects)
