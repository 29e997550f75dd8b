"""The start, home and account pages, and the health check."""

from __future__ import annotations

from datetime import date, datetime

from flask import Blueprint, jsonify, redirect, render_template, session, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from portal import db
from portal.auth import oidc
from portal.auth.rules import Role, public, signed_in
from referrals.journey import service as nominations

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
    """Show who is signed in, for which organisation, with which roles, and their updated nominations."""
    updates = (
        nominations.unseen_updates(db.session(), current_user.id) if Role.PRACTITIONER in current_user.roles else []
    )
    return render_template("main/home.html", updates=updates)


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


@bp.app_template_filter("govuk_date")
def govuk_date(value: date | datetime) -> str:
    """Dates as GOV.UK writes them: 5 January 2026."""
    return f"{value.day} {value:%B %Y}"


@bp.app_template_filter("nhs_number")
def format_nhs_number(value: str) -> str:
    """NHS numbers in the 3-3-4 groups people read them in."""
    return f"{value[:3]} {value[3:6]} {value[6:]}" if len(value) == 10 else value
