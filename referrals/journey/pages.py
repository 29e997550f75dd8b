"""How the journey's pages are drawn and where they lead: the helpers behind
``referrals/journey/views.py``, which keeps the routes (each a practitioner's, in one transaction,
about a nomination that has passed the gate).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from flask import redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from portal import db
from portal.gate import access_context
from portal.kit.pages import failed_page
from referrals.journey import forms, service
from referrals.setup import current_framework

#: the question pages' endpoints, by the page names the service and the log use
ENDPOINTS = {
    "immediate-risk": "nominations.immediate_risk",
    "route": "nominations.choose_route",
    "person": "nominations.edit_person",
    "household": "nominations.household",
    "concern": "nominations.edit_concern",
    "tried": "nominations.edit_tried",
    "family-told": "nominations.family_told",
    "why-not-told": "nominations.why_not_told",
    service.CHECK_ANSWERS: "nominations.check_answers",
}


def draft_page(render: Callable[[], str], *, failed: bool) -> ResponseReturnValue:
    """A page that read the draft through the gate: a 400 with the form to correct keeps its log entry."""
    return failed_page(render, 400) if failed else render()


def page_url(nomination_id: uuid.UUID, page: str, **args: Any) -> str:
    return url_for(ENDPOINTS[page], nomination_id=nomination_id, **args)


def changing() -> bool:
    """Whether the user came from check answers to change one answer (and goes back there after)."""
    return request.args.get("change") == "1"


def go_on(nomination_id: uuid.UUID, page: str) -> ResponseReturnValue:
    return redirect(page_url(nomination_id, service.CHECK_ANSWERS if changing() else page))


def back_to(nomination_id: uuid.UUID, page: str) -> str:
    return page_url(nomination_id, service.CHECK_ANSWERS if changing() else page)


def question(
    nomination_id: uuid.UUID,
    *,
    page: str,
    form_class: type[forms.FlaskForm],
    field: str,
    save: Callable[..., Any],
    template: str,
    back: str,
    onward: str,
) -> ResponseReturnValue:
    """A page asking one free-text question of the draft: show it filled in, or save it and go on."""
    if request.method == "POST":
        form = form_class()
        if form.validate():
            save(db.session(), access_context(), nomination_id, getattr(form, field).data)
            return go_on(nomination_id, onward)
        return render_template(template, form=form, nomination_id=nomination_id, back=back_to(nomination_id, back)), 400
    draft = service.get_draft_for(db.session(), access_context(), current_framework(), nomination_id, page=page)
    form = form_class(data={field: getattr(draft, field)})
    return render_template(template, form=form, nomination_id=nomination_id, back=back_to(nomination_id, back))


def route_form(form: forms.RouteForm) -> tuple[forms.RouteForm, list[Any]]:
    framework = current_framework()
    routes = framework.routes_for(access_context().organisation_kind)
    form.offer([(r.key, r.title) for r in routes], [r.key for r in framework.routes])
    return form, list(routes)


def person_answers(form: forms.PersonForm | forms.MemberForm, role: str) -> service.PersonAnswers:
    return service.PersonAnswers(
        given_name=form.given_name.data,
        family_name=form.family_name.data,
        date_of_birth=form.date_of_birth.data,
        nhs_number=form.nhs_number.data or None,
        upn=form.upn.data or None,
        postcode=form.postcode.data or None,
        role=role,
    )


def person_data(person: service.PersonView | None) -> dict[str, Any]:
    if person is None:
        return {}
    return {
        "given_name": person.given_name,
        "family_name": person.family_name,
        "date_of_birth": person.date_of_birth,
        "nhs_number": person.nhs_number,
        "upn": person.upn,
        "postcode": person.postcode,
        "role": person.role,
    }


def member_page(nomination_id: uuid.UUID, ordinal: int | None) -> ResponseReturnValue:
    ctx = access_context()
    back = url_for("nominations.household", nomination_id=nomination_id, change=request.args.get("change"))
    if request.method == "POST":
        form = forms.MemberForm(today=ctx.today)
        if form.validate():
            answers = person_answers(form, form.role.data)
            try:
                if ordinal is None:
                    service.add_member(db.session(), ctx, nomination_id, answers)
                else:
                    service.change_member(db.session(), ctx, nomination_id, ordinal, answers)
            except service.TooManyMembers:
                db.session().rollback()
                form.given_name.errors = [f"You can add up to {service.MAX_MEMBERS} household members"]
                return render_template("nominations/member.html", form=form, back=back, ordinal=ordinal), 400
            return redirect(back)
        return render_template("nominations/member.html", form=form, back=back, ordinal=ordinal), 400
    data: dict[str, Any] = {}
    if ordinal is not None:
        draft = service.get_draft_for(db.session(), ctx, current_framework(), nomination_id, page="household")
        data = person_data(draft.member(ordinal))
    form = forms.MemberForm(data=data, today=ctx.today)
    return render_template("nominations/member.html", form=form, back=back, ordinal=ordinal)
