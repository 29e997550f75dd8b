"""Triage pages for the council's coordinators: the queue, a nomination, matches, requests, decisions,
and the accepted family's lead professional, notice and flags.

Views parse, call one service function and render. A page that failed (a form error, a stale version)
still shows personal data, so it is rendered after the failed change is rolled back and its own access
is committed before the 4xx goes out: ``_failed``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from werkzeug.datastructures import MultiDict

from portal import db
from portal.auth.rules import Role, requires
from portal.db import commits
from portal.gate import AccessDenied, access_context
from referrals.setup import current_framework
from referrals.triage import accept, commands, family, forms, queue, service
from referrals.triage.core import (
    STATUS_CHOICES,
    STATUS_LABELS,
    MatchStatus,
    NoFamilyYet,
    NominationNotFound,
    NominationStatus,
    TriageError,
)
from sharing_protocols.policy import TriageAction

bp = Blueprint("triage", __name__, url_prefix="/triage", cli_group=None)
bp.cli.add_command(commands.backfill_matching_keys)
LOCAL = ZoneInfo("Europe/London")


@bp.app_template_filter("triage_when")
def _when(value: datetime | None) -> str:
    """A moment as the council reads it: 24 November 2026 at 9:30am (UK time)."""
    if value is None:
        return ""
    local = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(LOCAL)
    hour = local.hour % 12 or 12
    return f"{local.day} {local:%B %Y} at {hour}:{local:%M}{'am' if local.hour < 12 else 'pm'}"


@bp.errorhandler(AccessDenied)
def _refused(exc: AccessDenied) -> ResponseReturnValue:
    return render_template("triage/refused.html", decision=exc.decision), 403


@bp.errorhandler(NominationNotFound)
def _not_found(_exc: NominationNotFound) -> ResponseReturnValue:
    return render_template("errors/404.html"), 404


@bp.errorhandler(NoFamilyYet)
def _no_family(exc: NoFamilyYet) -> ResponseReturnValue:
    return render_template("triage/no_family.html", message=exc.message), 404


def _failed(render: Callable[[], ResponseReturnValue], status: int) -> tuple[ResponseReturnValue, int]:
    """Render the page for a failed request: whatever the request changed is rolled back, then the page's
    own access is logged and committed like any other (it shows personal data), and the 4xx goes out."""
    db.session().rollback()
    body = render()
    db.session().commit()
    return body, status


def _show_error(form: FlaskForm, exc: TriageError, fallback: str) -> None:
    """Put a service's refusal beside the field it is about (or the form's main field)."""
    name = exc.field if exc.field and exc.field in form._fields else fallback
    form[name].errors = [*form[name].errors, exc.message]


def _refresh_version(form: forms.VersionedForm, version: int) -> None:
    """After a failure, carry the version now shown, so a resubmission is judged on what is on screen."""
    form.version.data = version
    form.version.raw_data = [str(version)]


# ------------------------------------------------------------------------------------------ queue


def _queue_form(organisations: list[tuple[uuid.UUID, str]]) -> forms.QueueFiltersForm:
    framework = current_framework()
    form = forms.QueueFiltersForm(request.args)
    form.route.choices = forms.choices([("", "Any route"), *((r.key, r.title) for r in framework.routes)])
    form.organisation.choices = forms.choices(
        [("", "Any organisation"), *((str(i), name) for i, name in organisations)]
    )
    form.age.choices = forms.choices([("", "Any time"), *((a.value, a.label) for a in queue.Age)])
    form.status.choices = forms.choices(
        [("", "Waiting for triage (any)"), *((s.value, STATUS_LABELS[s]) for s in STATUS_CHOICES)]
    )
    return form


@bp.get("")
@requires(Role.COORDINATOR)
@commits
def list_nominations() -> ResponseReturnValue:
    """List the nominations waiting for triage, oldest first, with filters."""
    page_arg = request.args.get("page", "1")
    page = int(page_arg) if page_arg.isdigit() and 0 < int(page_arg) < 100_000 else 1
    probe = _queue_form([])  # validated against every organisation once the service has listed them
    filters = queue.QueueFilters(
        route=probe.route.data or None,
        organisation_id=_uuid(probe.organisation.data),
        age=queue.Age(probe.age.data) if probe.age.data in {a.value for a in queue.Age} else None,
        status=NominationStatus(probe.status.data) if probe.status.data in {s.value for s in STATUS_CHOICES} else None,
    )
    result = queue.list_nominations(db.session(), access_context(), current_framework(), filters, page=page)
    form = _queue_form(result.organisations)
    if not form.validate():
        # a filter value no page offers (a crafted or stale link): say so rather than guess
        return _failed(lambda: render_template("triage/list_nominations.html", form=form, result=None), 400)
    return render_template("triage/list_nominations.html", form=form, result=result)


def _uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


# ------------------------------------------------------------------------------------- nomination


def _nomination_page(nomination_id: uuid.UUID, errors: list[dict[str, str]] | None = None) -> str:
    nomination = service.get_nomination_for(db.session(), access_context(), nomination_id, current_framework())
    return render_template(
        "triage/show_nomination.html", nomination=nomination, errors=errors or [], MatchStatus=MatchStatus
    )


@bp.get("/nominations/<uuid:nomination_id>")
@requires(Role.COORDINATOR)
@commits
def show_nomination(nomination_id: uuid.UUID) -> ResponseReturnValue:
    """Show a nomination, its people with their candidate matches, links, history and messages."""
    return _nomination_page(nomination_id)


@bp.post("/nominations/<uuid:nomination_id>/people/<uuid:nominated_person_id>/match")
@requires(Role.COORDINATOR)
@commits
def review_match(nomination_id: uuid.UUID, nominated_person_id: uuid.UUID) -> ResponseReturnValue:
    """Confirm or reject a candidate match, or record that nobody known matches."""
    form = forms.MatchForm()
    anchor = f"person-{nominated_person_id}"
    if not form.validate_on_submit():
        errors = [{"text": "Reload the page and try again", "href": f"#{anchor}"}]
        return _failed(lambda: _nomination_page(nomination_id, errors), 400)
    try:
        service.review_match(
            db.session(),
            access_context(),
            nomination_id,
            nominated_person_id,
            service.MatchChoice(form.choice.data),
            version=form.version.data,
            person_id=form.person,
        )
    except TriageError as exc:
        if exc.status == 404:
            raise
        errors = [{"text": exc.message, "href": f"#{anchor}"}]
        return _failed(lambda: _nomination_page(nomination_id, errors), exc.status)
    messages = {
        "confirm": "Match confirmed",
        "reject": "Match rejected: that person will not be suggested again",
        "new-person": "Recorded: nobody already known matches, so a new person will be recorded when you accept",
    }
    flash(messages[form.choice.data], "success")
    return redirect(url_for("triage.show_nomination", nomination_id=nomination_id, _anchor=anchor))


def _summary(nomination_id: uuid.UUID, action: TriageAction, page: str) -> service.NominationSummary:
    return service.get_nomination_summary_for(
        db.session(), access_context(), nomination_id, current_framework(), action=action, page=page
    )


@bp.route("/nominations/<uuid:nomination_id>/request-information", methods=["GET", "POST"])
@requires(Role.COORDINATOR)
@commits
def request_information(nomination_id: uuid.UUID) -> ResponseReturnValue:
    """Ask the nominator for more information."""
    form = forms.RequestInformationForm()
    status = 200
    if form.validate_on_submit():
        try:
            service.request_information(
                db.session(), access_context(), nomination_id, form.message.data, version=form.version.data
            )
        except TriageError as exc:
            _show_error(form, exc, "message")
            status = exc.status
        else:
            flash("Your message has been sent to the nominator", "success")
            return redirect(url_for("triage.show_nomination", nomination_id=nomination_id))
    elif form.is_submitted():
        status = 400
    return _form_page(
        "triage/request_information.html",
        form,
        status,
        lambda: _summary(nomination_id, TriageAction.REQUEST_INFORMATION, "request-information"),
    )


def _form_page(
    template: str, form: forms.VersionedForm, status: int, load: Callable[[], Any], **extra: Any
) -> ResponseReturnValue:
    """Render a form page: on GET with the version shown; after a failure, logged and committed."""

    def render() -> str:
        content = load()
        if request.method == "GET" or status != 200:
            _refresh_version(form, content.version)
        return render_template(template, form=form, nomination=content, **extra)

    if status >= 400:
        return _failed(render, status)
    return render()


@bp.route("/nominations/<uuid:nomination_id>/decline", methods=["GET", "POST"])
@requires(Role.COORDINATOR)
@commits
def decline_nomination(nomination_id: uuid.UUID) -> ResponseReturnValue:
    """Decide not to accept a nomination, with a reason the nominator will see."""
    form = forms.DeclineForm()
    status = 200
    if form.validate_on_submit():
        try:
            service.decline_nomination(
                db.session(), access_context(), nomination_id, form.reason.data, version=form.version.data
            )
        except TriageError as exc:
            _show_error(form, exc, "reason")
            status = exc.status
        else:
            flash("The nomination has not been accepted. The nominator can see your reason.", "success")
            return redirect(url_for("triage.show_nomination", nomination_id=nomination_id))
    elif form.is_submitted():
        status = 400
    return _form_page(
        "triage/decline_nomination.html",
        form,
        status,
        lambda: _summary(nomination_id, TriageAction.DECLINE_NOMINATION, "decline"),
    )


# ---------------------------------------------------------------------------------------- accepting


def _accept_form(content: accept.Acceptance, formdata: MultiDict[str, str] | None) -> forms.AcceptForm:
    form = forms.accept_form(
        [(p.id, p.name) for p in content.people],
        [(c.key, f"{c.number}. {c.title}") for c in content.criteria],
        formdata=formdata,
    )
    if content.linked_family is not None:
        family_choices = [(str(content.linked_family[0]), content.linked_family[1])]
    else:
        family_choices = [
            (forms.NEW_FAMILY, "A new family"),
            *((str(fid), label) for fid, label in content.families),
            (forms.BY_REFERENCE, "Another family, by its reference"),
        ]
    form.family.choices = forms.choices(family_choices)
    if formdata is None:
        form.version.data = content.version
        if content.linked_family is not None:
            form.family.data = str(content.linked_family[0])
        subject = next((p for p in content.people if p.ordinal == 0), None)
        if subject is not None and content.route_criterion:
            getattr(form, forms.criteria_field_name(subject.id)).data = [content.route_criterion]
    return form


def _family_choice(form: forms.AcceptForm) -> accept.FamilyChoice:
    if form.family.data == forms.NEW_FAMILY:
        return accept.FamilyChoice(new=True)
    if form.family.data == forms.BY_REFERENCE:
        return accept.FamilyChoice(reference=form.family_reference.data)
    return accept.FamilyChoice(family_id=_uuid(form.family.data))


@bp.route("/nominations/<uuid:nomination_id>/accept", methods=["GET", "POST"])
@requires(Role.COORDINATOR)
@commits
def accept_nomination(nomination_id: uuid.UUID) -> ResponseReturnValue:
    """Accept a nomination: choose the family and record the criteria each person meets."""
    session, ctx, framework = db.session(), access_context(), current_framework()
    content = accept.get_acceptance_for(session, ctx, nomination_id, framework)
    form = _accept_form(content, request.form if request.method == "POST" else None)
    if request.method == "GET":
        return render_template("triage/accept_nomination.html", form=form, nomination=content)
    if form.validate_on_submit():
        try:
            accept.accept_nomination(
                session,
                ctx,
                nomination_id,
                framework,
                version=form.version.data,
                family=_family_choice(form),
                criteria=form.chosen_criteria(),
            )
        except TriageError as exc:
            if exc.status == 404:
                raise
            _show_error(form, exc, "family")
            status = exc.status
        else:
            flash("Nomination accepted. Check the family's eligibility, then assign a lead professional.", "success")
            return redirect(url_for("triage.show_family", nomination_id=nomination_id))
    else:
        status = 400

    def render() -> str:
        fresh = accept.get_acceptance_for(db.session(), access_context(), nomination_id, current_framework())
        _refresh_version(form, fresh.version)
        return render_template("triage/accept_nomination.html", form=form, nomination=fresh)

    return _failed(render, status)


# ------------------------------------------------------------------------------------ the family


def _setup(nomination_id: uuid.UUID, action: TriageAction, page: str) -> family.FamilySetup:
    return family.get_family_setup_for(
        db.session(), access_context(), nomination_id, current_framework(), page=page, action=action
    )


@bp.get("/nominations/<uuid:nomination_id>/family")
@requires(Role.COORDINATOR)
@commits
def show_family(nomination_id: uuid.UUID) -> ResponseReturnValue:
    """Show the accepted family: members, criteria met, eligibility, lead professional, notices, flags."""
    setup = _setup(nomination_id, TriageAction.VIEW_NOMINATION, "family")
    return render_template("triage/show_family.html", setup=setup)


def _post_acceptance(
    nomination_id: uuid.UUID,
    form: forms.VersionedForm,
    template: str,
    action: TriageAction,
    page: str,
    fallback: str,
    apply: Callable[[], None],
    done: str,
    prepare: Callable[[forms.VersionedForm, family.FamilySetup], None],
) -> ResponseReturnValue:
    """The shape every step after acceptance shares: load (gated, logged), validate, apply, redirect."""
    if request.method == "POST" and form.validate_on_submit():
        try:
            apply()
        except TriageError as exc:
            if exc.status == 404:
                raise
            _show_error(form, exc, fallback)
            status = exc.status
        else:
            flash(done, "success")
            return redirect(url_for("triage.show_family", nomination_id=nomination_id))
    else:
        status = 400 if request.method == "POST" else 200

    def render() -> str:
        setup = _setup(nomination_id, action, page)
        prepare(form, setup)
        if request.method == "GET" or status != 200:
            _refresh_version(form, setup.version)
        return render_template(template, form=form, setup=setup)

    if status >= 400:
        return _failed(render, status)
    return render()


def _lead_choices(form: forms.VersionedForm, setup: family.FamilySetup) -> None:
    assert isinstance(form, forms.LeadProfessionalForm)
    form.lead.choices = forms.choices(
        [("", "Choose a practitioner"), *((c.value, c.label) for c in setup.lead_choices)]
    )
    if request.method == "GET" and setup.lead_id:
        form.lead.data = str(setup.lead_id)


@bp.route("/nominations/<uuid:nomination_id>/lead-professional", methods=["GET", "POST"])
@requires(Role.COORDINATOR)
@commits
def assign_lead_professional(nomination_id: uuid.UUID) -> ResponseReturnValue:
    """Choose the family's lead professional."""
    form = forms.LeadProfessionalForm()
    return _post_acceptance(
        nomination_id,
        form,
        "triage/assign_lead_professional.html",
        TriageAction.ASSIGN_LEAD_PROFESSIONAL,
        "lead-professional",
        "lead",
        lambda: family.assign_lead_professional(
            db.session(), access_context(), nomination_id, _require_uuid(form.lead.data), version=form.version.data
        ),
        "Lead professional assigned",
        _lead_choices,
    )


def _require_uuid(value: str | None) -> uuid.UUID:
    found = _uuid(value)
    if found is None:
        abort(400)
    return found


def _notice_choices(form: forms.VersionedForm, setup: family.FamilySetup) -> None:
    assert isinstance(form, forms.NoticeForm)
    form.notice_version.choices = forms.choices([(c.value, c.label) for c in setup.notice_versions])
    form.members.choices = forms.choices([(str(m.person_id), m.name) for m in setup.members])
    form.given_by.choices = forms.choices(
        [(c.value, c.label) for c in family.lead_and_coordinator(setup, access_context())]
    )
    if request.method == "GET":
        form.members.data = [str(m.person_id) for m in setup.members]
        form.given_on.data = date.today()


@bp.route("/nominations/<uuid:nomination_id>/notice", methods=["GET", "POST"])
@requires(Role.COORDINATOR)
@commits
def record_notice(nomination_id: uuid.UUID) -> ResponseReturnValue:
    """Record the fair processing notice given to the family: version, members, date, how, by whom."""
    form = forms.NoticeForm()
    return _post_acceptance(
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
            version=form.version.data,
            notice_version_id=_require_uuid(form.notice_version.data),
            member_ids=[_require_uuid(m) for m in form.members.data],
            given_on=form.given_on.data,
            method=family.NoticeMethod(form.method.data),
            given_by_id=_require_uuid(form.given_by.data),
        ),
        "Fair processing notice recorded",
        _notice_choices,
    )


def _flag_defaults(form: forms.VersionedForm, setup: family.FamilySetup) -> None:
    assert isinstance(form, forms.FlagsForm)
    if request.method == "GET":
        form.review_on.data = setup.default_review_on
        form.ends_on.data = setup.default_ends_on
        form.family_told.data = any(m.notice_given for m in setup.members if m.nominated_here)


@bp.route("/nominations/<uuid:nomination_id>/flags", methods=["GET", "POST"])
@requires(Role.COORDINATOR)
@commits
def raise_flags(nomination_id: uuid.UUID) -> ResponseReturnValue:
    """Raise flags for the nominated members, so the organisations that serve them can see them."""
    form = forms.FlagsForm()
    return _post_acceptance(
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
            version=form.version.data,
            review_on=form.review_on.data,
            ends_on=form.ends_on.data,
            family_told=bool(form.family_told.data),
        ),
        "Flags raised",
        _flag_defaults,
    )
