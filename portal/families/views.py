"""Flag pages for partners: the people you serve who are flagged, one person's flag, break-glass."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from flask import Blueprint, abort, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from portal import db, gate
from portal.auth.rules import Role, requires
from portal.db import commits
from portal.families import service
from portal.families.forms import BreakGlassForm, SearchForm
from portal.gate import access_context
from portal.kit.fields import page_number
from portal.kit.formatting import format_nhs_number, govuk_date
from portal.kit.pages import failed_page

bp = Blueprint("families", __name__)

#: break-glass asks the user to have signed in within this long
REAUTH_WINDOW = timedelta(minutes=5)
FLAG_ROLES = (Role.PRACTITIONER, Role.COORDINATOR)


def _rows(result: service.FlagPage, organisation_kind: str) -> list[tuple[str, ...]]:
    """The list's table rows as text, built in Python: one ``url_for`` for the page instead of one per
    row, and no template attribute look-ups or filters per cell (50 rows were most of the render)."""
    sample = uuid.UUID(int=0)
    prefix = url_for("families.show_flag", person_id=sample).removesuffix(str(sample))
    school = organisation_kind == "school"
    rows = []
    for person in result.people:
        if school:
            identifier = person.upn or "Not known"
        else:
            identifier = format_nhs_number(person.nhs_number) if person.nhs_number else "Not known"
        rows.append(
            (
                prefix + str(person.person_id),
                person.name,
                govuk_date(person.date_of_birth) if person.date_of_birth else "Not known",
                identifier,
                person.lead.name if person.lead else "Not yet assigned",
                (person.lead.phone or "") if person.lead else "",
                person.concern_labels or "None shared with you",
            )
        )
    return rows


@bp.get("/flags")
@requires(*FLAG_ROLES)
@commits
def list_flags() -> ResponseReturnValue:
    """List the flagged people the organisation serves, or search among them."""
    form = SearchForm(request.args)
    page = page_number(request.args)
    query = (form.q.data or "").strip() if form.validate() else ""
    try:
        result = service.list_flagged(db.session(), access_context(), page=page, query=query)
        gate.commit(db.session())
    except service.InvalidSearch as exc:
        # nothing was read, so nothing is shown or logged: the user corrects the search
        form.q.errors = [str(exc)]
        return render_template("families/list_flags.html", form=form, result=None, searched=False), 400
    rows = _rows(result, current_user.organisation.kind.value)
    return render_template("families/list_flags.html", form=form, result=result, searched=bool(query), rows=rows)


@bp.get("/flags/<uuid:person_id>")
@requires(*FLAG_ROLES)
@commits
def show_flag(person_id: uuid.UUID) -> ResponseReturnValue:
    """Show one person's flag, as far as a protocol and the family's notice allow."""
    try:
        person = service.get_flag_for(db.session(), access_context(), person_id)
        gate.commit(db.session())
    except service.NotFlagged:
        # the look-up is logged even though there is nothing to show
        return failed_page(lambda: render_template("families/not_flagged.html"), 404)
    return render_template("families/show_flag.html", person=person)


def _recently_signed_in() -> bool:
    at = session.get("authenticated_at")
    if not isinstance(at, int | float):
        return False
    return datetime.now(UTC) - datetime.fromtimestamp(at, UTC) <= REAUTH_WINDOW


@bp.route("/break-glass", methods=["GET", "POST"])
@requires(Role.PRACTITIONER)
@commits
def start_break_glass() -> ResponseReturnValue:
    """Ask for the person and the reason for emergency access, after a fresh sign-in."""
    if not _recently_signed_in():
        if request.method == "POST":
            abort(400)
        return render_template("families/break_glass_reauth.html", provider_key=session.get("provider", ""))
    form = BreakGlassForm()
    if form.validate_on_submit():
        grant = service.start_break_glass(db.session(), access_context(), form.identifier.data, form.reason.data)
        return redirect(url_for("families.view_break_glass", grant_id=grant.id))
    status = 400 if form.errors else 200
    return render_template("families/break_glass.html", form=form), status


@bp.get("/break-glass/<uuid:grant_id>")
@requires(Role.PRACTITIONER)
@commits
def view_break_glass(grant_id: uuid.UUID) -> ResponseReturnValue:
    """Show the flag an emergency access was granted for; every view is logged for review."""
    try:
        person = service.view_break_glass(db.session(), access_context(), grant_id)
        gate.commit(db.session())
    except service.GrantExpired:
        abort(404)
    if person is None:
        return failed_page(lambda: render_template("families/not_flagged.html", break_glass=True), 404)
    return render_template("families/show_flag.html", person=person)
