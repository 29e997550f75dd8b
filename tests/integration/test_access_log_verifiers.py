"""The tuned PostgreSQL verifier reports exactly what the readable reference reports, on the same chain.

``chain.verify`` walks the entries with ``verify_postgresql`` on PostgreSQL (one binary COPY parsed by
hand) and with ``verify_reference`` everywhere else. The reference says what the checks mean, so on
PostgreSQL both walk the same chain, intact and tampered every way the tamper tests know and many
random ways, and must give equal reports: intact or not, intact up to, the first bad entry, the
problem in words, and the counts. On SQLite the reference is what runs.

Each tampering happens inside one transaction that is rolled back afterwards, with the append-only
triggers stepped around as ``test_access_log.tampering`` does (``session_replication_role = replica``),
and both walks read in that transaction: with a snapshot (REPEATABLE READ: the whole table) and
without (READ COMMITTED: bounded by the chain head, as a DPO's page reads).
"""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection, Engine, delete, insert, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from portal.access_log import chain, signing, verify_postgresql, verify_reference
from portal.access_log.format import ENTRY_FIELDS
from tests.integration.test_access_log import (
    CHECKPOINT,
    ENTRY,
    HEAD,
    PEOPLE,
    SUBJECT,
    append_many,
    new_entry,
    records_of,
    rehash_from,
    set_subjects,
    tampering,
)

ENTRIES = 40
INTERVAL = 5
Tamper = Callable[[Connection], None]


@pytest.fixture
def logged(engine: Engine, key: Ed25519PrivateKey) -> Engine:
    """A chain of ENTRIES entries (0 to 2 subjects each) with a signed checkpoint every INTERVAL."""
    append_many(engine, signing.Sealer(key, interval=INTERVAL), ENTRIES)
    return engine


def both_reports(
    engine: Engine, trusted: dict, tamper: Tamper, isolation: str
) -> tuple[chain.VerifyReport, chain.VerifyReport]:
    """(tuned, reference) reports on the chain as ``tamper`` leaves it, read in its transaction."""
    with engine.connect().execution_options(isolation_level=isolation) as connection:
        transaction = connection.begin()
        try:
            connection.exec_driver_sql("SET LOCAL session_replication_role = replica")
            tamper(connection)
            tuned = chain.verify(connection, trusted)
            reference = chain.verify(connection, trusted, walker=verify_reference.walk)
        finally:
            transaction.rollback()
    return tuned, reference


def hash_of(connection: Connection, seq: int) -> str:
    return connection.execute(select(ENTRY.c.hash).where(ENTRY.c.seq == seq)).scalar_one()


def drop_not_null(connection: Connection, table: str, column: str) -> None:
    connection.exec_driver_sql(f"ALTER TABLE {table} ALTER COLUMN {column} DROP NOT NULL")


# -- the tamperings the tamper tests name, and the ones where a hand-written parser could go astray ----


def _set(seq: int, **values: object) -> Tamper:
    return lambda c: c.execute(update(ENTRY).where(ENTRY.c.seq == seq).values(**values))


def _renumber(c: Connection, seq: int, to: int) -> None:
    for table, column in ((ENTRY, ENTRY.c.seq), (SUBJECT, SUBJECT.c.entry_seq)):
        c.execute(update(table).where(column == seq).values({column.name: to}))


def _swap(c: Connection) -> None:
    _renumber(c, 8, -9)
    _renumber(c, 9, 8)
    _renumber(c, -9, 9)


def _changed_subject(c: Connection) -> None:
    subjects = [dict(s) for s in chain.parse_records(records_of(c, 8))]
    subjects[1]["person_id"] = PEOPLE[0]
    set_subjects(c, 8, subjects)


def _inserted(c: Connection) -> None:
    previous = hash_of(c, 6)
    forged = new_entry(99, detail={"provider": "forged"})
    for table, column in ((ENTRY, ENTRY.c.seq), (SUBJECT, SUBJECT.c.entry_seq)):
        c.execute(update(table).where(column >= 7).values({column.name: -(column + 1)}))
        c.execute(update(table).where(column < 0).values({column.name: -column}))
    c.execute(
        insert(ENTRY).values(
            **forged.row, seq=7, prev_hash=previous, hash=chain.chain_hash(previous, f"7\x1f{forged.body}")
        )
    )
    c.execute(update(HEAD).values(seq=HEAD.c.seq + 1))


def _forged_in_place(c: Connection) -> None:
    previous, forged = hash_of(c, 6), new_entry(7, purpose="curiosity")
    c.execute(
        update(ENTRY)
        .where(ENTRY.c.seq == 7)
        .values(**forged.row, hash=chain.chain_hash(previous, f"7\x1f{forged.body}"))
    )
    c.execute(update(SUBJECT).where(SUBJECT.c.entry_seq == 7).values(records=forged.records))


def _added_at_end(c: Connection) -> None:
    tail, forged = hash_of(c, ENTRIES), new_entry(ENTRIES + 1)
    digest = chain.chain_hash(tail, f"{ENTRIES + 1}\x1f{forged.body}")
    c.execute(insert(ENTRY).values(**forged.row, seq=ENTRIES + 1, prev_hash=tail, hash=digest))
    c.execute(insert(SUBJECT).values(entry_seq=ENTRIES + 1, records=forged.records))


def _cut_after(seq: int, head: bool) -> Tamper:
    def tamper(c: Connection) -> None:
        c.execute(delete(SUBJECT).where(SUBJECT.c.entry_seq > seq))
        c.execute(delete(ENTRY).where(ENTRY.c.seq > seq))
        if head:
            c.execute(update(HEAD).values(seq=seq, hash=hash_of(c, seq)))

    return tamper


def _forged_signature(c: Connection) -> None:
    sealed = c.execute(select(CHECKPOINT.c.hash).where(CHECKPOINT.c.seq == 5)).scalar_one()
    forged = signing.sign_checkpoint(Ed25519PrivateKey.generate(), 5, sealed)
    c.execute(update(CHECKPOINT).where(CHECKPOINT.c.seq == 5).values(signature=forged))


def _rewritten(seq: int, **values: object) -> Tamper:
    def tamper(c: Connection) -> None:
        c.execute(update(ENTRY).where(ENTRY.c.seq == seq).values(**values))
        rehash_from(c, seq)

    return tamper


def _null(table: str, column: str, where: str, rehash: int | None = None) -> Tamper:
    def tamper(c: Connection) -> None:
        drop_not_null(c, table, column)
        c.exec_driver_sql(f"UPDATE {table} SET {column} = NULL WHERE {where}")
        if rehash is not None:
            rehash_from(c, rehash)

    return tamper


def _moved_into_neighbour(c: Connection) -> None:
    drop_not_null(c, "access_log_entry", "outcome")
    c.execute(update(ENTRY).where(ENTRY.c.seq == 8).values(event="flags_listed\x1fdenied", outcome=None))


def _short_prev_hash_borrowing_a_digit(c: Connection) -> None:
    """An entry whose prev_hash lost its last hex digit, which is also the first digit of its seq, so the
    first 64 hashed bytes are still the previous hash; rehashed from there, as a forger would. Only the
    stored prev_hash is wrong: the reference says the entry is out of place, and so must the tuned walk,
    which reads the prev_hash as the first 64 bytes it hashes."""
    hashes = dict(c.execute(select(ENTRY.c.seq, ENTRY.c.hash)).all())
    seq = next(s for s in range(2, ENTRIES + 1) if hashes[s - 1][-1] == str(s)[0])
    row = c.execute(select(ENTRY).where(ENTRY.c.seq == seq)).mappings().one()
    short = hashes[seq - 1][:-1]
    digest = chain.chain_hash(short, chain.canonical_payload(row) + (records_of(c, seq) or ""))
    c.execute(update(ENTRY).where(ENTRY.c.seq == seq).values(prev_hash=short, hash=digest))
    rehash_from(c, seq + 1)


NAMED: dict[str, Tamper] = {
    "intact": lambda c: None,
    "a changed field": _set(7, purpose="curiosity"),
    "a changed subject": _changed_subject,
    "a removed subject": lambda c: set_subjects(c, 5, list(chain.parse_records(records_of(c, 5)))[:1]),
    "a removed subject row": lambda c: c.execute(delete(SUBJECT).where(SUBJECT.c.entry_seq == 5)),
    "subjects added to an entry without any": lambda c: c.execute(
        insert(SUBJECT).values(entry_seq=6, records=new_entry(4).records)
    ),
    "an empty subject row": lambda c: c.execute(insert(SUBJECT).values(entry_seq=9, records="")),
    "an entry emptied of its text": _set(
        6,
        **dict.fromkeys(("event", "outcome", "actor_roles", "purpose", "categories", "reasons"), ""),
        **dict.fromkeys(("protocol_refs", "notice_refs", "request_id", "ip", "user_agent", "detail"), ""),
        actor_user_id=None,
        actor_organisation_id=None,
        prev_hash="",
        hash="",
    ),
    "a deleted entry": lambda c: c.execute(delete(ENTRY).where(ENTRY.c.seq == 6)),
    "an entry inserted": _inserted,
    "an entry replaced by a forgery with a correct hash": _forged_in_place,
    "an entry added at the end": _added_at_end,
    "two swapped entries": _swap,
    "newest entries removed after a checkpoint": _cut_after(7, head=True),
    "newest entries removed, the head left": _cut_after(ENTRIES - 2, head=False),
    "subject rows left behind": lambda c: c.execute(insert(SUBJECT).values(entry_seq=400, records="\x1e")),
    "subject rows of no entry": lambda c: c.execute(insert(SUBJECT).values(entry_seq=0, records="")),
    "a forged checkpoint signature": _forged_signature,
    "a deleted checkpoint": lambda c: c.execute(delete(CHECKPOINT).where(CHECKPOINT.c.seq == 10)),
    "a rewritten chain": _rewritten(3, outcome="permitted", reasons="role"),
    "a rewrite after the last checkpoint": _rewritten(ENTRIES, purpose="other"),
    "a missing chain head": lambda c: c.execute(delete(HEAD)),
    "a chain head behind": lambda c: c.execute(update(HEAD).values(seq=ENTRIES - 1)),
    "a chain head with another hash": lambda c: c.execute(update(HEAD).values(hash="f" * 64)),
    "a value moved into its emptied neighbour": _moved_into_neighbour,
    "an id stored as empty text": _set(11, actor_user_id=""),
    "an id stored as empty text, rehashed": _rewritten(11, actor_organisation_id=""),
    "a separator in a field, rehashed": _rewritten(12, purpose="a\x1eb"),
    "a unit separator in a field, rehashed": _rewritten(12, purpose="a\x1fb"),
    "a short hash": _set(13, hash="abc"),
    "an empty hash": _set(13, hash=""),
    "a NULL hash": _null("access_log_entry", "hash", "seq = 14"),
    "a short prev_hash": lambda c: c.execute(
        update(ENTRY).where(ENTRY.c.seq == 15).values(prev_hash=hash_of(c, 14)[:63])
    ),
    "an empty prev_hash": _set(15, prev_hash=""),
    "a NULL prev_hash": _null("access_log_entry", "prev_hash", "seq = 16"),
    "a NULL prev_hash, rehashed": _null("access_log_entry", "prev_hash", "seq = 16", rehash=17),
    "a short prev_hash borrowing a digit of seq, rehashed": _short_prev_hash_borrowing_a_digit,
    "a NULL subject count": _null("access_log_entry", "subject_count", "seq = 17"),
    "a NULL subject count, rehashed": _null("access_log_entry", "subject_count", "seq = 17", rehash=17),
    "a NULL field, rehashed": _null("access_log_entry", "event", "seq = 18", rehash=18),
    "NULL records": _null("access_log_subject", "records", "entry_seq = 19"),
    "NULL records, rehashed": _null("access_log_subject", "records", "entry_seq = 19", rehash=19),
    "records without their separator, rehashed": lambda c: (
        c.execute(update(SUBJECT).where(SUBJECT.c.entry_seq == 20).values(records=SUBJECT.c.records + "x")),
        rehash_from(c, 20),
    ),
    "a negative seq": lambda c: _renumber(c, 21, -21),
    "a subject count changed and rehashed": _rewritten(22, subject_count=7),
}


@pytest.mark.parametrize("isolation", ["REPEATABLE READ", "READ COMMITTED"])
@pytest.mark.parametrize("backend", ["postgresql"])
def test_the_tuned_walk_reports_what_the_reference_reports(logged, trusted, backend, isolation):
    found = {}
    for name, tamper in NAMED.items():
        tuned, reference = both_reports(logged, trusted, tamper, isolation)
        assert tuned == reference, name
        found[name] = tuned
    assert found["intact"].entries == ENTRIES
    # a hash that is not 64 bytes long moves what follows it in the row: the prev_hash is as it was
    assert found["a short hash"].problem == "entry 13 was changed"
    borrowed = found["a short prev_hash borrowing a digit of seq, rehashed"]
    assert borrowed.problem == (
        f"entry {borrowed.first_bad_seq} is out of place: it does not follow entry {borrowed.first_bad_seq - 1}"
        " (inserted, removed or reordered)"
    )
    # what neither finds: a checkpoint's absence, and (without a snapshot) what lies beyond the chain head
    beyond_the_head = {
        "an entry added at the end",
        "newest entries removed after a checkpoint",
        "subject rows left behind",
    }
    intact = {"intact", "a deleted checkpoint"} | (beyond_the_head if isolation == "READ COMMITTED" else set())
    assert {name for name, report in found.items() if report.intact} == intact


# -- random tampering -----------------------------------------------------------------------------------

_TEXT_COLUMNS = [name for name in ENTRY_FIELDS if name not in ("seq", "at_us", "subject_count")]
_ALPHABET = '0123456789abcdef,{}:"x \x1e\x1fé'


def _random_text(rng: random.Random, current: str | None) -> str | None:
    current = current or ""
    choice = rng.randrange(7)
    if choice == 0:
        return current[: rng.randrange(len(current) + 1)]  # cut short
    if choice == 1:
        return current + rng.choice(["\x1e", "\x1f", "0", "f", "\x1e0\x1f"])
    if choice == 2:
        at = rng.randrange(len(current) + 1)
        return current[:at] + rng.choice(_ALPHABET) + current[at + 1 :]  # one character replaced
    if choice == 3:
        return None
    if choice == 4:
        return ""
    return "".join(rng.choice(_ALPHABET) for _ in range(rng.randrange(1, 12)))


def _random_change(rng: random.Random, c: Connection) -> int:
    """One random change to the log; returns the lowest entry it touched."""
    seq = rng.randrange(1, ENTRIES + 1)
    kind = rng.randrange(10)
    if kind < 4:  # an entry's field
        column = rng.choice([*_TEXT_COLUMNS, "prev_hash", "hash", "at_us", "subject_count"])
        current = c.execute(select(ENTRY.c[column]).where(ENTRY.c.seq == seq)).scalar()
        if column in ("at_us", "subject_count"):
            value = rng.choice([None, 0, -1, (current or 0) + rng.choice([-1, 1, 10])])
        else:
            value = _random_text(rng, current)
        if value is None:
            drop_not_null(c, "access_log_entry", column)
        c.execute(update(ENTRY).where(ENTRY.c.seq == seq).values({column: value}))
    elif kind < 7:  # its subject row
        current = records_of(c, seq)
        if current is None or rng.random() < 0.2:
            c.execute(delete(SUBJECT).where(SUBJECT.c.entry_seq == seq))
            c.execute(insert(SUBJECT).values(entry_seq=seq, records=_random_text(rng, current) or ""))
        else:
            value = _random_text(rng, current)
            if value is None:
                drop_not_null(c, "access_log_subject", "records")
            c.execute(update(SUBJECT).where(SUBJECT.c.entry_seq == seq).values(records=value))
    elif kind == 7:  # an entry or a subject row gone
        table, column = rng.choice([(ENTRY, ENTRY.c.seq), (SUBJECT, SUBJECT.c.entry_seq)])
        c.execute(delete(table).where(column == seq))
    elif kind == 8:  # an entry renumbered
        _renumber(c, seq, rng.choice([seq + ENTRIES, -seq, 0]))
    else:  # the head or a checkpoint
        if rng.random() < 0.5:
            c.execute(update(HEAD).values(seq=HEAD.c.seq + rng.choice([-1, 1]), hash=hash_of(c, seq)))
        else:
            c.execute(delete(CHECKPOINT).where(CHECKPOINT.c.seq == INTERVAL * rng.randrange(1, ENTRIES // INTERVAL)))
    return seq


def _random_tampering(seed: int) -> Tamper:
    """One to three random changes, each in a savepoint (one the schema refuses is left out), and then,
    half the time, every hash recomputed from the first entry touched, as a forger would."""

    def tamper(c: Connection) -> None:
        rng = random.Random(seed)
        touched = []
        for _ in range(rng.randrange(1, 4)):
            savepoint = c.begin_nested()
            try:
                touched.append(_random_change(rng, c))
                savepoint.commit()
            except DBAPIError:  # a value too long for its column, a duplicate key
                savepoint.rollback()
        if touched and rng.random() < 0.5:
            savepoint = c.begin_nested()
            try:
                rehash_from(c, min(touched))
                savepoint.commit()
            except DBAPIError:  # a renumbered entry collides when rehashing
                savepoint.rollback()

    return tamper


@pytest.mark.parametrize("seeds", [range(0, 100), range(100, 200)], ids=["seeds 0-99", "seeds 100-199"])
@pytest.mark.parametrize("backend", ["postgresql"])
def test_the_walks_agree_on_randomly_tampered_chains(logged, trusted, backend, seeds):
    differ, broken = [], 0
    for seed in seeds:
        isolation = "REPEATABLE READ" if seed % 2 else "READ COMMITTED"
        tuned, reference = both_reports(logged, trusted, _random_tampering(seed), isolation)
        if tuned != reference:
            differ.append((seed, tuned, reference))
        broken += not tuned.intact
    assert differ == []
    assert broken > len(seeds) * 0.6  # the changes are mostly found (some change nothing hashed)


# -- which walk runs --------------------------------------------------------------------------------------


def test_verify_walks_with_the_reference_except_on_postgresql():
    assert chain.walker_for("sqlite") is verify_reference.walk
    assert chain.walker_for("postgresql") is verify_postgresql.walk


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_walk_for_the_database_is_the_one_that_runs(engine, key, trusted, backend, monkeypatch):
    """On SQLite the reference runs (the tuned one would fail: it needs libpq), on PostgreSQL the tuned one."""
    append_many(engine, signing.Sealer(key, interval=INTERVAL), 12)
    ran = []

    def spy(name: str, walk: Callable) -> Callable:
        def walked(*args: object) -> chain.VerifyReport:
            ran.append(name)
            return walk(*args)

        return walked

    monkeypatch.setattr(verify_reference, "walk", spy("reference", verify_reference.walk))
    monkeypatch.setattr(verify_postgresql, "walk", spy("postgresql", verify_postgresql.walk))
    assert chain.verify(engine, trusted).intact
    with tampering(engine) as connection:
        connection.execute(update(ENTRY).where(ENTRY.c.seq == 7).values(purpose="curiosity"))
    with Session(engine) as session:
        assert chain.verify(session, trusted).problem == "entry 7 was changed"
    expected = "postgresql" if backend == "postgresql" else "reference"
    assert ran == [expected, expected]
