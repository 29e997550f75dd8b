"""Benchmark of matching: one nomination against 10,000 known people, on PostgreSQL.

Builds its own data set in a scratch database (deleted at the end unless --keep): the demo seed's
organisations, accounts and register, then 10,000 invented people in households (surnames and given
names drawn with realistic skew, so common names collide as they do in a county; one postcode per
household, about 2,600 postcodes; NHS numbers in the never-issued 999 range, UPNs for children), each
with encrypted identifiers, names, date of birth and postcode, blind indexes and blocking keys,
inserted the way the portal writes them (the ORM's types encrypt). Then nominations of 1 to 4 people,
drawn from the population with the errors nominators make: an exact NHS number, a misspelt name, a
nickname, day and month swapped, a household that moved, and people nobody knows.

Measured in-process (no HTTP), each over ``--runs`` nominations after a warm-up:

- ``find_candidates``: matching itself, the two queries (index columns, then the blocked candidates
  decrypted) and the scoring, for all the nomination's people at once;
- ``get_nomination_for``: the coordinator's whole nomination page in the service layer: the gate,
  the nomination and its people decrypted, matching, families, history, and the access-log append,
  committed as a request would be.

Also reported: how many known people were decrypted per nominated person, and whether the person
the nomination was drawn from ranked first (a sanity check of the scoring on skewed names, not a
quality benchmark).

    .venv/bin/python bench/matching.py                # 10,000 people, 300 nominations
    .venv/bin/python bench/matching.py --people 2000 --runs 50 --keep
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import func, insert, or_, select

from portal.app import create_app, db
from portal.auth.dev_idp import issuer
from portal.cli import upgrade
from portal.crypto import blind_index
from portal.demo.seed import seed_demo
from portal.families.identifiers import synthetic_nhs_number, synthetic_upn
from portal.families.models import Person
from portal.gate import AccessContext
from portal.organisations.models import User
from referrals.journey.demo import Nominee, write_nomination
from referrals.matching import MAX_DECRYPTED, PersonDetails, _lookup_keys, blocking_indexes, find_candidates
from referrals.models import HouseholdRole, NominationStatus
from referrals.setup import current_framework
from referrals.triage import service

ADMIN = os.environ.get("PORTAL_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
TARGET_MS = 200.0

SURNAMES = [
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Williams",
    "Wilson",
    "Johnson",
    "Davies",
    "Robinson",
    "Wright",
    "Thompson",
    "Evans",
    "Walker",
    "White",
    "Roberts",
    "Green",
    "Hall",
    "Wood",
    "Jackson",
    "Clarke",
    "Patel",
    "Khan",
    "Lewis",
    "James",
    "Phillips",
    "Mason",
    "Mitchell",
    "Rose",
    "Davis",
    "Rodriguez",
    "Cox",
    "Alexander",
    "Morgan",
    "Moore",
    "Hughes",
    "Martin",
    "Harris",
    "Edwards",
    "Turner",
    "Baker",
    "Cooper",
    "Hill",
    "Ward",
    "Morris",
    "King",
    "Scott",
    "Young",
    "Allen",
    "Parker",
    "Bell",
    "Anderson",
    "Watson",
    "Carter",
    "Murphy",
    "Price",
    "Bennett",
    "Griffiths",
    "Kelly",
    "Simpson",
    "Marshall",
    "Collins",
    "Bailey",
    "Richardson",
    "Cook",
    "Shaw",
    "Chapman",
    "Ellis",
    "Webb",
    "Adams",
    "Lee",
    "Harrison",
    "Holmes",
    "Lloyd",
    "Owen",
    "Fox",
    "Walsh",
    "Ahmed",
    "Ali",
    "Hussain",
    "Begum",
    "Singh",
    "Kaur",
    "Nowak",
    "Kowalski",
    "O'Brien",
    "McCarthy",
    "O'Neill",
    "Fraser",
    "Graham",
    "Hamilton",
    "Stewart",
    "Reid",
    "Campbell",
    "Murray",
    "Ross",
    "Barker",
    "Fletcher",
    "Knight",
    "Hunt",
    "Palmer",
    "Mills",
    "Gibson",
    "Stevens",
    "Butler",
    "Russell",
    "Pearson",
    "Dixon",
]
GIVEN = [
    "Oliver",
    "George",
    "Harry",
    "Noah",
    "Jack",
    "Leo",
    "Arthur",
    "Muhammad",
    "Oscar",
    "Charlie",
    "Jacob",
    "Thomas",
    "Henry",
    "William",
    "Freddie",
    "James",
    "Alfie",
    "Theo",
    "Joshua",
    "Archie",
    "Olivia",
    "Amelia",
    "Isla",
    "Ava",
    "Mia",
    "Ivy",
    "Lily",
    "Isabella",
    "Rosie",
    "Sophia",
    "Grace",
    "Willow",
    "Freya",
    "Florence",
    "Emily",
    "Ella",
    "Poppy",
    "Evie",
    "Elsie",
    "Charlotte",
    "Daniel",
    "Michael",
    "David",
    "Christopher",
    "Matthew",
    "Andrew",
    "Mark",
    "Paul",
    "Steven",
    "Robert",
    "Richard",
    "Anthony",
    "Lee",
    "Craig",
    "Sarah",
    "Emma",
    "Laura",
    "Rebecca",
    "Claire",
    "Rachel",
    "Kelly",
    "Gemma",
    "Nicola",
    "Lisa",
    "Michelle",
    "Stephanie",
    "Jennifer",
    "Katherine",
    "Elizabeth",
    "Margaret",
    "Victoria",
    "Samantha",
    "Jessica",
    "Abigail",
    "Zara",
    "Aisha",
    "Fatima",
    "Imran",
    "Bilal",
    "Hamza",
    "Yusuf",
    "Kacper",
    "Zofia",
    "Maja",
    "Liam",
    "Connor",
    "Kyle",
    "Jordan",
    "Shannon",
    "Chloe",
    "Megan",
    "Jade",
]
NICKNAMES = {
    "William": "Bill",
    "Robert": "Bob",
    "Elizabeth": "Liz",
    "Katherine": "Kate",
    "Michael": "Mike",
    "Thomas": "Tom",
    "Christopher": "Chris",
    "Jennifer": "Jenny",
    "Rebecca": "Becky",
    "Samantha": "Sam",
    "Matthew": "Matt",
    "Daniel": "Dan",
    "Richard": "Rich",
    "Anthony": "Tony",
    "Victoria": "Vicky",
    "Jessica": "Jess",
    "Abigail": "Abbie",
    "Muhammad": "Mohammed",
}


def zipf_weights(n: int, s: float = 1.0) -> list[float]:
    return [1 / (rank**s) for rank in range(1, n + 1)]


@dataclass(frozen=True)
class Known:
    id: uuid.UUID
    details: PersonDetails
    household: int


def build_people(count: int, rng: random.Random, today: date) -> tuple[list[dict[str, Any]], list[Known]]:
    surname_w, given_w = zipf_weights(len(SURNAMES)), zipf_weights(len(GIVEN), 0.7)
    rows: list[dict[str, Any]] = []
    known: list[Known] = []
    household = 0
    serial = 0
    while len(rows) < count:
        household += 1
        surname = rng.choices(SURNAMES, surname_w)[0]
        unit = "".join(rng.choices("ABDEFGHJLNPQRSTUWXYZ", k=2))
        postcode = f"EX{rng.randint(1, 39)} {rng.randint(1, 9)}{unit}"
        members = [("adult", 1)] * rng.choice((1, 2, 2)) + [("child", 0)] * rng.choice((1, 1, 2, 2, 3))
        for kind, _ in members:
            if len(rows) >= count:
                break
            serial += 1
            age = rng.randint(22, 55) if kind == "adult" else rng.randint(0, 17)
            dob = date(today.year - age, rng.randint(1, 12), rng.randint(1, 28))
            nhs = synthetic_nhs_number(100_000 + serial * 7)
            upn = synthetic_upn(100_000 + serial) if kind == "child" and age >= 4 else None
            details = PersonDetails(rng.choices(GIVEN, given_w)[0], surname, dob, postcode, nhs, upn)
            person_id = uuid.uuid4()
            rows.append(
                {
                    "id": person_id,
                    "nhs_number": nhs,
                    "nhs_number_index": blind_index("nhs_number", nhs),
                    "upn": upn,
                    "upn_index": blind_index("upn", upn) if upn else None,
                    "given_name": details.given_name,
                    "family_name": surname,
                    "date_of_birth": dob,
                    "postcode": postcode,
                    **blocking_indexes(surname, dob, postcode),
                }
            )
            known.append(Known(person_id, details, household))
    return rows, known


def misspell(name: str, rng: random.Random) -> str:
    if len(name) < 4:
        return name + "e"
    i = rng.randint(1, len(name) - 2)
    return name[:i] + name[i + 1] + name[i] + name[i + 2 :] if rng.random() < 0.5 else name[:i] + name[i + 1 :]


def nominated_version(p: Known, variant: str, rng: random.Random) -> PersonDetails:
    d = p.details
    if variant == "exact_nhs":
        return PersonDetails(d.given_name, d.family_name, d.date_of_birth, d.postcode, d.nhs_number, None)
    if variant == "misspelt":
        return PersonDetails(misspell(d.given_name, rng), misspell(d.family_name, rng), d.date_of_birth, d.postcode)
    if variant == "nickname_moved":
        given = NICKNAMES.get(d.given_name, d.given_name)
        return PersonDetails(given, d.family_name, d.date_of_birth, "M1 1AE")
    if variant == "swapped_dob":
        dob = d.date_of_birth
        swapped = dob.replace(day=min(dob.month, 28), month=min(dob.day, 12)) if dob else None
        return PersonDetails(d.given_name, d.family_name.upper(), swapped, d.postcode.lower() if d.postcode else None)
    raise ValueError(variant)


VARIANTS = ("exact_nhs", "misspelt", "nickname_moved", "swapped_dob", "unknown")


def build_nominations(
    known: list[Known], n: int, rng: random.Random
) -> list[tuple[str, list[tuple[PersonDetails, uuid.UUID | None]]]]:
    by_household: dict[int, list[Known]] = {}
    for k in known:
        by_household.setdefault(k.household, []).append(k)
    households = list(by_household.values())
    nominations = []
    for i in range(n):
        variant = VARIANTS[i % len(VARIANTS)]
        if variant == "unknown":
            size = rng.randint(1, 4)
            people = [
                (
                    PersonDetails(
                        f"{rng.choice(GIVEN)}x",
                        f"Zz{rng.choice(SURNAMES)}",
                        date(rng.randint(1970, 2020), rng.randint(1, 12), rng.randint(1, 28)),
                        "TR1 1AA",
                    ),
                    None,
                )
                for _ in range(size)
            ]
        else:
            members = rng.choice(households)[:4]
            people = [(nominated_version(m, variant, rng), m.id) for m in members]
        nominations.append((variant, people))
    return nominations


def create_database(name: str) -> str:
    with psycopg.connect(ADMIN.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return ADMIN.rsplit("/", 1)[0] + "/" + name


def drop_database(name: str) -> None:
    with psycopg.connect(ADMIN.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50_ms": round(statistics.median(values), 2),
        "p95_ms": round(percentile(values, 95), 2),
        "max_ms": round(max(values), 2),
        "mean_ms": round(statistics.fmean(values), 2),
    }


def blocked(session, details: PersonDetails) -> int:
    """How many known people share a blocking key (or an identifier) with this nominated person."""
    k = _lookup_keys(details)
    conditions = [Person.dob_block_index == k.dob, Person.postcode_block_index == k.postcode]
    conditions += [Person.nhs_number_index == k.nhs] if k.nhs else []
    conditions += [Person.name_year_block_index.in_(sorted(k.name_years))] if k.name_years else []
    count = session.scalar(select(func.count()).select_from(Person).where(or_(*conditions))) or 0
    session.rollback()
    return count


def insert_nomination(session, people: list[PersonDetails], nominator: User, framework) -> uuid.UUID:
    """A submitted nomination of these people (the first the subject, the rest children), written as the
    demo writes one (``referrals.journey.demo.write_nomination``)."""
    now = datetime.now(UTC)
    nominees = [
        Nominee(
            p.given_name,
            p.family_name,
            p.date_of_birth,
            nhs_number=p.nhs_number,
            postcode=p.postcode,
            role=HouseholdRole.SUBJECT if i == 0 else HouseholdRole.CHILD,
        )
        for i, p in enumerate(people)
    ]
    nomination = write_nomination(
        session,
        framework=framework,
        nominator=nominator,
        route=framework.routes_for(nominator.organisation.kind.value)[0],
        people=nominees,
        status=NominationStatus.SUBMITTED,
        created_at=now - timedelta(days=1),
        submitted_at=now - timedelta(days=1),
        reference=f"SFN-{uuid.uuid4().hex[:6].upper()}",
        concern="A benchmark nomination.",
    )
    return nomination.id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=300, help="nominations matched (each timed once)")
    parser.add_argument("--page-runs", type=int, default=100, help="nomination pages served through the service")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--keep", action="store_true", help="keep the database and instance folder")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()

    rng = random.Random(args.seed)
    name = f"bench_matching_{os.getpid()}"
    url = create_database(name)
    instance = Path(tempfile.mkdtemp(prefix="bench-matching-"))
    try:
        upgrade(url)
        app = create_app(
            env={
                "PORTAL_ENV": "test",
                "PORTAL_DATABASE_URL": url,
                "PORTAL_INSTANCE_PATH": str(instance),
                "PORTAL_BASE_URL": "http://127.0.0.1:5999",
                "PORTAL_DEV_IDP": "1",
            }
        )
        with app.app_context():
            session = db.session()
            seed_demo(session, issuer(app), nominations=False)
            session.commit()
            started = time.perf_counter()
            rows, known = build_people(args.people, rng, date.today())
            for start in range(0, len(rows), 1000):
                session.execute(insert(Person), rows[start : start + 1000])
            session.commit()
            built = time.perf_counter() - started
            session.execute(select(Person.id).limit(1))
            with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
                conn.execute("ANALYZE")
            population = session.scalar(select(func.count()).select_from(Person))
            nominations = build_nominations(known, args.runs + 20, rng)

            # matching alone
            timings: list[float] = []
            by_variant: dict[str, list[float]] = {}
            decrypted: list[int] = []
            first = {v: [0, 0] for v in VARIANTS}
            for i, (variant, people) in enumerate(nominations):
                query = {j: details for j, (details, _) in enumerate(people)}
                t0 = time.perf_counter()
                found = find_candidates(session, query)
                elapsed = (time.perf_counter() - t0) * 1000
                session.rollback()
                if i < 20:
                    continue  # warm-up
                timings.append(elapsed)
                by_variant.setdefault(variant, []).append(elapsed)
                for j, (details, expected) in enumerate(people):
                    ranked = found[j]
                    decrypted.append(blocked(session, details))
                    first[variant][1] += 1
                    if expected is None:
                        first[variant][0] += int(not ranked or ranked[0].strength.value < 3)
                    else:
                        first[variant][0] += int(bool(ranked) and ranked[0].key == expected)

            # the whole nomination page, through the gate, with the access-log append committed
            coordinator = session.scalar(select(User).where(User.subject == "sf.coordinator"))
            nominator = session.scalar(select(User).where(User.subject == "school.practitioner"))
            framework = current_framework()
            ids = [
                insert_nomination(session, [d for d, _ in people], nominator, framework)
                for _, people in nominations[: args.page_runs + 10]
            ]
            session.commit()
            pages: list[float] = []
            for i, nomination_id in enumerate(ids):
                ctx = AccessContext(
                    coordinator.id,
                    coordinator.organisation_id,
                    "council_team",
                    frozenset({"coordinator"}),
                    uuid.uuid4().hex,
                    "127.0.0.1",
                    "bench",
                )
                t0 = time.perf_counter()
                service.get_nomination_for(session, ctx, nomination_id, framework)
                session.commit()
                elapsed = (time.perf_counter() - t0) * 1000
                if i >= 10:
                    pages.append(elapsed)

        result = {
            "database": "postgresql",
            "known_people": population,
            "people_built_in_s": round(built, 1),
            "nominations_timed": len(timings),
            "people_per_nomination": round(statistics.fmean(len(p) for _, p in nominations), 2),
            "find_candidates": summary(timings),
            "find_candidates_by_variant": {v: summary(t) for v, t in by_variant.items()},
            "get_nomination_for": summary(pages),
            "blocked_per_person": {
                "mean": round(statistics.fmean(decrypted), 1),
                "p95": percentile([float(d) for d in decrypted], 95),
                "max": max(decrypted),
                "decrypted_at_most": MAX_DECRYPTED,
            },
            "top_candidate_right": {v: f"{ok}/{n}" for v, (ok, n) in first.items()},
            "target_ms": TARGET_MS,
            "target_met": percentile(timings, 95) < TARGET_MS,
        }
        print(json.dumps(result, indent=2))
        if args.json:
            args.json.write_text(json.dumps(result, indent=2) + "\n")
        if args.keep:
            print(f"kept: {url} and {instance}", file=sys.stderr)
        app.extensions["db_engine"].dispose()
    finally:
        if not args.keep:
            drop_database(name)


if __name__ == "__main__":
    main()
