"""The start, home and account pages, and the health check."""

from __future__ import annotations

from flask import Blueprint, jsonify, redirect, render_template, session, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from portal import db
from portal.auth import oidc
from portal.auth.rules import public, signed_in

bp = Blueprint("main", __name__)


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
    """Show who is signed in, for which organisation, with which roles."""
    return render_template("main/home.html")


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
