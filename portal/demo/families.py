"""Demo people, families, relationships, flags, notices given and an objection (idempotent).

Everyone here is invented: NHS numbers are from the 999 range that is never issued, UPNs use LA code
999, postcodes are in real shapes but invented. Dates are relative to the day of seeding so that the
demo's flags and protocols stay live whenever it is run. The demo is data: the tables below, written by
the domains' own writers (``portal.families.records``, ``consent.records``), as any other writer of
these rows must. What was written is returned so that the seed can log it (``portal.demo.seed``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from consent import records as consent_records
from consent.models import NoticeMethod, NoticeVersion
from portal.access_log import SubjectRef
from portal.families import records
from portal.families.identifiers import synthetic_nhs_number, synthetic_upn
from portal.families.models import Family, MemberRole, Person, RelationshipKind, RelationshipSource
from portal.organisations.models import CodeScheme, Organisation, User

GP = ("ods", "Y99001")
SCHOOL = ("urn", "999101")
RSL = ("rsl", "L9901")
PROBATION = ("local", "PDU-EX1")
RELATIONSHIP_FOR = {
    GP: RelationshipKind.REGISTERED_PATIENT,
    SCHOOL: RelationshipKind.ON_ROLL,
    RSL: RelationshipKind.TENANT,
    PROBATION: RelationshipKind.ON_CASELOAD,
}

DETAIL = {
    "education": "Attendance {pct}% this school year (persistent absence). Several unauthorised absences on Mondays.",
    "health": "A parent's long-term condition is poorly managed and is affecting the children's care.",
    "children_need_help": "Early help assessment open; the family agreed a plan with the lead professional.",
    "crime_asb": "A household member is subject to a community order; two anti-social behaviour reports this year.",
    "employment_finance": "Rent arrears of more than eight weeks; no adult in the household is in work.",
    "domestic_abuse": "Police attended a domestic incident in the last six months.",
}


@dataclass(frozen=True)
class Member:
    given: str
    family: str
    age: int
    role: MemberRole
    served_by: tuple[tuple[str, str], ...]
    concerns: tuple[str, ...]


@dataclass(frozen=True)
class DemoFamily:
    reference: str
    members: tuple[Member, ...]
    #: the notice version given, or None (partners see nothing of the family until one is)
    notice: str | None = None
    #: "given name:category" of an upheld objection, or None
    objection: str | None = None


P, C = MemberRole.PARENT_CARER, MemberRole.CHILD

#: the three families the demo's walk-through is about
HAND_MADE = (
    DemoFamily(
        "SF-000101",
        (
            Member("Kelly", "Brown", 34, P, (GP,), ("health", "children_need_help")),
            Member("Tyler", "Brown", 10, C, (GP, SCHOOL), ("education", "health")),
            Member("Mia", "Brown", 6, C, (GP, SCHOOL), ("education",)),
        ),
        notice="1",  # the 2023 notice: it does not cover health for schools
    ),
    DemoFamily(
        "SF-000102",
        (
            Member("Imran", "Ahmed", 41, P, (PROBATION, RSL), ("crime_asb", "employment_finance")),
            Member("Sara", "Ahmed", 38, P, (GP, RSL), ("domestic_abuse", "employment_finance")),
            Member("Zara", "Ahmed", 9, C, (GP, SCHOOL), ("education", "health")),
        ),
        notice="2",
        objection="Imran:employment_finance",  # he objected to his finances being shared; upheld
    ),
    DemoFamily(
        "SF-000103",
        (
            Member("Dean", "Walsh", 29, P, (GP, RSL), ("crime_asb",)),
            Member("Ruby", "Walsh", 7, C, (GP, SCHOOL), ("education",)),
        ),
        notice=None,  # no notice given yet: partners see nothing until it is
    ),
)

GIVEN_ADULT = ("Amy", "Ben", "Chloe", "Daniel", "Emma", "Faisal", "Grace", "Harry", "Isla", "Jack", "Leah", "Mohammed")
GIVEN_CHILD = ("Noah", "Olivia", "Poppy", "Reuben", "Sophie", "Theo", "Amara", "Leo", "Freya", "Oscar")
SURNAMES = ("Taylor", "Wilson", "Evans", "Thomas", "Roberts", "Khan", "Lewis", "Hughes", "Clarke", "Patel", "Wood")


def _generated() -> list[DemoFamily]:
    """Twenty more families of a parent and two children, the same on every run (a seeded generator)."""
    rng = random.Random(2026)  # noqa: S311 - demo data, not security
    families = []
    for i in range(20):
        surname = SURNAMES[i % len(SURNAMES)]
        parent = Member(rng.choice(GIVEN_ADULT), surname, rng.randint(24, 50), P, (GP,), ("health",))
        first = Member(rng.choice(GIVEN_CHILD), surname, rng.randint(5, 11), C, (GP, SCHOOL), ("education",))
        second = Member(rng.choice(GIVEN_CHILD), surname, rng.randint(5, 11), C, (GP, SCHOOL), ("children_need_help",))
        families.append(DemoFamily(f"SF-{200 + i:06d}", (parent, first, second), notice="2"))
    return families


def _families() -> list[DemoFamily]:
    return [*HAND_MADE, *_generated()]


@dataclass
class SeededFamilies:
    """What ``seed_demo_families`` wrote."""

    families: int = 0
    #: every person written, with their family and their flag's concerns: the access log's subjects
    subjects: list[SubjectRef] = field(default_factory=list)
    #: the kinds of record written, in a stable order (families, people, relationships, flags...)
    what: list[str] = field(default_factory=list)

    def wrote(self, *kinds: str) -> None:
        self.what.extend(k for k in kinds if k not in self.what)


@dataclass(frozen=True)
class _Demo:
    """The rows the demo families hang on: written first by the seed (organisations, users, register)."""

    today: date
    organisations: dict[tuple[str, str], Organisation]
    leads: list[User]
    coordinator: User | None
    notices: dict[str, NoticeVersion]


def _person(db: Session, demo: _Demo, m: Member, n: int, index: int) -> Person:
    """The n-th demo person: a valid NHS number, a UPN if a school serves the child, an invented postcode,
    and the relationship of each organisation that serves them."""
    today = demo.today
    person = records.add_person(
        db,
        nhs_number=synthetic_nhs_number(n * 13 + 1),
        upn=synthetic_upn(n) if m.role == C and SCHOOL in m.served_by else None,
        given_name=m.given,
        family_name=m.family,
        date_of_birth=date(today.year - m.age, 1 + n % 12, 1 + n % 28),
        postcode=f"EX{1 + index % 9} {1 + n % 9}A{'BDEFGHJ'[n % 7]}",
    )
    for key in m.served_by:
        records.add_relationship(
            db,
            organisation_id=demo.organisations[key].id,
            person_id=person.id,
            kind=RELATIONSHIP_FOR[key],
            source=RelationshipSource.DEMO,
            valid_from=today - timedelta(days=400),
        )
    return person


def _seed_family(db: Session, demo: _Demo, index: int, serial: int, spec: DemoFamily, seeded: SeededFamilies) -> None:
    """One family: its members (people numbered from ``serial``), a flag each, the notice and objection."""
    today = demo.today
    attached = today - timedelta(days=30 + 7 * index)
    lead = demo.leads[index % len(demo.leads)].id if demo.leads else None
    family = records.create_family(db, reference=spec.reference, attached_on=attached, lead_professional_id=lead)
    people = [(m, _person(db, demo, m, serial + offset, index)) for offset, m in enumerate(spec.members)]
    seeded.wrote("families", "people", "relationships", "flags")
    for m, person in people:
        records.add_member(db, family_id=family.id, person_id=person.id, role=m.role, joined_on=attached)
        seeded.subjects.append(SubjectRef(person_id=person.id, family_id=family.id, categories=m.concerns))
        records.raise_flag(
            db,
            person_id=person.id,
            family_id=family.id,
            raised_by_id=demo.coordinator.id if demo.coordinator else None,
            raised_at=datetime.combine(attached, time(9, 30), UTC),
            review_on=today + timedelta(days=90),
            ends_on=today + timedelta(days=365),
            family_told=spec.notice is not None,
            concerns={c: DETAIL[c].format(pct=72 + (index * 3) % 15) for c in m.concerns},
        )
    if spec.notice and spec.notice in demo.notices:
        seeded.wrote("notices_given")
        consent_records.give_notice(
            db,
            family_id=family.id,
            version_id=demo.notices[spec.notice].id,
            member_ids=[p.id for _, p in people],
            given_on=attached,
            given_by_id=lead,
            method=NoticeMethod.IN_PERSON,
        )
    if spec.objection:
        seeded.wrote("objections")
        who, category = spec.objection.split(":")
        objector = next(p for m, p in people if m.given == who)
        consent_records.record_objection(
            db, person_id=objector.id, category=category, raised_on=attached, recorded_by_id=lead
        )
    seeded.families += 1


def seed_demo_families(db: Session, today: date) -> SeededFamilies:
    """Create the demo families that are missing and say what was written. The caller logs and commits."""
    seeded = SeededFamilies()
    orgs = {(o.code_scheme.value, o.code): o for o in db.scalars(select(Organisation))}
    if not all(key in orgs for key in RELATIONSHIP_FOR):
        return seeded
    council = next(o for o in orgs.values() if o.code_scheme == CodeScheme.LA)
    demo = _Demo(
        today=today,
        organisations=orgs,
        leads=list(
            db.scalars(
                select(User)
                .where(User.organisation_id == council.id, User.subject.like("sf.lead%"))
                .order_by(User.subject)
            )
        ),
        coordinator=db.scalar(select(User).where(User.subject == "sf.coordinator")),
        notices={v.version: v for v in db.scalars(select(NoticeVersion).where(NoticeVersion.reference == "FPN-SF"))},
    )
    serial = 0
    for index, spec in enumerate(_families()):
        if db.scalar(select(Family.id).where(Family.reference == spec.reference)) is None:
            _seed_family(db, demo, index, serial, spec, seeded)
        serial += len(spec.members)
    db.flush()
    return seeded
