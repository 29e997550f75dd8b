"""The demo's command: ``flask --app wsgi seed-demo`` (the README's first command runs it)."""

from __future__ import annotations

import click
from flask import Flask, current_app

from portal import db
from portal.auth.dev_idp import issuer
from portal.demo.seed import demo_accounts, seed_demo


def init_app(app: Flask) -> None:
    @app.cli.command("seed-demo")
    def seed_demo_command() -> None:
        """Add the demo organisations, users, families and nominations (idempotent); print the accounts."""
        session = db.session()
        added = seed_demo(session, issuer(current_app))
        session.commit()
        click.echo(
            f"Demo data: added {added['organisations']} organisations, {added['users']} users, "
            f"{added['register']} sharing protocols and notice versions, {added['families']} families and "
            f"{added['nominations'] + added['triaged_nominations']} nominations."
        )
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
