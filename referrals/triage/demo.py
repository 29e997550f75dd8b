"""Demo nominations in every state, made the way the portal makes them (idempotent).

``seed_demo_nominations`` is called by the demo seed (``portal.demo.seed``) after the demo families. It
writes five nominations as partners' submissions would leave them, then triages them with the triage
services as the demo coordinator (Chris Coordinator) would: one submitted (Ruby Walsh, a likely match
with a typo), one waiting for more information, one accepted into a new family with its lead
professional, notice and flags (Nicola and Jayden Carter, whom Riverside, Oakfield and Northgate
serve, so partners see the flags), one not accepted with a reason, and one linked to family SF-000101.

Everyone is invented, like the rest of the demo: NHS numbers in the never-issued 999 range, postcodes
in real shapes. The people and relationships it writes are logged as a system entry; each triage step
is logged by the gate as the coordinator's.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from consent.models import NoticeMethod, NoticeVersion
from portal import mail
from portal.access_log import EventType, SubjectRef
from portal.families.identifiers import indexed_identifiers, synthetic_nhs_number, synthetic_upn
from portal.families.models import Family, Person, RelationshipKind, RelationshipSource, ServiceRelationship
from portal.gate import AccessContext, record_system
from portal.organisations.models import CodeScheme, Organisation, User
from referrals.framework import Framework, Route
from referrals.matching import backfill_blocking_keys, fill_blocking_keys
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
from referrals.triage import accept, family, service

REFERENCES = ("SFN-DEMO01", "SFN-DEMO02", "SFN-DEMO03", "SFN-DEMO04", "SFN-DEMO05")


@dataclass
class SeededNominations:
    nominations: int = 0
    #: the people written (known people the demo adds, and people created by accepting)
    subjects: list[SubjectRef] = field(default_factory=list)


@dataclass(frozen=True)
class _Person:
    given: str
    family: str
    dob: date | None
    postcode: str | None
    role: HouseholdRole
    nhs: str | None = None
    upn: str | None = None


def _route(framework: Framework, kind: str, category: str) -> Route:
    """The route a partner of this kind would use for a concern in this category."""
    routes = [r for r in framework.routes_for(kind) if r.category == category]
    return min(routes, key=lambda r: len(r.sectors)) if routes else framework.routes_for(kind)[0]


def _criterion(framework: Framework, category: str) -> str | None:
    return next((c.key for c in framework.criteria if c.category == category), None)


def _organisation(session: Session, scheme: str, code: str) -> Organisation | None:
    return session.scalar(
        select(Organisation).where(Organisation.code_scheme == CodeScheme(scheme), Organisation.code == code)
    )


def _user(session: Session, subject: str) -> User | None:
    return session.scalar(select(User).where(User.subject == subject))


def _context(user: User, at: datetime) -> AccessContext:
    return AccessContext(
        user_id=user.id,
        organisation_id=user.organisation_id,
        organisation_kind=user.organisation.kind.value,
        roles=frozenset(r.value for r in user.roles),
        request_id=f"seed-demo-{uuid.uuid4().hex}",
        ip=None,
        user_agent="flask seed-demo",
        at=at,
    )


def _submit(
    session: Session,
    framework: Framework,
    reference: str,
    nominator: User,
    route: Route,
    people: list[_Person],
    submitted_at: datetime,
    concern: str,
    *,
    status: NominationStatus = NominationStatus.SUBMITTED,
    family_id: uuid.UUID | None = None,
) -> Nomination:
    """A nomination as the journey's submit leaves it: encrypted people with blind indexes, one event."""
    nomination = Nomination(
        reference=reference,
        status=status,
        framework_key=framework.key,
        framework_version=framework.version,
        route_key=route.key,
        category=route.category,
        organisation_id=nominator.organisation_id,
        nominator_id=nominator.id,
        no_immediate_risk=True,
        concern=concern,
        tried="Meetings with the family and a referral to the school nurse.",
        family_told=FamilyTold.TOLD_AND_NOTICE_GIVEN,
        created_at=submitted_at - timedelta(hours=2),
        updated_at=submitted_at,
        submitted_at=submitted_at,
        family_id=family_id,
        people=[
            NominatedPerson(
                ordinal=ordinal,
                role=p.role,
                given_name=p.given,
                family_name=p.family,
                date_of_birth=p.dob,
                postcode=p.postcode,
                **indexed_identifiers(p.nhs, p.upn),
            )
            for ordinal, p in enumerate(people)
        ],
    )
    session.add(nomination)
    session.flush()
    session.add(
        NominationEvent(
            nomination_id=nomination.id, at=submitted_at, actor_id=nominator.id, kind=NominationEventKind.SUBMITTED
        )
    )
    if status == NominationStatus.LINKED:
        session.add(
            NominationEvent(
                nomination_id=nomination.id,
                at=submitted_at,
                actor_id=nominator.id,
                kind=NominationEventKind.DUPLICATE_LINKED,
                message="This child is already known to the Supporting Families team: your information has been "
                "added to the existing record.",
                shared_with_nominator=True,
            )
        )
    session.flush()
    return nomination


def _known(session: Session, p: _Person, served: list[tuple[Organisation, RelationshipKind]], today: date) -> Person:
    person = Person(
        **indexed_identifiers(p.nhs, p.upn),
        given_name=p.given,
        family_name=p.family,
        date_of_birth=p.dob,
        postcode=p.postcode,
    )
    fill_blocking_keys(person)
    session.add(person)
    session.flush()
    for organisation, kind in served:
        session.add(
            ServiceRelationship(
                organisation_id=organisation.id,
                person_id=person.id,
                kind=kind,
                source=RelationshipSource.DEMO,
                valid_from=today - timedelta(days=300),
            )
        )
    return person


def _version(session: Session, nomination_id: uuid.UUID) -> int:
    return session.scalar(select(Nomination.version).where(Nomination.id == nomination_id)) or 1


def _review_all(session: Session, ctx: AccessContext, nomination_id: uuid.UUID, framework: Framework) -> None:
    """Confirm each person's best candidate, or record a new person when matching suggests nobody."""
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


def seed_demo_nominations(session: Session, today: date, framework: Framework | None = None) -> SeededNominations:
    """Create the demo nominations if they are missing; the caller commits (needs an app context).

    Also fills the matching keys of people written before they existed, so matching works on a
    development database made before migration 0007. Never e-mails anyone, whatever the configuration:
    the triage services it calls would otherwise tell the demo's invented nominators.

    Raises:
        AuditUnavailable: a log entry could not be written (the caller must roll back).
    """
    with mail.suppressed(session):
        return _seed(session, today, framework)


def _seed(session: Session, today: date, framework: Framework | None) -> SeededNominations:
    seeded = SeededNominations()
    backfilled = backfill_blocking_keys(session)
    if backfilled:
        record_system(
            session,
            EventType.MATCHING_KEYS_BACKFILLED,
            [SubjectRef(person_id=p) for p in backfilled],
            {"source": "seed-demo", "rows": str(len(backfilled))},
        )
    if session.scalar(select(Nomination.id).where(Nomination.reference.in_(REFERENCES)).limit(1)) is not None:
        return seeded
    framework = framework or current_framework()
    users = {
        s: _user(session, s)
        for s in (
            "school.practitioner",
            "gp.practitioner",
            "rsl.practitioner",
            "probation.practitioner",
            "sf.coordinator",
            "sf.lead1",
        )
    }
    orgs = {
        "gp": _organisation(session, "ods", "Y99001"),
        "school": _organisation(session, "urn", "999101"),
        "rsl": _organisation(session, "rsl", "L9901"),
    }
    brown = session.scalar(select(Family).where(Family.reference == "SF-000101"))
    walsh_ruby = next((p for p in session.scalars(select(Person)) if p.full_name == "Ruby Walsh"), None)
    if (
        any(u is None for u in users.values())
        or any(o is None for o in orgs.values())
        or brown is None
        or walsh_ruby is None
    ):
        return seeded  # the demo organisations, users and families come first
    now = datetime.combine(today, time(10, 0), UTC)
    coordinator = _context(users["sf.coordinator"], now)

    # 1. submitted: the school nominates Ruby Walsh (spelt "Rubie"), whom matching finds
    _submit(
        session,
        framework,
        "SFN-DEMO01",
        users["school.practitioner"],
        _route(framework, "school", "education"),
        [_Person("Rubie", "Walsh", walsh_ruby.date_of_birth, walsh_ruby.postcode, HouseholdRole.SUBJECT)],
        now - timedelta(days=2),
        "Ruby's attendance has dropped to 81% this term and she is often late on Mondays.",
    )

    # 2. more information requested: the GP practice nominates a mother and her son, nobody known
    second = _submit(
        session,
        framework,
        "SFN-DEMO02",
        users["gp.practitioner"],
        _route(framework, "gp_practice", "health"),
        [
            _Person(
                "Chloe",
                "Hughes",
                date(today.year - 31, 4, 12),
                "EX5 2BD",
                HouseholdRole.SUBJECT,
                synthetic_nhs_number(7001),
            ),
            _Person("Theo", "Hughes", date(today.year - 7, 9, 3), "EX5 2BD", HouseholdRole.CHILD),
        ],
        now - timedelta(days=12),
        "Chloe's diabetes is poorly controlled and she has missed her son's appointments three times.",
    )
    service.request_information(
        session,
        coordinator,
        second.id,
        "Thank you. Do you know whether Theo's school has raised any concerns, and has Chloe agreed to the nomination?",
    )

    # 3. accepted, with a family, a lead professional, a notice and flags: Northgate Homes nominates a
    # tenant and her son, both already known (Riverside and Oakfield serve them)
    nicola = _Person(
        "Nicola", "Carter", date(today.year - 36, 11, 21), "EX3 4HT", HouseholdRole.SUBJECT, synthetic_nhs_number(7101)
    )
    jayden = _Person(
        "Jayden",
        "Carter",
        date(today.year - 9, 6, 14),
        "EX3 4HT",
        HouseholdRole.CHILD,
        synthetic_nhs_number(7201),
        synthetic_upn(7201),
    )
    known_nicola = _known(
        session,
        nicola,
        [(orgs["gp"], RelationshipKind.REGISTERED_PATIENT), (orgs["rsl"], RelationshipKind.TENANT)],
        today,
    )
    known_jayden = _known(
        session,
        jayden,
        [(orgs["gp"], RelationshipKind.REGISTERED_PATIENT), (orgs["school"], RelationshipKind.ON_ROLL)],
        today,
    )
    route = _route(framework, "rsl", "employment_finance")
    third = _submit(
        session,
        framework,
        "SFN-DEMO03",
        users["rsl.practitioner"],
        route,
        [nicola, _Person("Jayden", "Carter", jayden.dob, jayden.postcode, HouseholdRole.CHILD)],
        now - timedelta(days=35),
        "Rent arrears of eleven weeks and a notice seeking possession; Nicola says she cannot keep up.",
    )
    _review_all(session, coordinator, third.id, framework)
    people = session.scalars(
        select(NominatedPerson).where(NominatedPerson.nomination_id == third.id).order_by(NominatedPerson.ordinal)
    ).all()
    wanted = [route.criterion, _criterion(framework, "education"), _criterion(framework, "health")]
    criteria = {people[0].id: {route.criterion}, people[1].id: {c for c in wanted[1 : framework.threshold] if c}}
    accept.accept_nomination(
        session,
        coordinator,
        third.id,
        framework,
        version=_version(session, third.id),
        family=accept.FamilyChoice(new=True),
        criteria=criteria,
    )
    family.assign_lead_professional(
        session, coordinator, third.id, users["sf.lead1"].id, version=_version(session, third.id)
    )
    notice = session.scalar(
        select(NoticeVersion).where(NoticeVersion.reference == "FPN-SF").order_by(NoticeVersion.published_on.desc())
    )
    if notice is not None:
        family.record_notice(
            session,
            coordinator,
            third.id,
            version=_version(session, third.id),
            notice_version_id=notice.id,
            member_ids=[known_nicola.id, known_jayden.id],
            given_on=today - timedelta(days=30),
            method=NoticeMethod.IN_PERSON,
            given_by_id=users["sf.lead1"].id,
        )
    family.raise_flags(
        session,
        coordinator,
        third.id,
        version=_version(session, third.id),
        review_on=today + family.FLAG_REVIEW_AFTER,
        ends_on=today + family.FLAG_ENDS_AFTER,
        family_told=notice is not None,
    )

    # 4. not accepted, with the reason the nominator sees
    fourth = _submit(
        session,
        framework,
        "SFN-DEMO04",
        users["probation.practitioner"],
        _route(framework, "probation", "crime_asb"),
        [_Person("Lee", "Morgan", date(today.year - 19, 2, 8), "EX7 1PL", HouseholdRole.SUBJECT)],
        now - timedelta(days=20),
        "Lee was released on licence last month and has moved back in with his mother and two sisters.",
    )
    service.decline_nomination(
        session,
        coordinator,
        fourth.id,
        "Lee lives alone now, so there is no family with children for the programme to support. The youth "
        "offending service is working with him.",
        version=1,
    )

    # 5. linked: the school nominates Mia Brown, whose family SF-000101 is already supported
    mia = next((p for p in session.scalars(select(Person)) if p.full_name == "Mia Brown"), None)
    _submit(
        session,
        framework,
        "SFN-DEMO05",
        users["school.practitioner"],
        _route(framework, "school", "education"),
        [
            _Person(
                "Mia", "Brown", mia.date_of_birth if mia else None, mia.postcode if mia else None, HouseholdRole.SUBJECT
            )
        ],
        now - timedelta(days=1),
        "Mia has been absent for six of the last ten days.",
        status=NominationStatus.LINKED,
        family_id=brown.id,
    )
    session.flush()
    seeded.nominations = len(REFERENCES)
    seeded.subjects = [SubjectRef(person_id=p.id) for p in (known_nicola, known_jayden)]
    record_system(
        session,
        EventType.DEMO_DATA_SEEDED,
        seeded.subjects,
        {
            "source": "seed-demo",
            "what": "nominations,people,relationships",
            "rows": str(len(seeded.subjects)),
            "nominations": str(len(REFERENCES)),
        },
    )
    return seeded
