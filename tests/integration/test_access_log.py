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

from portal.access_log import chain, signing
from portal.access_log import search as service
from portal.access_log.events import EventType
from portal.access_log.models import AccessLogChainHead, AccessLogCheckpoint, AccessLogEntry, AccessLogSubject

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
def sealer(key: Ed25519PrivateKey) -> signing.Sealer:
    return signing.Sealer(key, interval=INTERVAL)


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


def records_of(connection: Connection, seq: int) -> str | None:
    return connection.execute(select(SUBJECT.c.records).where(SUBJECT.c.entry_seq == seq)).scalar()


def set_subjects(connection: Connection, seq: int, subjects: list[dict]) -> None:
    """Rewrite entry ``seq``'s subject row from subject rows (as parsed), as an attacker could."""
    connection.execute(update(SUBJECT).where(SUBJECT.c.entry_seq == seq).values(records=chain.encode_records(subjects)))


def rehash_from(connection: Connection, start: int) -> None:
    """Recompute every hash from ``start`` on, as someone who knows the format (it is public) would."""
    entries = connection.execute(select(ENTRY).where(ENTRY.c.seq >= start).order_by(ENTRY.c.seq)).mappings().all()
    prev = connection.execute(select(ENTRY.c.hash).where(ENTRY.c.seq == start - 1)).scalar() or chain.GENESIS
    for row in entries:
        payload = chain.canonical_payload(row) + (records_of(connection, row["seq"]) or "")
        digest = chain.chain_hash(prev, payload)
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
        # one subject row per entry with subjects, holding exactly the records its hash covers
        stored = dict(connection.execute(select(SUBJECT.c.entry_seq, SUBJECT.c.records)).all())
        assert stored == {i: new_entry(i).records for i in range(1, 13) if i % 3}
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


def test_a_changed_subject_is_named(engine, sealer, trusted):
    append_many(engine, sealer, 12)
    with tampering(engine) as connection:
        subjects = [dict(s) for s in chain.parse_records(records_of(connection, 8))]
        subjects[1]["person_id"] = PEOPLE[0]
        set_subjects(connection, 8, subjects)
    report = verify(engine, trusted)
    assert (report.first_bad_seq, report.problem) == (8, "entry 8 was changed")


def test_a_removed_subject_is_named(engine, sealer, trusted):
    append_many(engine, sealer, 12)
    with tampering(engine) as connection:
        set_subjects(connection, 5, list(chain.parse_records(records_of(connection, 5)))[:1])
    assert verify(engine, trusted).first_bad_seq == 5


def test_an_added_subject_is_named(engine, sealer, trusted):
    append_many(engine, sealer, 12)
    with tampering(engine) as connection:
        subjects = list(chain.parse_records(records_of(connection, 4)))
        subjects.append({**subjects[0], "ordinal": 1, "person_id": PEOPLE[5]})
        set_subjects(connection, 4, subjects)
    assert verify(engine, trusted).first_bad_seq == 4


def test_a_removed_subject_row_is_named(engine, sealer, trusted):
    append_many(engine, sealer, 12)
    with tampering(engine) as connection:
        connection.execute(delete(SUBJECT).where(SUBJECT.c.entry_seq == 5))
    report = verify(engine, trusted)
    assert (report.first_bad_seq, report.problem) == (5, "entry 5 was changed")


def test_subjects_added_to_an_entry_without_any_are_named(engine, sealer, trusted):
    append_many(engine, sealer, 12)
    with tampering(engine) as connection:
        connection.execute(insert(SUBJECT).values(entry_seq=6, records=new_entry(4).records))
    report = verify(engine, trusted)
    assert (report.first_bad_seq, report.problem) == (6, "entry 6 was changed")


def test_an_empty_subject_row_added_to_an_entry_without_subjects_is_named(engine, sealer, trusted):
    """It changes no hashed byte, but append never writes one: verification counts it as a change."""
    append_many(engine, sealer, 12)
    with tampering(engine) as connection:
        connection.execute(insert(SUBJECT).values(entry_seq=9, records=""))
    report = verify(engine, trusted)
    assert (report.first_bad_seq, report.intact_up_to) == (9, 8)
    assert report.problem == "entry 9 was changed"


def subjects_for_shift(case: str) -> list[chain.SubjectRef]:
    if case == "count digit":
        return [chain.SubjectRef(person_id=PEOPLE[k % 6], family_id=FAMILIES[0], tier=1) for k in range(12)]
    tier, categories = (0, ["health"]) if case == "head, tier 0" else (1, ["7"] if case == "record" else ["health"])
    return [
        chain.SubjectRef(person_id=PEOPLE[0], family_id=FAMILIES[0], tier=tier, categories=categories),
        chain.SubjectRef(person_id=PEOPLE[1], family_id=FAMILIES[1], tier=tier, categories=categories),
    ]


@pytest.mark.parametrize(
    ("case", "cut_after"),
    [
        # the first record's head moves into detail and its tier becomes the subject count
        ("head, tier 1", f"{FAMILIES[0]}\x1f1"),
        ("head, tier 0", f"{FAMILIES[0]}\x1f0"),
        # the whole first record (its category a number) moves into detail: the rest starts with RS
        ("record", f"{FAMILIES[0]}\x1f1\x1f7"),
        # the subject count's last digit moves into the records: the fields hold no RS
        ("count digit", "}\x1f1"),
    ],
)
def test_bytes_moved_between_the_entry_and_its_subject_row_are_caught(engine, sealer, trusted, case, cut_after):
    """Moving bytes across the boundary between the entry's columns and its subject row keeps every
    hashed byte: the entry's fields end with its subject count's digits, so another cut can make them
    end with other digits (a tier, a numeric category, part of the count). That would hide a person
    from a search by person or misstate the count, so verification checks that the entry's fields hold
    no RS and that the records start with one."""
    append_many(engine, sealer, 3)
    with Session(engine) as session:
        chain.append(session, new_entry(4, subjects=subjects_for_shift(case)), sealer=sealer)
        session.commit()
    with engine.connect() as connection:
        row = connection.execute(select(ENTRY).where(ENTRY.c.seq == 4)).mappings().one()
        records = records_of(connection, 4)
    tail = f"{row['detail']}\x1f{row['subject_count']}{records}"  # the hashed bytes from detail on
    cut = tail.index(cut_after) + len(cut_after)
    last_separator = tail.rindex("\x1f", 0, cut)
    detail, count, moved = tail[:last_separator], int(tail[last_separator + 1 : cut]), tail[cut:]
    with tampering(engine) as connection:
        connection.execute(update(ENTRY).where(ENTRY.c.seq == 4).values(detail=detail, subject_count=count))
        connection.execute(update(SUBJECT).where(SUBJECT.c.entry_seq == 4).values(records=moved))
    with Session(engine) as session:
        tampered = session.execute(select(ENTRY).where(ENTRY.c.seq == 4)).mappings().one()
        assert chain.canonical_payload(tampered) + moved == chain.canonical_payload(row) + records  # same bytes
        if case != "count digit":
            assert service.search_log(session, service.LogFilters(person_id=PEOPLE[0])).entries == ()
    report = verify(engine, trusted)
    assert (report.first_bad_seq, report.problem) == (4, "entry 4 was changed")


@pytest.mark.parametrize("backend", ["postgresql"])  # SQLite cannot drop a NOT NULL constraint in place
def test_a_value_moved_into_its_neighbour_whose_column_is_emptied_is_caught(engine, sealer, trusted, backend):
    """With the NOT NULL constraint dropped, "flags_listed" + US + "denied" in ``event`` and NULL in
    ``outcome`` would join to the same bytes if NULLs were skipped (as concat_ws does): the entry would
    leave a search for denied entries unnoticed. A NULL encodes as "", so the separators move."""
    append_many(engine, sealer, 12)
    with tampering(engine) as connection:
        connection.exec_driver_sql("ALTER TABLE access_log_entry ALTER COLUMN outcome DROP NOT NULL")
        connection.execute(update(ENTRY).where(ENTRY.c.seq == 8).values(event="flags_listed\x1fdenied", outcome=None))
    report = verify(engine, trusted)
    assert (report.first_bad_seq, report.problem) == (8, "entry 8 was changed")


def test_an_entry_emptied_of_its_text_is_named(engine, sealer, trusted):
    """Too short to hold a prev_hash once emptied: still reported, not an error."""
    append_many(engine, sealer, 12)
    empty = {name: "" for name in ("event", "outcome", "actor_roles", "purpose", "categories", "reasons")}
    empty |= {name: "" for name in ("protocol_refs", "notice_refs", "request_id", "ip", "user_agent", "detail")}
    with tampering(engine) as connection:
        connection.execute(
            update(ENTRY)
            .where(ENTRY.c.seq == 6)
            .values(**empty, actor_user_id=None, actor_organisation_id=None, prev_hash="", hash="")
        )
    report = verify(engine, trusted)
    assert (report.first_bad_seq, report.intact_up_to) == (6, 5)


def test_a_deleted_entry_in_the_middle_is_named(engine, sealer, trusted):
    append_many(engine, sealer, 12)
    with tampering(engine) as connection:
        connection.execute(delete(ENTRY).where(ENTRY.c.seq == 6))  # 6 has no subjects
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


def test_an_entry_replaced_by_a_forgery_with_a_correct_hash_is_named(engine, sealer, trusted):
    """Entry 7 rewritten with a hash that recomputes: only the link from entry 8 shows it."""
    append_many(engine, sealer, 12)
    with engine.connect() as connection:
        previous = connection.execute(select(ENTRY.c.hash).where(ENTRY.c.seq == 6)).scalar_one()
    forged = new_entry(7, purpose="curiosity")
    with tampering(engine) as connection:
        connection.execute(
            update(ENTRY)
            .where(ENTRY.c.seq == 7)
            .values(**forged.row, hash=chain.chain_hash(previous, f"7\x1f{forged.body}"))
        )
        connection.execute(update(SUBJECT).where(SUBJECT.c.entry_seq == 7).values(records=forged.records))
    report = verify(engine, trusted)
    assert (report.first_bad_seq, report.intact_up_to) == (8, 7)
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
        connection.execute(insert(SUBJECT).values(entry_seq=13, records=forged.records))
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
        connection.execute(insert(SUBJECT).values(entry_seq=40, records=new_entry(4).records))
    report = verify(engine, trusted)
    assert report.first_bad_seq == 5
    assert report.problem == "entries after 4 were removed (subject rows remain for entry 40)"


def test_subject_rows_of_no_entry_are_caught(engine, sealer, trusted):
    append_many(engine, sealer, 4)
    with tampering(engine) as connection:
        connection.execute(insert(SUBJECT).values(entry_seq=0, records=""))
    report = verify(engine, trusted)
    assert (report.first_bad_seq, report.problem) == (5, "subject rows name entry 0, which is not in the log")


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
        "UPDATE access_log_subject SET records = '' WHERE entry_seq = 1",
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
