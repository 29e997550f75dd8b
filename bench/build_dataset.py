"""Build the access-gateway benchmark's data set in a scratch PostgreSQL database.

What it makes (all invented; NHS numbers in the never-issued 999 range, UPNs with LA code 999):

- 300 organisations: the council's Supporting Families team, 80 GP practices, 200 schools, 12 social
  landlords (one is ``rsl:L9901``, which the demo register names), 5 probation delivery units, a police
  team and a health visiting service; a practitioner at each, an admin at each GP practice, 60 lead
  professionals, a coordinator, a DPO and a sysadmin at the council.
- The demo sharing register (``portal/demo/sharing_register.yaml``) through ``sharing_protocols.register.file``.
- 3,000 families and 10,000 people (1-2 parents or carers and 1+ children each), with encrypted
  identifiers, names, dates of birth and postcodes and blind indexes, through the ORM (bulk inserts).
- Service relationships: every person is a registered patient of one practice (exactly 125 each) and
  5% have a former practice; every child is on one school's roll (~31 each) and 25% have a former
  school, so each school has ~40 relationships; 35% of families' adults are social tenants; 6% of adults
  are on a probation caseload.
- Flags on the 85% of members with concerns (1-3 categories each, detail encrypted); 4% ended, 2%
  removed; 3% of families closed. Fair processing notices given to 90% of families (v1 before April
  2025, mostly v2 after), objections from 1.5% of people (70% upheld).
- N access-log entries (default 1,000,000) bulk-loaded with COPY the way ``bench/verify_speed.py`` does:
  correct hashes and subject rows, checkpoints signed with the app's own key every 1,000 entries, the
  chain head set, so ``chain.verify`` passes and the app appends on top. The mix follows what the portal
  writes: flag views (1 subject), list pages (up to 50 subjects), denials, sign-ins, DPO searches.
- Server-side sessions for every GP practitioner and the DPO, inserted straight into
  ``server_session`` as ``DatabaseSessionInterface.save_session`` would write them at sign-in.

Writes ``manifest.json`` to the instance folder: cookies, users, organisations and, per GP practice, the
flagged people its practitioner may see (decided by the app's own gate, ``portal.gate.answers.decide_flags``).

    .venv/bin/python bench/build_dataset.py --keep   # builds into a new database and prints its URL
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import secrets
import tempfile
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from consent.models import NoticeGiven, NoticeGivenMember, NoticeMethod, NoticeVersion, Objection, ObjectionStatus
from portal.access_log import chain, signing
from portal.app import create_app
from portal.auth.dev_idp import issuer
from portal.auth.models import ServerSession
from portal.cli import upgrade
from portal.crypto import blind_index
from portal.demo.families import DETAIL
from portal.families import service as families_service
from portal.families.identifiers import synthetic_nhs_number, synthetic_upn
from portal.families.models import (
    Family,
    FamilyMember,
    FamilyStatus,
    Flag,
    FlagConcern,
    MemberRole,
    Person,
    RelationshipKind,
    RelationshipSource,
    ServiceRelationship,
)
from portal.gate import AccessContext
from portal.gate.answers import decide_flags, view_request
from portal.organisations.models import CodeScheme, Organisation, OrganisationKind, Role, User, UserRole
from sharing_protocols.register.file import import_register, load_register_text

ROOT = Path(__file__).resolve().parent.parent
ADMIN = os.environ.get("PORTAL_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REGISTER = ROOT / "portal" / "demo" / "sharing_register.yaml"

N_FAMILIES = 3_000
N_PEOPLE = 10_000
N_GP = 80
N_SCHOOLS = 200
N_RSL = 12
N_PROBATION = 5
N_LEADS = 60

ADULT_CONCERNS = ("health", "employment_finance", "crime_asb", "domestic_abuse", "children_need_help")
CHILD_CONCERNS = ("education", "health", "children_need_help")
GIVEN_ADULT = [
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
    "Nadia",
    "Owen",
    "Priya",
    "Ryan",
]
GIVEN_CHILD = [
    "Noah",
    "Olivia",
    "Poppy",
    "Reuben",
    "Sophie",
    "Theo",
    "Amara",
    "Leo",
    "Freya",
    "Oscar",
    "Ava",
    "Finn",
    "Ivy",
    "Zain",
    "Ella",
    "Kai",
]
SURNAMES = [
    "Taylor",
    "Wilson",
    "Evans",
    "Thomas",
    "Roberts",
    "Khan",
    "Lewis",
    "Hughes",
    "Clarke",
    "Patel",
    "Wood",
    "Brown",
    "Walsh",
    "Ahmed",
    "Jones",
]
USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605",
)


def app_env(url: str, instance: Path, base_url: str) -> dict[str, str]:
    """The environment the portal is served with (and built under, so both use one key ring)."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "PORTAL_ENV": "test",
        "PORTAL_DATABASE_URL": url,
        "PORTAL_INSTANCE_PATH": str(instance),
        "PORTAL_BASE_URL": base_url,
        "PORTAL_DEV_IDP": "1",
    }


def create_database(name: str) -> str:
    admin = ADMIN.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
        # what the README recommends for a production database on SSD storage (PostgreSQL's default
        # of 4 assumes spinning disks, and made it hash-join whole tables for a 100-row list page)
        conn.execute(f'ALTER DATABASE "{name}" SET random_page_cost = 1.1')
    return ADMIN.rsplit("/", 1)[0] + "/" + name


def drop_database(name: str) -> None:
    admin = ADMIN.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


@dataclass
class Org:
    id: uuid.UUID
    kind: str
    code: str
    practitioner: uuid.UUID | None = None
    served: list[tuple[str, str]] = field(default_factory=list)  # live (person_id, family_id)


@dataclass
class Built:
    orgs: list[Org]
    council_users: list[uuid.UUID]
    dpo: uuid.UUID
    person_ids: list[str]
    family_of: dict[str, str]
    counts: dict[str, int]


def build_domain(session: Session, today: date, iss: str, rng: random.Random) -> Built:
    """Organisations, users, register, families, people, relationships, flags, notices, objections."""
    counts: dict[str, int] = {}

    # -- organisations and users -----------------------------------------------------------------
    orgs: list[Org] = []
    org_rows: list[dict[str, Any]] = []

    def add_org(kind: OrganisationKind, scheme: CodeScheme, code: str, name: str) -> Org:
        org = Org(_uuid(rng), kind.value, f"{scheme.value}:{code}")
        org_rows.append({"id": org.id, "kind": kind, "name": name, "code_scheme": scheme, "code": code})
        orgs.append(org)
        return org

    council = add_org(OrganisationKind.COUNCIL_TEAM, CodeScheme.LA, "E10000999", "Bench County Council SF team")
    for i in range(N_GP):
        add_org(OrganisationKind.GP_PRACTICE, CodeScheme.ODS, f"Y9{i:04d}", f"Bench Medical Practice {i + 1}")
    for i in range(N_SCHOOLS):
        add_org(OrganisationKind.SCHOOL, CodeScheme.URN, f"99{i:04d}", f"Bench Primary School {i + 1}")
    for i in range(N_RSL):
        add_org(OrganisationKind.RSL, CodeScheme.RSL, f"L99{i + 1:02d}", f"Bench Homes {i + 1}")
    for i in range(N_PROBATION):
        add_org(OrganisationKind.PROBATION, CodeScheme.LOCAL, f"PDU-B{i + 1}", f"Bench Probation Unit {i + 1}")
    add_org(OrganisationKind.POLICE, CodeScheme.LOCAL, "POL-B1", "Bench Police Early Intervention")
    add_org(OrganisationKind.HEALTH_VISITING, CodeScheme.LOCAL, "HV-B1", "Bench Health Visiting")
    session.execute(insert(Organisation), org_rows)
    counts["organisations"] = len(org_rows)

    user_rows: list[dict[str, Any]] = []
    role_rows: list[dict[str, Any]] = []

    def add_user(org: Org, subject: str, name: str, roles: tuple[Role, ...], **extra: Any) -> uuid.UUID:
        user_id = _uuid(rng)
        user_rows.append(
            {
                "id": user_id,
                "issuer": iss,
                "subject": subject,
                "organisation_id": org.id,
                "display_name": name,
                "email": f"{subject}@bench.example",
                "job_title": extra.get("job_title"),
                "phone": extra.get("phone"),
            }
        )
        role_rows.extend({"user_id": user_id, "role": r} for r in roles)
        return user_id

    leads = [
        add_user(
            council,
            f"bench.lead{i}",
            f"{rng.choice(GIVEN_ADULT)} {rng.choice(SURNAMES)}",
            (Role.COORDINATOR,),
            job_title="Family support worker",
            phone=f"01632 9{i:05d}",
        )
        for i in range(N_LEADS)
    ]
    coordinator = add_user(council, "bench.coordinator", "Sam Coordinator", (Role.COORDINATOR,))
    dpo = add_user(council, "bench.dpo", "Dana Protection", (Role.DPO,))
    add_user(council, "bench.sysadmin", "Sys Admin", (Role.SYSADMIN,))
    council.practitioner = coordinator
    for org in orgs[1:]:
        org.practitioner = add_user(
            org, f"bench.{org.code}.practitioner", f"Practitioner {org.code}", (Role.PRACTITIONER,)
        )
        if org.kind == "gp_practice":
            add_user(org, f"bench.{org.code}.admin", f"Admin {org.code}", (Role.ORG_ADMIN,))
    session.execute(insert(User), user_rows)
    session.execute(insert(UserRole), role_rows)
    counts["users"] = len(user_rows)

    import_register(session, load_register_text(REGISTER.read_text(encoding="utf-8")))
    versions = {
        v.version: v.id for v in session.scalars(select(NoticeVersion).where(NoticeVersion.reference == "FPN-SF"))
    }

    # -- families and people ---------------------------------------------------------------------
    gps = [o for o in orgs if o.kind == "gp_practice"]
    schools = [o for o in orgs if o.kind == "school"]
    rsls = [o for o in orgs if o.kind == "rsl"]
    probation = [o for o in orgs if o.kind == "probation"]
    adults_per_family = [2 if rng.random() < 0.25 else 1 for _ in range(N_FAMILIES)]
    children_per_family = [1] * N_FAMILIES
    for f in rng.choices(range(N_FAMILIES), k=N_PEOPLE - sum(adults_per_family) - N_FAMILIES):
        children_per_family[f] += 1

    family_rows, member_rows, person_rows = [], [], []
    rel_rows: list[dict[str, Any]] = []
    flag_rows, concern_rows, notice_rows, notice_member_rows, objection_rows = [], [], [], [], []
    people: list[tuple[str, str, bool]] = []  # (person id, family id, is child)
    family_of: dict[str, str] = {}
    n = 0
    for f in range(N_FAMILIES):
        family_id = _uuid(rng)
        attached = today - timedelta(days=rng.randint(20, 700))
        closed = rng.random() < 0.03
        lead = rng.choice(leads) if rng.random() < 0.9 else None
        family_rows.append(
            {
                "id": family_id,
                "reference": f"SF-{100000 + f}",
                "status": FamilyStatus.CLOSED if closed else FamilyStatus.OPEN,
                "lead_professional_id": lead,
                "attached_on": attached,
                "closed_on": today - timedelta(days=rng.randint(1, 15)) if closed else None,
            }
        )
        surname = rng.choice(SURNAMES)
        members = []
        for is_child in [False] * adults_per_family[f] + [True] * children_per_family[f]:
            person_id = _uuid(rng)
            nhs = synthetic_nhs_number(n * 13 + 1)
            upn = synthetic_upn(n) if is_child else None
            age = rng.randint(4, 16) if is_child else rng.randint(22, 55)
            person_rows.append(
                {
                    "id": person_id,
                    "nhs_number": nhs,
                    "nhs_number_index": blind_index("nhs_number", nhs),
                    "upn": upn,
                    "upn_index": blind_index("upn", upn) if upn else None,
                    "given_name": rng.choice(GIVEN_CHILD if is_child else GIVEN_ADULT),
                    "family_name": surname,
                    "date_of_birth": date(today.year - age, 1 + n % 12, 1 + n % 28),
                    "postcode": f"EX{1 + f % 9} {1 + n % 9}A{'BDEFGHJ'[n % 7]}",
                }
            )
            member_rows.append(
                {
                    "family_id": family_id,
                    "person_id": person_id,
                    "role": MemberRole.CHILD if is_child else MemberRole.PARENT_CARER,
                    "joined_on": attached,
                }
            )
            people.append((str(person_id), str(family_id), is_child))
            family_of[str(person_id)] = str(family_id)
            members.append((person_id, is_child))
            n += 1

        # notices: v1 before April 2025, then mostly v2; some families had both
        told = rng.random() < 0.9
        if told:
            given_on = min(today, attached + timedelta(days=rng.randint(0, 10)))
            version = "1" if given_on < date(2025, 4, 1) or rng.random() < 0.2 else "2"
            given = [(version, given_on)]
            if version == "1" and rng.random() < 0.4:
                given.append(("2", min(today, max(date(2025, 4, 1), given_on + timedelta(days=90)))))
            for version, on in given:
                notice_id = _uuid(rng)
                notice_rows.append(
                    {
                        "id": notice_id,
                        "family_id": family_id,
                        "version_id": versions[version],
                        "given_on": on,
                        "given_by_id": lead,
                        "method": rng.choice(list(NoticeMethod)),
                    }
                )
                notice_member_rows.extend({"notice_id": notice_id, "person_id": p} for p, _ in members)

        # flags on the members with concerns
        for person_id, is_child in members:
            if rng.random() >= 0.85:
                continue
            pool = CHILD_CONCERNS if is_child else ADULT_CONCERNS
            concerns = rng.sample(pool, rng.choice((1, 1, 2, 2, 3)))
            flag_id = _uuid(rng)
            fate = rng.random()
            flag_rows.append(
                {
                    "id": flag_id,
                    "person_id": person_id,
                    "family_id": family_id,
                    "raised_by_id": coordinator,
                    "raised_at": datetime.combine(attached + timedelta(days=rng.randint(0, 14)), clock(9, 30), UTC),
                    "review_on": today + timedelta(days=rng.randint(10, 180)),
                    "ends_on": today - timedelta(days=rng.randint(1, 100))
                    if fate < 0.04
                    else today + timedelta(days=rng.randint(30, 400)),
                    "family_told": told,
                    "removed_at": datetime.now(UTC) - timedelta(days=rng.randint(1, 60))
                    if 0.04 <= fate < 0.06
                    else None,
                    "removed_by_id": coordinator if 0.04 <= fate < 0.06 else None,
                    "removal_reason": "The family moved out of the area." if 0.04 <= fate < 0.06 else None,
                }
            )
            concern_rows.extend(
                {"flag_id": flag_id, "category": c, "detail": DETAIL[c].format(pct=70 + n % 20)} for c in concerns
            )
            if rng.random() < 0.015:
                upheld = rng.random() < 0.7
                objection_rows.append(
                    {
                        "id": _uuid(rng),
                        "person_id": person_id,
                        "category": rng.choice([*concerns, "programme_membership"]),
                        "purpose": None,
                        "status": ObjectionStatus.UPHELD if upheld else ObjectionStatus.OVERRIDDEN,
                        "basis": None if upheld else "Safeguarding: the children's welfare outweighs the objection.",
                        "recorded_by_id": lead,
                        "raised_on": attached + timedelta(days=rng.randint(0, 20)),
                    }
                )

    # -- service relationships -------------------------------------------------------------------
    def relate(org: Org, person: str, kind: RelationshipKind, valid_from: date, valid_to: date | None = None) -> None:
        rel_rows.append(
            {
                "id": _uuid(rng),
                "organisation_id": org.id,
                "person_id": uuid.UUID(person),
                "kind": kind,
                "source": RelationshipSource.CSV_IMPORT,
                "valid_from": valid_from,
                "valid_to": valid_to,
            }
        )
        if valid_to is None:
            org.served.append((person, family_of[person]))

    order = list(range(len(people)))
    rng.shuffle(order)
    for rank, i in enumerate(order):  # exactly N_PEOPLE / N_GP live patients per practice
        person, _, _ = people[i]
        gp = gps[rank % N_GP]
        since = today - timedelta(days=rng.randint(100, 3000))
        relate(gp, person, RelationshipKind.REGISTERED_PATIENT, since)
        if rng.random() < 0.05:
            former = gps[(rank + 1 + rng.randrange(N_GP - 1)) % N_GP]
            relate(former, person, RelationshipKind.REGISTERED_PATIENT, since - timedelta(days=900), since)
    children = [p for p, _, is_child in people if is_child]
    rng.shuffle(children)
    for rank, person in enumerate(children):
        school = schools[rank % N_SCHOOLS]
        since = today - timedelta(days=rng.randint(60, 2000))
        relate(school, person, RelationshipKind.ON_ROLL, since)
        if rng.random() < 0.25:
            former = schools[(rank + 1 + rng.randrange(N_SCHOOLS - 1)) % N_SCHOOLS]
            relate(former, person, RelationshipKind.ON_ROLL, since - timedelta(days=700), since - timedelta(days=1))
    by_family: dict[str, list[str]] = defaultdict(list)
    for person, family, is_child in people:
        if not is_child:
            by_family[family].append(person)
    for adults in by_family.values():
        if rng.random() < 0.35:
            rsl = rng.choice(rsls)
            for person in adults:
                relate(rsl, person, RelationshipKind.TENANT, today - timedelta(days=rng.randint(30, 3000)))
        for person in adults:
            if rng.random() < 0.06:
                relate(
                    rng.choice(probation),
                    person,
                    RelationshipKind.ON_CASELOAD,
                    today - timedelta(days=rng.randint(10, 500)),
                )

    for model, rows in (
        (Family, family_rows),
        (Person, person_rows),
        (FamilyMember, member_rows),
        (ServiceRelationship, rel_rows),
        (Flag, flag_rows),
        (FlagConcern, concern_rows),
        (NoticeGiven, notice_rows),
        (NoticeGivenMember, notice_member_rows),
        (Objection, objection_rows),
    ):
        for start in range(0, len(rows), 5000):
            session.execute(insert(model), rows[start : start + 5000])
        counts[model.__tablename__] = len(rows)
    return Built(orgs, [*leads, coordinator], dpo, [p for p, _, _ in people], family_of, counts)


# -- the access log ----------------------------------------------------------------------------------

PROTOCOL_FOR = {
    "gp_practice": "ISP-SF-GP v2",
    "school": "ISP-SF-SCH v1",
    "rsl": "ISP-SF-RSL v2",
    "probation": "ISP-SF-PROB v1",
}
CATEGORIES_FOR = {
    "gp_practice": ("health", "children_need_help"),
    "school": ("education", "children_need_help", "health"),
    "rsl": ("crime_asb", "employment_finance"),
    "probation": ("crime_asb", "domestic_abuse"),
    "council_team": ("children_need_help", "education", "health"),
}
PERMITTED_REASONS = "role_permitted,relationship_live,protocol_in_force,notice_covers,no_objection"
BREAK_GLASS_REASONS = (
    "role_permitted,break_glass_reason_given,relationship_waived_break_glass,"
    "protocol_in_force,notice_covers,no_objection"
)


def log_entries(built: Built, n: int, key: Any, interval: int, now_us: int, rng: random.Random):
    """Yield (entry, subject rows, checkpoint or None) for entries 1..n, hashed exactly as ``append`` would.

    Times spread over the year before ``now_us``; actors are the bench users, subjects the people their
    organisation serves, so the DPO's searches by person, user and organisation find realistic counts.
    """
    key_id = signing.key_id(key.public_key())
    actors: list[tuple[Org, str, str]] = []
    for org in built.orgs:
        if org.kind == "council_team":
            for user in built.council_users:
                actors.append((org, str(user), "coordinator"))
        elif org.practitioner is not None:
            weight = 2 if org.kind == "gp_practice" else 1
            actors.extend([(org, str(org.practitioner), "practitioner")] * weight)
    council = built.orgs[0]
    council.served = [(p, built.family_of[p]) for p in built.person_ids]
    events = (
        ["flag_viewed"] * 62
        + ["flags_listed"] * 12
        + ["flags_searched"] * 3
        + ["access_denied"] * 4
        + ["signed_in"] * 12
        + ["signed_out"] * 4
        + ["access_log_searched"] * 2
        + ["flag_break_glass_viewed"]
    )
    prev = chain.GENESIS
    span = 365 * 86_400_000_000
    start_us = now_us - span - 3_600_000_000
    step = span // n
    dpo = str(built.dpo)
    for seq in range(1, n + 1):
        event = events[rng.randrange(len(events))]
        org, user, role = actors[rng.randrange(len(actors))]
        kind = org.kind
        if event == "access_log_searched":
            org, user, role, kind = built.orgs[0], dpo, "dpo", "council_team"
        served = org.served or council.served
        categories = CATEGORIES_FOR.get(kind, ())
        protocol = PROTOCOL_FOR.get(kind, "")
        notice = "FPN-SF v2" if rng.random() < 0.8 else "FPN-SF v1"
        outcome, purpose, reasons, cats, protocols, notices, detail = (
            "permitted",
            "support_coordination",
            "",
            "",
            "",
            "",
            "{}",
        )
        subjects: list[dict[str, Any]] = []
        if event in ("flag_viewed", "flags_searched", "flag_break_glass_viewed"):
            person, family = served[rng.randrange(len(served))]
            shown = ",".join(sorted(rng.sample(categories, rng.randint(0, len(categories))))) if categories else ""
            subjects = [
                {"ordinal": 0, "person_id": person, "family_id": family, "tier": 2 if shown else 1, "categories": shown}
            ]
            reasons, cats, protocols, notices = PERMITTED_REASONS, shown, protocol, notice
            if event == "flags_searched":
                detail = '{"page":"1","results":"1","search_by":"nhs_number"}'
            elif event == "flag_break_glass_viewed":
                outcome = "break_glass"
                reasons = BREAK_GLASS_REASONS
                detail = '{"break_glass_id":"' + str(uuid.UUID(int=rng.getrandbits(128), version=4)) + '"}'
        elif event == "flags_listed":
            count = min(50, len(served))
            picked = sorted(rng.sample(range(len(served)), count))
            subjects = [
                {
                    "ordinal": i,
                    "person_id": served[j][0],
                    "family_id": served[j][1],
                    "tier": 2,
                    "categories": categories[0] if categories else "",
                }
                for i, j in enumerate(picked)
            ]
            reasons, cats, protocols, notices = PERMITTED_REASONS, categories[0] if categories else "", protocol, notice
            detail = '{"page":"1","results":"' + str(len(served)) + '"}'
        elif event == "access_denied":
            person, family = served[rng.randrange(len(served))]
            subjects = [{"ordinal": 0, "person_id": person, "family_id": family, "tier": 0, "categories": ""}]
            outcome, reasons = (
                "denied",
                rng.choice(
                    ("role_permitted,!no_relationship", "role_permitted,relationship_live,protocol_in_force,!no_notice")
                ),
            )
            detail = '{"attempted":"flag_viewed"}'
        elif event in ("signed_in", "signed_out"):
            purpose = ""
            detail = '{"provider":"dev"}'
        else:  # access_log_searched
            purpose, reasons = "", "role_permitted"
            detail = '{"filters":"person"}'
        entry = {
            "seq": seq,
            "at_us": start_us + seq * step + rng.randrange(step),
            "event": event,
            "outcome": outcome,
            "actor_user_id": user,
            "actor_organisation_id": str(org.id),
            "actor_roles": role,
            "purpose": purpose,
            "categories": cats,
            "reasons": reasons,
            "protocol_refs": protocols,
            "notice_refs": notices,
            "request_id": f"{rng.getrandbits(128):032x}",
            "ip": f"10.{seq % 250}.{rng.randrange(250)}.{rng.randrange(250)}",
            "user_agent": USER_AGENTS[seq % len(USER_AGENTS)],
            "detail": detail,
            "subject_count": len(subjects),
        }
        digest = chain.chain_hash(prev, chain.canonical_payload(entry, subjects))
        entry["prev_hash"], entry["hash"] = prev, digest
        checkpoint = None
        if seq % interval == 0:
            checkpoint = (seq, digest, now_us, key_id, signing.sign_checkpoint(key, seq, digest))
        prev = digest
        yield entry, subjects, checkpoint


def load_log(pg_url: str, built: Built, n: int, key: Any, interval: int, rng: random.Random) -> tuple[int, int]:
    """COPY n entries and their subject rows (one per entry with subjects, holding its records; two
    connections, so both streams flow at once), with the secondary indexes (the subject rows' are GIN
    indexes on the person and family ids) dropped during the load and recreated from their own
    definitions afterwards. Returns the last sequence number and the number of subjects recorded."""
    columns = [*chain.ENTRY_FIELDS, "prev_hash", "hash"]
    with psycopg.connect(pg_url, autocommit=True) as conn:
        indexes = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN ('access_log_entry', 'access_log_subject')"
            " AND indexname NOT LIKE 'pk_%'"
        ).fetchall()
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
    now_us = time.time_ns() // 1000
    last = (0, chain.GENESIS)
    subject_count = 0
    checkpoints = []
    with psycopg.connect(pg_url) as c1, psycopg.connect(pg_url) as c2, c1.cursor() as cur1, c2.cursor() as cur2:
        with (
            cur1.copy(f"COPY access_log_entry ({', '.join(columns)}) FROM STDIN") as entries,
            cur2.copy("COPY access_log_subject (entry_seq, records) FROM STDIN") as subjects,
        ):
            for entry, rows, checkpoint in log_entries(built, n, key, interval, now_us, rng):
                entries.write_row([entry[c] for c in columns])
                seq = entry["seq"]
                if rows:
                    subjects.write_row((seq, chain.encode_records(rows)))
                subject_count += len(rows)
                if checkpoint:
                    checkpoints.append(checkpoint)
                last = (seq, entry["hash"])
        cur1.executemany(
            "INSERT INTO access_log_checkpoint (seq, hash, signed_at_us, key_id, signature) VALUES (%s,%s,%s,%s,%s)",
            checkpoints,
        )
        cur1.execute("UPDATE access_log_chain_head SET seq = %s, hash = %s WHERE id = 1", last)
        c2.commit()
        c1.commit()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '512MB'")
        for _, definition in indexes:
            conn.execute(definition)
    return last[0], subject_count


# -- sessions and targets ----------------------------------------------------------------------------


def make_session(session: Session, user_id: uuid.UUID, organisation_id: uuid.UUID) -> str:
    """Insert a signed-in server-side session row, as ``DatabaseSessionInterface.save_session`` does
    after the OIDC callback (``login_user`` keys plus organisation_id and provider); return the cookie."""
    token = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    session.add(
        ServerSession(
            token_hash=hashlib.sha256(token.encode()).hexdigest(),
            user_id=user_id,
            data={
                "_user_id": str(user_id),
                "_fresh": True,
                "_id": secrets.token_hex(64),
                "organisation_id": str(organisation_id),
                "provider": "dev",
            },
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(hours=10),
        )
    )
    return token


def flag_targets(session: Session, org: Org, roles: frozenset[str]) -> list[str]:
    """The flagged people this organisation's practitioner may see today, decided by the app's own gate."""
    ctx = AccessContext(
        user_id=org.practitioner,
        organisation_id=org.id,
        organisation_kind=org.kind,
        roles=roles,
        request_id="bench",
    )
    on = ctx.today
    candidates = families_service._served_candidates(session, ctx, on)
    decisions = decide_flags(session, ctx, view_request(on), [c.subject for c in candidates])
    return [c.subject.person_id for c in candidates if decisions[c.subject.person_id].permitted]


def build(url: str, instance: Path, base_url: str, entries: int, seed: int = 7) -> dict[str, Any]:
    """Migrate, fill and return the manifest (also written to ``instance/manifest.json``)."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    upgrade(url, "heads")
    timings["migrate"] = time.perf_counter() - started
    app = create_app(env=app_env(url, instance, base_url))
    rng = random.Random(seed)
    with app.app_context():
        maker = app.extensions["db_sessionmaker"]
        started = time.perf_counter()
        with maker() as session:
            built = build_domain(session, date.today(), issuer(app), rng)
            session.commit()
        timings["domain"] = time.perf_counter() - started

        started = time.perf_counter()
        sealer = signing.sealer(app)
        pg_url = url.replace("postgresql+psycopg://", "postgresql://")
        head_seq, subject_rows = load_log(pg_url, built, entries, sealer.private_key, sealer.interval, rng)
        timings["access_log"] = time.perf_counter() - started

        started = time.perf_counter()
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
        timings["vacuum_analyze"] = time.perf_counter() - started

        roles = frozenset({"practitioner"})
        gp_entries = []
        with maker() as session:
            for org in built.orgs:
                if org.kind != "gp_practice":
                    continue
                gp_entries.append(
                    {
                        "organisation_id": str(org.id),
                        "user_id": str(org.practitioner),
                        "cookie": make_session(session, org.practitioner, org.id),
                        "served": [p for p, _ in org.served],
                        "flag_targets": flag_targets(session, org, roles),
                    }
                )
            dpo_cookie = make_session(session, built.dpo, built.orgs[0].id)
            session.commit()
    manifest = {
        "database_url": url,
        "base_url": base_url,
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "counts": {**built.counts, "access_log_entry": head_seq, "access_log_subject": subject_rows},
        "timings_s": {k: round(v, 1) for k, v in timings.items()},
        "gp": gp_entries,
        "dpo": {"user_id": str(built.dpo), "organisation_id": str(built.orgs[0].id), "cookie": dpo_cookie},
        "person_ids": built.person_ids,
        "family_of": built.family_of,
        "users": sorted({str(o.practitioner) for o in built.orgs if o.practitioner}),
        "organisations": [{"id": str(o.id), "kind": o.kind, "code": o.code} for o in built.orgs],
    }
    (instance / "manifest.json").write_text(json.dumps(manifest))
    app.extensions["db_engine"].dispose()
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the database and instance folder")
    args = parser.parse_args()
    name = f"bench_gateway_{os.getpid()}"
    url = create_database(name)
    instance = Path(tempfile.mkdtemp(prefix="bench_gateway_"))
    try:
        started = time.perf_counter()
        manifest = build(url, instance, "http://127.0.0.1:8101", args.entries)
        print(f"built in {time.perf_counter() - started:.0f} s: {json.dumps(manifest['counts'])}")
        print(f"timings: {manifest['timings_s']}")
        targets = [len(g["flag_targets"]) for g in manifest["gp"]]
        print(f"GP flag targets per practice: min {min(targets)}, max {max(targets)}, total {sum(targets)}")
        if args.keep:
            print(f"database {url}\ninstance {instance}")
    finally:
        if not args.keep:
            drop_database(name)


if __name__ == "__main__":
    main()
