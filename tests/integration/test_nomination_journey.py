"""The partner's journey through the services, on SQLite and PostgreSQL, under both framework files: the
draft saved after every page, refusals (wrong role, wrong sector, someone else's draft, no protocol),
and submission exactly once (stale draft, double submit, replay, two at once).
"""

from __future__ import annotations

import threading
import uuid
from datetime import date

import pytest
from sqlalchemy import create_engine, select, text

from portal import db
from portal.access_log import chain
from portal.gate import AccessDenied
from referrals.journey import service
from referrals.models import NominatedPerson, NominationEvent, NominationEventKind, NominationStatus
from tests.builders import (
    a_person,
    add_colleague,
    call,
    complete_draft,
    context_of,
    framework_of,
    route_for,
    route_not_for,
)
from tests.conftest import FRAMEWORKS
from tests.integration.reads import count_nominations, last_seq, log_entries, nomination, version_of

pytestmark = pytest.mark.parametrize("framework_name", FRAMEWORKS)


@pytest.fixture
def attendance(app):
    return route_for(framework_of(app), "school", "education")


# ------------------------------------------------------------------------------------ drafts


def test_no_to_the_first_question_starts_a_draft_and_yes_starts_nothing(app, school):
    framework = framework_of(app)
    before = count_nominations(app)
    assert call(app, service.start_draft, school, framework, uuid.uuid4(), immediate_risk=True) is None
    assert count_nominations(app) == before
    draft_id = call(app, service.start_draft, school, framework, uuid.uuid4(), immediate_risk=False)
    row = nomination(app, draft_id)
    assert (row.status, row.no_immediate_risk, row.route_key, row.framework_key) == (
        NominationStatus.DRAFT,
        True,
        "",
        framework.key,
    )
    assert (row.nominator_id, row.organisation_id) == (school.user_id, school.organisation_id)
    entry = log_entries(app)[-1]
    assert (entry.event, entry.outcome) == ("nomination_draft_saved", "permitted")
    assert f'"nomination_id":"{draft_id}"' in entry.detail and '"page":"immediate-risk"' in entry.detail


def test_the_first_page_posted_twice_makes_one_draft(app, school):
    framework, draft_id = framework_of(app), uuid.uuid4()
    before = count_nominations(app)
    for _ in range(2):
        assert call(app, service.start_draft, school, framework, draft_id, immediate_risk=False) == draft_id
    assert count_nominations(app) == before + 1


def test_every_page_is_saved_into_the_draft_as_it_is_answered(app, school, attendance):
    framework, draft_id = framework_of(app), uuid.uuid4()
    call(app, service.start_draft, school, framework, draft_id, immediate_risk=False)
    call(app, service.choose_route, school, framework, draft_id, attendance.key)
    assert (nomination(app, draft_id).route_key, nomination(app, draft_id).category) == (attendance.key, "education")
    subject = a_person(given_name="Jamie")
    call(app, service.save_person, school, draft_id, subject)
    first = call(app, service.add_member, school, draft_id, a_person(role="parent_carer", nhs_number=None, upn=None))
    second = call(app, service.add_member, school, draft_id, a_person(role="child", date_of_birth=date(2018, 1, 1)))
    assert (first, second) == (1, 2)
    call(app, service.remove_member, school, draft_id, first)
    third = call(app, service.add_member, school, draft_id, a_person(role="other_adult", date_of_birth=None))
    assert third == 3  # numbers are never reused, so a stale "remove 1" cannot remove someone else
    call(app, service.save_concern, school, draft_id, "Worried")
    call(app, service.save_tried, school, draft_id, "Meetings")
    assert call(app, service.save_family_told, school, draft_id, "not_told") is True
    call(app, service.save_not_told_reason, school, draft_id, "Risk to the parent")
    view = call(app, service.get_draft_for, school, framework, draft_id, page="check-answers")
    assert [(p.ordinal, p.role) for p in view.people] == [(0, "subject"), (2, "child"), (3, "other_adult")]
    assert view.subject.nhs_number == subject.nhs_number and view.subject.upn == subject.upn
    assert (view.concern, view.tried, view.family_told, view.not_told_reason) == (
        "Worried",
        "Meetings",
        "not_told",
        "Risk to the parent",
    )
    assert service.missing_answers(view, framework, "school") == []
    assert service.next_page(view) == "check-answers"
    # told and given the notice after all: the reason is no longer needed, so it is not kept
    assert call(app, service.save_family_told, school, draft_id, "told_and_notice_given") is False
    assert nomination(app, draft_id).not_told_reason is None


def test_answers_are_stored_encrypted_with_blind_indexes(app, school, attendance, database_url):
    person = a_person(given_name="Distinctivename")
    draft_id = complete_draft(app, school, attendance, person)
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT * FROM nominated_person")).all()
            nominations = connection.execute(text("SELECT concern, tried FROM nomination")).all()
    finally:
        engine.dispose()
    raw = repr(rows) + repr(nominations)
    for plain in (person.given_name, person.family_name, person.nhs_number, person.upn, "Misses most Mondays"):
        assert plain not in raw
    with app.app_context():
        stored = db.session().scalar(select(NominatedPerson).where(NominatedPerson.nomination_id == draft_id))
        assert stored.nhs_number_index and stored.upn_index and stored.nhs_number == person.nhs_number


def test_a_page_view_of_a_draft_is_logged(app, school, attendance):
    draft_id = complete_draft(app, school, attendance)
    before = last_seq(app)
    call(app, service.get_draft_for, school, framework_of(app), draft_id, page="concern")
    [entry] = log_entries(app, before)
    assert (entry.event, entry.outcome) == ("nomination_viewed", "permitted")
    assert "draft_of_nominator" in entry.reasons and '"page":"concern"' in entry.detail


# ------------------------------------------------------------------------------------ refusals


def test_someone_elses_draft_cannot_be_seen_or_changed_and_the_refusal_is_logged(app, school, attendance):
    draft_id = complete_draft(app, school, attendance)
    colleague = context_of(app, add_colleague(app, "school.practitioner", "school.colleague"))
    framework = framework_of(app)
    attempts = [
        (service.get_draft_for, (framework, draft_id), {"page": "concern"}),
        (service.save_concern, (draft_id, "Overwritten"), {}),
        (service.submit_nomination, (framework, draft_id), {"version": version_of(app, draft_id)}),
        (service.start_draft, (framework, draft_id), {"immediate_risk": False}),
    ]
    for function, args, kwargs in attempts:
        before = last_seq(app)
        with pytest.raises(AccessDenied) as refused:
            call(app, function, colleague, *args, **kwargs)
        assert [r.code for r in refused.value.decision.failed] == ["draft_of_someone_else"]
        [entry] = log_entries(app, before)
        assert (entry.event, entry.outcome) == ("access_denied", "denied") and "!draft_of_someone_else" in entry.reasons
    row = nomination(app, draft_id)
    assert row.status is NominationStatus.DRAFT and row.concern != "Overwritten"


def test_another_organisation_is_refused_exactly_as_for_a_nomination_that_does_not_exist(app, school, attendance):
    draft_id = complete_draft(app, school, attendance)
    gp = context_of(app, "gp.practitioner")
    framework = framework_of(app)
    refusals = []
    for target in (draft_id, uuid.uuid4()):
        with pytest.raises(AccessDenied) as refused:
            call(app, service.get_nomination_for, gp, framework, target)
        refusals.append(refused.value.decision)
    assert refusals[0] == refusals[1]
    assert [r.code for r in refusals[0].failed] == ["nomination_not_of_organisation"]


def test_only_practitioners_nominate(app, attendance):
    admin = context_of(app, "school.admin")
    framework = framework_of(app)
    before = count_nominations(app)
    with pytest.raises(AccessDenied) as refused:
        call(app, service.start_draft, admin, framework, uuid.uuid4(), immediate_risk=False)
    assert [r.code for r in refused.value.decision.failed] == ["role_not_permitted"]
    with pytest.raises(AccessDenied):
        call(app, service.list_nominations, admin, framework)
    assert count_nominations(app) == before


def test_a_crafted_request_for_another_sectors_route_is_refused_and_logged(app, school, attendance):
    framework = framework_of(app)
    gp = context_of(app, "gp.practitioner")
    draft_id = call(app, service.start_draft, gp, framework, uuid.uuid4(), immediate_risk=False)
    schools_only = route_not_for(framework, "gp_practice")
    before = last_seq(app)
    with pytest.raises(AccessDenied) as refused:
        call(app, service.choose_route, gp, framework, draft_id, schools_only.key)
    [failed] = refused.value.decision.failed
    assert failed.code == "route_not_for_sector" and schools_only.title in failed.text
    [entry] = log_entries(app, before)
    assert entry.event == "access_denied" and "!route_not_for_sector" in entry.reasons
    assert '"attempted":"nomination_draft_saved"' in entry.detail and f'"route":"{schools_only.key}"' in entry.detail
    assert nomination(app, draft_id).route_key == ""
    with pytest.raises(service.UnknownRoute):
        call(app, service.choose_route, gp, framework, draft_id, "no_such_route")


def test_without_a_protocol_for_the_routes_category_nothing_is_submitted_and_the_refusal_is_logged(app):
    framework = framework_of(app)
    rsl = context_of(app, "rsl.practitioner")
    # Northgate Homes' protocol covers crime and finances for identification, not domestic abuse
    route = route_for(framework, "rsl", "domestic_abuse")
    draft_id = complete_draft(app, rsl, route)
    version = version_of(app, draft_id)
    before = last_seq(app)
    with pytest.raises(AccessDenied) as refused:
        call(app, service.submit_nomination, rsl, framework, draft_id, version=version)
    assert [r.code for r in refused.value.decision.failed] == ["no_protocol"]
    assert "housing associations sharing information about domestic abuse" in refused.value.decision.failed[0].text
    [entry] = log_entries(app, before)
    assert (entry.event, entry.outcome) == ("access_denied", "denied") and "!no_protocol" in entry.reasons
    assert '"attempted":"nomination_submitted"' in entry.detail
    row = nomination(app, draft_id)
    assert (row.status, row.reference, row.version) == (NominationStatus.DRAFT, None, version)
    with app.app_context():
        assert (
            db.session().scalars(select(NominationEvent).where(NominationEvent.nomination_id == draft_id)).all() == []
        )


def test_a_draft_with_a_yes_to_immediate_risk_cannot_be_sent(app, school, attendance):
    draft_id = complete_draft(app, school, attendance)
    call(app, service.save_immediate_risk, school, draft_id, immediate_risk=True)
    with pytest.raises(service.Incomplete) as incomplete:
        call(app, service.submit_nomination, school, framework_of(app), draft_id, version=version_of(app, draft_id))
    assert [p.page for p in incomplete.value.problems] == ["immediate-risk"]
    assert nomination(app, draft_id).status is NominationStatus.DRAFT


def test_an_unfinished_draft_says_what_is_missing_and_is_not_sent(app, school):
    framework = framework_of(app)
    draft_id = call(app, service.start_draft, school, framework, uuid.uuid4(), immediate_risk=False)
    version = version_of(app, draft_id)
    with pytest.raises(service.Incomplete) as incomplete:
        call(app, service.submit_nomination, school, framework, draft_id, version=version)
    assert [p.page for p in incomplete.value.problems] == ["route", "person", "concern", "tried", "family-told"]
    assert version_of(app, draft_id) == version  # rolled back: not even the version moved


# ------------------------------------------------------------------------------ exactly once


def test_submitting_gives_a_reference_a_history_and_one_log_entry_naming_the_protocol(app, school, attendance):
    draft_id = complete_draft(app, school, attendance)
    before = last_seq(app)
    sent = call(app, service.submit_nomination, school, framework_of(app), draft_id, version=version_of(app, draft_id))
    row = nomination(app, draft_id)
    assert not sent.linked and sent.reference == row.reference and row.reference.startswith("SFN-")
    assert row.status is NominationStatus.SUBMITTED and row.submitted_at is not None
    assert row.category == "education" and row.route_key == attendance.key
    with app.app_context():
        kinds = db.session().scalars(select(NominationEvent.kind).where(NominationEvent.nomination_id == draft_id))
        assert list(kinds) == [NominationEventKind.SUBMITTED]
    [entry] = log_entries(app, before)
    assert (entry.event, entry.outcome) == ("nomination_submitted", "permitted")
    assert entry.protocol_refs == "ISP-SF-SCH v1"
    assert "route_for_sector" in entry.reasons and "protocol_in_force" in entry.reasons
    assert f'"route":"{attendance.key}"' in entry.detail and '"outcome":"submitted"' in entry.detail
    report = chain.verify(app.extensions["db_engine"], _trusted(app))
    assert report.intact, report.problem


def _trusted(app):
    from portal.access_log import signing

    return signing.trusted_keys(app)


def test_a_gp_nominates_under_health(app):
    framework = framework_of(app)
    gp = context_of(app, "gp.practitioner")
    draft_id = complete_draft(app, gp, route_for(framework, "gp_practice", "health"))
    sent = call(app, service.submit_nomination, gp, framework, draft_id, version=version_of(app, draft_id))
    assert nomination(app, draft_id).status is NominationStatus.SUBMITTED and sent.reference
    assert log_entries(app)[-1].protocol_refs == "ISP-SF-GP v2"


def test_a_double_submit_or_a_replay_sends_nothing_second(app, school, attendance):
    draft_id = complete_draft(app, school, attendance)
    version = version_of(app, draft_id)
    framework = framework_of(app)
    sent = call(app, service.submit_nomination, school, framework, draft_id, version=version)
    before, rows = last_seq(app), count_nominations(app)
    for replayed_version in (version, version_of(app, draft_id)):
        with pytest.raises(service.AlreadySubmitted) as again:
            call(app, service.submit_nomination, school, framework, draft_id, version=replayed_version)
        assert again.value.reference == sent.reference
    assert (last_seq(app), count_nominations(app)) == (before, rows)
    assert nomination(app, draft_id).reference == sent.reference
    # and a replayed page of the draft changes nothing once it is sent
    with pytest.raises(service.NotADraft):
        call(app, service.save_concern, school, draft_id, "Changed after sending")
    assert nomination(app, draft_id).concern != "Changed after sending"


def test_a_stale_check_answers_page_from_another_tab_sends_nothing(app, school, attendance):
    draft_id = complete_draft(app, school, attendance)
    shown = version_of(app, draft_id)  # check answers drawn in the first tab
    call(app, service.save_concern, school, draft_id, "Changed in the second tab")
    before = last_seq(app)
    with pytest.raises(service.StaleDraft):
        call(app, service.submit_nomination, school, framework_of(app), draft_id, version=shown)
    assert nomination(app, draft_id).status is NominationStatus.DRAFT and last_seq(app) == before
    sent = call(app, service.submit_nomination, school, framework_of(app), draft_id, version=version_of(app, draft_id))
    assert sent.reference


def test_two_submissions_at_once_send_it_once(app, school, attendance):
    draft_id = complete_draft(app, school, attendance)
    version = version_of(app, draft_id)
    framework = framework_of(app)
    results: list[object] = []
    barrier = threading.Barrier(2)

    def submit() -> None:
        barrier.wait()
        try:
            results.append(call(app, service.submit_nomination, school, framework, draft_id, version=version))
        except service.AlreadySubmitted as exc:
            results.append(exc)

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(type(r).__name__ for r in results) == ["AlreadySubmitted", "Submitted"]
    submitted = [e for e in log_entries(app) if e.event == "nomination_submitted"]
    assert len(submitted) == 1
    with app.app_context():
        events = db.session().scalars(
            select(NominationEvent).where(
                NominationEvent.nomination_id == draft_id, NominationEvent.kind == NominationEventKind.SUBMITTED
            )
        )
        assert len(list(events)) == 1
