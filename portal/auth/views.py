"""Sign-in, callback and sign-out routes."""

from __future__ import annotations

import logging

from flask import Blueprint, abort, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm

from portal import db
from portal.auth import oidc
from portal.auth.rules import public, signed_in
from portal.auth.signin import Refusal, SignInRefused, resolve_user

log = logging.getLogger("portal.auth")

bp = Blueprint("auth", __name__)

#: what the refusal page says for each reason: (heading, advice, HTTP status)
REFUSALS: dict[Refusal, tuple[str, str, int]] = {
    Refusal.PROVIDER_ERROR: (
        "Your organisation's sign-in service did not sign you in",
        "Try again. If it keeps happening, contact your organisation's IT service desk.",
        400,
    ),
    Refusal.INVALID_RESPONSE: (
        "Sign-in could not be completed",
        "The response from the sign-in service was not valid, had expired or had already been used. "
        "Start again from the sign-in page.",
        400,
    ),
    Refusal.PROVIDER_UNAVAILABLE: (
        "Your organisation's sign-in service is not responding",
        "Try again in a few minutes. If it keeps happening, contact your organisation's IT service desk.",
        503,
    ),
    Refusal.INSUFFICIENT_ASSURANCE: (
        "You need a stronger sign-in method",
        "This service needs a stronger method of sign-in than the one you used, such as a smartcard or "
        "multi-factor authentication. Sign in again using it.",
        403,
    ),
    Refusal.ORGANISATION_NOT_REGISTERED: (
        "Your organisation is not registered to use this service",
        "Your organisation needs a sharing protocol with the council before its staff can use the portal. "
        "Ask your information governance lead to contact the council's Supporting Families team.",
        403,
    ),
    Refusal.USER_NOT_REGISTERED: (
        "You do not have an account for this service",
        "Ask your organisation's administrator for the portal to add you.",
        403,
    ),
    Refusal.USER_DISABLED: (
        "Your account has been disabled",
        "Ask your organisation's administrator for the portal if you still need access.",
        403,
    ),
    Refusal.NO_ROLES: (
        "Your account has no access yet",
        "Ask your organisation's administrator for the portal to give you a role.",
        403,
    ),
}


class SignOutForm(FlaskForm):
    """Only the CSRF token: signing out is a state change, so it is a POST."""


def _refuse(exc: SignInRefused, provider_name: str | None) -> ResponseReturnValue:
    heading, advice, status = REFUSALS[exc.reason]
    log.warning("sign-in refused", extra={"reason": exc.reason.value, "detail": exc.detail, "provider": provider_name})
    return render_template(
        "auth/sign_in_refused.html", heading=heading, advice=advice, provider_name=provider_name
    ), status


@bp.get("/sign-in")
@public
def choose_provider() -> ResponseReturnValue:
    """Ask which organisation's sign-in to use."""
    if current_user.is_authenticated:
        return redirect(url_for("main.home"))
    return render_template(
        "auth/sign_in.html", providers=list(oidc.providers().values()), timed_out=request.args.get("timed_out") == "1"
    )


@bp.get("/auth/login/<provider_key>")
@public
def login(provider_key: str) -> ResponseReturnValue:
    """Send the user to their identity provider."""
    provider = oidc.providers().get(provider_key) or abort(404)
    try:
        return oidc.start(provider)
    except SignInRefused as exc:
        return _refuse(exc, provider.name)


@bp.get("/auth/callback/<provider_key>")
@public
def callback(provider_key: str) -> ResponseReturnValue:
    """Validate the provider's answer, then sign the user in with a fresh session."""
    provider = oidc.providers().get(provider_key) or abort(404)
    try:
        claims = oidc.finish(provider)
        signed = resolve_user(db.session(), provider, claims)
    except SignInRefused as exc:
        return _refuse(exc, provider.name)
    session.clear()
    session.regenerate()  # a new session id at sign-in: no fixation
    login_user(signed.user)
    session["organisation_id"] = str(signed.organisation.id)
    session["provider"] = provider.key
    log.info("signed in", extra={"user_id": str(signed.user.id), "provider": provider.key})
    return redirect(url_for("main.home"))


@bp.post("/sign-out")
@signed_in
def sign_out() -> ResponseReturnValue:
    """End the session on the server, so a copied cookie stops working too."""
    form = SignOutForm()
    if not form.validate_on_submit():
        abort(400)
    log.info("signed out", extra={"user_id": current_user.get_id()})
    logout_user()
    session.invalidate()
    return redirect(url_for("auth.signed_out"))


@bp.get("/signed-out")
@public
def signed_out() -> ResponseReturnValue:
    """Confirm the user is signed out."""
    return render_template("auth/signed_out.html")
