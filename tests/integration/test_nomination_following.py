"""After submission, on SQLite and PostgreSQL under both framework files: "Your nominations", the detail
page through the gate, the thread with the council (the triage side's helpers, the nominator's answer)
and the "updated since you last looked" banner.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from portal.gate import AccessDenied
from referrals import states
from referrals.journey import service
from referrals.models import NominationStatus
from referrals.triage import accept as triage_accept
from referrals.triage import service as triage
from tests.builders import add_colleague, call, complete_draft, context_of, framework_of, review_all, route_for
from tests.conftest import FRAMEWORKS
from tests.integration.reads import last_seq, log_entries, nomination, version_of

pytestmark = pytest.mark.parametrize("framework_name", FRAMEWORKS)


@pytest.fixture
def coordinator(app):
    return context_of(app, "sf.coordinator")


@pytest.fixture
def sent(app, school) -> service.Submitted:
    draft_id = complete_draft(app, school, route_for(framework_of(app), "school", "education"))
    return call(app, service.submit_nomination, school, framework_of(app), draft_id, version=version_of(app, draft_id))


def later(ctx, minutes: int = 1):
    """The same user a little later (events are ordered by time)."""
    from dataclasses import replace

    return replace(ctx, at=ctx.at + timedelta(minutes=minutes), request_id=uuid.uuid4().hex)


def ask(app, coordinator, nomination_id, message="How many days has he missed this term?"):
    """The coordinator asks, as the triage page does (through the gate, logged)."""
    return call(
        app,
        triage.request_information,
        coordinator,
        nomination_id,
        message,
        version=version_of(app, nomination_id),
    )


def accept_into(app, coordinator, nomination_id, family_id):
    """The coordinator accepts into an existing family, as the triage pages do: each match reviewed
    (the best candidate confirmed, or nobody known), then the route's criterion for the subject."""
    framework = framework_of(app)
    call(app, review_all, coordinator, nomination_id)
    view = call(app, triage.get_nomination_for, coordinator, nomination_id, framework)
    route = framework.route(view_route_key(app, nomination_id))
    call(
        app,
        triage_accept.accept_nomination,
        coordinator,
        nomination_id,
        framework,
        version=version_of(app, nomination_id),
        family=triage_accept.FamilyChoice(family_id=family_id),
        criteria={view.people[0].id: {route.criterion}},
    )


def view_route_key(app, nomination_id) -> str:
    return nomination(app, nomination_id).route_key


def test_your_nominations_lists_the_organisations_sent_ones_and_only_your_own_drafts(app, school, sent):
    framework = framework_of(app)
    route = route_for(framework, "school", "education")
    mine = complete_draft(app, school, route)
    colleague = context_of(app, add_colleague(app, "school.practitioner", "school.colleague"))
    theirs = complete_draft(app, colleague, route)
    gp = context_of(app, "gp.practitioner")
    complete_draft(app, gp, route_for(framework, "gp_practice", "health"))
    before = last_seq(app)
    items = {i.id: i for i in call(app, service.list_nominations, school, framework)}
    assert set(items) == {sent.nomination_id, mine}
    assert items[sent.nomination_id].reference == sent.reference and items[sent.nomination_id].status == "submitted"
    assert items[mine].draft and items[mine].continue_page == "check-answers" and items[mine].person_name
    assert items[sent.nomination_id].route_title == route.title
    [entry] = log_entries(app, before)
    assert (entry.event, entry.outcome) == ("nominations_listed", "permitted") and '"results":"2"' in entry.detail
    # the colleague sees the school's sent nomination, and their own draft, not Sarah's
    assert set(i.id for i in call(app, service.list_nominations, colleague, framework)) == {sent.nomination_id, theirs}


def test_reading_a_nomination_is_logged_and_shows_what_was_sent(app, school, sent):
    before = last_seq(app)
    view = call(app, service.get_nomination_for, school, framework_of(app), sent.nomination_id)
    assert view.reference == sent.reference and view.subject is not None and view.concern
    [entry] = log_entries(app, before)
    assert entry.event == "nomination_viewed" and "nomination_of_organisation" in entry.reasons
    assert f'"nomination_id":"{sent.nomination_id}"' in entry.detail


def test_another_organisation_is_refused_the_nomination_and_the_refusal_is_logged(app, sent):
    before = last_seq(app)
    with pytest.raises(AccessDenied) as refused:
        call(app, service.get_nomination_for, context_of(app, "gp.practitioner"), framework_of(app), sent.nomination_id)
    assert refused.value.decision.failed[0].text == "This nomination was not made by your organisation."
    [entry] = log_entries(app, before)
    assert (entry.event, entry.outcome) == ("access_denied", "denied")
    assert '"attempted":"nomination_viewed"' in entry.detail


def test_a_request_for_information_shows_as_an_update_until_the_nominator_opens_it(app, school, coordinator, sent):
    assert call(app, service.unseen_updates, school.user_id) == []
    ask(app, coordinator, sent.nomination_id)
    [update] = call(app, service.unseen_updates, school.user_id)
    assert (update.id, update.reference, update.status_label) == (
        sent.nomination_id,
        sent.reference,
        "More information requested",
    )
    [item] = [i for i in call(app, service.list_nominations, school, framework_of(app)) if i.id == sent.nomination_id]
    assert item.updated and item.status == "more_information_requested"
    # reading the nomination (a GET) does not mark it seen: only opening it (a POST) does
    call(app, service.get_nomination_for, school, framework_of(app), sent.nomination_id)
    assert call(app, service.unseen_updates, school.user_id) != []
    assert call(app, service.mark_seen, later(school, 2), sent.nomination_id) is True
    assert call(app, service.unseen_updates, school.user_id) == []


def test_only_the_nominators_own_marker_moves(app, school, coordinator, sent):
    ask(app, coordinator, sent.nomination_id)
    colleague = context_of(app, add_colleague(app, "school.practitioner", "school.colleague"))
    assert call(app, service.mark_seen, later(colleague, 2), sent.nomination_id) is False
    assert call(app, service.unseen_updates, school.user_id) != []
    assert call(app, service.unseen_updates, colleague.user_id) == []  # a banner is for the nominator


def test_the_nominator_answers_and_the_nomination_goes_back_to_the_council(app, school, coordinator, sent):
    ask(app, coordinator, sent.nomination_id)
    version = version_of(app, sent.nomination_id)
    before = last_seq(app)
    call(
        app,
        service.give_information,
        later(school, 2),
        sent.nomination_id,
        version=version,
        message="Eleven days, all Mondays.",
    )
    row = nomination(app, sent.nomination_id)
    assert row.status is NominationStatus.SUBMITTED
    [entry] = log_entries(app, before)
    assert entry.event == "nomination_answered" and entry.outcome == "permitted"
    view = call(app, service.get_nomination_for, school, framework_of(app), sent.nomination_id)
    assert [(m.kind, m.from_council) for m in view.messages] == [
        ("submitted", False),
        ("information_requested", True),
        ("information_given", False),
    ]
    assert view.messages[1].message == "How many days has he missed this term?"
    assert view.messages[2].message == "Eleven days, all Mondays."
    assert call(app, service.unseen_updates, school.user_id) == []  # answering is looking


def test_an_answer_from_a_stale_page_or_a_replay_changes_nothing(app, school, coordinator, sent):
    ask(app, coordinator, sent.nomination_id)
    version = version_of(app, sent.nomination_id)
    with pytest.raises(service.StalePage):
        call(app, service.give_information, school, sent.nomination_id, version=version - 1, message="Stale")
    call(app, service.give_information, later(school), sent.nomination_id, version=version, message="First")
    before = last_seq(app)
    with pytest.raises(service.StalePage) as replay:
        call(app, service.give_information, later(school, 2), sent.nomination_id, version=version, message="First")
    assert replay.value.status is NominationStatus.SUBMITTED
    assert last_seq(app) == before
    messages = call(app, service.get_nomination_for, school, framework_of(app), sent.nomination_id).messages
    assert [m.message for m in messages if m.kind == "information_given"] == ["First"]


def test_nothing_to_answer_when_no_information_was_asked_for(app, school, sent):
    with pytest.raises(service.StalePage):
        call(
            app,
            service.give_information,
            school,
            sent.nomination_id,
            version=version_of(app, sent.nomination_id),
            message="Unasked",
        )


def test_another_organisation_cannot_answer(app, coordinator, sent):
    ask(app, coordinator, sent.nomination_id)
    gp = context_of(app, "gp.practitioner")
    with pytest.raises(AccessDenied):
        call(
            app,
            service.give_information,
            gp,
            sent.nomination_id,
            version=version_of(app, sent.nomination_id),
            message="Not ours",
        )
    assert nomination(app, sent.nomination_id).status is NominationStatus.MORE_INFORMATION_REQUESTED


def test_a_decision_shows_in_the_list_with_the_reason(app, school, coordinator, sent):
    call(
        app,
        triage.decline_nomination,
        later(coordinator),
        sent.nomination_id,
        "The family is already supported by early help.",
        version=version_of(app, sent.nomination_id),
    )
    [item] = [i for i in call(app, service.list_nominations, school, framework_of(app)) if i.id == sent.nomination_id]
    assert (item.status_label, item.decision_reason, item.updated) == (
        "Not accepted",
        "The family is already supported by early help.",
        True,
    )
    with pytest.raises(AccessDenied):  # decided: the council's page can no longer ask
        ask(app, coordinator, sent.nomination_id)
    stale = version_of(app, sent.nomination_id)
    with pytest.raises(states.NominationConflict) as moved_on:  # nor can any move from a stale triage page
        call(
            app,
            lambda session: states.move(
                session,
                sent.nomination_id,
                NominationStatus.MORE_INFORMATION_REQUESTED,
                at=coordinator.at,
                version=stale,
                sources={NominationStatus.SUBMITTED},
            ),
        )
    assert moved_on.value.moved_on


def test_accepting_is_an_update_and_the_family_is_not_shown(app, school, coordinator, sent):
    from sqlalchemy import select

    from portal import db
    from portal.families.models import Family

    with app.app_context():
        family_id = db.session().scalar(select(Family.id).where(Family.reference == "SF-000101"))
    accept_into(app, later(coordinator), sent.nomination_id, family_id)
    [update] = call(app, service.unseen_updates, school.user_id)
    assert update.status_label == "Accepted"
    view = call(app, service.get_nomination_for, school, framework_of(app), sent.nomination_id)
    assert view.status == "accepted" and "SF-000101" not in repr(view)
