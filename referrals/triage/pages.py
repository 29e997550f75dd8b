"""How each triage page is drawn from what a service returned, and how a failed one answers: the
helpers behind ``referrals/triage/views.py``, which keeps only the routes.

A page that failed (a form error, a stale version) still shows personal data, so it is drawn after the
failed change is rolled back and its own access is committed before the 4xx goes out: the page kit's
``failed_page``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from werkzeug.datastructures import MultiDict

from portal import db
from portal.gate import access_context
from portal.kit.pages import failed_page
from referrals.labels import STATUS_LABELS
from referrals.setup import current_framework
from referrals.triage import accept, family, forms, queue, service
from referrals.triage.core import STATUS_CHOICES, TriageError
from sharing_protocols.policy import TriageAction


def show_error(form: FlaskForm, exc: TriageError, fallback: str) -> None:
    """Put a service's refusal beside the field it is about (or the form's main field)."""
    name = exc.field if exc.field and exc.field in form._fields else fallback
    form[name].errors = [*form[name].errors, exc.message]


def queue_form(organisations: list[tuple[uuid.UUID, str]]) -> forms.QueueFiltersForm:
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


def shaped(probe: forms.QueueFiltersForm) -> bool:
    """Whether every filter is one the page offers (the organisation: any id, judged after the listing)."""
    offered = [field.validate(probe) for field in (probe.route, probe.age, probe.status)]
    organisation = probe.organisation.data or ""
    if organisation and parse_uuid(organisation) is None:
        probe.organisation.errors = ["Choose an organisation from the list"]
        return False
    return all(offered)


def parse_uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


def nomination_page(nomination_id: uuid.UUID, errors: list[dict[str, str]] | None = None) -> str:
    nomination = service.get_nomination_for(db.session(), access_context(), nomination_id, current_framework())
    return render_template("triage/show_nomination.html", nomination=nomination, errors=errors or [])


def summary(nomination_id: uuid.UUID, action: TriageAction, page: str) -> service.NominationSummary:
    return service.get_nomination_summary_for(
        db.session(), access_context(), nomination_id, current_framework(), action=action, page=page
    )


@dataclass(frozen=True)
class Message:
    """A page where the coordinator writes to the nominator and changes the nomination's state."""

    form: type[forms.VersionedForm]
    field: str
    send: Callable[..., Any]
    action: TriageAction
    page: str
    template: str
    sent: str


ASK = Message(
    forms.RequestInformationForm,
    "message",
    service.request_information,
    TriageAction.REQUEST_INFORMATION,
    "request-information",
    "triage/request_information.html",
    "Your message has been sent to the nominator",
)


DECLINE = Message(
    forms.DeclineForm,
    "reason",
    service.decline_nomination,
    TriageAction.DECLINE_NOMINATION,
    "decline",
    "triage/decline_nomination.html",
    "The nomination has not been accepted. The nominator can see your reason.",
)


def message_page(nomination_id: uuid.UUID, kind: Message) -> ResponseReturnValue:
    """Show the form; or send the message (the service changes the state), or show why it was not sent."""
    form = kind.form()
    status = 200
    if form.validate_on_submit():
        text = getattr(form, kind.field).data
        try:
            kind.send(db.session(), access_context(), nomination_id, text, version=form.version_number)
        except TriageError as exc:
            show_error(form, exc, kind.field)
            status = exc.status
        else:
            flash(kind.sent, "success")
            return redirect(url_for("triage.show_nomination", nomination_id=nomination_id))
    elif form.is_submitted():
        status = 400
    return form_page(kind.template, form, status, lambda: summary(nomination_id, kind.action, kind.page))


def form_page(
    template: str, form: forms.VersionedForm, status: int, load: Callable[[], Any], **extra: Any
) -> ResponseReturnValue:
    """Render a form page: on GET with the version shown; after a failure, logged and committed."""

    def render() -> str:
        content = load()
        if request.method == "GET" or status != 200:
            form.show_version(content.version)
        return render_template(template, form=form, nomination=content, **extra)

    if status >= 400:
        return failed_page(render, status, undo_changes=True)
    return render()


def accept_form_for(content: accept.Acceptance, formdata: MultiDict[str, str] | None) -> forms.AcceptForm:
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
        form.show_version(content.version)
        if content.linked_family is not None:
            form.family.data = str(content.linked_family[0])
        subject = next((p for p in content.people if p.ordinal == 0), None)
        if subject is not None and content.route_criterion:
            getattr(form, forms.criteria_field_name(subject.id)).data = [content.route_criterion]
    return form


def family_choice(form: forms.AcceptForm) -> accept.FamilyChoice:
    if form.family.data == forms.NEW_FAMILY:
        return accept.FamilyChoice(new=True)
    if form.family.data == forms.BY_REFERENCE:
        return accept.FamilyChoice(reference=form.family_reference.data)
    return accept.FamilyChoice(family_id=parse_uuid(form.family.data))


def family_setup(nomination_id: uuid.UUID, action: TriageAction, page: str) -> family.FamilySetup:
    return family.get_family_setup_for(
        db.session(), access_context(), nomination_id, current_framework(), page=page, action=action
    )


def post_acceptance(
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
            show_error(form, exc, fallback)
            status = exc.status
        else:
            flash(done, "success")
            return redirect(url_for("triage.show_family", nomination_id=nomination_id))
    else:
        status = 400 if request.method == "POST" else 200

    def render() -> str:
        setup = family_setup(nomination_id, action, page)
        prepare(form, setup)
        if request.method == "GET" or status != 200:
            form.show_version(setup.version)
        return render_template(template, form=form, setup=setup)

    if status >= 400:
        return failed_page(render, status, undo_changes=True)
    return render()


def lead_choices(form: forms.VersionedForm, setup: family.FamilySetup) -> None:
    assert isinstance(form, forms.LeadProfessionalForm)
    form.lead.choices = forms.choices(
        [("", "Choose a practitioner"), *((c.value, c.label) for c in setup.lead_choices)]
    )
    if request.method == "GET" and setup.lead_id:
        form.lead.data = str(setup.lead_id)


def require_uuid(value: str | None) -> uuid.UUID:
    found = parse_uuid(value)
    if found is None:
        abort(400)
    return found


def notice_choices(form: forms.VersionedForm, setup: family.FamilySetup) -> None:
    assert isinstance(form, forms.NoticeForm)
    form.notice_version.choices = forms.choices([(c.value, c.label) for c in setup.notice_versions])
    form.members.choices = forms.choices([(str(m.person_id), m.name) for m in setup.members])
    form.given_by.choices = forms.choices(
        [(c.value, c.label) for c in family.lead_and_coordinator(setup, access_context())]
    )
    if request.method == "GET":
        form.members.data = [str(m.person_id) for m in setup.members]
        form.given_on.data = date.today()


def flag_defaults(form: forms.VersionedForm, setup: family.FamilySetup) -> None:
    assert isinstance(form, forms.FlagsForm)
    if request.method == "GET":
        form.review_on.data = setup.default_review_on
        form.ends_on.data = setup.default_ends_on
        form.family_told.data = any(m.notice_given for m in setup.members if m.nominated_here)
