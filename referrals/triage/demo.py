"""Demo nominations in every state, made the way the portal makes them (idempotent).

``seed_demo_nominations`` is called by the demo seed (``portal.demo.seed``) after the demo families. It
writes five nominations as partners' submissions would leave them, then triages them with the triage
services as the demo coordinator (Chris Coordinator) would: one submitted (Ruby Walsh, a likely match
with a typo), one waiting for more information, one accepted into a new family with its lead
professional, notice and flags (Nicola and Jayden Carter, whom Riverside, Oakfield and Northgate
serve, so partners see the flags), one not accepted with a reason, and one linked to family SF-000101.

It reads as the story it tells: the people and nominations are data, the known people are written by
their domain's writers (``portal.families.records``), the nominations by the journey demo's
(``referrals.journey.demo.write_nomination``), the history by the state machine's
(``referrals.states.add_event``), and every decision by the triage services themselves.

The steps it takes are public because the tests' builders (``tests/builders.py``) take them too, so
each is written once: a sent nomination (``write_submitted``), a known person with the organisations
that serve them (``add_known_person``), every match reviewed (``review_all``), and a user's context
outside a request (``acting_as``).

Everyone is invented, like the rest of the demo: NHS numbers in the never-issued 999 range, postcodes
in real shapes. The people and relationships it writes are logged as a system entry; each triage step
is logged by the gate as the coordinator's.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from consent.models import NoticeMethod, NoticeVersion
from portal import mail
from portal.access_log import EventType, SubjectRef
from portal.families import records
from portal.families.identifiers import synthetic_nhs_number, synthetic_upn
from portal.families.models import Family, Person, RelationshipKind, RelationshipSource
from portal.gate import AccessContext, record_system
from portal.organisations.models import CodeScheme, Organisation, User
from referrals import states
from referrals.framework import Framework, Route
from referrals.journey.demo import Nominee, route_for, write_nomination
from referrals.models import FamilyTold, HouseholdRole, NominatedPerson, Nomination, NominationEventKind
from referrals.models import NominationStatus as S
from referrals.setup import current_framework
from referrals.triage import accept, family, service

REFERENCES = ("SFN-DEMO01", "SFN-DEMO02", "SFN-DEMO03", "SFN-DEMO04", "SFN-DEMO05")
#: the demo accounts the story needs (the demo seed writes them first)
SUBJECTS = (
    "school.practitioner",
    "gp.practitioner",
    "rsl.practitioner",
    "probation.practitioner",
    "sf.coordinator",
    "sf.lead1",
)
#: the organisations that serve the known Carters: (code scheme, code)
ORGANISATIONS = {"gp": ("ods", "Y99001"), "school": ("urn", "999101"), "rsl": ("rsl", "L9901")}
LINKED_MESSAGE = (
    "This child is already known to the Supporting Families team: your information has been "
    "added to the existing record."
)
TRIED = "Meetings with the family and a referral to the school nurse."


@dataclass
class SeededNominations:
    nominations: int = 0
    #: the people written (known people the demo adds, and people created by accepting)
    subjects: list[SubjectRef] = field(default_factory=list)


@dataclass(frozen=True)
class _Sent:
    """A nomination as a partner sent it: by whom (a demo subject), under which route, about whom."""

    reference: str
    nominator: str
    route: tuple[str, str]  #: (organisation kind, category)
    people: tuple[Nominee, ...]
    days_ago: int
    concern: str
    status: S = S.SUBMITTED


@dataclass(frozen=True)
class _Setting:
    """What the story happens among: the demo's users, organisations and known family, and the moment."""

    session: Session
    framework: Framework
    today: date
    now: datetime
    users: dict[str, User]
    organisations: dict[str, Organisation]
    brown: Family
    coordinator: AccessContext


def _criterion(framework: Framework, category: str) -> str | None:
    return next((c.key for c in framework.criteria if c.category == category), None)


def acting_as(
    user: User,
    at: datetime,
    *,
    request_id: str | None = None,
    ip: str | None = None,
    user_agent: str = "flask seed-demo",
) -> AccessContext:
    """The gate's context for this user acting at ``at`` outside any request (by default, as the demo
    seed: its request id and user agent say so in the log)."""
    return AccessContext(
        user_id=user.id,
        organisation_id=user.organisation_id,
        organisation_kind=user.organisation.kind.value,
        roles=frozenset(r.value for r in user.roles),
        request_id=request_id or f"seed-demo-{uuid.uuid4().hex}",
        ip=ip,
        user_agent=user_agent,
        at=at,
    )


def person_named(session: Session, name: str) -> Person | None:
    """The person with this full name (decrypting everyone's: for the demo's few, never for a page)."""
    return next((p for p in session.scalars(select(Person)) if p.full_name == name), None)


def write_submitted(
    session: Session,
    framework: Framework,
    nominator: User,
    route: Route,
    people: Sequence[Nominee],
    *,
    submitted_at: datetime,
    concern: str,
    reference: str | None,
    status: S = S.SUBMITTED,
    family_id: uuid.UUID | None = None,
    linked_to_id: uuid.UUID | None = None,
) -> Nomination:
    """A nomination as the journey's submit leaves it: encrypted people with blind indexes, and its
    history (sent; for a linked one, linked too, with the message the nominator sees). A draft has
    neither a submission time nor a history; a later status stands for a decision without its history."""
    nomination = write_nomination(
        session,
        framework=framework,
        nominator=nominator,
        route=route,
        people=people,
        status=status,
        created_at=submitted_at - timedelta(hours=2),
        submitted_at=None if status is S.DRAFT else submitted_at,
        reference=reference,
        concern=concern,
        tried=TRIED,
        family_told=FamilyTold.TOLD_AND_NOTICE_GIVEN,
        family_id=family_id,
        linked_to_id=linked_to_id,
    )
    if status is not S.DRAFT:
        states.add_event(session, nomination.id, NominationEventKind.SUBMITTED, actor_id=nominator.id, at=submitted_at)
    if status is S.LINKED:
        states.add_event(
            session,
            nomination.id,
            NominationEventKind.DUPLICATE_LINKED,
            actor_id=nominator.id,
            at=submitted_at,
            message=LINKED_MESSAGE,
            shared_with_nominator=True,
        )
    return nomination


def _submit(s: _Setting, sent: _Sent, family_id: uuid.UUID | None = None) -> Nomination:
    """A partner's nomination in the story, sent ``days_ago``."""
    return write_submitted(
        s.session,
        s.framework,
        s.users[sent.nominator],
        route_for(s.framework, *sent.route),
        sent.people,
        submitted_at=s.now - timedelta(days=sent.days_ago),
        concern=sent.concern,
        reference=sent.reference,
        status=sent.status,
        family_id=family_id,
    )


def add_known_person(
    session: Session,
    person: Nominee,
    served_by: Sequence[tuple[uuid.UUID, RelationshipKind]],
    *,
    since: date,
) -> Person:
    """A person the programme knows before any nomination (in no family), as described, and the
    organisations that serve them since ``since``: (organisation id, relationship kind) each."""
    known = records.add_person(
        session,
        nhs_number=person.nhs_number,
        upn=person.upn,
        given_name=person.given_name,
        family_name=person.family_name,
        date_of_birth=person.date_of_birth,
        postcode=person.postcode,
    )
    for organisation_id, kind in served_by:
        records.add_relationship(
            session,
            organisation_id=organisation_id,
            person_id=known.id,
            kind=kind,
            source=RelationshipSource.DEMO,
            valid_from=since,
        )
    return known


def _known(s: _Setting, p: Nominee, served: tuple[tuple[str, RelationshipKind], ...]) -> Person:
    """A person the story's partners know, served by the demo organisations named."""
    served_by = [(s.organisations[organisation].id, kind) for organisation, kind in served]
    return add_known_person(s.session, p, served_by, since=s.today - timedelta(days=300))


def current_version(session: Session, nomination_id: uuid.UUID) -> int:
    """The nomination's version now: what the next change must name."""
    return session.scalar(select(Nomination.version).where(Nomination.id == nomination_id)) or 1


def review_all(session: Session, ctx: AccessContext, nomination_id: uuid.UUID, framework: Framework) -> None:
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


def _backfill(session: Session) -> None:
    backfilled = records.backfill_blocking_keys(session)
    if backfilled:
        record_system(
            session,
            EventType.MATCHING_KEYS_BACKFILLED,
            [SubjectRef(person_id=p) for p in backfilled],
            {"source": "seed-demo", "rows": str(len(backfilled))},
        )


def _setting(session: Session, today: date, framework: Framework) -> _Setting | None:
    """The demo's accounts, organisations and family SF-000101, or None until the demo seed wrote them."""
    users = {subject: session.scalar(select(User).where(User.subject == subject)) for subject in SUBJECTS}
    organisations = {
        key: session.scalar(
            select(Organisation).where(Organisation.code_scheme == CodeScheme(scheme), Organisation.code == code)
        )
        for key, (scheme, code) in ORGANISATIONS.items()
    }
    brown = session.scalar(select(Family).where(Family.reference == "SF-000101"))
    present = {k: u for k, u in users.items() if u is not None}
    served_by = {k: o for k, o in organisations.items() if o is not None}
    ruby = person_named(session, "Ruby Walsh")
    if len(present) < len(users) or len(served_by) < len(organisations) or brown is None or ruby is None:
        return None
    now = datetime.combine(today, time(10, 0), UTC)
    coordinator = acting_as(present["sf.coordinator"], now)
    return _Setting(session, framework, today, now, present, served_by, brown, coordinator)


def _seed(session: Session, today: date, framework: Framework | None) -> SeededNominations:
    seeded = SeededNominations()
    _backfill(session)
    if session.scalar(select(Nomination.id).where(Nomination.reference.in_(REFERENCES)).limit(1)) is not None:
        return seeded
    setting = _setting(session, today, framework or current_framework())
    if setting is None:
        return seeded  # the demo organisations, users and families come first
    _submitted(setting)
    _more_information_requested(setting)
    known = _accepted(setting)
    _not_accepted(setting)
    _linked(setting)
    session.flush()
    seeded.nominations = len(REFERENCES)
    seeded.subjects = [SubjectRef(person_id=p.id) for p in known]
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


# ------------------------------------------------------------------------------------ the story


def _submitted(s: _Setting) -> None:
    """1. submitted: the school nominates Ruby Walsh (spelt "Rubie"), whom matching finds."""
    ruby = person_named(s.session, "Ruby Walsh")
    assert ruby is not None
    rubie = Nominee("Rubie", "Walsh", ruby.date_of_birth, postcode=ruby.postcode)
    concern = "Ruby's attendance has dropped to 81% this term and she is often late on Mondays."
    _submit(s, _Sent("SFN-DEMO01", "school.practitioner", ("school", "education"), (rubie,), 2, concern))


def _more_information_requested(s: _Setting) -> None:
    """2. more information requested: the GP practice nominates a mother and her son, nobody known."""
    year = s.today.year
    people = (
        Nominee("Chloe", "Hughes", date(year - 31, 4, 12), nhs_number=synthetic_nhs_number(7001), postcode="EX5 2BD"),
        Nominee("Theo", "Hughes", date(year - 7, 9, 3), postcode="EX5 2BD", role=HouseholdRole.CHILD),
    )
    concern = "Chloe's diabetes is poorly controlled and she has missed her son's appointments three times."
    sent = _submit(s, _Sent("SFN-DEMO02", "gp.practitioner", ("gp_practice", "health"), people, 12, concern))
    service.request_information(
        s.session,
        s.coordinator,
        sent.id,
        "Thank you. Do you know whether Theo's school has raised any concerns, and has Chloe agreed to the nomination?",
    )


def _accepted(s: _Setting) -> list[Person]:
    """3. accepted, with a family, a lead professional, a notice and flags: Northgate Homes nominates a
    tenant and her son, both already known (Riverside and Oakfield serve them). Returns the known people."""
    year = s.today.year
    nicola = Nominee(
        "Nicola", "Carter", date(year - 36, 11, 21), nhs_number=synthetic_nhs_number(7101), postcode="EX3 4HT"
    )
    jayden = Nominee(
        "Jayden",
        "Carter",
        date(year - 9, 6, 14),
        nhs_number=synthetic_nhs_number(7201),
        upn=synthetic_upn(7201),
        postcode="EX3 4HT",
        role=HouseholdRole.CHILD,
    )
    known = [
        _known(s, nicola, (("gp", RelationshipKind.REGISTERED_PATIENT), ("rsl", RelationshipKind.TENANT))),
        _known(s, jayden, (("gp", RelationshipKind.REGISTERED_PATIENT), ("school", RelationshipKind.ON_ROLL))),
    ]
    said = (
        nicola,
        Nominee("Jayden", "Carter", jayden.date_of_birth, postcode=jayden.postcode, role=HouseholdRole.CHILD),
    )
    concern = "Rent arrears of eleven weeks and a notice seeking possession; Nicola says she cannot keep up."
    sent = _submit(s, _Sent("SFN-DEMO03", "rsl.practitioner", ("rsl", "employment_finance"), said, 35, concern))
    _accept_and_support(s, sent, known)
    return known


def _accept_and_support(s: _Setting, sent: Nomination, known: list[Person]) -> None:
    """The coordinator's steps for the Carters: matches, acceptance with the criteria met, the lead
    professional, the notice given to both, and their flags."""
    session, ctx, framework = s.session, s.coordinator, s.framework
    review_all(session, ctx, sent.id, framework)
    people = session.scalars(
        select(NominatedPerson).where(NominatedPerson.nomination_id == sent.id).order_by(NominatedPerson.ordinal)
    ).all()
    route = route_for(framework, "rsl", "employment_finance")
    wanted = [route.criterion, _criterion(framework, "education"), _criterion(framework, "health")]
    criteria = {people[0].id: {route.criterion}, people[1].id: {c for c in wanted[1 : framework.threshold] if c}}
    accept.accept_nomination(
        session,
        ctx,
        sent.id,
        framework,
        version=current_version(session, sent.id),
        family=accept.FamilyChoice(new=True),
        criteria=criteria,
    )
    lead = s.users["sf.lead1"].id
    family.assign_lead_professional(session, ctx, sent.id, lead, version=current_version(session, sent.id))
    notice = session.scalar(
        select(NoticeVersion).where(NoticeVersion.reference == "FPN-SF").order_by(NoticeVersion.published_on.desc())
    )
    if notice is not None:
        family.record_notice(
            session,
            ctx,
            sent.id,
            version=current_version(session, sent.id),
            notice_version_id=notice.id,
            member_ids=[p.id for p in known],
            given_on=s.today - timedelta(days=30),
            method=NoticeMethod.IN_PERSON,
            given_by_id=lead,
        )
    family.raise_flags(
        session,
        ctx,
        sent.id,
        version=current_version(session, sent.id),
        review_on=s.today + family.FLAG_REVIEW_AFTER,
        ends_on=s.today + family.FLAG_ENDS_AFTER,
        family_told=notice is not None,
    )


def _not_accepted(s: _Setting) -> None:
    """4. not accepted, with the reason the nominator sees."""
    lee = Nominee("Lee", "Morgan", date(s.today.year - 19, 2, 8), postcode="EX7 1PL")
    concern = "Lee was released on licence last month and has moved back in with his mother and two sisters."
    sent = _submit(s, _Sent("SFN-DEMO04", "probation.practitioner", ("probation", "crime_asb"), (lee,), 20, concern))
    service.decline_nomination(
        s.session,
        s.coordinator,
        sent.id,
        "Lee lives alone now, so there is no family with children for the programme to support. The youth "
        "offending service is working with him.",
        version=1,
    )


def _linked(s: _Setting) -> None:
    """5. linked: the school nominates Mia Brown, whose family SF-000101 is already supported."""
    mia = person_named(s.session, "Mia Brown")
    said = Nominee("Mia", "Brown", mia.date_of_birth if mia else None, postcode=mia.postcode if mia else None)
    concern = "Mia has been absent for six of the last ten days."
    sent = _Sent("SFN-DEMO05", "school.practitioner", ("school", "education"), (said,), 1, concern, status=S.LINKED)
    _submit(s, sent, family_id=s.brown.id)
