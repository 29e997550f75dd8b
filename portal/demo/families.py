"""Demo people, families, relationships, flags, notices given and an objection (idempotent).

Everyone here is invented: NHS numbers are from the 999 range that is never issued, UPNs use LA code
999, postcodes are in real shapes but invented. Dates are relative to the day of seeding so that the
demo's flags and protocols stay live whenever it is run. What was written is returned so that the seed
can log it (``portal.demo.seed``).
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from consent.models import NoticeGiven, NoticeGivenMember, NoticeMethod, NoticeVersion, Objection, ObjectionStatus
from portal.access_log import SubjectRef
from portal.families.identifiers import indexed_identifiers, synthetic_nhs_number, synthetic_upn
from portal.families.models import (
    Family,
    FamilyMember,
    Flag,
    FlagConcern,
    MemberRole,
    Person,
    RelationshipKind,
    RelationshipSource,
    ServiceRelationship,
)
from portal.organisations.models import CodeScheme, Organisation, User
from referrals.matching import fill_blocking_keys

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


@dataclass
class Member:
    given: str
    family: str
    age: int
    role: MemberRole
    served_by: tuple[tuple[str, str], ...]
    concerns: tuple[str, ...]


def _families() -> list[tuple[str, list[Member], str | None, str | None]]:
    """(reference, members, notice version given or None, objection "person:category" or None)."""
    hand = [
        (
            "SF-000101",
            [
                Member("Kelly", "Brown", 34, MemberRole.PARENT_CARER, (GP,), ("health", "children_need_help")),
                Member("Tyler", "Brown", 10, MemberRole.CHILD, (GP, SCHOOL), ("education", "health")),
                Member("Mia", "Brown", 6, MemberRole.CHILD, (GP, SCHOOL), ("education",)),
            ],
            "1",  # the 2023 notice: it does not cover health for schools
            None,
        ),
        (
            "SF-000102",
            [
                Member(
                    "Imran", "Ahmed", 41, MemberRole.PARENT_CARER, (PROBATION, RSL), ("crime_asb", "employment_finance")
                ),
                Member(
                    "Sara", "Ahmed", 38, MemberRole.PARENT_CARER, (GP, RSL), ("domestic_abuse", "employment_finance")
                ),
                Member("Zara", "Ahmed", 9, MemberRole.CHILD, (GP, SCHOOL), ("education", "health")),
            ],
            "2",
            "Imran:employment_finance",  # he objected to his finances being shared; upheld
        ),
        (
            "SF-000103",
            [
                Member("Dean", "Walsh", 29, MemberRole.PARENT_CARER, (GP, RSL), ("crime_asb",)),
                Member("Ruby", "Walsh", 7, MemberRole.CHILD, (GP, SCHOOL), ("education",)),
            ],
            None,  # no notice given yet: partners see nothing until it is
            None,
        ),
    ]
    rng = random.Random(2026)  # noqa: S311 - demo data, not security
    given_adult = [
        "Amy",
        "Ben",
        "Chloe",
        "Daniel",
        "Emma",
        "Faisal",
        "Grace",
        "Harry",
        "Isla",
        "Jack",
        "Leah",
        "Mohammed",
    ]
    given_child = ["Noah", "Olivia", "Poppy", "Reuben", "Sophie", "Theo", "Amara", "Leo", "Freya", "Oscar"]
    surnames = ["Taylor", "Wilson", "Evans", "Thomas", "Roberts", "Khan", "Lewis", "Hughes", "Clarke", "Patel", "Wood"]
    synthetic = []
    for i in range(20):
        surname = surnames[i % len(surnames)]
        members = [
            Member(rng.choice(given_adult), surname, rng.randint(24, 50), MemberRole.PARENT_CARER, (GP,), ("health",)),
            Member(
                rng.choice(given_child), surname, rng.randint(5, 11), MemberRole.CHILD, (GP, SCHOOL), ("education",)
            ),
            Member(
                rng.choice(given_child),
                surname,
                rng.randint(5, 11),
                MemberRole.CHILD,
                (GP, SCHOOL),
                ("children_need_help",),
            ),
        ]
        synthetic.append((f"SF-{200 + i:06d}", members, "2", None))
    return hand + synthetic


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


def seed_demo_families(db: Session, today: date) -> SeededFamilies:
    """Create the demo families that are missing and say what was written. The caller logs and commits."""
    seeded = SeededFamilies()
    orgs = {(o.code_scheme.value, o.code): o for o in db.scalars(select(Organisation))}
    if not all(key in orgs for key in RELATIONSHIP_FOR):
        return seeded
    council = next(o for o in orgs.values() if o.code_scheme == CodeScheme.LA)
    leads = db.scalars(
        select(User).where(User.organisation_id == council.id, User.subject.like("sf.lead%")).order_by(User.subject)
    ).all()
    coordinator = db.scalar(select(User).where(User.subject == "sf.coordinator"))
    versions = {v.version: v for v in db.scalars(select(NoticeVersion).where(NoticeVersion.reference == "FPN-SF"))}
    serial = 0
    for index, (reference, members, notice_version, objection) in enumerate(_families()):
        start_serial = serial
        serial += len(members)
        if db.scalar(select(Family.id).where(Family.reference == reference)) is not None:
            continue
        attached = today - timedelta(days=30 + 7 * index)
        family = Family(
            reference=reference,
            attached_on=attached,
            lead_professional_id=leads[index % len(leads)].id if leads else None,
        )
        db.add(family)
        people = []
        for offset, m in enumerate(members):
            n = start_serial + offset
            nhs = synthetic_nhs_number(n * 13 + 1)
            is_child = m.role == MemberRole.CHILD
            upn = synthetic_upn(n) if is_child and SCHOOL in m.served_by else None
            person = Person(
                id=uuid.uuid4(),
                **indexed_identifiers(nhs, upn),
                given_name=m.given,
                family_name=m.family,
                date_of_birth=date(today.year - m.age, 1 + n % 12, 1 + n % 28),
                postcode=f"EX{1 + index % 9} {1 + n % 9}A{'BDEFGHJ'[n % 7]}",
            )
            fill_blocking_keys(person)
            db.add(person)
            people.append((m, person))
            family.members.append(FamilyMember(person=person, role=m.role, joined_on=attached))
            for org_key in m.served_by:
                db.add(
                    ServiceRelationship(
                        organisation_id=orgs[org_key].id,
                        person_id=person.id,
                        kind=RELATIONSHIP_FOR[org_key],
                        source=RelationshipSource.DEMO,
                        valid_from=today - timedelta(days=400),
                    )
                )
        db.flush()
        seeded.wrote("families", "people", "relationships", "flags")
        for m, person in people:
            seeded.subjects.append(SubjectRef(person_id=person.id, family_id=family.id, categories=m.concerns))
            db.add(
                Flag(
                    person_id=person.id,
                    family_id=family.id,
                    raised_by_id=coordinator.id if coordinator else None,
                    raised_at=datetime.combine(attached, time(9, 30), UTC),
                    review_on=today + timedelta(days=90),
                    ends_on=today + timedelta(days=365),
                    family_told=notice_version is not None,
                    concerns=[
                        FlagConcern(category=c, detail=DETAIL[c].format(pct=72 + (index * 3) % 15)) for c in m.concerns
                    ],
                )
            )
        if notice_version and notice_version in versions:
            seeded.wrote("notices_given")
            db.add(
                NoticeGiven(
                    family_id=family.id,
                    version_id=versions[notice_version].id,
                    given_on=attached,
                    given_by_id=family.lead_professional_id,
                    method=NoticeMethod.IN_PERSON,
                    members=[NoticeGivenMember(person_id=p.id) for _, p in people],
                )
            )
        if objection:
            seeded.wrote("objections")
            who, category = objection.split(":")
            person = next(p for m, p in people if m.given == who)
            db.add(
                Objection(
                    person_id=person.id,
                    category=category,
                    purpose=None,
                    status=ObjectionStatus.UPHELD,
                    raised_on=attached,
                    recorded_by_id=family.lead_professional_id,
                )
            )
        seeded.families += 1
    db.flush()
    return seeded
