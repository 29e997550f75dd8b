"""The access log on SQLite and PostgreSQL: appends chain without forks or gaps, verification recomputes
the chain and names the first bad entry for each kind of tampering, and the database refuses changes.

To tamper, the tests step around the append-only triggers as an attacker with database access would:
on PostgreSQL as the superuser with ``session_replication_role = replica``, on SQLite by dropping them.
"""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection, Engine, delete, insert, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from portal.audit import chain, signing
from portal.audit.events import EventType
from portal.audit.models import AccessLogChainHead, AccessLogCheckpoint, AccessLogEntry, AccessLogSubject
from portal.cli import upgrade
from portal.db import make_engine

ENTRY = AccessLogEntry.__table__
SUBJECT = AccessLogSubject.__table__
CHECKPOINT = AccessLogCheckpoint.__table__
HEAD = AccessLogChainHead.__table__
INTERVAL = 5
START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def ids(n: int, seed: int) -> list[str]:
    return [str(uuid.UUID(int=seed * 1_000_003 + i)) for i in range(n)]


PEOPLE = ids(6, 1)
FAMILIES = ids(3, 2)
USERS = ids(3, 3)
ORGS = ids(2, 4)


def new_entry(i: int, **overrides) -> chain.NewEntry:
    """Entry number ``i`` of a test log: 0 to 2 subjects, varied actors, outcomes and times."""
    subjects = [
        chain.SubjectRef(person_id=PEOPLE[(i + k) % 6], family_id=FAMILIES[(i + k) % 3], tier=1, categories=["health"])
        for k in range(i % 3)
    ]
    values = {
        "event": EventType.FLAGS_LISTED if subjects else EventType.SIGNED_IN,
        "outcome": "denied" if i % 4 == 0 else "permitted",
        "occurred_at": START + timedelta(hours=i),
        "actor_user_id": USERS[i % 3],
        "actor_organisation_id": ORGS[i % 2],
        "actor_roles": ["practitioner"],
        "purpose": "safeguarding",
        "categories": ["health"] if subjects else [],
        "reasons": ["role", "relationship"],
        "request_id": f"req-{i}",
        "ip": "192.0.2.10",
        "user_agent": "Mozilla/5.0 (test) \\ backslash é",
        "detail": {"provider": "dev", "note": 'quote " and \\ and é'},
        "subjects": subjects,
    }
    values.update(overrides)
    return chain.NewEntry(**values)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    upgrade(database_url)
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def sealer(key: Ed25519PrivateKey) -> signing.Sealer:
    return signing.Sealer(key, interval=INTERVAL)


@pytest.fixture
def trusted(key: Ed25519PrivateKey) -> dict:
    return signing.keyset([key.public_key()])


def append_many(engine: Engine, sealer: signing.Sealer, count: int, start: int = 1) -> list[int]:
    with Session(engine) as session:
        seqs = [chain.append(session, new_entry(i), sealer=sealer) for i in range(start, start + count)]
        session.commit()
    return seqs


@contextmanager
def tampering(engine: Engine) -> Iterator[Connection]:
    """A connection that can change the log: what an attacker with database access could do."""
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.exec_driver_sql("SET LOCAL session_replication_role = replica")
        else:
            names = connection.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'access_log_%'"
            ).scalars()
            for name in list(names):
                connection.exec_driver_sql(f"DROP TRIGGER {name}")
        yield connection


def rehash_from(connection: Connection, start: int) -> None:
    """Recompute every hash from ``start`` on, as someone who knows the format (it is public) would."""
    entries = connection.execute(select(ENTRY).where(ENTRY.c.seq >= start).order_by(ENTRY.c.seq)).mappings().all()
    prev = connection.execute(select(ENTRY.c.hash).where(ENTRY.c.seq == start - 1)).scalar() or chain.GENESIS
    for row in entries:
        subjects = (
            connection.execute(select(SUBJECT).where(SUBJECT.c.entry_seq == row["seq"]).order_by(SUBJECT.c.ordinal))
            .mappings()
            .all()
        )
        digest = chain.chain_hash(prev, chain.canonical_payload(row, subjects))
        connection.execute(update(ENTRY).where(ENTRY.c.seq == row["seq"]).values(prev_hash=prev, hash=digest))
        prev = digest
    connection.execute(update(HEAD).values(hash=prev))


def verify(engine: Engine, trusted: dict) -> chain.VerifyReport:
    return chain.verify(engine, trusted)


# -- the intact log ----------------------------------------------------------------------------------


def test_appended_entries_chain_and_verify_intact(engine, sealer, trusted):
    assert append_many(engine, sealer, 12) == list(range(1, 13))
    report = verify(engine, trusted)
    assert report.intact, report
    assert (report.intact_up_to, report.entries, report.checkpoints, report.head_seq) == (12, 12, 2, 12)
    assert report.subjects == sum(i % 3 for i in range(1, 13))
    assert report.summary() == "Access log intact up to entry 12 (12 entries, 2 checkpoints)"
    with engine.connect() as connection:
        rows = connection.execute(select(ENTRY.c.seq, ENTRY.c.prev_hash, ENTRY.c.hash).order_by(ENTRY.c.seq)).all()
        assert rows[0].prev_hash == chain.GENESIS
        assert all(later.prev_hash == earlier.hash for earlier, later in itertools.pairwise(rows))
        sealed = connection.execute(select(CHECKPOINT.c.seq, CHECKPOINT.c.key_id)).all()
        assert {(s, k) for s, k in sealed} == {(5, sealer.key_id), (10, sealer.key_id)}


def test_an_empty_log_is_intact(engine, trusted):
    report = verify(engine, trusted)
    assert report.intact and report.intact_up_to == 0 and report.entries == 0


def test_verify_in_a_session_sees_the_same(engine, sealer, trusted):
    append_many(engine, sealer, 7)
    with Session(engine) as session:
        report = chain.verify(session, trusted)
        assert report.intact and report.intact_up_to == 7
        # the caller's own uncommitted append is part of what it verifies
        chain.append(session, new_entry(8), sealer=sealer)
        assert chain.verify(session, trusted).intact_up_to == 8
        session.rollback()


def test_a_broken_log_found_in_a_session_leaves_its_transaction_usable(engine, sealer, trusted):
    """The DPO's page verifies in its request transaction and then logs that it did."""
    append_many(engine, sealer, 12)
    with tampering(engine) as connection:
        connection.execute(update(ENTRY).where(ENTRY.c.seq == 2).values(ip="203.0.113.1"))
    with Session(engine) as session:
        assert chain.verify(session, trusted).first_bad_seq == 2
        assert chain.append(session, new_entry(13), sealer=sealer) == 13
        session.commit()


def test_a_rolled_back_append_leaves_no_gap(engine, sealer, trusted):
    append_many(engine, sealer, 3)
    with Session(engine) as session:
        assert chain.append(session, new_entry(4), sealer=sealer) == 4
        session.rollback()
    assert append_many(engine, sealer, 2, start=4) == [4, 5]
    assert verify(engine, trusted).intact_up_to == 5


def test_several_appends_in_one_transaction(engine, sealer, trusted):
    with Session(engine) as session:
        assert [chain.append(session, new_entry(i), sealer=sealer) for i in (1, 2, 3)] == [1, 2, 3]
        session.commit()
    assert verify(engine, trusted).intact


def test_unusual_text_round_trips_and_verifies(engine, sealer, trusted):
    odd = new_entry(
        1,
        user_agent="tab\there, newline\nhere, back\\slash, \\n literal, unicode ✓ 🙂, nul\x00",
        detail={"note": '\\N \\t tab\t quote" 🙂', "provider": "x"},
        request_id="r\\1",
    )
    with Session(engine) as session:
        chain.append(session, odd, sealer=sealer)
        session.commit()
    assert verify(engine, trusted).intact


# -- tampering, one kind per test --------------------------------------------------------------------


def test_a_changed_field_is_named(engine, sealer, trusted):
    append_many(engine, sealer, 12)
    with tampering(engine) as connection:
        connection.execute(update(ENTRY).where(ENTRY.c.seq == 7).values(purpose="curiosity"))
    report = verify(engine, trusted)
    assert (report.first_bad_seq, report.intact_up_to, report.problem) == (7, 6, "entry 7 was changed")
    assert "first bad entry 7" in report.summary()


def test_a_changed_subject_row_is_named(engine, sealer, trusted):
    append_many(engine, sealer, 12)
    with tampering(engine) as connection:
        connection.execute(
            update(SUBJECT).where(SUBJECT.c.entry_seq == 8, SUBJECT.c.ordinal == 1).values(person_id=PEOPLE[0])
        )
    report = verify(engine, trusted)
    assert (report.first_bad_seq, report.problem) == (8, "entry 8 was changed")


def test_a_removed_subject_row_is_named(engine, sealer, trusted):
    append_many(engine, sealer, 12)
    with tampering(engine) as connection:
        connection.execute(delete(SUBJECT).where(SUBJECT.c.entry_seq == 5, SUBJECT.c.ordinal == 1))
    assert verify(engine, trusted).first_bad_seq == 5


def test_a_subject_row_hidden_inside_another_is_caught(engine, sealer, trusted):
    """Deleting a subject row and forging its record into the previous row's text would encode alike,
    so verification also checks that separators occur only where the format puts them."""
    append_many(engine, sealer, 12)
    with engine.connect() as connection:
        hidden = connection.execute(select(SUBJECT).where(SUBJECT.c.entry_seq == 2, SUBJECT.c.ordinal == 1)).one()
    forged = f"health\x1e1\x1f{hidden.person_id}\x1f{hidden.family_id}\x1f1\x1fhealth"
    with tampering(engine) as connection:
        connection.execute(delete(SUBJECT).where(SUBJECT.c.entry_seq == 2, SUBJECT.c.ordinal == 1))
        connection.execute(
            update(SUBJECT).where(SUBJECT.c.entry_seq == 2, SUBJECT.c.ordinal == 0).values(categories=forged)
        )
    report = verify(engine, trusted)
    assert (report.first_bad_seq, report.problem) == (2, "entry 2 was changed")


def test_an_absent_actor_turned_into_an_empty_string_is_caught(engine, sealer, trusted):
    with Session(engine) as session:
        for i in (1, 2, 3):
            chain.append(session, new_entry(i, actor_user_id=None, actor_organisation_id=None), sealer=sealer)
        session.commit()
    with tampering(engine) as connection:
        connection.execute(update(ENTRY).where(ENTRY.c.seq == 2).values(actor_user_id=""))
    assert verify(engine, trusted).first_bad_seq == 2


def test_a_deleted_entry_in_the_middle_is_named(engine, sealer, trusted):
    append_many(engine, sealer, 12)
    with tampering(engine) as connection:
        connection.execute(delete(SUBJECT).where(SUBJECT.c.entry_seq == 6))
        connection.execute(delete(ENTRY).where(ENTRY.c.seq == 6))
    report = verify(engine, trusted)
    assert (report.first_bad_seq, report.intact_up_to, report.problem) == (6, 5, "entry 6 is missing")


def test_an_entry_inserted_in_the_middle_is_named(engine, sealer, trusted):
    """A forged entry slipped in at 7 with a correct hash: the entry after it no longer follows."""
    append_many(engine, sealer, 12)
    with engine.connect() as connection:
        previous = connection.execute(select(ENTRY.c.hash).where(ENTRY.c.seq == 6)).scalar_one()
    forged = new_entry(99, detail={"provider": "forged"})
    digest = chain.chain_hash(previous, f"7\x1f{forged.body}")
    with tampering(engine) as connection:
        for table, column in ((ENTRY, ENTRY.c.seq), (SUBJECT, SUBJECT.c.entry_seq)):
            # renumber 7.. to 8.. in two steps so the primary key never collides
            connection.execute(update(table).where(column >= 7).values({column.name: -(column + 1)}))
            connection.execute(update(table).where(column < 0).values({column.name: -column}))
        connection.execute(insert(ENTRY).values(**forged.row, seq=7, prev_hash=previous, hash=digest))
        connection.execute(update(HEAD).values(seq=HEAD.c.seq + 1))
    report = verify(engine, trusted)
    assert report.first_bad_seq == 8
    assert report.problem == "entry 8 is out of place: it does not follow entry 7 (inserted, removed or reordered)"


def test_an_entry_added_at_the_end_outside_the_chain_is_named(engine, sealer, trusted):
    append_many(engine, sealer, 12)
    with engine.connect() as connection:
        tail = connection.execute(select(ENTRY.c.hash).where(ENTRY.c.seq == 12)).scalar_one()
    forged = new_entry(13)
    with tampering(engine) as connection:
        connection.execute(
            insert(ENTRY).values(
                **forged.row, seq=13, prev_hash=tail, hash=chain.chain_hash(tail, f"13\x1f{forged.body}")
            )
        )
        connection.execute(insert(SUBJECT), [{**row, "entry_seq": 13} for row in forged.subject_rows])
    report = verify(engine, trusted)
    assert report.first_bad_seq == 13
    assert report.problem == "entry 13 was added outside the chain (the chain head records 12)"


def test_two_swapped_entries_are_named(engine, sealer, trusted):
    append_many(engine, sealer, 12)
    with tampering(engine) as connection:
        for table, column in ((ENTRY, ENTRY.c.seq), (SUBJECT, SUBJECT.c.entry_seq)):
            connection.execute(update(table).where(column == 8).values({column.name: -9}))
            connection.execute(update(table).where(column == 9).values({column.name: 8}))
            connection.execute(update(table).where(column == -9).values({column.name: 9}))
    report = verify(engine, trusted)
    assert report.first_bad_seq == 8
    assert report.problem.startswith("entry 8 is out of place")


def test_newest_entries_removed_after_a_checkpoint_are_detected(engine, sealer, trusted):
    """Deleting 8-12 and winding the chain head back leaves a consistent chain of 7, but the signed
    checkpoint at 10 says there were at least 10."""
    append_many(engine, sealer, 12)
    with tampering(engine) as connection:
        connection.execute(delete(SUBJECT).where(SUBJECT.c.entry_seq >= 8))
        connection.execute(delete(ENTRY).where(ENTRY.c.seq >= 8))
        seventh = connection.execute(select(ENTRY.c.hash).where(ENTRY.c.seq == 7)).scalar_one()
        connection.execute(update(HEAD).values(seq=7, hash=seventh))
    report = verify(engine, trusted)
    assert (report.first_bad_seq, report.intact_up_to) == (8, 7)
    assert report.problem == "entries after 7 were removed (signed checkpoint at 10)"


def test_newest_entries_removed_without_a_checkpoint_are_caught_by_the_chain_head(engine, sealer, trusted):
    append_many(engine, sealer, 12)
    with tampering(engine) as connection:
        connection.execute(delete(SUBJECT).where(SUBJECT.c.entry_seq >= 11))
        connection.execute(delete(ENTRY).where(ENTRY.c.seq >= 11))
    report = verify(engine, trusted)
    assert report.first_bad_seq == 11
    assert report.problem == "entries after 10 were removed (the chain head records 12)"


def test_subject_rows_left_behind_are_caught(engine, sealer, trusted):
    append_many(engine, sealer, 4)
    with tampering(engine) as connection:
        connection.execute(insert(SUBJECT).values(entry_seq=40, ordinal=0, person_id=PEOPLE[0], tier=1, categories=""))
    report = verify(engine, trusted)
    assert report.first_bad_seq == 5
    assert report.problem == "entries after 4 were removed (subject rows remain for entry 40)"


def test_a_forged_checkpoint_signature_is_named(engine, sealer, trusted):
    append_many(engine, sealer, 12)
    with engine.connect() as connection:
        sealed = connection.execute(select(CHECKPOINT.c.hash).where(CHECKPOINT.c.seq == 5)).scalar_one()
    forged = signing.sign_checkpoint(Ed25519PrivateKey.generate(), 5, sealed)
    with tampering(engine) as connection:
        connection.execute(update(CHECKPOINT).where(CHECKPOINT.c.seq == 5).values(signature=forged))
    report = verify(engine, trusted)
    assert (report.first_bad_seq, report.problem) == (5, "checkpoint at 5 has a bad signature")


def test_checkpoints_from_an_untrusted_key_are_refused(engine, sealer):
    append_many(engine, sealer, 6)
    report = verify(engine, signing.keyset([Ed25519PrivateKey.generate().public_key()]))
    assert report.first_bad_seq == 5
    assert report.problem == f"checkpoint at 5 is signed with key {sealer.key_id}, which is not a trusted key"


def test_a_rewritten_chain_is_caught_by_the_signed_checkpoint(engine, sealer, trusted):
    """Change entry 3 and recompute every hash after it: the chain is consistent again, but no longer
    matches what was signed at 5."""
    append_many(engine, sealer, 12)
    with tampering(engine) as connection:
        connection.execute(update(ENTRY).where(ENTRY.c.seq == 3).values(outcome="permitted", reasons="role"))
        rehash_from(connection, 3)
    report = verify(engine, trusted)
    assert (report.first_bad_seq, report.intact_up_to) == (1, 0)
    assert report.problem == "entries 1 to 5 were rewritten: entry 5 does not match the signed checkpoint at 5"


def test_a_rewrite_after_the_last_checkpoint_is_caught_only_by_the_chain_head(engine, sealer, trusted):
    """The limit of a database-only defence, written down: past the last checkpoint, an attacker who
    also rewrites the chain head cannot be detected. Ship checkpoints elsewhere to close it."""
    append_many(engine, sealer, 12)
    with tampering(engine) as connection:
        connection.execute(update(ENTRY).where(ENTRY.c.seq == 12).values(purpose="other"))
        rehash_from(connection, 12)
    assert verify(engine, trusted).intact


# -- the database refuses changes --------------------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE access_log_entry SET purpose = 'x' WHERE seq = 1",
        "DELETE FROM access_log_entry WHERE seq = 1",
        "UPDATE access_log_subject SET person_id = NULL WHERE entry_seq = 1",
        "DELETE FROM access_log_subject",
        "UPDATE access_log_checkpoint SET signature = 'x'",
        "DELETE FROM access_log_checkpoint",
        "DELETE FROM access_log_chain_head",
    ],
)
def test_the_database_refuses_updates_and_deletes(engine, statement):
    sealer = signing.Sealer(Ed25519PrivateKey.generate(), interval=1)
    with Session(engine) as session:
        chain.append(session, new_entry(1), sealer=sealer)
        session.commit()
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
        connection.exec_driver_sql(statement)


@pytest.mark.parametrize(
    "table", ["access_log_entry", "access_log_subject", "access_log_checkpoint", "access_log_chain_head"]
)
@pytest.mark.parametrize("backend", ["postgresql"])  # SQLite has no TRUNCATE
def test_postgresql_refuses_truncate(engine, table, backend):
    assert engine.dialect.name == "postgresql"
    with pytest.raises(DBAPIError, match=f"append-only: TRUNCATE on {table}"), engine.begin() as connection:
        connection.exec_driver_sql(f"TRUNCATE {table} CASCADE")


def test_a_missing_chain_head_stops_appends(engine, sealer, trusted):
    with tampering(engine) as connection:
        connection.execute(delete(HEAD))
    with Session(engine) as session, pytest.raises(chain.ChainError):
        chain.append(session, new_entry(1), sealer=sealer)
    assert verify(engine, trusted).problem == "the chain head row is missing, so nothing can be appended"


# -- concurrency -------------------------------------------------------------------------------------


def test_parallel_writers_leave_one_chain_without_forks_or_gaps(engine, trusted, key, backend):
    """Eight writers, each with its own connection, append and commit 50 entries each at once."""
    sealer = signing.Sealer(key, interval=7)
    writers, each = 8, 50
    start = threading.Barrier(writers)
    failures: list[BaseException] = []

    def write(writer: int) -> None:
        try:
            start.wait()
            for i in range(each):
                with Session(engine) as session:
                    # a little of the caller's own work in the same transaction, as a real request has
                    session.execute(text("SELECT 1"))
                    chain.append(session, new_entry(writer * 1000 + i), sealer=sealer)
                    session.commit()
        except BaseException as exc:  # reported below, in the test's own thread
            failures.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not failures, failures
    total = writers * each
    with engine.connect() as connection:
        rows = connection.execute(select(ENTRY.c.seq, ENTRY.c.prev_hash, ENTRY.c.hash).order_by(ENTRY.c.seq)).all()
    assert [r.seq for r in rows] == list(range(1, total + 1)), "gaps or duplicates"
    assert len({r.prev_hash for r in rows}) == total, "two entries share a predecessor: the chain forked"
    report = verify(engine, trusted)
    assert report.intact, report
    assert (report.entries, report.checkpoints) == (total, total // 7)
