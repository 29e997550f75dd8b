"""Command-line tasks: ``flask --app wsgi <command>``."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import click
from alembic import command
from alembic.config import Config as AlembicConfig
from flask import Flask, current_app

from portal import db

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(database_url: str) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def init_app(app: Flask) -> None:
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

    @app.cli.command("seed-demo")
    def seed_demo_command() -> None:
        """Add the demo organisations and users (idempotent) and print the demo accounts."""
        from portal.auth.dev_idp import issuer
        from portal.demo.seed import demo_accounts, seed_demo

        session = db.session()
        added = seed_demo(session, issuer(current_app))
        session.commit()
        click.echo(f"Demo data: added {added['organisations']} organisations and {added['users']} users.")
        if not current_app.config["DEV_IDP_ENABLED"]:
            click.echo("The development identity provider is off: demo accounts cannot sign in.")
            return
        click.echo("\nDemo accounts (choose 'Demo accounts' on the sign-in page, then pick one):")
        for account in demo_accounts():
            roles = ", ".join(account.roles) or "-"
            note = (
                ""
                if account.registered and not account.disabled
                else ("  [disabled: refused]" if account.disabled else "  [not registered: refused]")
            )
            click.echo(f"  {account.subject:<24} {account.organisation:<18} {roles}{note}")

    @app.cli.command("purge-sessions")
    def purge_sessions() -> None:
        """Delete expired server-side sessions."""
        from portal.auth.sessions import purge_expired

        session = db.session()
        count = purge_expired(session, timedelta(minutes=int(current_app.config["SESSION_IDLE_MINUTES"])))
        session.commit()
        click.echo(f"Deleted {count} expired sessions.")
