"""Command-line tasks: ``flask --app wsgi <command>``."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import click
from alembic import command
from alembic.config import Config as AlembicConfig
from flask import Flask, current_app
from sqlalchemy import MetaData

from portal import db
from portal.errors import ConfigError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(database_url: str) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def reencrypt_metadata() -> MetaData:
    """The schema ``keys-reencrypt`` walks: the whole schema, handed to the shell by the app factory
    (``portal.models``, which imports every domain's tables), so no encrypted column can be missed."""
    return current_app.extensions["schema"]


def init_app(app: Flask) -> None:
    _init_key_commands(app)
    _init_audit_commands(app)

    @app.cli.command("db-upgrade")
    @click.argument("revision", default="head")
    def db_upgrade(revision: str) -> None:
        """Apply migrations up to REVISION (default: head)."""
        upgrade(str(current_app.config["DATABASE_URL"]), revision)
        click.echo(f"Database at {revision}.")

    @app.cli.command("db-downgrade")
    @click.argument("revision")
    def db_downgrade(revision: str) -> None:
        """Revert migrations down to REVISION."""
        command.downgrade(alembic_config(str(current_app.config["DATABASE_URL"])), revision)

    @app.cli.command("db-revision")
    @click.option("-m", "--message", required=True)
    def db_revision(message: str) -> None:
        """Autogenerate a migration from the models (review it before committing)."""
        command.revision(alembic_config(str(current_app.config["DATABASE_URL"])), message=message, autogenerate=True)

    @app.cli.command("purge-sessions")
    def purge_sessions() -> None:
        """Delete expired server-side sessions."""
        from portal.auth.sessions import purge_expired

        session = db.session()
        count = purge_expired(session, timedelta(minutes=int(current_app.config["SESSION_IDLE_MINUTES"])))
        session.commit()
        click.echo(f"Deleted {count} expired sessions.")


def _init_key_commands(app: Flask) -> None:
    """Encryption key ring tasks. Keys never go into the database or the repository."""

    @app.cli.command("keys-generate")
    def keys_generate() -> None:
        """Print a new production key ring (JSON) to store in a secrets manager or a 0600 file."""
        from portal.crypto import KeyRing

        click.echo(json.dumps(KeyRing.generate().to_json_dict(), indent=2))

    @app.cli.command("keys-rotate")
    @click.option("--key-id", default=None, help="id for the new key (default: the next k<n>)")
    def keys_rotate(key_id: str | None) -> None:
        """Add a new data key to the key ring file and make it active (old keys stay, for reading).

        Restart every app process afterwards, then run keys-reencrypt.
        """
        from portal import crypto

        ring = crypto.keyring()
        if ring.source is None:
            raise click.ClickException("the key ring was not loaded from a file, so there is no file to rotate")
        try:
            current = crypto.read_keyring_file(ring.source)  # the file as it is now, not as loaded at start
            rotated = current.with_new_key(key_id)
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from None
        crypto.write_keyring_file(ring.source, rotated)
        current_app.extensions[crypto.EXTENSION] = rotated
        keys = ", ".join(rotated.key_ids)
        click.echo(f"Key ring {ring.source}: new active key {rotated.active_key_id}; keys {keys}.")
        click.echo("Restart every app process, then run keys-reencrypt to move stored values to the new key.")

    @app.cli.command("keys-reencrypt")
    @click.option("--batch-size", default=500, show_default=True, type=click.IntRange(min=1))
    def keys_reencrypt(batch_size: int) -> None:
        """Re-encrypt stored values that are not under the active key (safe to re-run)."""
        from portal import crypto

        ring = crypto.keyring()
        metadata = reencrypt_metadata()
        with current_app.extensions["db_engine"].connect() as connection:
            counts = crypto.reencrypt_all(connection, metadata, ring, batch_size=batch_size)
        click.echo(f"Active key {ring.active_key_id}.")
        for name, count in counts.items():
            click.echo(f"  {name}: {count} re-encrypted")
        skipped = sorted({t.fullname for t, _ in crypto.encrypted_columns(metadata) if crypto.is_immutable(t)})
        for name in skipped:
            click.echo(f"  {name}: skipped (immutable; its old keys must stay in the key ring)")
        if not counts and not skipped:
            click.echo("  no encrypted columns")


def _init_audit_commands(app: Flask) -> None:
    """Access-log tasks: verify the chain and its signed checkpoints; make a checkpoint signing key."""

    @app.cli.command("audit-verify")
    def audit_verify() -> None:
        """Recompute the access log's hash chain and checkpoint signatures; exit 1 if anything is wrong."""
        from portal.access_log import chain, signing

        report = chain.verify(db.engine(), signing.trusted_keys())
        if report.intact:
            click.echo(
                f"Access log intact up to entry {report.intact_up_to} "
                f"({report.entries} entries, {report.checkpoints} checkpoints)"
            )
            return
        click.echo(f"Access log NOT intact: first bad entry {report.first_bad_seq}: {report.problem}.")
        click.echo(f"Entries 1 to {report.intact_up_to} verified before that.")
        raise SystemExit(1)

    @app.cli.command("audit-keygen")
    def audit_keygen() -> None:
        """Print a new Ed25519 checkpoint signing key file (private PEM, public key and id as comments)."""
        from portal.access_log import signing

        click.echo(signing.new_key_text(), nl=False)
