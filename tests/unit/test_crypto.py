"""Encryption at rest: tokens, the key ring file, blind indexes, column types and re-encryption."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import Column, Integer, MetaData, String, Table, Text, create_engine, insert, select
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from portal.app import create_app
from portal.config import ConfigError, load_config
from portal.crypto import (
    DecryptionError,
    EncryptedDate,
    EncryptedText,
    KeyRing,
    KeyRingUnavailable,
    blind_index,
    keyring,
    load_keyring,
    read_keyring_file,
    reencrypt_all,
    write_keyring_file,
)
from tests.unit.test_config import GOOD_PRODUCTION

CONTEXT = "person.nhs_number"
NHS_NUMBER = "9434765919"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture
def ring() -> KeyRing:
    return KeyRing.generate()


# -- tokens -------------------------------------------------------------------------------------


@pytest.mark.parametrize("plaintext", [NHS_NUMBER, "", "Zoë O'Brien-Łukasiewicz", "line one\nline two " * 200])
def test_values_round_trip(ring, plaintext):
    token = ring.encrypt(plaintext, CONTEXT)
    assert ring.decrypt(token, CONTEXT) == plaintext


def test_a_token_names_its_version_and_key_and_hides_the_value(ring):
    token = ring.encrypt(NHS_NUMBER, CONTEXT)
    assert re.fullmatch(r"v1\.k1\.[A-Za-z0-9_-]+", token)
    assert NHS_NUMBER not in token
    assert ring.key_id_of(token) == "k1"


def test_equal_values_give_different_tokens(ring):
    tokens = {ring.encrypt(NHS_NUMBER, CONTEXT) for _ in range(20)}
    assert len(tokens) == 20


def test_a_token_moved_to_another_column_does_not_decrypt(ring):
    token = ring.encrypt(NHS_NUMBER, CONTEXT)
    with pytest.raises(DecryptionError, match="another context"):
        ring.decrypt(token, "person.upn")


def test_a_tampered_token_does_not_decrypt(ring):
    token = ring.encrypt(NHS_NUMBER, CONTEXT)
    body = token.rsplit(".", 1)[1]
    for i in (0, len(body) // 2, len(body) - 2):  # the nonce, the ciphertext and the tag
        flipped = body[:i] + ("A" if body[i] != "A" else "B") + body[i + 1 :]
        with pytest.raises(DecryptionError):
            ring.decrypt(f"v1.k1.{flipped}", CONTEXT)
    with pytest.raises(DecryptionError, match="truncated"):
        ring.decrypt(f"v1.k1.{body[:20]}", CONTEXT)


@pytest.mark.parametrize("token", ["9434765919", "v2.k1.AAAA", "v1.k1", "v1.k.1.AAAA", "v1.k1.not base64!", "", None])
def test_malformed_tokens_are_refused(ring, token):
    with pytest.raises(DecryptionError):
        ring.decrypt(token, CONTEXT)


def test_an_unknown_key_id_is_refused(ring):
    other = KeyRing.generate(key_id="k9")
    with pytest.raises(DecryptionError, match="unknown key id 'k9'"):
        ring.decrypt(other.encrypt(NHS_NUMBER, CONTEXT), CONTEXT)


def test_a_token_relabelled_with_another_key_id_is_refused(ring):
    rotated = ring.with_new_key()
    token = rotated.encrypt(NHS_NUMBER, CONTEXT).replace("v1.k2.", "v1.k1.")
    with pytest.raises(DecryptionError, match="failed authentication"):
        rotated.decrypt(token, CONTEXT)


def test_only_text_is_encrypted_and_a_context_is_required(ring):
    with pytest.raises(TypeError):
        ring.encrypt(9434765919, CONTEXT)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="context"):
        ring.encrypt(NHS_NUMBER, "")


def test_rotation_keeps_old_values_readable_and_writes_under_the_new_key(ring):
    old = ring.encrypt(NHS_NUMBER, CONTEXT)
    rotated = ring.with_new_key()
    assert rotated.active_key_id == "k2"
    assert rotated.key_ids == ["k1", "k2"]
    assert rotated.decrypt(old, CONTEXT) == NHS_NUMBER
    new = rotated.encrypt(NHS_NUMBER, CONTEXT)
    assert rotated.key_id_of(new) == "k2"
    with pytest.raises(DecryptionError, match="unknown key id 'k2'"):
        ring.decrypt(new, CONTEXT)  # the ring itself is immutable
    with pytest.raises(ConfigError, match="already has a key 'k1'"):
        rotated.with_new_key("k1")


def test_the_repr_shows_no_key_material(ring):
    text = repr(ring) + str(ring)
    for value in ring.to_json_dict()["keys"].values():
        assert value not in text
    assert ring.to_json_dict()["index_key"] not in text


# -- blind indexes ------------------------------------------------------------------------------


def test_blind_indexes_are_deterministic_keyed_and_separated_by_kind(ring):
    index = ring.blind_index("nhs_number", NHS_NUMBER)
    assert re.fullmatch(r"[0-9a-f]{64}", index)
    assert ring.blind_index("nhs_number", NHS_NUMBER) == index
    assert ring.blind_index("upn", NHS_NUMBER) != index
    assert ring.blind_index("nhs_number", "9434765870") != index
    assert KeyRing.generate().blind_index("nhs_number", NHS_NUMBER) != index


def test_kinds_cannot_be_confused_with_values(ring):
    # "nhs" + "_number..." must not be able to reproduce "nhs_number" + "..." (the kind is delimited)
    assert ring.blind_index("nhs", "_number" + NHS_NUMBER) != ring.blind_index("nhs_number", NHS_NUMBER)
    with pytest.raises(ValueError):
        ring.blind_index("nhs\x00number", NHS_NUMBER)
    with pytest.raises(ValueError):
        ring.blind_index("", NHS_NUMBER)


def test_blind_indexes_survive_data_key_rotation(ring):
    assert ring.with_new_key().blind_index("upn", "A123456789012") == ring.blind_index("upn", "A123456789012")


def test_the_values_are_not_normalised_for_the_caller(ring):
    # documented: callers normalise; the index does not guess
    assert ring.blind_index("nhs_number", "943 476 5919") != ring.blind_index("nhs_number", NHS_NUMBER)


# -- the key ring file --------------------------------------------------------------------------


def good_file_content() -> dict:
    return {"active": "k1", "keys": {"k1": b64(b"\x01" * 32), "k0": b64(b"\x02" * 32)}, "index_key": b64(b"\x03" * 32)}


def write(tmp_path: Path, content: object) -> Path:
    path = tmp_path / "keyring.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    path.chmod(0o600)
    return path


def test_a_good_key_ring_file_loads(tmp_path):
    ring = read_keyring_file(write(tmp_path, good_file_content()))
    assert ring.active_key_id == "k1"
    assert ring.key_ids == ["k0", "k1"]
    assert ring.development is False
    assert ring.source == tmp_path / "keyring.json"


def _without(key: str) -> dict:
    content = good_file_content()
    del content[key]
    return content


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ([1, 2], "must be a JSON object"),
        (_without("active"), "'active' must name the active key id"),
        ({**good_file_content(), "active": "k7"}, "active key 'k7' is missing"),
        ({**good_file_content(), "keys": {}}, "at least one key"),
        ({**good_file_content(), "keys": {"k1": b64(b"\x01" * 16)}}, "key 'k1' must decode to 32 bytes, not 16"),
        ({**good_file_content(), "keys": {"k1": "not*base64"}}, "key 'k1' is not valid base64"),
        ({**good_file_content(), "keys": {"k1": 12}}, "key 'k1' must be a base64 string"),
        ({**good_file_content(), "active": "k.1", "keys": {"k.1": b64(b"\x01" * 32)}}, "key id 'k.1'"),
        (_without("index_key"), "'index_key' .* is missing"),
        ({**good_file_content(), "index_key": b64(b"\x03" * 31)}, "'index_key' must decode to 32 bytes"),
        ({**good_file_content(), "index_key": b64(b"\x01" * 32)}, "blind-index key must differ"),
        ({**good_file_content(), "development": "yes"}, "'development' must be true or false"),
        ({**good_file_content(), "indexkey": "x"}, "unknown field"),
    ],
)
def test_key_ring_files_are_validated_strictly(tmp_path, content, message):
    with pytest.raises(ConfigError, match=message) as caught:
        read_keyring_file(write(tmp_path, content))
    assert "keyring.json" in str(caught.value)
    assert b64(b"\x01" * 32) not in str(caught.value)  # never echo key material


def test_a_missing_key_ring_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_keyring({"PORTAL_ENV": "test", "KEYRING_FILE": str(tmp_path / "nope.json")}, tmp_path)


def test_development_generates_a_private_key_ring_once(tmp_path):
    first = load_keyring({"PORTAL_ENV": "development"}, tmp_path / "instance")
    path = tmp_path / "instance" / "keyring.json"
    assert path.stat().st_mode & 0o777 == 0o600
    assert json.loads(path.read_text())["development"] is True
    assert first.development is True
    second = load_keyring({"PORTAL_ENV": "test"}, tmp_path / "instance")
    assert second.decrypt(first.encrypt(NHS_NUMBER, CONTEXT), CONTEXT) == NHS_NUMBER
    assert list(path.parent.glob(".keyring-*")) == []  # no temporary files left behind


def test_production_refuses_to_run_without_a_key_ring_file(tmp_path):
    with pytest.raises(ConfigError, match="PORTAL_KEYRING_FILE must name"):
        load_keyring({"PORTAL_ENV": "production"}, tmp_path)
    env = {k: v for k, v in GOOD_PRODUCTION.items() if k != "PORTAL_KEYRING_FILE"}
    with pytest.raises(ConfigError, match="PORTAL_KEYRING_FILE must name"):
        load_config(tmp_path, env)
    assert not (tmp_path / "keyring.json").exists()  # and never generates one


def test_production_refuses_a_development_key_ring(tmp_path):
    load_keyring({"PORTAL_ENV": "development"}, tmp_path)
    dev_file = str(tmp_path / "keyring.json")
    with pytest.raises(ConfigError, match="development"):
        load_keyring({"PORTAL_ENV": "production", "KEYRING_FILE": dev_file}, tmp_path)
    with pytest.raises(ConfigError, match="PORTAL_KEYRING_FILE is a development key ring"):
        load_config(tmp_path, {**GOOD_PRODUCTION, "PORTAL_KEYRING_FILE": dev_file})


def test_production_reports_a_broken_key_ring_file_with_the_other_problems(tmp_path):
    path = write(tmp_path, {**good_file_content(), "active": "k7"})
    with pytest.raises(ConfigError, match="active key 'k7' is missing"):
        load_config(tmp_path, {**GOOD_PRODUCTION, "PORTAL_KEYRING_FILE": str(path)})


def test_production_accepts_a_generated_key_ring_file(tmp_path):
    path = tmp_path / "keyring.json"
    write_keyring_file(path, KeyRing.generate())
    assert path.stat().st_mode & 0o777 == 0o600
    ring = load_keyring({"PORTAL_ENV": "production", "KEYRING_FILE": str(path)}, tmp_path)
    assert ring.development is False


# -- column types -------------------------------------------------------------------------------


@pytest.fixture
def app(tmp_path) -> Flask:
    env = {"PORTAL_ENV": "test", "PORTAL_INSTANCE_PATH": str(tmp_path / "instance")}
    return create_app(env={**env, "PORTAL_DATABASE_URL": f"sqlite:///{tmp_path / 'portal.sqlite3'}"})


metadata = MetaData()
people = Table(
    "people",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("nhs_number", EncryptedText("people.nhs_number")),
    Column("date_of_birth", EncryptedDate("people.date_of_birth")),
    Column("name", EncryptedText("people.name")),
)
access_log = Table(
    "access_log",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("subject", EncryptedText("access_log.subject")),
    info={"immutable": True},
)
no_key = Table("notes", metadata, Column("body", EncryptedText("notes.body")), Column("tag", String(10)))


@pytest.fixture
def engine(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'crypto.sqlite3'}")
    metadata.create_all(engine)
    yield engine
    engine.dispose()


def raw(engine, table: Table, column: str) -> list[str | None]:
    plain = Table(table.name, MetaData(), Column(column, Text))
    with engine.connect() as conn:
        return list(conn.execute(select(plain.c[column])).scalars())


def test_the_app_registers_its_key_ring(app):
    with app.app_context():
        assert keyring() is app.extensions["portal_keyring"]
        assert blind_index("nhs_number", NHS_NUMBER) == keyring().blind_index("nhs_number", NHS_NUMBER)
    assert (Path(app.instance_path) / "keyring.json").exists()


def test_encrypted_columns_round_trip_and_store_no_plaintext(app, engine):
    born = dt.date(2015, 3, 14)
    with app.app_context(), engine.begin() as conn:
        conn.execute(insert(people), [{"id": 1, "nhs_number": NHS_NUMBER, "date_of_birth": born, "name": "Ada"}])
        conn.execute(insert(people), [{"id": 2, "nhs_number": None, "date_of_birth": None, "name": None}])
    with app.app_context(), engine.connect() as conn:
        rows = conn.execute(select(people).order_by(people.c.id)).all()
    assert tuple(rows[0]) == (1, NHS_NUMBER, born, "Ada")
    assert tuple(rows[1]) == (2, None, None, None)
    stored = raw(engine, people, "nhs_number") + raw(engine, people, "date_of_birth") + raw(engine, people, "name")
    assert [s for s in stored if s is not None and not s.startswith("v1.k1.")] == []
    assert stored.count(None) == 3
    for secret in (NHS_NUMBER, "2015-03-14", "Ada"):
        assert not any(secret in s for s in stored if s)


def test_encrypted_columns_fail_closed_outside_an_app_context(app, engine):
    with pytest.raises(StatementError) as caught, engine.begin() as conn:
        conn.execute(insert(people), [{"id": 3, "nhs_number": NHS_NUMBER}])
    assert isinstance(caught.value.orig, KeyRingUnavailable)
    assert raw(engine, people, "nhs_number") == []  # nothing stored, least of all plaintext
    with app.app_context(), engine.begin() as conn:
        conn.execute(insert(people), [{"id": 3, "nhs_number": NHS_NUMBER}])
    with pytest.raises(KeyRingUnavailable), engine.connect() as conn:
        conn.execute(select(people.c.nhs_number)).all()


def test_encrypted_columns_check_the_python_type(app, engine):
    with app.app_context(), engine.connect() as conn:
        with pytest.raises(StatementError, match=r"datetime\.date, not datetime"):
            conn.execute(insert(people), [{"id": 4, "date_of_birth": dt.datetime(2015, 3, 14, 9, 30)}])
        conn.rollback()
        with pytest.raises(StatementError, match="holds text, not int"):
            conn.execute(insert(people), [{"id": 4, "nhs_number": 9434765919}])


def test_a_value_copied_into_another_column_does_not_decrypt(app, engine):
    with app.app_context(), engine.begin() as conn:
        conn.execute(insert(people), [{"id": 5, "nhs_number": NHS_NUMBER}])
    token = raw(engine, people, "nhs_number")[0]
    plain = Table("people", MetaData(), Column("id", Integer, primary_key=True), Column("name", Text))
    with engine.begin() as conn:
        conn.execute(plain.update().values(name=token))
    with app.app_context(), engine.connect() as conn, pytest.raises(DecryptionError):
        conn.execute(select(people.c.name)).all()


def test_encrypted_columns_cannot_be_searched_in_sql():
    with pytest.raises(TypeError, match="blind index"):
        people.c.nhs_number == NHS_NUMBER  # noqa: B015 - the comparison itself must raise
    with pytest.raises(TypeError, match="blind index"):
        people.c.name.in_(["Ada"])
    assert "IS NULL" in str(people.c.nhs_number.is_(None))
    assert "IS NULL" in str(people.c.nhs_number == None)  # noqa: E711 - the ORM spelling of IS NULL


def test_the_types_keep_their_context_in_their_repr():
    # Alembic autogenerate writes types by repr; without the context the migration would not import
    assert repr(people.c.nhs_number.type) == "EncryptedText('people.nhs_number')"
    assert repr(people.c.date_of_birth.type) == "EncryptedDate('people.date_of_birth')"


class Base(DeclarativeBase):
    pass


class Person(Base):
    __tablename__ = "orm_person"
    id: Mapped[int] = mapped_column(primary_key=True)
    nhs_number: Mapped[str | None] = mapped_column(EncryptedText("orm_person.nhs_number"))
    date_of_birth: Mapped[dt.date | None] = mapped_column(EncryptedDate("orm_person.date_of_birth"))


def test_the_orm_round_trips_encrypted_columns(app, engine):
    Base.metadata.create_all(engine)
    with app.app_context():
        with Session(engine) as session:
            session.add(Person(id=1, nhs_number=NHS_NUMBER, date_of_birth=dt.date(2012, 1, 2)))
            session.commit()
        with Session(engine) as session:
            person = session.get(Person, 1)
            assert (person.nhs_number, person.date_of_birth) == (NHS_NUMBER, dt.date(2012, 1, 2))
            person.nhs_number = "9434765870"
            session.commit()
        with Session(engine) as session:
            assert session.get(Person, 1).nhs_number == "9434765870"
    assert raw(engine, Person.__table__, "nhs_number")[0].startswith("v1.k1.")


# -- re-encryption ------------------------------------------------------------------------------


def fill(app: Flask, engine, count: int = 7) -> None:
    with app.app_context(), engine.begin() as conn:
        conn.execute(
            insert(people),
            [
                {"id": i, "nhs_number": f"94347659{i:02d}", "date_of_birth": dt.date(2010, 1, i), "name": None}
                for i in range(1, count + 1)
            ],
        )
        conn.execute(insert(access_log), [{"id": 1, "subject": NHS_NUMBER}])
        conn.execute(insert(no_key), [{"body": "note one", "tag": "a"}, {"body": "note two", "tag": "b"}])


def test_reencryption_moves_every_value_to_the_active_key(app, engine):
    fill(app, engine)
    old_log = raw(engine, access_log, "subject")
    rotated = app.extensions["portal_keyring"].with_new_key()
    app.extensions["portal_keyring"] = rotated
    with engine.connect() as conn:
        counts = reencrypt_all(conn, metadata, rotated, batch_size=3)
    assert counts == {"people.nhs_number": 7, "people.date_of_birth": 7, "people.name": 0, "notes.body": 2}
    for table, column in [(people, "nhs_number"), (people, "date_of_birth"), (no_key, "body")]:
        assert all(token.startswith("v1.k2.") for token in raw(engine, table, column))
    assert raw(engine, access_log, "subject") == old_log  # immutable: never updated
    with app.app_context(), engine.connect() as conn:
        rows = conn.execute(select(people).order_by(people.c.id)).all()
        assert [r.nhs_number for r in rows] == [f"94347659{i:02d}" for i in range(1, 8)]
        assert rows[6].date_of_birth == dt.date(2010, 1, 7)
        assert sorted(conn.execute(select(no_key.c.body)).scalars()) == ["note one", "note two"]
        assert conn.execute(select(access_log.c.subject)).scalar_one() == NHS_NUMBER
    with engine.connect() as conn:  # idempotent
        assert set(reencrypt_all(conn, metadata, rotated).values()) == {0}


def test_reencryption_stops_at_a_value_it_cannot_decrypt(app, engine):
    fill(app, engine, count=2)
    plain = Table("people", MetaData(), Column("id", Integer, primary_key=True), Column("name", Text))
    with engine.begin() as conn:
        conn.execute(plain.update().where(plain.c.id == 2).values(name="not a token"))
    rotated = app.extensions["portal_keyring"].with_new_key()
    with engine.connect() as conn, pytest.raises(DecryptionError, match=r"people\.name row \{'id': 2\}"):
        reencrypt_all(conn, metadata, rotated)


def test_reencryption_refuses_to_commit_someone_elses_transaction(app, engine):
    with engine.connect() as conn:
        conn.execute(select(1))
        with pytest.raises(RuntimeError, match="no open transaction"):
            reencrypt_all(conn, metadata, app.extensions["portal_keyring"])


def test_reencryption_works_through_a_session(app, engine):
    fill(app, engine, count=2)
    rotated = app.extensions["portal_keyring"].with_new_key()
    with Session(engine) as session:
        assert reencrypt_all(session, metadata, rotated)["people.nhs_number"] == 2
    assert all(t.startswith("v1.k2.") for t in raw(engine, people, "nhs_number"))
