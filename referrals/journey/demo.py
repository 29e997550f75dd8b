"""Demo nominations: drafts and nominations in every state, by the demo school and GP practice users.

Everyone here is invented (NHS numbers in the never-issued 999 range, UPNs with LA code 999). The demo
is data: ``DEMO`` below, one row per nomination as the partner's journey (and, for the decided ones, the
council) would have left it, written directly rather than through the journey's services because the
seed is a command-line task: what it writes is logged as one system entry (``demo_data_seeded``), not
as if the demo users had typed it. The history goes through the state machine's one writer
(``referrals.states.add_event``) and the nominator relationship through its owner's
(``portal.families.records``). Idempotent: a second run finds the first one's nominations and writes
nothing.

Call ``seed_demo_nominations(session, framework, today)`` from ``portal.demo.seed`` after the demo
families (the linked and the accepted nomination need Kelly Brown's family, SF-000101). The row writer
(``write_nomination``, with its people described as ``Nominee``) is shared: the triage demo and the tests'
builders (``tests/builders.py``) write their nominations with it too.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.access_log import EventType, SubjectRef
from portal.crypto import blind_index
from portal.families import records
from portal.families.identifiers import indexed_identifiers, synthetic_nhs_number, synthetic_upn
from portal.families.models import FamilyMember, Person
from portal.gate import record_system
from portal.organisations.models import User
from referrals import states
from referrals.framework import Framework, Route
from referrals.models import FamilyTold, HouseholdRole, NominatedPerson, Nomination, NominationEventKind
from referrals.models import NominationStatus as S

K = NominationEventKind
R = HouseholdRole
#: the demo's references; the first tells a second run that the demo nominations exist
REFERENCES = ("SFN-DM2B7C", "SFN-DM3C8D", "SFN-DM4D9F", "SFN-DM5F2G", "SFN-DM6G3H")
#: Kelly Brown, family SF-000101's first member, in ``portal.demo.families``
KELLY_NHS_NUMBER = synthetic_nhs_number(1)
TOLD = {"family_told": FamilyTold.TOLD_AND_NOTICE_GIVEN}


@dataclass(frozen=True)
class Said:
    """A person as the nominator described them: born ``age`` years before this year on (month, day)."""

    role: HouseholdRole
    given: str
    family: str
    born: tuple[int, int, int] | None = None
    #: which invented identifier: an NHS number, or a UPN for a pupil; None for neither
    n: int | None = None
    upn: bool = False
    postcode: str | None = None
    #: a known NHS number instead of an invented one (the person already known)
    nhs: str | None = None


@dataclass(frozen=True)
class LaterEntry:
    """A history entry after submission: by the council's coordinator, ``days_ago`` at ``hour``."""

    kind: NominationEventKind
    days_ago: int
    hour: int
    message: str
    by_coordinator: bool = True


@dataclass(frozen=True)
class DemoNomination:
    nominator: str  #: "school" or "gp"
    status: S
    days_ago: int
    people: tuple[Said, ...]
    answers: dict[str, Any] = field(default_factory=dict)
    reference: str | None = None
    later: tuple[LaterEntry, ...] = ()
    #: decided this many days ago by the coordinator (accepted or not accepted)
    decided_days_ago: int | None = None
    #: belongs to Kelly Brown's family (linked to it, or accepted into it): written only when it exists
    in_kelly_family: bool = False


LINKED_MESSAGE = (
    "This person is already known to the Supporting Families team: "
    "your information has been added to the existing record."
)

#: Oakfield School: a draft half done, one waiting, one the council has a question about, one accepted;
#: Riverside Medical Practice: a draft, one not accepted (with the reason), one linked to a known family
DEMO = (
    DemoNomination(
        "school",
        S.DRAFT,
        0,
        (Said(R.SUBJECT, "Ellis", "Morgan", (8, 5, 14), 1, upn=True, postcode="EX2 4PL"),),
        {"concern": "Late most mornings since Easter."},
    ),
    DemoNomination(
        "school",
        S.SUBMITTED,
        3,
        (
            Said(R.SUBJECT, "Noah", "Price", (9, 2, 3), 2, upn=True, postcode="EX3 1RD"),
            Said(R.PARENT_CARER, "Jade", "Price", (31, 7, 22)),
        ),
        {
            **TOLD,
            "concern": "Attendance 82% this term; authorised absences for illness every week.",
            "tried": "Two meetings with the parent; school nurse referral.",
        },
        reference=REFERENCES[0],
    ),
    DemoNomination(
        "school",
        S.MORE_INFORMATION_REQUESTED,
        6,
        (Said(R.SUBJECT, "Amelia", "Hart", (10, 11, 9), 3, upn=True, postcode="EX4 6JQ"),),
        {
            "family_told": FamilyTold.NOT_TOLD,
            "not_told_reason": "Mum asked us to wait until the review.",
            "concern": "Often hungry; falls asleep in class.",
            "tried": "Breakfast club place offered.",
        },
        reference=REFERENCES[1],
        later=(LaterEntry(K.INFORMATION_REQUESTED, 1, 15, "Has the family been offered an early help assessment?"),),
    ),
    DemoNomination("gp", S.DRAFT, 1, (Said(R.SUBJECT, "Owen", "Fletcher", (36, 3, 30), 4, postcode="EX1 3TT"),)),
    DemoNomination(
        "gp",
        S.NOT_ACCEPTED,
        20,
        (Said(R.SUBJECT, "Lena", "Shaw", (29, 9, 1), 5, postcode="EX5 2AB"),),
        {
            **TOLD,
            "concern": "Parent's depression poorly managed; children missing appointments.",
            "tried": "Medication review; referral to talking therapies.",
            "decision_reason": "The family already has a social worker: we have passed your concern on.",
        },
        reference=REFERENCES[2],
        later=(
            LaterEntry(
                K.NOT_ACCEPTED, 12, 10, "The family already has a social worker: we have passed your concern on."
            ),
        ),
        decided_days_ago=12,
    ),
    DemoNomination(
        "gp",
        S.LINKED,
        9,
        (Said(R.SUBJECT, "Kelly", "Brown", nhs=KELLY_NHS_NUMBER),),
        {
            **TOLD,
            "concern": "Poorly controlled diabetes; the children do the shopping.",
            "tried": "Diabetes reviews; two missed.",
        },
        reference=REFERENCES[3],
        later=(LaterEntry(K.DUPLICATE_LINKED, 9, 10, LINKED_MESSAGE, by_coordinator=False),),
        in_kelly_family=True,
    ),
    DemoNomination(
        "school",
        S.ACCEPTED,
        30,
        (Said(R.SUBJECT, "Tyler", "Brown", postcode="EX1 1AB"),),
        {
            **TOLD,
            "concern": "Tyler's attendance fell to 78% in the spring term.",
            "tried": "Attendance panel; a mentor.",
        },
        reference=REFERENCES[4],
        later=(LaterEntry(K.ACCEPTED, 25, 10, "Thank you: the family is now supported by the programme."),),
        decided_days_ago=25,
        in_kelly_family=True,
    ),
)

#: the route a partner of each kind uses: (organisation kind, the category it evidences)
ROUTES = {"school": ("school", "education"), "gp": ("gp_practice", "health")}


@dataclass
class DemoNominations:
    nominations: int = 0
    subjects: list[SubjectRef] | None = None


def _at(today: date, days_ago: int, hour: int = 10) -> datetime:
    return datetime.combine(today - timedelta(days=days_ago), time(hour, 0), UTC)


@dataclass(frozen=True)
class Nominee:
    """A person as a nominator describes them: what the nomination records of them, before any match."""

    given_name: str
    family_name: str
    date_of_birth: date | None = None
    nhs_number: str | None = None
    upn: str | None = None
    postcode: str | None = None
    role: HouseholdRole = HouseholdRole.SUBJECT


def route_for(framework: Framework, kind: str, category: str | None = None) -> Route:
    """The route a partner of this kind would use for a concern in this category (in any category, when
    None): the one most particular to the sector, or the sector's first when none evidences the category."""
    routes = [r for r in framework.routes_for(kind) if category is None or r.category == category]
    return min(routes, key=lambda r: len(r.sectors)) if routes else framework.routes_for(kind)[0]


def write_nomination(
    session: Session,
    *,
    framework: Framework,
    nominator: User,
    route: Route,
    people: Sequence[Nominee],
    status: S,
    created_at: datetime,
    submitted_at: datetime | None,
    **columns: Any,
) -> Nomination:
    """A nomination row as the journey (and, once decided, the council) left it, its people encrypted with
    the blind indexes of their identifiers; flush. No history: ``referrals.states.add_event`` writes that.

    Args:
        columns: the row's other answers and decisions, by attribute name (``concern``, ``family_told``,
            ``reference``, ``family_id``, ``decided_at``...).
    """
    nomination = Nomination(
        status=status,
        framework_key=framework.key,
        framework_version=framework.version,
        route_key=route.key,
        category=route.category,
        organisation_id=nominator.organisation_id,
        nominator_id=nominator.id,
        no_immediate_risk=True,
        created_at=created_at,
        updated_at=submitted_at or created_at,
        submitted_at=submitted_at,
        people=[
            NominatedPerson(
                ordinal=ordinal,
                role=p.role,
                given_name=p.given_name,
                family_name=p.family_name,
                date_of_birth=p.date_of_birth,
                postcode=p.postcode,
                **indexed_identifiers(p.nhs_number, p.upn),
            )
            for ordinal, p in enumerate(people)
        ],
        **columns,
    )
    session.add(nomination)
    session.flush()
    return nomination


def _nominee(said: Said, today: date) -> Nominee:
    nhs = said.nhs or (synthetic_nhs_number(900_000 + said.n) if said.n is not None and not said.upn else None)
    pupil = synthetic_upn(8_000 + said.n) if said.n is not None and said.upn else None
    born = date(today.year - said.born[0], said.born[1], said.born[2]) if said.born else None
    return Nominee(said.given, said.family, born, nhs_number=nhs, upn=pupil, postcode=said.postcode, role=said.role)


@dataclass(frozen=True)
class _Context:
    framework: Framework
    today: date
    users: dict[str, User]
    coordinator: User
    kelly_family: uuid.UUID | None


def _write(session: Session, c: _Context, spec: DemoNomination) -> Nomination:
    """One demo nomination as the journey (and the council) left it, with its history."""
    user = c.users[spec.nominator]
    route = route_for(c.framework, *ROUTES[spec.nominator])
    created = _at(c.today, spec.days_ago + 1)
    submitted = _at(c.today, spec.days_ago) if spec.status is not S.DRAFT else None
    decided = _at(c.today, spec.decided_days_ago) if spec.decided_days_ago is not None else None
    nomination = write_nomination(
        session,
        framework=c.framework,
        nominator=user,
        route=route,
        people=[_nominee(said, c.today) for said in spec.people],
        status=spec.status,
        created_at=created,
        submitted_at=submitted,
        version=3,
        nominator_seen_at=submitted,
        reference=spec.reference,
        family_id=c.kelly_family if spec.in_kelly_family else None,
        decided_at=decided,
        decided_by_id=c.coordinator.id if decided else None,
        **spec.answers,
    )
    if submitted:
        states.add_event(
            session, nomination.id, K.SUBMITTED, actor_id=user.id, at=submitted, shared_with_nominator=True
        )
    for entry in spec.later:
        states.add_event(
            session,
            nomination.id,
            entry.kind,
            actor_id=c.coordinator.id if entry.by_coordinator else user.id,
            at=_at(c.today, entry.days_ago, entry.hour),
            message=entry.message,
            shared_with_nominator=True,
        )
    return nomination


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
    kelly = session.execute(
        select(Person.id, FamilyMember.family_id)
        .join(FamilyMember, FamilyMember.person_id == Person.id)
        .where(Person.nhs_number_index == blind_index("nhs_number", KELLY_NHS_NUMBER))
    ).first()
    c = _Context(framework, today, {"school": school, "gp": gp}, coordinator, kelly.family_id if kelly else None)
    written = [_write(session, c, spec) for spec in DEMO if kelly is not None or not spec.in_kelly_family]
    if kelly is None:
        return DemoNominations(nominations=len(written), subjects=[])
    records.record_relationship(session, organisation_id=gp.organisation_id, person_id=kelly.id, on=today)
    subjects = [SubjectRef(family_id=kelly.family_id, categories=("education", "health"))]
    record_system(
        session,
        EventType.DEMO_DATA_SEEDED,
        subjects,
        {"source": "seed-demo", "what": "nominations", "rows": str(len(written))},
    )
    return DemoNominations(nominations=len(written), subjects=subjects)
