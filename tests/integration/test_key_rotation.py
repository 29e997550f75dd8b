"""Key rotation end to end through the Flask CLI: generate, rotate, re-encrypt, on a throwaway table.

The real encrypted tables arrive with later domains; a throwaway schema stands in for them here, so
the commands are exercised exactly as an operator runs them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import Column, Integer, MetaData, Table, Text, insert, select

from portal import cli
from portal.app import create_app
from portal.crypto import EncryptedText, KeyRing, read_keyring_file

schema = MetaData()
cases = Table(
    "cli_cases",
    schema,
    Column("id", Integer, primary_key=True),
    Column("narrative", EncryptedText("cli_cases.narrative")),
)
log = Table(
    "cli_log",
    schema,
    Column("id", Integer, primary_key=True),
    Column("subject", EncryptedText("cli_log.subject")),
    info={"immutable": True},
)
raw_cases = Table("cli_cases", MetaData(), Column("id", Integer, primary_key=True), Column("narrative", Text))


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    env = {
        "PORTAL_ENV": "test",
        "PORTAL_INSTANCE_PATH": str(tmp_path / "instance"),
        "PORTAL_DATABASE_URL": f"sqlite:///{tmp_path / 'portal.sqlite3'}",
    }
    app = create_app(env=env)
    schema.create_all(app.extensions["db_engine"])
    monkeypatch.setattr(cli, "reencrypt_metadata", lambda: schema)
    yield app
    app.extensions["db_engine"].dispose()


def stored(app: Flask) -> list[str]:
    with app.extensions["db_engine"].connect() as conn:
        return list(conn.execute(select(raw_cases.c.narrative).order_by(raw_cases.c.id)).scalars())


def test_keys_generate_prints_a_production_key_ring(app):
    result = app.test_cli_runner().invoke(args=["keys-generate"])
    assert result.exit_code == 0, result.output
    ring = KeyRing.from_json_dict(json.loads(result.output))
    assert ring.active_key_id == "k1"
    assert ring.development is False


def test_rotate_then_reencrypt(app):
    engine = app.extensions["db_engine"]
    narratives = [f"Family {i} was referred by the school." for i in range(1, 6)]
    with app.app_context(), engine.begin() as conn:
        conn.execute(insert(cases), [{"id": i, "narrative": n} for i, n in enumerate(narratives, 1)])
        conn.execute(insert(cases), [{"id": 6, "narrative": None}])
        conn.execute(insert(log), [{"id": 1, "subject": "9434765919"}])
    assert all(token.startswith("v1.k1.") for token in stored(app)[:5])
    runner = app.test_cli_runner()

    result = runner.invoke(args=["keys-rotate"])
    assert result.exit_code == 0, result.output
    assert "new active key k2" in result.output
    path = Path(app.instance_path) / "keyring.json"
    assert path.stat().st_mode & 0o777 == 0o600
    on_disk = read_keyring_file(path)
    assert (on_disk.active_key_id, on_disk.key_ids) == ("k2", ["k1", "k2"])

    result = runner.invoke(args=["keys-reencrypt", "--batch-size", "2"])
    assert result.exit_code == 0, result.output
    assert "cli_cases.narrative: 5 re-encrypted" in result.output
    assert "cli_log: skipped (immutable" in result.output
    tokens = stored(app)
    assert all(token.startswith("v1.k2.") for token in tokens[:5]) and tokens[5] is None
    with app.app_context(), engine.connect() as conn:
        assert list(conn.execute(select(cases.c.narrative).order_by(cases.c.id)).scalars()) == [*narratives, None]
        assert conn.execute(select(log.c.subject)).scalar_one() == "9434765919"  # still readable, under k1

    result = runner.invoke(args=["keys-reencrypt"])
    assert "cli_cases.narrative: 0 re-encrypted" in result.output  # idempotent

    # a fresh process (a new app) reads the rotated file and both keys' values
    fresh = create_app(
        env={
            "PORTAL_ENV": "test",
            "PORTAL_INSTANCE_PATH": app.instance_path,
            "PORTAL_DATABASE_URL": str(app.config["DATABASE_URL"]),
        }
    )
    assert fresh.extensions["portal_keyring"].active_key_id == "k2"
    with fresh.app_context(), engine.connect() as conn:
        assert conn.execute(select(log.c.subject)).scalar_one() == "9434765919"
    fresh.extensions["db_engine"].dispose()


def test_rotate_can_name_the_new_key_and_refuses_a_duplicate(app):
    runner = app.test_cli_runner()
    assert "new active key 2025q3" in runner.invoke(args=["keys-rotate", "--key-id", "2025q3"]).output
    result = runner.invoke(args=["keys-rotate", "--key-id", "k1"])
    assert result.exit_code == 1
    assert "already has a key 'k1'" in result.output
    assert read_keyring_file(Path(app.instance_path) / "keyring.json").active_key_id == "2025q3"
