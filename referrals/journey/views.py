"""The nomination journey's pages: one question per page, check answers, confirmation, "Your nominations".

Each view parses its form and calls one or two service functions (``referrals.journey.service``),
which go through the gate; the framework comes from the running app. A GET changes nothing but the
access log; every answer is saved into the draft by the POST that carries it.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from portal import db
from portal.auth.rules import Role, requires
from portal.db import commits
from portal.gate import AccessDenied, access_context
from portal.kit.pages import failed_page
from referrals.journey import forms, pages, service
from referrals.setup import current_framework

bp = Blueprint("nominations", __name__, url_prefix="/nominations")


def _about_a_nomination(rule: str, *methods: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Route a practitioner's page about one nomination, in one transaction (``commits``), with the
    nomination passing the gate first: every such page, even a blank question or a form sent back
    with errors, refuses another organisation's nomination or an id that names nothing (logged)."""

    def route(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def checked(nomination_id: uuid.UUID, **kwargs: Any) -> Any:
            service.check_nomination(db.session(), access_context(), nomination_id, page=view.__name__)
            return view(nomination_id, **kwargs)

        return bp.route(rule, methods=list(methods))(requires(Role.PRACTITIONER)(commits(checked)))

    return route


def home_updates(session: Any, user: Any) -> list[service.Update]:
    """The home page's banner: a practitioner's nominations whose status changed since they last looked."""
    return service.unseen_updates(session, user.id) if Role.PRACTITIONER in user.roles else []


@bp.errorhandler(AccessDenied)
def _refused(exc: AccessDenied) -> ResponseReturnValue:
    return render_template("nominations/refused.html", decision=exc.decision), 403


@bp.errorhandler(service.NotADraft)
def _not_a_draft(exc: service.NotADraft) -> ResponseReturnValue:
    # end the transaction first: the session store writes the flashed message on its own connection,
    # which would wait on this request's uncommitted log entry (SQLite's write lock) for ever
    db.session().rollback()
    flash(f"This nomination has been sent (reference {exc.reference}), so its answers can no longer be changed.")
    return redirect(url_for("nominations.show_nomination", nomination_id=exc.nomination_id))


@bp.errorhandler(service.MemberNotFound)
def _no_member(_exc: service.MemberNotFound) -> ResponseReturnValue:
    db.session().rollback()
    return render_template("errors/404.html"), 404


# ------------------------------------------------------------------------------ starting


@bp.get("")
@requires(Role.PRACTITIONER)
@commits
def list_nominations() -> ResponseReturnValue:
    """List the organisation's nominations and the user's drafts, with what changed since last time."""
    items = service.list_nominations(db.session(), access_context(), current_framework())
    return render_template("nominations/list.html", items=items, seen_form=forms.SeenForm(), endpoints=pages.ENDPOINTS)


@bp.get("/start")
@requires(Role.PRACTITIONER)
def start_nomination() -> ResponseReturnValue:
    """Explain what a nomination is and what the user will be asked."""
    return render_template("nominations/start.html")


@bp.route("/new", methods=["GET", "POST"])
@requires(Role.PRACTITIONER)
@commits
def new_nomination() -> ResponseReturnValue:
    """Ask the first question; "no" starts the draft, "yes" sends the user to call for help now."""
    form = forms.ImmediateRiskForm()
    if request.method == "GET":
        form.draft_id.data = str(uuid.uuid4())
    elif form.validate():
        draft_id = service.start_draft(
            db.session(),
            access_context(),
            current_framework(),
            form.draft_uuid or uuid.uuid4(),  # a missing or malformed id: a new draft
            immediate_risk=form.immediate_risk.data == "yes",
        )
        if draft_id is None:
            return redirect(url_for("nominations.contact_now"))
        return redirect(pages.page_url(draft_id, "route"))
    if form.draft_uuid is None:
        form.draft_id.data = str(uuid.uuid4())
    status = 400 if form.errors else 200
    return render_template(
        "nominations/immediate_risk.html", form=form, back=url_for("nominations.start_nomination")
    ), status


@bp.get("/contact-now")
@requires(Role.PRACTITIONER)
def contact_now() -> ResponseReturnValue:
    """Tell the user whom to call now when someone is at immediate risk; the journey stops here."""
    return render_template("nominations/contact_now.html")


# ------------------------------------------------------------------------------ questions


@_about_a_nomination("/<uuid:nomination_id>/immediate-risk", "GET", "POST")
def immediate_risk(nomination_id: uuid.UUID) -> ResponseReturnValue:
    """Change the answer to the first question of a draft."""
    back = (
        pages.back_to(nomination_id, service.CHECK_ANSWERS)
        if pages.changing()
        else url_for("nominations.list_nominations")
    )
    if request.method == "POST":
        form = forms.ImmediateRiskForm()
        if form.validate():
            at_risk = form.immediate_risk.data == "yes"
            service.save_immediate_risk(db.session(), access_context(), nomination_id, immediate_risk=at_risk)
            return redirect(url_for("nominations.contact_now")) if at_risk else pages.go_on(nomination_id, "route")
        return render_template("nominations/immediate_risk.html", form=form, back=back), 400
    draft = service.get_draft_for(
        db.session(), access_context(), current_framework(), nomination_id, page="immediate-risk"
    )
    form = forms.ImmediateRiskForm(data={"immediate_risk": "no" if draft.no_immediate_risk else "yes"})
    return render_template("nominations/immediate_risk.html", form=form, back=back)


@_about_a_nomination("/<uuid:nomination_id>/route", "GET", "POST")
def choose_route(nomination_id: uuid.UUID) -> ResponseReturnValue:
    """Ask which equivalent-concern route the nomination is under (only the sector's are offered)."""
    back = pages.back_to(nomination_id, "immediate-risk")
    if request.method == "POST":
        form, routes = pages.route_form(forms.RouteForm())
        if form.validate():
            service.choose_route(db.session(), access_context(), current_framework(), nomination_id, form.route.data)
            return pages.go_on(nomination_id, "person")
        return render_template("nominations/route.html", form=form, routes=routes, back=back), 400
    draft = service.get_draft_for(db.session(), access_context(), current_framework(), nomination_id, page="route")
    form, routes = pages.route_form(forms.RouteForm(data={"route": draft.route_key or None}))
    return render_template("nominations/route.html", form=form, routes=routes, back=back)


@_about_a_nomination("/<uuid:nomination_id>/person", "GET", "POST")
def edit_person(nomination_id: uuid.UUID) -> ResponseReturnValue:
    """Ask for the person the concern is about."""
    ctx = access_context()
    back = pages.back_to(nomination_id, "route")
    if request.method == "POST":
        form = forms.PersonForm(today=ctx.today)
        if form.validate():
            service.save_person(db.session(), ctx, nomination_id, pages.person_answers(form, "subject"))
            return pages.go_on(nomination_id, "household")
        return render_template("nominations/person.html", form=form, back=back), 400
    draft = service.get_draft_for(db.session(), ctx, current_framework(), nomination_id, page="person")
    form = forms.PersonForm(data=pages.person_data(draft.subject), today=ctx.today)
    return render_template("nominations/person.html", form=form, back=back)


@_about_a_nomination("/<uuid:nomination_id>/household", "GET", "POST")
def household(nomination_id: uuid.UUID) -> ResponseReturnValue:
    """List the household members added so far and ask whether to add another."""
    draft = service.get_draft_for(db.session(), access_context(), current_framework(), nomination_id, page="household")
    form = forms.AddAnotherForm()
    full = len(draft.members) >= service.MAX_MEMBERS
    if request.method == "POST" and (full or form.validate()):
        if form.add_another.data == "yes" and not full:
            return redirect(
                url_for("nominations.add_member", nomination_id=nomination_id, change=request.args.get("change"))
            )
        return pages.go_on(nomination_id, "concern")
    return pages.draft_page(
        lambda: render_template(
            "nominations/household.html",
            form=form,
            draft=draft,
            max_members=service.MAX_MEMBERS,
            back=pages.back_to(nomination_id, "person"),
        ),
        failed=bool(form.errors),
    )


@_about_a_nomination("/<uuid:nomination_id>/household/add", "GET", "POST")
def add_member(nomination_id: uuid.UUID) -> ResponseReturnValue:
    """Ask for another member of the household."""
    return pages.member_page(nomination_id, None)


@_about_a_nomination("/<uuid:nomination_id>/household/<int:ordinal>", "GET", "POST")
def change_member(nomination_id: uuid.UUID, ordinal: int) -> ResponseReturnValue:
    """Change what was said about a household member."""
    return pages.member_page(nomination_id, ordinal)


@_about_a_nomination("/<uuid:nomination_id>/household/<int:ordinal>/remove", "GET", "POST")
def remove_member(nomination_id: uuid.UUID, ordinal: int) -> ResponseReturnValue:
    """Ask whether to remove a household member, and remove them."""
    back = url_for("nominations.household", nomination_id=nomination_id, change=request.args.get("change"))
    form = forms.RemoveMemberForm()
    if request.method == "POST" and form.validate():
        if form.remove.data == "yes":
            service.remove_member(db.session(), access_context(), nomination_id, ordinal)
        return redirect(back)
    draft = service.get_draft_for(db.session(), access_context(), current_framework(), nomination_id, page="household")
    member = draft.member(ordinal)
    return pages.draft_page(
        lambda: render_template("nominations/remove_member.html", form=form, member=member, back=back),
        failed=bool(form.errors),
    )


@_about_a_nomination("/<uuid:nomination_id>/concern", "GET", "POST")
def edit_concern(nomination_id: uuid.UUID) -> ResponseReturnValue:
    """Ask what the nominator is worried about, in their own words."""
    return pages.question(
        nomination_id,
        page="concern",
        form_class=forms.ConcernForm,
        field="concern",
        save=service.save_concern,
        template="nominations/concern.html",
        back="household",
        onward="tried",
    )


@_about_a_nomination("/<uuid:nomination_id>/tried", "GET", "POST")
def edit_tried(nomination_id: uuid.UUID) -> ResponseReturnValue:
    """Ask what the organisation has already tried."""
    return pages.question(
        nomination_id,
        page="tried",
        form_class=forms.TriedForm,
        field="tried",
        save=service.save_tried,
        template="nominations/tried.html",
        back="concern",
        onward="family-told",
    )


@_about_a_nomination("/<uuid:nomination_id>/family-told", "GET", "POST")
def family_told(nomination_id: uuid.UUID) -> ResponseReturnValue:
    """Ask whether the family has been told and given the fair processing notice."""
    back = pages.back_to(nomination_id, "tried")
    if request.method == "POST":
        form = forms.FamilyToldForm()
        if form.validate():
            needs_reason = service.save_family_told(
                db.session(), access_context(), nomination_id, form.family_told.data
            )
            if needs_reason:
                return redirect(pages.page_url(nomination_id, "why-not-told", change=request.args.get("change")))
            return redirect(pages.page_url(nomination_id, service.CHECK_ANSWERS))
        return render_template("nominations/family_told.html", form=form, back=back), 400
    draft = service.get_draft_for(
        db.session(), access_context(), current_framework(), nomination_id, page="family-told"
    )
    form = forms.FamilyToldForm(data={"family_told": draft.family_told})
    return render_template("nominations/family_told.html", form=form, back=back)


@_about_a_nomination("/<uuid:nomination_id>/why-not-told", "GET", "POST")
def why_not_told(nomination_id: uuid.UUID) -> ResponseReturnValue:
    """Ask why the family has not been told, or not given the notice."""
    return pages.question(
        nomination_id,
        page="why-not-told",
        form_class=forms.NotToldReasonForm,
        field="not_told_reason",
        save=service.save_not_told_reason,
        template="nominations/why_not_told.html",
        back="family-told",
        onward=service.CHECK_ANSWERS,
    )


# ------------------------------------------------------------------------------ sending


@_about_a_nomination("/<uuid:nomination_id>/check-answers", "GET", "POST")
def check_answers(nomination_id: uuid.UUID) -> ResponseReturnValue:
    """Show every answer with a way to change it, and send the nomination (exactly once)."""
    ctx = access_context()
    form = forms.SubmitForm()
    problems: list[service.Problem] = []
    if request.method == "POST" and form.validate():
        try:
            sent = service.submit_nomination(
                db.session(), ctx, current_framework(), nomination_id, version=form.version_number
            )
        except service.AlreadySubmitted as exc:
            return render_template(
                "nominations/already_sent.html", reference=exc.reference, nomination_id=nomination_id
            ), 409
        except service.StaleDraft:
            return render_template("nominations/stale.html", nomination_id=nomination_id), 409
        except service.Incomplete as exc:
            db.session().rollback()
            problems = exc.problems
        else:
            return redirect(url_for("nominations.show_confirmation", nomination_id=sent.nomination_id))
    draft = service.get_draft_for(db.session(), ctx, current_framework(), nomination_id, page=service.CHECK_ANSWERS)
    form.version.data = str(draft.version)
    return pages.draft_page(
        lambda: render_template(
            "nominations/check_answers.html",
            draft=draft,
            form=form,
            problems=problems,
            endpoints=pages.ENDPOINTS,
            back=pages.page_url(nomination_id, "why-not-told" if draft.needs_reason else "family-told"),
        ),
        failed=bool(problems or form.errors),
    )


@_about_a_nomination("/<uuid:nomination_id>/confirmation", "GET")
def show_confirmation(nomination_id: uuid.UUID) -> ResponseReturnValue:
    """Confirm the nomination was sent, with its reference."""
    nomination = service.get_nomination_for(
        db.session(), access_context(), current_framework(), nomination_id, page="confirmation"
    )
    if nomination.draft:
        return redirect(pages.page_url(nomination_id, service.CHECK_ANSWERS))
    return render_template(
        "nominations/confirmation.html", nomination=nomination, linked_message=service.LINKED_MESSAGE
    )


# ------------------------------------------------------------------------------ following


@_about_a_nomination("/<uuid:nomination_id>", "GET")
def show_nomination(nomination_id: uuid.UUID) -> ResponseReturnValue:
    """Show what was sent, its status and the messages shared with the nominator (never the family's file)."""
    nomination = service.get_nomination_for(db.session(), access_context(), current_framework(), nomination_id)
    if nomination.draft:
        return redirect(pages.page_url(nomination_id, service.next_page(nomination)))
    form = forms.GiveInformationForm(data={"version": str(nomination.version)})
    return render_template("nominations/show.html", nomination=nomination, form=form)


@_about_a_nomination("/<uuid:nomination_id>/reply", "POST")
def give_information(nomination_id: uuid.UUID) -> ResponseReturnValue:
    """Answer the council's request for more information."""
    form = forms.GiveInformationForm()
    if form.validate():
        try:
            service.give_information(
                db.session(), access_context(), nomination_id, version=form.version_number, message=form.message.data
            )
        except service.StalePage:
            return render_template("nominations/stale_reply.html", nomination_id=nomination_id), 409
        flash("Your answer has been sent to the Supporting Families team.", "success")
        return redirect(url_for("nominations.show_nomination", nomination_id=nomination_id))
    nomination = service.get_nomination_for(db.session(), access_context(), current_framework(), nomination_id)
    return failed_page(lambda: render_template("nominations/show.html", nomination=nomination, form=form), 400)


@_about_a_nomination("/<uuid:nomination_id>/open", "POST")
def open_nomination(nomination_id: uuid.UUID) -> ResponseReturnValue:
    """Open an updated nomination: its updates stop being news (a POST, because a GET changes nothing)."""
    if forms.SeenForm().validate():
        service.mark_seen(db.session(), access_context(), nomination_id)
    return redirect(url_for("nominations.show_nomination", nomination_id=nomination_id))
