"""Every route that shows personal data goes through the gate: calling it leaves an access-log entry.

Blueprints are classified: a new blueprint must be added to one list or the other, so nobody can add
pages about families without this test calling them.
"""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import func, select, text

from portal import db
from portal.families import service
from portal.families.models import FamilyMember, Person
from portal.gate import AccessContext
from portal.organisations.models import User
from referrals.journey import service as nominations
from referrals.models import NominationStatus
from tests.builders import create_nomination
from tests.signin import dev_sign_in

#: blueprints whose pages show people, families, flags or the log (which names people), and who calls them
PERSONAL_DATA = {
    "families": "gp.practitioner",
    "audit": "sf.dpo",
    "nominations": "gp.practitioner",
    "triage": "sf.coordinator",
}
#: blueprints that show no personal data about families
NO_PERSONAL_DATA = {"main", "auth", "dev_idp", "govuk"}
#: GET pages in personal-data blueprints that show none themselves (a form to fill in)
FORMS_ONLY = {
    "families.start_break_glass",
    "audit.check_access_log_integrity",
    # the nomination journey's start page, its first question (no draft exists yet), the page that says
    # whom to call when someone is at immediate risk, and the blank form for another household member
    "nominations.start_nomination",
    "nominations.new_nomination",
    "nominations.contact_now",
    "nominations.add_member",
}
#: triage pages about an accepted nomination's family (the others are about an open nomination)
ACCEPTED_NOMINATION_PAGES = {
    "triage.show_family",
    "triage.assign_lead_professional",
    "triage.record_notice",
    "triage.raise_flags",
}


def _entries(app) -> int:
    with app.app_context():
        return db.session().execute(text("SELECT count(*) FROM access_log_entry")).scalar_one()


def _params(app) -> dict[str, object]:
    with app.app_context():
        session = db.session()
        kelly = next(p for p in session.scalars(select(Person)) if p.full_name == "Kelly Brown")
        user = session.scalar(select(User).where(User.subject == "gp.practitioner"))
        ctx = AccessContext(user.id, user.organisation_id, "gp_practice", frozenset({"practitioner"}), "t")
        grant = service.start_break_glass(session, ctx, kelly.nhs_number, "Child at risk tonight, no answer at home")
        session.commit()
        draft_id = _a_draft_with_a_household_member(app, session, ctx)
        family_id = session.scalar(select(FamilyMember.family_id).where(FamilyMember.person_id == kelly.id))
        open_nomination = create_nomination(session)
        accepted = create_nomination(session, status=NominationStatus.ACCEPTED, family_id=family_id)
        session.commit()
        seq = session.execute(select(func.max(text("seq"))).select_from(text("access_log_entry"))).scalar() or 1
        return {
            "person_id": kelly.id,
            "grant_id": grant.id,
            "seq": seq,
            "ordinal": 1,
            # by blueprint: the partner's own draft, the coordinator's open and accepted nominations
            "nominations.nomination_id": draft_id,
            "triage.nomination_id": open_nomination.id,
            "triage.accepted_nomination_id": accepted.id,
        }


def _a_draft_with_a_household_member(app, session, ctx: AccessContext) -> uuid.UUID:
    framework = app.extensions["framework"]
    route = next(r for r in framework.routes_for("gp_practice") if r.category == "health")
    draft_id = nominations.start_draft(session, ctx, framework, uuid.uuid4(), immediate_risk=False)
    nominations.choose_route(session, ctx, framework, draft_id, route.key)
    nominations.save_person(session, ctx, draft_id, nominations.PersonAnswers("Alex", "Gate", date(2016, 5, 1)))
    nominations.add_member(session, ctx, draft_id, nominations.PersonAnswers("Sam", "Gate", None, role="parent_carer"))
    session.commit()
    return draft_id


def _values(params: dict[str, object], endpoint: str, arguments: set[str]) -> dict[str, object]:
    blueprint = endpoint.split(".")[0]
    values = {arg: params.get(f"{blueprint}.{arg}", params.get(arg)) for arg in arguments}
    if endpoint in ACCEPTED_NOMINATION_PAGES:
        values["nomination_id"] = params["triage.accepted_nomination_id"]
    return values


def test_every_blueprint_is_classified(app):
    blueprints = {rule.endpoint.split(".")[0] for rule in app.url_map.iter_rules() if rule.endpoint != "static"}
    unclassified = blueprints - set(PERSONAL_DATA) - NO_PERSONAL_DATA
    assert not unclassified, f"classify these blueprints in {__name__}: {sorted(unclassified)}"


def test_every_personal_data_page_leaves_an_access_log_entry(live_app):
    app = live_app.app
    dev_sign_in(live_app.url, "gp.practitioner")  # something in the log, so an entry number exists
    params = _params(app)
    sessions = {subject: dev_sign_in(live_app.url, subject)[0] for subject in set(PERSONAL_DATA.values())}
    checked = []
    for rule in app.url_map.iter_rules():
        blueprint = rule.endpoint.split(".")[0]
        if blueprint not in PERSONAL_DATA or "GET" not in rule.methods or rule.endpoint in FORMS_ONLY:
            continue
        with app.test_request_context():
            url = app.url_for(rule.endpoint, **_values(params, rule.endpoint, set(rule.arguments)))
        before = _entries(app)
        response = sessions[PERSONAL_DATA[blueprint]].get(live_app.url + url, timeout=10)
        assert response.status_code == 200, (url, response.status_code)
        assert _entries(app) > before, f"{rule.endpoint} showed a page without writing an access-log entry"
        checked.append(rule.endpoint)
    assert {"families.list_flags", "families.show_flag", "audit.search_access_log"} <= set(checked)
    assert {"nominations.list_nominations", "nominations.check_answers", "nominations.remove_member"} <= set(checked)
    assert {"triage.list_nominations", "triage.show_nomination", "triage.show_family"} <= set(checked)
    assert uuid.UUID(str(params["grant_id"]))
