"""Migrations build the schema, can be reversed, and agree with the models; on both databases."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import MetaData, create_engine, insert, inspect, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from portal.access_log import chain, signing
from portal.access_log import search as service
from portal.access_log.events import EventType
from portal.cli import alembic_config, upgrade
from portal.models import Base


# The access log's GIN indexes on person and family ids are expression indexes on PostgreSQL only (the
# model declares them with ddl_if): compared there, while SQLite cannot reflect them and warns.
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based index:UserWarning")
def test_upgrade_downgrade_upgrade_and_models_match(database_url):
    upgrade(database_url)
    command.downgrade(alembic_config(database_url), "base")
    engine = create_engine(database_url)
    try:
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        upgrade(database_url)
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            diff = compare_metadata(context, Base.metadata)
        assert diff == [], f"models and migrations disagree: {diff}"
    finally:
        engine.dispose()


def _old_log(key: Ed25519PrivateKey) -> tuple[list[dict], list[dict], list[dict]]:
    """Entries, per-subject rows and checkpoints as revision 0003 stored them, hashed as append did:
    no subjects, one, and twelve (ordinals past 9), ids absent, empty categories, awkward text."""
    person, family = (str(uuid.UUID(int=seed)) for seed in (1, 2))
    many = [
        chain.SubjectRef(person_id=str(uuid.UUID(int=100 + i)), family_id=family, tier=i % 3, categories=["health"])
        for i in range(12)
    ]
    shapes = [
        (EventType.SIGNED_IN, [], {"provider": "dev"}),
        (EventType.FLAG_VIEWED, [chain.SubjectRef(person_id=person, family_id=family, tier=2)], {"flag_id": "f"}),
        (EventType.FLAGS_LISTED, many, {}),
        (
            EventType.FLAGS_LISTED,
            [chain.SubjectRef(family_id=family), chain.SubjectRef(person_id=person, categories=["a", "b"])],
            {},
        ),
    ]
    entries, subjects, checkpoints = [], [], []
    prev = chain.GENESIS
    for seq in range(1, 10):
        event, refs, detail = shapes[seq % len(shapes)]
        built = chain.NewEntry(
            event=event,
            outcome="permitted",
            occurred_at=datetime(2026, 3, 1, tzinfo=UTC) + timedelta(minutes=seq),
            actor_user_id=str(uuid.UUID(int=7)),
            user_agent="back\\slash \t tab é 🙂",
            detail=detail,
            subjects=refs,
        )
        rows = [{**row, "entry_seq": seq} for row in built.subject_rows]
        digest = chain.chain_hash(prev, chain.canonical_payload({**built.row, "seq": seq}, built.subject_rows))
        entries.append({**built.row, "seq": seq, "prev_hash": prev, "hash": digest})
        subjects.extend(rows)
        if seq % 4 == 0:
            checkpoints.append(
                {
                    "seq": seq,
                    "hash": digest,
                    "signed_at_us": 0,
                    "key_id": signing.key_id(key.public_key()),
                    "signature": signing.sign_checkpoint(key, seq, digest),
                }
            )
        prev = digest
    return entries, subjects, checkpoints


def _subject_rows(engine) -> list[tuple]:
    with engine.connect() as connection:
        return sorted(
            connection.execute(
                text("SELECT entry_seq, ordinal, person_id, family_id, tier, categories FROM access_log_subject")
            ).all()
        )


def test_0004_converts_subject_rows_into_one_row_per_entry_that_verifies_and_reverts(database_url):
    """A log written with one row per subject (0003) still verifies after the upgrade, byte for byte,
    and the downgrade gives the same rows back."""
    key = Ed25519PrivateKey.generate()
    trusted = signing.keyset([key.public_key()])
    entries, subjects, checkpoints = _old_log(key)
    upgrade(database_url, "0003_families")
    engine = create_engine(database_url)
    try:
        tables = MetaData()
        tables.reflect(engine, only=["access_log_entry", "access_log_subject", "access_log_checkpoint"])
        with engine.begin() as connection:
            connection.execute(insert(tables.tables["access_log_entry"]), entries)
            # in reverse, so a conversion that relied on insertion order rather than ordinal would show
            connection.execute(insert(tables.tables["access_log_subject"]), subjects[::-1])
            connection.execute(insert(tables.tables["access_log_checkpoint"]), checkpoints)
            connection.execute(text("UPDATE access_log_chain_head SET seq = 9, hash = :h"), {"h": entries[-1]["hash"]})
        old_rows = _subject_rows(engine)
        assert len(old_rows) == len(subjects)

        upgrade(database_url)
        report = chain.verify(engine, trusted)
        assert report.intact, report
        assert (report.entries, report.subjects, report.checkpoints) == (9, len(subjects), 2)
        with engine.connect() as connection:
            stored = dict(connection.execute(text("SELECT entry_seq, records FROM access_log_subject")).all())
        expected = {}
        for row in subjects:
            expected.setdefault(row["entry_seq"], []).append(row)
        assert stored == {seq: chain.encode_records(rows) for seq, rows in expected.items()}
        with Session(engine) as session:
            person = service.search_log(session, service.LogFilters(person_id=str(uuid.UUID(int=111))))
            assert [e.seq for e in person.entries] == [6, 2]
            assert [s.person_id for s in service.get_entry(session, 6).subjects][11] == str(uuid.UUID(int=111))
            sealer = signing.Sealer(key, interval=4)
            later = chain.NewEntry(
                event=EventType.SIGNED_IN,
                outcome="permitted",
                occurred_at=datetime(2026, 3, 2, tzinfo=UTC),
                detail={"provider": "dev"},
            )
            chain.append(session, later, sealer=sealer)
            session.commit()
        assert chain.verify(engine, trusted).intact
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
            connection.execute(text("UPDATE access_log_subject SET records = '' WHERE entry_seq = 2"))

        command.downgrade(alembic_config(database_url), "0003_families")
        assert _subject_rows(engine) == old_rows
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
            connection.execute(text("DELETE FROM access_log_subject"))
        upgrade(database_url)
        assert chain.verify(engine, trusted).intact_up_to == 10
    finally:
        engine.dispose()
