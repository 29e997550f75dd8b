"""Triage pages for the council's coordinators: the queue, a nomination, matches, requests, decisions,
and the accepted family's lead professional, notice and flags.

Views parse, call one service function and render; how each page is drawn, and how a failed one
answers, is in ``referrals/triage/pages.py``.
"""

from __future__ import annotations

import uuid

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from portal import db
from portal.auth.rules import Role, requires
from portal.db import commits
from portal.gate import AccessDenied, access_context
from portal.kit.fields import page_number
from portal.kit.pages import failed_page
from referrals.setup import current_framework
from referrals.triage import accept, commands, family, forms, pages, queue, service
from referrals.triage.core import (
    NoFamilyYet,
    NominationNotFound,
    NominationStatus,
    TriageError,
)
from sharing_protocols.policy import TriageAction

bp = Blueprint("triage", __name__, url_prefix="/triage", cli_group=None)
bp.cli.add_command(commands.backfill_matching_keys)


@bp.errorhandler(AccessDenied)
def _refused(exc: AccessDenied) -> ResponseReturnValue:
    return render_template("triage/refused.html", decision=exc.decision), 403


@bp.errorhandler(NominationNotFound)
def _not_found(_exc: NominationNotFound) -> ResponseReturnValue:
    return render_template("errors/404.html"), 404


@bp.errorhandler(NoFamilyYet)
def _no_family(exc: NoFamilyYet) -> ResponseReturnValue:
    return render_template("triage/no_family.html", message=exc.message), 404


# ------------------------------------------------------------------------------------------ queue


@bp.get("")
@requires(Role.COORDINATOR)
@commits
def list_nominations() -> ResponseReturnValue:
    """List the nominations waiting for triage, oldest first, with filters."""
    page = page_number(request.args)
    probe = pages.queue_form([])  # the organisation is checked against every one once the service has listed them
    if not pages.shaped(probe):
        # a filter no page offers (a crafted or stale link): refused before it reaches the queue or the log
        return render_template("triage/list_nominations.html", form=probe, result=None), 400
    filters = queue.QueueFilters(
        route=probe.route.data or None,
        organisation_id=pages.parse_uuid(probe.organisation.data),
        age=queue.Age(probe.age.data) if probe.age.data else None,
        status=NominationStatus(probe.status.data) if probe.status.data else None,
    )
    result = queue.list_nominations(db.session(), access_context(), current_framework(), filters, page=page)
    form = pages.queue_form(result.organisations)
    if not form.validate():
        # an organisation that nominated nothing: say so rather than guess
        return failed_page(
            lambda: render_template("triage/list_nominations.html", form=form, result=None), 400, undo_changes=True
        )
    return render_template("triage/list_nominations.html", form=form, result=result)


# ------------------------------------------------------------------------------------- nomination


@bp.get("/nominations/<uuid:nomination_id>")
@requires(Role.COORDINATOR)
@commits
def show_nomination(nomination_id: uuid.UUID) -> ResponseReturnValue:
    """Show a nomination, its people with their candidate matches, links, history and messages."""
    return pages.nomination_page(nomination_id)


@bp.post("/nominations/<uuid:nomination_id>/people/<uuid:nominated_person_id>/match")
@requires(Role.COORDINATOR)
@commits
def review_match(nomination_id: uuid.UUID, nominated_person_id: uuid.UUID) -> ResponseReturnValue:
    """Confirm or reject a candidate match, or record that nobody known matches."""
    form = forms.MatchForm()
    anchor = f"person-{nominated_person_id}"
    if not form.validate_on_submit():
        errors = [{"text": "Reload the page and try again", "href": f"#{anchor}"}]
        return failed_page(lambda: pages.nomination_page(nomination_id, errors), 400, undo_changes=True)
    try:
        service.review_match(
            db.session(),
            access_context(),
            nomination_id,
            nominated_person_id,
            service.MatchChoice(form.choice.data),
            version=form.version_number,
            person_id=form.person,
        )
    except TriageError as exc:
        if exc.status == 404:
            raise
        errors = [{"text": exc.message, "href": f"#{anchor}"}]
        return failed_page(lambda: pages.nomination_page(nomination_id, errors), exc.status, undo_changes=True)
    messages = {
        "confirm": "Match confirmed",
        "reject": "Match rejected: that person will not be suggested again",
        "new-person": "Recorded: nobody already known matches, so a new person will be recorded when you accept",
    }
    flash(messages[form.choice.data], "success")
    return redirect(url_for("triage.show_nomination", nomination_id=nomination_id, _anchor=anchor))


@bp.route("/nominations/<uuid:nomination_id>/request-information", methods=["GET", "POST"])
@requires(Role.COORDINATOR)
@commits
def request_information(nomination_id: uuid.UUID) -> ResponseReturnValue:
    """Ask the nominator for more information."""
    return pages.message_page(nomination_id, pages.ASK)


@bp.route("/nominations/<uuid:nomination_id>/decline", methods=["GET", "POST"])
@requires(Role.COORDINATOR)
@commits
def decline_nomination(nomination_id: uuid.UUID) -> ResponseReturnValue:
    """Decide not to accept a nomination, with a reason the nominator will see."""
    return pages.message_page(nomination_id, pages.DECLINE)


# ---------------------------------------------------------------------------------------- accepting


@bp.route("/nominations/<uuid:nomination_id>/accept", methods=["GET", "POST"])
@requires(Role.COORDINATOR)
@commits
def accept_nomination(nomination_id: uuid.UUID) -> ResponseReturnValue:
    """Accept a nomination: choose the family and record the criteria each person meets."""
    session, ctx, framework = db.session(), access_context(), current_framework()
    content = accept.get_acceptance_for(session, ctx, nomination_id, framework)
    form = pages.accept_form_for(content, request.form if request.method == "POST" else None)
    if request.method == "GET":
        return render_template("triage/accept_nomination.html", form=form, nomination=content)
    if form.validate_on_submit():
        try:
            accept.accept_nomination(
                session,
                ctx,
                nomination_id,
                framework,
                version=form.version_number,
                family=pages.family_choice(form),
                criteria=form.chosen_criteria(),
            )
        except TriageError as exc:
            if exc.status == 404:
                raise
            pages.show_error(form, exc, "family")
            status = exc.status
        else:
            flash("Nomination accepted. Check the family's eligibility, then assign a lead professional.", "success")
            return redirect(url_for("triage.show_family", nomination_id=nomination_id))
    else:
        status = 400

    def render() -> str:
        fresh = accept.get_acceptance_for(db.session(), access_context(), nomination_id, current_framework())
        form.show_version(fresh.version)
        return render_template("triage/accept_nomination.html", form=form, nomination=fresh)

    return failed_page(render, status, undo_changes=True)


# ------------------------------------------------------------------------------------ the family


@bp.get("/nominations/<uuid:nomination_id>/family")
@requires(Role.COORDINATOR)
@commits
def show_family(nomination_id: uuid.UUID) -> ResponseReturnValue:
    """Show the accepted family: members, criteria met, eligibility, lead professional, notices, flags."""
    setup = pages.family_setup(nomination_id, TriageAction.VIEW_NOMINATION, "family")
    return render_template("triage/show_family.html", setup=setup)


@bp.route("/nominations/<uuid:nomination_id>/lead-professional", methods=["GET", "POST"])
@requires(Role.COORDINATOR)
@commits
def assign_lead_professional(nomination_id: uuid.UUID) -> ResponseReturnValue:
    """Choose the family's lead professional."""
    form = forms.LeadProfessionalForm()
    return pages.post_acceptance(
        nomination_id,
        form,
        "triage/assign_lead_professional.html",
        TriageAction.ASSIGN_LEAD_PROFESSIONAL,
        "lead-professional",
        "lead",
        lambda: family.assign_lead_professional(
            db.session(),
            access_context(),
            nomination_id,
            pages.require_uuid(form.lead.data),
            version=form.version_number,
        ),
        "Lead professional assigned",
        pages.lead_choices,
    )


@bp.route("/nominations/<uuid:nomination_id>/notice", methods=["GET", "POST"])
@requires(Role.COORDINATOR)
@commits
def record_notice(nomination_id: uuid.UUID) -> ResponseReturnValue:
    """Record the fair processing notice given to the family: version, members, date, how, by whom."""
    form = forms.NoticeForm()
    return pages.post_acceptance(
        nomination_id,
        form,
        "triage/record_notice.html",
        TriageAction.RECORD_NOTICE,
        "notice",
        "notice_version",
        lambda: family.record_notice(
            db.session(),
            access_context(),
            nomination_id,
            version=form.version_number,
            notice_version_id=pages.require_uuid(form.notice_version.data),
            member_ids=[pages.require_uuid(m) for m in form.members.data],
            given_on=form.given_on.data,
            method=family.NoticeMethod(form.method.data),
            given_by_id=pages.require_uuid(form.given_by.data),
        ),
        "Fair processing notice recorded",
        pages.notice_choices,
    )


@bp.route("/nominations/<uuid:nomination_id>/flags", methods=["GET", "POST"])
@requires(Role.COORDINATOR)
@commits
def raise_flags(nomination_id: uuid.UUID) -> ResponseReturnValue:
    """Raise flags for the nominated members, so the organisations that serve them can see them."""
    form = forms.FlagsForm()
    return pages.post_acceptance(
        nomination_id,
        form,
        "triage/raise_flags.html",
        TriageAction.RAISE_FLAGS,
        "flags",
        "review_on",
        lambda: family.raise_flags(
            db.session(),
            access_context(),
            nomination_id,
            version=form.version_number,
            review_on=form.review_on.data,
            ends_on=form.ends_on.data,
            family_told=bool(form.family_told.data),
        ),
        "Flags raised",
        pages.flag_defaults,
    )
