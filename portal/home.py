"""The start, home and account pages, and the health check.

The home page shows what each domain has for the signed-in user (a practitioner's updated nominations,
...): domains add a section in the app factory (``add_home_section``), so the shell imports none of them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify, redirect, render_template, session, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from portal import db
from portal.auth import oidc
from portal.auth.rules import public, signed_in

bp = Blueprint("main", __name__)

#: a home-page section: given the request's session and the signed-in user, what the template shows
HomeSection = Callable[[Any, Any], object]
_SECTIONS = "home_sections"


def add_home_section(app: Flask, name: str, provide: HomeSection) -> None:
    """Show ``provide(session, user)`` on the home page as the template variable ``name``."""
    app.extensions.setdefault(_SECTIONS, {})[name] = provide


@bp.get("/")
@public
def start() -> ResponseReturnValue:
    """Explain the service and offer sign-in."""
    if current_user.is_authenticated:
        return redirect(url_for("main.home"))
    return render_template("main/start.html")


@bp.get("/home")
@signed_in
def home() -> ResponseReturnValue:
    """Show who is signed in, for which organisation, with which roles, and each domain's section."""
    sections = current_app.extensions.get(_SECTIONS, {})
    shown = {name: provide(db.session(), current_user) for name, provide in sections.items()}
    return render_template("main/home.html", **shown)


@bp.get("/account")
@signed_in
def account() -> ResponseReturnValue:
    """Show the user's account details and session limits."""
    provider = oidc.providers().get(session.get("provider", ""))
    return render_template("main/account.html", provider_name=provider.name if provider else "Unknown")


@bp.get("/healthz")
@public
def healthz() -> ResponseReturnValue:
    """Report whether the database answers; 503 when it does not, so a load balancer stops routing."""
    try:
        with db.engine().connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError:
        return jsonify({"status": "unavailable", "database": "unreachable"}), 503
    return jsonify({"status": "ok", "database": "reachable"})
