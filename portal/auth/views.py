"""Sign-in, callback and sign-out routes."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, abort, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy.exc import SQLAlchemyError

from portal import access_log as audit
from portal import db
from portal.auth import oidc
from portal.auth.providers import ProviderConfig
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


def _record(
    event: audit.EventType,
    outcome: audit.Outcome,
    detail: dict[str, str],
    *,
    user_id: object = None,
    organisation_id: object = None,
    roles: Iterable[str] = (),
) -> None:
    """Append a sign-in event to the access log in this request's transaction (the caller commits)."""
    audit.append(
        db.session(),
        audit.NewEntry(
            event=event,
            outcome=outcome,
            occurred_at=datetime.now(UTC),
            actor_user_id=user_id,
            actor_organisation_id=organisation_id,
            actor_roles=tuple(str(role) for role in roles),
            detail=detail,
            **audit.request_origin(),
        ),
    )


def _record_refusal(provider: ProviderConfig, exc: SignInRefused, claims: dict[str, Any] | None) -> None:
    """Log a refused sign-in and commit it, whatever else happens to the request.

    Nobody was signed in, but when the refusal knows whom it turned away (a disabled user, a user with
    no role: the user and their organisation; an unregistered user: the organisation) they are the
    entry's actor, with no roles, so the DPO finds the attempts by user or organisation. When the
    provider's token was valid, the subject and organisation it asserted are kept in the detail too. A
    log failure here is reported but does not turn the refusal page into an error page: nobody was let
    in either way.
    """
    detail = {"provider": provider.key, "refusal": exc.reason.value}
    if claims:
        for key, claim in (("subject", provider.subject_claim), ("organisation_claim", provider.organisation_claim)):
            value = claims.get(claim)
            if isinstance(value, str) and value:
                detail[key] = value[:200]
    session = db.session()
    try:
        session.rollback()  # nothing of a refused sign-in is kept but its log entry
        _record(
            audit.EventType.SIGN_IN_FAILED,
            audit.Outcome.DENIED,
            detail,
            user_id=exc.user_id,
            organisation_id=exc.organisation_id,
        )
        session.commit()
    except (SQLAlchemyError, audit.ChainError):
        session.rollback()
        log.exception("could not record a refused sign-in in the access log", extra={"provider": provider.key})


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
    next_url = request.args.get("next", "")
    if _safe_next(next_url):
        session["after_sign_in"] = next_url
    else:
        session.pop("after_sign_in", None)
    try:
        return oidc.start(provider, reauthenticate=request.args.get("reauth") == "1")
    except SignInRefused as exc:
        _record_refusal(provider, exc, None)
        return _refuse(exc, provider.name)


@bp.get("/auth/callback/<provider_key>")
@public
def callback(provider_key: str) -> ResponseReturnValue:
    """Validate the provider's answer, then sign the user in with a fresh session."""
    provider = oidc.providers().get(provider_key) or abort(404)
    claims = None
    try:
        claims = oidc.finish(provider)
        signed = resolve_user(db.session(), provider, claims)
    except SignInRefused as exc:
        _record_refusal(provider, exc, claims)
        return _refuse(exc, provider.name)
    # Logged and committed before the session changes: a sign-in that cannot be logged does not happen.
    # (The session row is written by the session interface in its own transaction after the view.)
    _record(
        audit.EventType.SIGNED_IN,
        audit.Outcome.PERMITTED,
        {"provider": provider.key},
        user_id=signed.user.id,
        organisation_id=signed.organisation.id,
        roles=signed.user.roles,
    )
    db.session().commit()
    next_url = session.get("after_sign_in")
    session.clear()
    session.regenerate()  # a new session id at sign-in: no fixation
    login_user(signed.user)
    # when the user last proved who they are: break-glass asks for this to be recent
    session["authenticated_at"] = time.time()
    session["organisation_id"] = str(signed.organisation.id)
    session["provider"] = provider.key
    log.info("signed in", extra={"user_id": str(signed.user.id), "provider": provider.key})
    return redirect(next_url if _safe_next(next_url) else url_for("main.home"))


def _safe_next(url: object) -> bool:
    """Only a path on this site: never another host, so sign-in cannot be used to redirect anywhere."""
    return (
        isinstance(url, str)
        and url.startswith("/")
        and not url.startswith("//")
        and "\\" not in url
        and len(url) <= 200
        and all(c.isprintable() for c in url)
    )


@bp.post("/sign-out")
@signed_in
@db.commits
def sign_out() -> ResponseReturnValue:
    """End the session on the server, so a copied cookie stops working too."""
    form = SignOutForm()
    if not form.validate_on_submit():
        abort(400)
    _record(
        audit.EventType.SIGNED_OUT,
        audit.Outcome.PERMITTED,
        {"provider": str(session.get("provider", ""))},
        user_id=current_user.get_id(),
        organisation_id=session.get("organisation_id"),
        roles=current_user.roles,
    )
    log.info("signed out", extra={"user_id": current_user.get_id()})
    logout_user()
    session.invalidate()
    return redirect(url_for("auth.signed_out"))


@bp.get("/signed-out")
@public
def signed_out() -> ResponseReturnValue:
    """Confirm the user is signed out."""
    return render_template("auth/signed_out.html")
