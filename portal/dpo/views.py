"""The data protection officer's access log: search, entry detail and the integrity check.

Reading the log is itself an access (the entries name people), so each page goes through the gate
(``LogAction``) and leaves its own entry. The gate also says whose entries the officer may read
(``Permit.log_scope``: every organisation's for the council's officer, their own organisation's for a
partner's), and one entry or emergency access is authorised against the organisation that made it,
exactly as the list that shows it.
"""

from __future__ import annotations

import uuid
from dataclasses import replace

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from wtforms.fields.choices import SelectChoice

from portal import db, gate
from portal.access_log import chain, signing
from portal.access_log.events import EventType
from portal.access_log.search import EntryNotFound, LogFilters, get_entry, search_log
from portal.auth.rules import Role, requires
from portal.db import commits
from portal.dpo.forms import (
    OUTCOME_LABELS,
    IntegrityCheckForm,
    LogSearchForm,
    ReviewForm,
    event_label,
    reason_label,
)
from portal.families import service as families
from portal.gate import LogAction, Seen, access_context
from portal.kit.fields import page_number
from portal.organisations import service as organisations
from sharing_protocols import policy

bp = Blueprint("audit", __name__)
PER_PAGE = 50


@bp.app_template_filter("event_label")
def _event_label(value: str) -> str:
    return event_label(value)


@bp.app_template_filter("reason_label")
def _reason_label(value: str) -> str:
    return reason_label(value)


@bp.app_template_filter("outcome_label")
def _outcome_label(value: str) -> str:
    return OUTCOME_LABELS.get(value, value)


def _filters(form: LogSearchForm) -> tuple[LogFilters | None, str]:
    """Turn the form into filters; None when a person or family named matches nobody (no results)."""
    session = db.session()
    described = []
    person_id = family_id = user_id = None
    if form.person.data:
        found = families.find_person_ids(session, form.person.data)
        if found is None:
            form.person.errors = ["Enter a valid NHS number or UPN"]
            return None, ""
        kind, ids = found
        described.append(f"person by {kind}")
        if not ids:
            return None, ", ".join(described)
        person_id = ids[0]
    if form.family.data:
        family_id = families.find_family_id(session, form.family.data)
        described.append("family")
        if family_id is None:
            return None, ", ".join(described)
    if form.user_email.data:
        user = organisations.find_user_by_email(session, form.user_email.data)
        described.append("user")
        if user is None:
            return None, ", ".join(described)
        user_id = user.id
    for name in ("organisation", "date_from", "date_to", "outcome", "event"):
        if getattr(form, name).data:
            described.append(name)
    filters = LogFilters(
        person_id=person_id,
        family_id=family_id,
        actor_user_id=user_id,
        actor_organisation_id=form.organisation.data or None,
        date_from=form.date_from.data,
        date_to=form.date_to.data,
        outcome=form.outcome.data or None,
        event=form.event.data or None,
    )
    return filters, ", ".join(described) or "none"


@bp.get("/access-log")
@requires(Role.DPO)
@commits
def search_access_log() -> ResponseReturnValue:
    """Search the access log by person, family, user, organisation, dates, outcome and action."""
    session = db.session()
    form = LogSearchForm(request.args)
    form.organisation.choices = [SelectChoice("", "Any organisation")] + [
        SelectChoice(str(o.id), o.name) for o in organisations.list_organisations(session)
    ]
    page = page_number(request.args)
    if request.args and not form.validate():
        return render_template("audit/search.html", form=form, result=None, names={}), 400
    filters, described = _filters(form)
    if form.errors:
        return render_template("audit/search.html", form=form, result=None, names={}), 400
    ctx = access_context()
    detail = {"filters": described or "none", "page": str(page)}
    search = LogAction(policy.Action.SEARCH_ACCESS_LOG)
    permit = gate.authorise(session, ctx, search, attempted=EventType.ACCESS_LOG_SEARCHED, detail=detail)
    if filters and permit.log_scope is not None:
        # a partner's information governance lead sees only their own organisation's accesses
        filters = replace(filters, actor_organisation_id=uuid.UUID(permit.log_scope))
    gate.record(session, ctx, EventType.ACCESS_LOG_SEARCHED, permit, detail=detail)
    result = search_log(session, filters, page=page, per_page=PER_PAGE) if filters else None
    names = {}
    if result:
        names = organisations.names(
            session,
            {e.actor_user_id for e in result.entries if e.actor_user_id},
            {e.actor_organisation_id for e in result.entries if e.actor_organisation_id},
        )
    args = {k: v for k, v in request.args.items() if k != "page"}
    return render_template(
        "audit/search.html", form=form, result=result, names=names, args=args, searched=bool(request.args)
    )


@bp.get("/access-log/<int:seq>")
@requires(Role.DPO)
@commits
def show_access_log_entry(seq: int) -> ResponseReturnValue:
    """Show one entry: who, what, why (the decision's reasons, protocol and notice), from where."""
    session = db.session()
    try:
        entry = get_entry(session, seq)
    except EntryNotFound:
        abort(404)
    ctx = access_context()
    detail = {"entry_seq": str(seq)}
    one = LogAction(policy.Action.SEARCH_ACCESS_LOG, organisation_id=entry.actor_organisation_id, about_one=True)
    permit = gate.authorise(session, ctx, one, attempted=EventType.ACCESS_LOG_ENTRY_VIEWED, detail=detail)
    gate.record(session, ctx, EventType.ACCESS_LOG_ENTRY_VIEWED, permit, detail=detail)
    people, family_refs = families.subject_labels(
        session,
        [s.person_id for s in entry.subjects if s.person_id],
        [s.family_id for s in entry.subjects if s.family_id],
    )
    names = organisations.names(
        session,
        [entry.actor_user_id] if entry.actor_user_id else [],
        [entry.actor_organisation_id] if entry.actor_organisation_id else [],
    )
    return render_template("audit/entry.html", entry=entry, people=people, family_refs=family_refs, names=names)


@bp.route("/access-log/integrity", methods=["GET", "POST"])
@requires(Role.DPO)
@commits
def check_access_log_integrity() -> ResponseReturnValue:
    """Recompute the chain and the signed checkpoints, and say whether the log is intact."""
    form = IntegrityCheckForm()
    report = None
    if form.validate_on_submit():
        session, ctx = db.session(), access_context()
        verify = LogAction(policy.Action.VERIFY_ACCESS_LOG)
        permit = gate.authorise(session, ctx, verify, attempted=EventType.ACCESS_LOG_VERIFIED)
        # verify reads through its own connection, so it sees what is committed, not this transaction
        report = chain.verify(db.engine(), signing.trusted_keys())
        detail = {
            "result": "intact" if report.intact else (report.problem or "broken"),
            "intact_up_to": str(report.intact_up_to),
        }
        gate.record(session, ctx, EventType.ACCESS_LOG_VERIFIED, permit, detail=detail)
    elif request.method == "POST":
        abort(400)
    return render_template("audit/integrity.html", form=form, report=report)


@bp.get("/access-log/break-glass")
@requires(Role.DPO)
@commits
def list_break_glass() -> ResponseReturnValue:
    """List emergency accesses waiting for review (or all of them), with each user's reason."""
    session = db.session()
    ctx = access_context()
    everything = request.args.get("show") == "all"
    detail = {"filters": "break-glass review" + (", including reviewed" if everything else "")}
    search = LogAction(policy.Action.SEARCH_ACCESS_LOG)
    permit = gate.authorise(session, ctx, search, attempted=EventType.ACCESS_LOG_SEARCHED, detail=detail)
    scope = uuid.UUID(permit.log_scope) if permit.log_scope else None
    subjects = families.break_glass_subjects(session, include_reviewed=everything, organisation_id=scope)
    shown = [Seen(person, family or None, policy.Tier.NOTHING) for person, family in subjects]
    gate.record(session, ctx, EventType.ACCESS_LOG_SEARCHED, permit, shown, detail=detail)
    accesses = families.break_glass_accesses(session, include_reviewed=everything, organisation_id=scope)
    return render_template("audit/break_glass.html", accesses=accesses, everything=everything, form=ReviewForm())


@bp.post("/access-log/break-glass/<uuid:grant_id>/reviewed")
@requires(Role.DPO)
@commits
def review_break_glass(grant_id: uuid.UUID) -> ResponseReturnValue:
    """Record that an emergency access has been reviewed."""
    form = ReviewForm()
    if not form.validate_on_submit():
        abort(400)
    session = db.session()
    ctx = access_context()
    detail = {"break_glass_id": str(grant_id)}
    # the grant is checked before anything is written: a 404 leaves no uncommitted entry holding the
    # log's lock while the session store writes on its own connection
    made_by = families.break_glass_awaiting_review(session, grant_id)
    if made_by is None:
        abort(404)
    one = LogAction(policy.Action.SEARCH_ACCESS_LOG, organisation_id=str(made_by), about_one=True)
    permit = gate.authorise(session, ctx, one, attempted=EventType.BREAK_GLASS_REVIEWED, detail=detail)
    if not families.mark_break_glass_reviewed(session, grant_id, ctx.user_id, ctx.at):
        abort(404)
    gate.record(session, ctx, EventType.BREAK_GLASS_REVIEWED, permit, detail=detail)
    flash("Emergency access marked as reviewed", "success")
    return redirect(url_for("audit.list_break_glass"))
