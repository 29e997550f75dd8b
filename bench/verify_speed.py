"""How fast does ``chain.verify`` recompute the access log on PostgreSQL (target: 400,000 entries/s)?

Creates a scratch database, migrates it, bulk-loads N synthetic entries with correct hashes, subject
rows and signed checkpoints (COPY, bypassing ``append`` for speed), then times ``verify`` and a few
DPO searches, and drops the database. Run on an otherwise idle machine and compare with the bare
baseline in docs/ (absolute numbers drift between runs on shared machines):

    .venv/bin/python bench/verify_speed.py --entries 1000000
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
import uuid
from datetime import date, timedelta

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.orm import Session

from portal.audit import chain, service, signing
from portal.cli import upgrade
from portal.db import make_engine

ADMIN = os.environ.get("PORTAL_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
EVENTS = ["flag_viewed", "flags_listed", "signed_in", "access_denied", "flags_searched"]


def synthetic(n: int, key: Ed25519PrivateKey, interval: int, with_subjects: bool = True, seed: int = 1):
    """Yield (entry row, subject rows, checkpoint row or None) for entries 1..n, hashed as append would."""
    rng = random.Random(seed)
    users = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(2000)]
    orgs = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(300)]
    people = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(10000)]
    families = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(3000)]
    key_id = signing.key_id(key.public_key())
    prev = chain.GENESIS
    start_us = 1_735_689_600_000_000  # 2025-01-01
    for seq in range(1, n + 1):
        user = rng.randrange(len(users))
        count = rng.choice((0, 1, 1, 1, 2, 3)) if with_subjects else 0
        entry = {
            "seq": seq,
            "at_us": start_us + seq * 30_000_000 + rng.randrange(1_000_000),
            "event": rng.choice(EVENTS),
            "outcome": "denied" if rng.random() < 0.05 else "permitted",
            "actor_user_id": users[user],
            "actor_organisation_id": orgs[user % len(orgs)],
            "actor_roles": "practitioner",
            "purpose": "safeguarding",
            "categories": "education,health",
            "reasons": "role,relationship,protocol,notice",
            "protocol_refs": "SP-2025-014",
            "notice_refs": "FPN-3@v2",
            "request_id": uuid.UUID(int=rng.getrandbits(128)).hex,
            "ip": "10.1.2.3",
            "user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36",
            "detail": '{"flag_id":"' + str(seq) + '"}',
            "subject_count": count,
        }
        subjects = [
            {
                "ordinal": i,
                "person_id": rng.choice(people),
                "family_id": rng.choice(families),
                "tier": 1,
                "categories": "health",
            }
            for i in range(count)
        ]
        digest = chain.chain_hash(prev, chain.canonical_payload(entry, subjects))
        entry["prev_hash"], entry["hash"] = prev, digest
        checkpoint = None
        if seq % interval == 0:
            checkpoint = (seq, digest, start_us, key_id, signing.sign_checkpoint(key, seq, digest))
        prev = digest
        yield entry, subjects, checkpoint


def load(pg_url: str, n: int, key: Ed25519PrivateKey, interval: int, with_subjects: bool) -> tuple[int, str]:
    columns = [*chain.ENTRY_FIELDS, "prev_hash", "hash"]
    last = (0, chain.GENESIS)
    with psycopg.connect(pg_url) as conn, conn.cursor() as cur:
        checkpoints = []
        subject_rows = []
        with cur.copy(f"COPY access_log_entry ({', '.join(columns)}) FROM STDIN") as entries:
            for entry, subjects, checkpoint in synthetic(n, key, interval, with_subjects):
                entries.write_row([entry[c] for c in columns])
                for s in subjects:
                    subject_rows.append((entry["seq"], s["ordinal"], s["person_id"], s["family_id"], 1, "health"))
                if checkpoint:
                    checkpoints.append(checkpoint)
                last = (entry["seq"], entry["hash"])
        with cur.copy(
            "COPY access_log_subject (entry_seq, ordinal, person_id, family_id, tier, categories) FROM STDIN"
        ) as copy:
            for row in subject_rows:
                copy.write_row(row)
        cur.executemany(
            "INSERT INTO access_log_checkpoint (seq, hash, signed_at_us, key_id, signature) VALUES (%s,%s,%s,%s,%s)",
            checkpoints,
        )
        cur.execute("UPDATE access_log_chain_head SET seq = %s, hash = %s WHERE id = 1", last)
        conn.commit()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return last


def stream_only(pg_url: str) -> float:
    """The floor: stream every entry row to Python and do nothing with it."""
    started = time.perf_counter()
    with psycopg.connect(pg_url) as conn, conn.cursor() as cur:
        cur.execute("SET jit = off")
        with cur.copy("COPY (SELECT * FROM access_log_entry ORDER BY seq) TO STDOUT") as copy:
            for _row in copy:
                pass
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--interval", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--no-subjects", action="store_true", help="entries only (sign-ins, searches)")
    args = parser.parse_args()

    admin_url = ADMIN.replace("postgresql+psycopg://", "postgresql://")
    name = f"bench_audit_{os.getpid()}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = ADMIN.rsplit("/", 1)[0] + "/" + name
    try:
        upgrade(url, "heads")
        key = Ed25519PrivateKey.generate()
        started = time.perf_counter()
        load(
            url.replace("postgresql+psycopg://", "postgresql://"),
            args.entries,
            key,
            args.interval,
            not args.no_subjects,
        )
        print(f"loaded {args.entries:,} entries in {time.perf_counter() - started:.1f} s")
        engine = make_engine(url)
        trusted = signing.keyset([key.public_key()])
        bare = []
        for _ in range(args.runs):
            bare.append(stream_only(url.replace("postgresql+psycopg://", "postgresql://")))
        bare_time = statistics.median(bare)
        print(f"bare baseline (COPY the entries in seq order, no work): {args.entries / bare_time:,.0f} entries/s")
        timings = []
        for _ in range(args.runs):
            started = time.perf_counter()
            report = chain.verify(engine, trusted)
            timings.append(time.perf_counter() - started)
            assert report.intact, report
        best, median = min(timings), statistics.median(timings)
        print(report.summary())
        print(f"verify / bare streaming = {bare_time / median:.2f}")
        print(
            f"verify: median {median:.2f} s = {args.entries / median:,.0f} entries/s "
            f"(best {best:.2f} s = {args.entries / best:,.0f}/s; {report.subjects:,} subject rows, "
            f"{report.checkpoints} checkpoint signatures)"
        )
        with Session(engine) as session:
            sample = service.search_log(session, service.LogFilters(), per_page=1).entries[0]
            person = next(
                e.subjects[0].person_id for e in service.search_log(session, service.LogFilters()).entries if e.subjects
            )
            day = sample.occurred_at.date()
            cases = {
                "newest 50, no filter": service.LogFilters(),
                "by user": service.LogFilters(actor_user_id=sample.actor_user_id),
                "by organisation": service.LogFilters(actor_organisation_id=sample.actor_organisation_id),
                "denied only": service.LogFilters(outcome="denied"),
                "by person": service.LogFilters(person_id=person),
                "one day, a week back": service.LogFilters(
                    date_from=day - timedelta(days=7), date_to=day - timedelta(days=7)
                ),
                "event + date range": service.LogFilters(event="flag_viewed", date_from=date(2025, 1, 1), date_to=day),
            }
            for label, filters in cases.items():
                times = []
                for _ in range(5):
                    started = time.perf_counter()
                    service.search_log(session, filters, page=1, per_page=50)
                    times.append(time.perf_counter() - started)
                print(f"search {label}: median {statistics.median(times) * 1000:.1f} ms")
            started = time.perf_counter()
            service.search_log(session, service.LogFilters(), page=200, per_page=50)
            print(f"search page 200 (offset 9,950): {(time.perf_counter() - started) * 1000:.1f} ms")
        engine.dispose()
    finally:
        if not args.keep:
            with psycopg.connect(admin_url, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
