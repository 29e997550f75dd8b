"""How fast does ``chain.verify`` recompute the access log on PostgreSQL (target: 400,000 entries/s)?

Creates a scratch database, migrates it, bulk-loads N synthetic entries with correct hashes, subject
rows (one per entry with subjects, holding its records) and signed checkpoints (COPY, bypassing
``append`` for speed), then times ``verify`` and a few DPO searches, and drops the database. Run on
an otherwise idle machine and compare with the bare baseline in docs/ (absolute numbers drift between
runs on shared machines):

    .venv/bin/python bench/verify_speed.py --entries 1000000            # the portal's mix: ~5.5 subjects
    .venv/bin/python bench/verify_speed.py --entries 1000000 --mix light  # ~1.3 subjects an entry
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

from portal.access_log import chain, signing
from portal.access_log import search as service
from portal.cli import upgrade
from portal.db import make_engine

ADMIN = os.environ.get("PORTAL_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
EVENTS = ["flag_viewed", "flags_listed", "signed_in", "access_denied", "flags_searched"]


#: subjects per entry, as (weight, smallest, largest) draws: "light" is 1.33 an entry on average;
#: "realistic" is the mix the portal writes (bench/build_dataset.py): 70% one subject (flag views,
#: searches, denials, break-glass), 12% list pages of 30-50 people, 18% none (sign-ins, DPO searches),
#: about 5.5 an entry
MIXES = {
    "light": ((1, 0, 0), (3, 1, 1), (1, 2, 2), (1, 3, 3)),
    "realistic": ((70, 1, 1), (12, 30, 50), (18, 0, 0)),
    "none": ((1, 0, 0),),
}


def _counts(rng: random.Random, mix: str):
    draws = [(lo, hi) for weight, lo, hi in MIXES[mix] for _ in range(weight)]
    while True:
        lo, hi = draws[rng.randrange(len(draws))]
        yield lo if lo == hi else rng.randint(lo, hi)


def synthetic(n: int, key: Ed25519PrivateKey, interval: int, mix: str = "realistic", seed: int = 1):
    """Yield (entry row, subject rows, checkpoint row or None) for entries 1..n, hashed as append would."""
    rng = random.Random(seed)
    counts = _counts(rng, mix)
    users = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(2000)]
    orgs = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(300)]
    people = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(10000)]
    families = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(3000)]
    key_id = signing.key_id(key.public_key())
    prev = chain.GENESIS
    start_us = 1_735_689_600_000_000  # 2025-01-01
    for seq in range(1, n + 1):
        user = rng.randrange(len(users))
        count = next(counts)
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


def load(pg_url: str, n: int, key: Ed25519PrivateKey, interval: int, mix: str) -> tuple[int, str]:
    columns = [*chain.ENTRY_FIELDS, "prev_hash", "hash"]
    last = (0, chain.GENESIS)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        # the GIN indexes are built once after the load, as build_dataset.py does
        indexes = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'access_log_subject'"
            " AND indexname NOT LIKE 'pk_%'"
        ).fetchall()
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
    with psycopg.connect(pg_url) as conn, conn.cursor() as cur:
        checkpoints = []
        subject_rows = []
        with cur.copy(f"COPY access_log_entry ({', '.join(columns)}) FROM STDIN") as entries:
            for entry, subjects, checkpoint in synthetic(n, key, interval, mix):
                entries.write_row([entry[c] for c in columns])
                if subjects:
                    subject_rows.append((entry["seq"], chain.encode_records(subjects)))
                if checkpoint:
                    checkpoints.append(checkpoint)
                last = (entry["seq"], entry["hash"])
        with cur.copy("COPY access_log_subject (entry_seq, records) FROM STDIN") as copy:
            for row in subject_rows:
                copy.write_row(row)
        cur.executemany(
            "INSERT INTO access_log_checkpoint (seq, hash, signed_at_us, key_id, signature) VALUES (%s,%s,%s,%s,%s)",
            checkpoints,
        )
        cur.execute("UPDATE access_log_chain_head SET seq = %s, hash = %s WHERE id = 1", last)
        conn.commit()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '512MB'")
        for _, definition in indexes:
            conn.execute(definition)
        conn.execute("VACUUM ANALYZE")
    return last


def verify_query_only(pg_url: str) -> float:
    """The server's share: verify's own COPY statement, its lines read and dropped, nothing hashed."""
    sql = chain._PG_STREAM.format(body=chain._PG_BODY, record=chain._PG_RECORD, subject_bound="", entry_bound="")
    with psycopg.connect(pg_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT set_config('jit', 'off', true), set_config('max_parallel_workers_per_gather', '0', true)")
        started = time.perf_counter()
        with cur.copy(sql) as copy:
            for _line in copy:
                pass
        return time.perf_counter() - started


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
    parser.add_argument(
        "--mix",
        choices=sorted(MIXES),
        default="realistic",
        help="subjects per entry: realistic (~5.5, as the portal writes: list pages log up to 50), light (~1.3), none",
    )
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
            args.mix,
        )
        print(f"loaded {args.entries:,} entries in {time.perf_counter() - started:.1f} s")
        engine = make_engine(url)
        trusted = signing.keyset([key.public_key()])
        bare = []
        for _ in range(args.runs):
            bare.append(stream_only(url.replace("postgresql+psycopg://", "postgresql://")))
        bare_time = statistics.median(bare)
        print(f"bare baseline (COPY the entries in seq order, no work): {args.entries / bare_time:,.0f} entries/s")
        query = statistics.median(
            verify_query_only(url.replace("postgresql+psycopg://", "postgresql://")) for _ in range(args.runs)
        )
        print(f"verify's COPY statement alone (no hashing): {args.entries / query:,.0f} entries/s")
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
            recent = service.search_log(session, service.LogFilters(), per_page=500).entries
            person = next(e.subjects[0].person_id for e in recent if e.subjects)
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
            # the DPO's search by person and by family: 20 different ones each, first page, p50 and p95
            rng = random.Random(5)
            named = [s for e in recent for s in e.subjects]
            for label, field in (("person", "person_id"), ("family", "family_id")):
                plural = {"person": "people", "family": "families"}[label]
                values = rng.sample(sorted({getattr(s, field) for s in named if getattr(s, field)}), 20)
                times = []
                for value in values:
                    started = time.perf_counter()
                    service.search_log(session, service.LogFilters(**{field: value}), page=1, per_page=50)
                    times.append(time.perf_counter() - started)
                cuts = statistics.quantiles(times, n=20)
                print(
                    f"search by {label}, 20 {plural}: p50 {statistics.median(times) * 1000:.1f} ms, "
                    f"p95 {cuts[18] * 1000:.1f} ms, max {max(times) * 1000:.1f} ms"
                )
        engine.dispose()
    finally:
        if not args.keep:
            with psycopg.connect(admin_url, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
