"""Flags through the gate, on the demo data: who sees what, what is refused and why, and the log.

The demo data (portal/demo) carries the cases: family SF-000101 was given the 2023 notice, which does
not cover health for schools; SF-000102 has an upheld objection (Imran Ahmed, finances); SF-000103 has
been given no notice yet; Northgate Homes' first protocol has expired.
"""

from __future__ import annotations

import html
import re
import uuid
from importlib import resources

import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.exc import OperationalError

from portal import db
from portal.access_log import chain
from portal.families import service
from portal.families.models import Person
from portal.gate import AccessDenied, AuditUnavailable
from sharing_protocols.register.file import import_register, load_register_text
from tests.builders import context_of, person_named
from tests.signin import dev_sign_in, h1


def person_id(app, name: str) -> uuid.UUID:
    with app.app_context():
        return person_named(db.session(), name).id


def log_rows(app, query: str = "SELECT seq, event, outcome, reasons FROM access_log_entry ORDER BY seq"):
    with app.app_context():
        return db.session().execute(text(query)).all()


def page_of(app, subject: str, **kwargs) -> service.FlagPage:
    ctx = context_of(app, subject)
    with app.test_request_context():
        page = service.list_flagged(db.session(), ctx, **kwargs)
        db.session().commit()
    return page


def listed(app, subject: str, **kwargs) -> dict[str, service.FlaggedPerson]:
    return {p.name: p for p in page_of(app, subject, **kwargs).people}


def categories(person: service.FlaggedPerson) -> set[str]:
    return {c.category for c in person.concerns}


def test_gp_sees_its_patients_with_the_concerns_its_protocol_and_the_notice_allow(app):
    people = listed(app, "gp.practitioner")
    kelly = people["Kelly Brown"]
    assert categories(kelly) == {"health", "children_need_help"}
    assert kelly.nhs_number and kelly.date_of_birth and kelly.family_reference == "SF-000101"
    assert kelly.lead is not None and kelly.lead.phone
    assert categories(people["Tyler Brown"]) == {"health"}  # education is not in the GP protocol
    assert "Imran Ahmed" not in people  # not a patient of this practice
    assert "Dean Walsh" not in people and "Ruby Walsh" not in people  # no notice given to the family yet


def test_school_cannot_see_health_without_notice_cover(app):
    people = listed(app, "school.practitioner")
    assert categories(people["Tyler Brown"]) == {"education"}  # family given the 2023 notice: no health for schools
    assert categories(people["Zara Ahmed"]) == {"education", "health"}  # the 2025 notice covers it
    assert "Kelly Brown" not in people  # an adult, not on the roll


def test_upheld_objection_withholds_the_category_it_covers(app):
    people = listed(app, "rsl.practitioner")
    assert categories(people["Imran Ahmed"]) == {"crime_asb"}
    assert categories(people["Sara Ahmed"]) == {"employment_finance"}


def test_list_is_logged_with_the_people_shown_and_what_was_relied_on(app):
    before = len(log_rows(app))
    listed(app, "gp.practitioner")
    rows = log_rows(app, "SELECT seq, event, outcome, protocol_refs, notice_refs, subject_count FROM access_log_entry")
    assert len(rows) == before + 1
    entry = rows[-1]
    assert (entry.event, entry.outcome) == ("flags_listed", "permitted")
    assert "ISP-SF-GP v2" in entry.protocol_refs and "FPN-SF v1" in entry.notice_refs
    assert entry.subject_count == 50  # the first page
    verify = chain.verify(db_engine(app), trusted(app))
    assert verify.intact, verify.problem


def db_engine(app):
    return app.extensions["db_engine"]


def trusted(app):
    from portal.access_log import signing

    return signing.trusted_keys(app)


def test_organisation_serving_nobody_in_the_family_is_refused_and_the_refusal_is_logged(app):
    kelly = person_id(app, "Kelly Brown")
    ctx = context_of(app, "probation.practitioner")
    with app.test_request_context(), pytest.raises(AccessDenied) as refused:
        service.get_flag_for(db.session(), ctx, kelly)
    assert [r.code for r in refused.value.decision.failed] == ["no_relationship"]
    last = log_rows(app)[-1]
    assert (last.event, last.outcome) == ("access_denied", "denied") and "!no_relationship" in last.reasons


def test_unknown_person_is_refused_exactly_like_an_unserved_one(app):
    ctx = context_of(app, "probation.practitioner")
    with app.test_request_context(), pytest.raises(AccessDenied) as refused:
        service.get_flag_for(db.session(), ctx, uuid.uuid4())
    assert [r.code for r in refused.value.decision.failed] == ["no_relationship"]


def test_family_without_a_notice_is_refused_with_the_notice_reason(app):
    dean = person_id(app, "Dean Walsh")
    with app.test_request_context(), pytest.raises(AccessDenied) as refused:
        service.get_flag_for(db.session(), context_of(app, "gp.practitioner"), dean)
    assert "no_notice" in [r.code for r in refused.value.decision.failed]


def test_suspending_a_protocol_stops_its_flows_at_once(app):
    assert listed(app, "gp.practitioner")  # the register is now held in memory by this process
    with app.app_context():
        register = load_register_text(resources.files("portal.demo").joinpath("sharing_register.yaml").read_text())
        for protocol in register["protocols"]:
            if protocol["reference"] == "ISP-SF-GP":
                protocol["status"] = "suspended"
        import_register(db.session(), register)
        db.session().commit()
    assert listed(app, "gp.practitioner") == {}


@pytest.mark.parametrize(
    "change",
    [
        "UPDATE sharing_protocol SET status = 'suspended' WHERE reference = 'ISP-SF-GP'",
        "DELETE FROM protocol_flow WHERE category = 'programme_membership' AND protocol_id IN "
        "(SELECT id FROM sharing_protocol WHERE reference = 'ISP-SF-GP')",
        "DELETE FROM protocol_party WHERE organisation_kind = 'gp_practice'",
        "DELETE FROM notice_coverage WHERE recipient_kind = 'gp_practice' AND category = 'programme_membership'",
    ],
)
def test_any_change_to_the_register_tables_reaches_the_next_request(app, change):
    """The register is cached per process; a change by any writer (here plain SQL, as a DBA might) bumps
    the database's counter by trigger, so the very next request decides on the new register."""
    assert listed(app, "gp.practitioner")
    with app.app_context():
        db.session().execute(text(change))
        db.session().commit()
    assert listed(app, "gp.practitioner") == {}


def test_search_by_nhs_number_upn_and_name(app):
    with app.app_context():
        kelly = db.session().get(Person, person_id(app, "Kelly Brown"))
        nhs = kelly.nhs_number
        tyler = db.session().get(Person, person_id(app, "Tyler Brown"))
        upn = tyler.upn
    spaced = f"{nhs[:3]} {nhs[3:6]} {nhs[6:]}"
    assert set(listed(app, "gp.practitioner", query=spaced)) == {"Kelly Brown"}
    assert set(listed(app, "school.practitioner", query=upn.lower())) == {"Tyler Brown"}
    assert set(listed(app, "gp.practitioner", query="brown")) == {"Kelly Brown", "Tyler Brown", "Mia Brown"}
    assert listed(app, "probation.practitioner", query=spaced) == {}  # not served: a search reaches nobody new
    with app.test_request_context(), pytest.raises(service.InvalidSearch):
        service.list_flagged(db.session(), context_of(app, "gp.practitioner"), query="943 476 5910")


def test_a_list_page_makes_the_same_number_of_queries_whatever_the_number_of_people(app):
    def count(subject: str, query: str = "") -> int:
        statements = []
        engine = db_engine(app)
        listener = lambda *args: statements.append(args[2])  # noqa: E731
        event.listen(engine, "before_cursor_execute", listener)
        try:
            page_of(app, subject, query=query)
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        return len(statements)

    # the first request of a process loads the sharing register into memory (three statements, once per
    # change of the register, not per request): take it out of the comparison
    page_of(app, "gp.practitioner")
    many = count("gp.practitioner")  # 50 people on the page
    few = count("rsl.practitioner")  # 2 people
    assert len(page_of(app, "gp.practitioner").people) == 50 and len(page_of(app, "rsl.practitioner").people) == 2
    assert many == few


def test_when_the_log_cannot_be_written_nothing_is_served(app, monkeypatch):
    def broken(*_args, **_kwargs):
        raise OperationalError("INSERT INTO access_log_entry", {}, Exception("disk full"))

    monkeypatch.setattr(chain, "append", broken)
    with app.test_request_context(), pytest.raises(AuditUnavailable):
        service.list_flagged(db.session(), context_of(app, "gp.practitioner"))


def test_the_database_holds_no_plaintext_identifier(app, database_url):
    with app.app_context():
        kelly = db.session().get(Person, person_id(app, "Kelly Brown"))
        plain = [kelly.nhs_number, kelly.given_name, kelly.family_name, kelly.date_of_birth.isoformat(), kelly.postcode]
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            dump = " ".join(str(v) for row in connection.execute(text("SELECT * FROM person")) for v in row)
            details = " ".join(str(v) for v in connection.execute(text("SELECT detail FROM flag_concern")).scalars())
    finally:
        engine.dispose()
    for value in plain:
        assert value not in dump
    assert "Attendance" not in details and "community order" not in details


# pages, over real HTTP ------------------------------------------------------------------------------


def test_pages_show_the_flag_and_explain_a_refusal(live_app):
    app = live_app.app
    http, _ = dev_sign_in(live_app.url, "gp.practitioner")
    page = http.get(f"{live_app.url}/flags", timeout=10)
    assert page.status_code == 200 and "Kelly Brown" in page.text and "Dean Walsh" not in page.text
    assert "page 1 of 2" in page.text
    kelly = person_id(app, "Kelly Brown")
    flag = http.get(f"{live_app.url}/flags/{kelly}", timeout=10)
    assert flag.status_code == 200 and h1(flag.text) == "Kelly Brown" and "Lucy Lead" in flag.text
    bad = http.get(f"{live_app.url}/flags", params={"q": "943 476 5910"}, timeout=10)
    assert bad.status_code == 400 and "govuk-error-summary" in bad.text and "Kelly Brown" not in bad.text

    probation, _ = dev_sign_in(live_app.url, "probation.practitioner")
    refused = probation.get(f"{live_app.url}/flags/{kelly}", timeout=10)
    assert refused.status_code == 403 and "Kelly Brown" not in refused.text
    assert "serves" in re.sub(r"\s+", " ", refused.text)
    last = log_rows(app)[-1]
    assert last.outcome == "denied"  # committed although the response was a 403


def test_access_log_pages_for_the_dpo_only(live_app):
    http, _ = dev_sign_in(live_app.url, "gp.practitioner")
    http.get(f"{live_app.url}/flags", timeout=10)
    assert http.get(f"{live_app.url}/access-log", timeout=10).status_code == 403
    dpo, _ = dev_sign_in(live_app.url, "sf.dpo")
    search = dpo.get(f"{live_app.url}/access-log", params={"event": "flags_listed"}, timeout=10)
    assert search.status_code == 200 and "Dr Priya Patel" in search.text
    seq = re.search(r"/access-log/(\d+)", search.text).group(1)
    entry = dpo.get(f"{live_app.url}/access-log/{seq}", timeout=10)
    assert entry.status_code == 200 and "Kelly Brown" in entry.text and "ISP-SF-GP v2" in entry.text
    from tests.signin import csrf_token

    check_page = dpo.get(f"{live_app.url}/access-log/integrity", timeout=10)
    checked = dpo.post(
        f"{live_app.url}/access-log/integrity", data={"csrf_token": csrf_token(check_page.text)}, timeout=30
    )
    assert checked.status_code == 200 and "The access log is intact" in checked.text


def test_break_glass_widens_relationship_and_notice_only_and_is_marked(app):
    with app.app_context():
        dean = db.session().get(Person, person_id(app, "Dean Walsh"))
        dean_nhs = dean.nhs_number
    ctx = context_of(app, "probation.practitioner")
    reason = "Police report a child at risk at this address tonight; need the lead professional now"
    with app.test_request_context():
        grant = service.start_break_glass(db.session(), ctx, dean_nhs, reason)
        db.session().commit()
        person = service.view_break_glass(db.session(), ctx, grant.id)
        db.session().commit()
    assert person is not None and person.break_glass and person.lead is not None
    assert categories(person) == {"crime_asb"}  # the probation protocol covers it; no notice, waived
    last = log_rows(app, "SELECT event, outcome, reasons, detail FROM access_log_entry ORDER BY seq")[-1]
    assert (last.event, last.outcome) == ("flag_break_glass_viewed", "break_glass")
    assert "relationship_waived_break_glass" in last.reasons and "notice_waived_break_glass" in last.reasons
    assert str(grant.id) in last.detail and "Police" not in last.detail  # the reason stays encrypted, out of the log
    other = context_of(app, "gp.practitioner")
    with app.test_request_context(), pytest.raises(service.GrantExpired):
        service.view_break_glass(db.session(), other, grant.id)  # a grant is its holder's alone


def test_break_glass_for_an_unknown_nhs_number_discloses_nothing_and_is_logged(app):
    from portal.families.identifiers import synthetic_nhs_number

    ctx = context_of(app, "probation.practitioner")
    with app.test_request_context():
        grant = service.start_break_glass(db.session(), ctx, synthetic_nhs_number(90_000), "x" * 30)
        db.session().commit()
        assert service.view_break_glass(db.session(), ctx, grant.id) is None
        db.session().commit()
    assert log_rows(app)[-1].outcome == "break_glass"


def test_break_glass_asks_for_a_fresh_sign_in_then_shows_the_flag_marked(live_app, monkeypatch):
    from datetime import timedelta
    from urllib.parse import parse_qs, urlsplit

    from portal.families import views
    from tests.signin import csrf_token

    app = live_app.app
    with app.app_context():
        kelly_nhs = db.session().get(Person, person_id(app, "Kelly Brown")).nhs_number
    http, _ = dev_sign_in(live_app.url, "probation.practitioner")
    monkeypatch.setattr(views, "REAUTH_WINDOW", timedelta(0))  # as if the sign-in were long ago
    page = http.get(f"{live_app.url}/break-glass", timeout=10)
    assert h1(page.text) == "Sign in again to use emergency access"
    link = re.search(r'href="(/auth/login/dev\?[^"]+)"', page.text).group(1).replace("&amp;", "&")
    monkeypatch.setattr(views, "REAUTH_WINDOW", timedelta(minutes=5))
    to_provider = http.get(live_app.url + link, timeout=10, allow_redirects=False)
    asked = parse_qs(urlsplit(to_provider.headers["Location"]).query)
    assert asked["prompt"] == ["login"] and asked["max_age"] == ["0"]
    picker = http.get(to_provider.headers["Location"], timeout=10)  # the provider asks again
    action = html.unescape(re.search(r'<form method="post" action="(/dev-idp/[^"]+)"', picker.text).group(1))
    landed = http.post(
        live_app.url + action,
        data={"csrf_token": csrf_token(picker.text), "account": "probation.practitioner"},
        timeout=10,
    )
    assert urlsplit(landed.url).path == "/break-glass", [(r.status_code, r.url) for r in landed.history]
    assert h1(landed.text) == "Emergency access to a person's flag"
    missing = http.post(f"{live_app.url}/break-glass", data={"csrf_token": csrf_token(landed.text)}, timeout=10)
    assert missing.status_code == 400 and "Enter why you need emergency access" in missing.text
    shown = http.post(
        f"{live_app.url}/break-glass",
        data={
            "csrf_token": csrf_token(landed.text),
            "identifier": kelly_nhs,
            "reason": "Police at the address now: need to reach the lead professional",
            "confirm": "y",
        },
        timeout=10,
    )
    assert shown.status_code == 200 and h1(shown.text) == "Kelly Brown"
    assert "break-glass" in shown.text and "Lucy Lead" in shown.text
    assert log_rows(app)[-1].outcome == "break_glass"


def test_rotating_the_data_key_and_reencrypting_keeps_every_flag_readable(app, database_url):
    runner = app.test_cli_runner()
    rotated = runner.invoke(args=["keys-rotate"])
    assert rotated.exit_code == 0, rotated.output
    result = runner.invoke(args=["keys-reencrypt"])
    assert result.exit_code == 0, result.output
    assert "person.nhs_number" in result.output
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            tokens = connection.execute(text("SELECT nhs_number, given_name FROM person")).all()
    finally:
        engine.dispose()
    assert tokens and all(t.startswith("v1.k2.") for row in tokens for t in row)
    assert categories(listed(app, "gp.practitioner")["Kelly Brown"]) == {"health", "children_need_help"}


def test_when_the_log_cannot_be_written_the_page_is_an_error_with_no_personal_data(live_app, monkeypatch):
    http, _ = dev_sign_in(live_app.url, "gp.practitioner")
    assert "Kelly Brown" in http.get(f"{live_app.url}/flags", timeout=10).text
    kelly = person_id(live_app.app, "Kelly Brown")

    def broken(*_args, **_kwargs):
        raise OperationalError("INSERT INTO access_log_entry", {}, Exception("disk full"))

    monkeypatch.setattr(chain, "append", broken)
    for url in (f"{live_app.url}/flags", f"{live_app.url}/flags/{kelly}", f"{live_app.url}/flags?q=Brown"):
        page = http.get(url, timeout=10)
        assert page.status_code == 503, (url, page.status_code)
        assert "could not record your request" in page.text
        assert "Brown" not in page.text.replace("q=Brown", "") and "999 000" not in page.text


def _refuse_log_inserts(app, database_url: str) -> None:
    """Make the database itself refuse new access-log entries, as a full disk or a revoked grant would."""
    with app.app_context():
        session = db.session()
        if database_url.startswith("postgresql"):
            session.execute(
                text(
                    "CREATE FUNCTION refuse_log() RETURNS trigger LANGUAGE plpgsql AS "
                    "$$ BEGIN RAISE EXCEPTION 'could not extend file: No space left on device'; END $$"
                )
            )
            session.execute(
                text(
                    "CREATE TRIGGER refuse_log BEFORE INSERT ON access_log_entry "
                    "FOR EACH ROW EXECUTE FUNCTION refuse_log()"
                )
            )
        else:
            session.execute(
                text(
                    "CREATE TRIGGER refuse_log BEFORE INSERT ON access_log_entry "
                    "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
                )
            )
        session.commit()


def test_when_the_database_refuses_the_log_entry_the_page_is_an_error_with_no_personal_data(live_app, database_url):
    """Not a mocked failure: the database itself refuses the insert (on PostgreSQL the append runs on the
    driver's cursor, ``portal.db.fetch``), and the page is still the 503 with nothing served."""
    http, _ = dev_sign_in(live_app.url, "gp.practitioner")
    kelly = person_id(live_app.app, "Kelly Brown")
    assert "Kelly Brown" in http.get(f"{live_app.url}/flags/{kelly}", timeout=10).text
    _refuse_log_inserts(live_app.app, database_url)
    for url in (f"{live_app.url}/flags", f"{live_app.url}/flags/{kelly}", f"{live_app.url}/flags?q=Brown"):
        page = http.get(url, timeout=10)
        assert page.status_code == 503, (url, page.status_code)
        assert "could not record your request" in page.text
        assert "Brown" not in page.text.replace("q=Brown", "") and "999 000" not in page.text


def test_the_dpo_reviews_emergency_accesses(live_app):
    from tests.signin import csrf_token

    app = live_app.app
    with app.app_context():
        kelly_nhs = db.session().get(Person, person_id(app, "Kelly Brown")).nhs_number
    ctx = context_of(app, "probation.practitioner")
    with app.test_request_context():
        grant = service.start_break_glass(db.session(), ctx, kelly_nhs, "Police report a child at risk tonight")
        db.session().commit()
    gp, _ = dev_sign_in(live_app.url, "gp.practitioner")
    assert gp.get(f"{live_app.url}/access-log/break-glass", timeout=10).status_code == 403
    dpo, _ = dev_sign_in(live_app.url, "sf.dpo")
    listing = dpo.get(f"{live_app.url}/access-log/break-glass", timeout=10)
    assert listing.status_code == 200
    assert "Police report a child at risk tonight" in listing.text and "Paul Officer" in listing.text
    assert "Kelly Brown" in listing.text
    last = log_rows(app, "SELECT event, subject_count FROM access_log_entry ORDER BY seq")[-1]
    assert last.event == "access_log_searched" and last.subject_count == 1
    reviewed = dpo.post(
        f"{live_app.url}/access-log/break-glass/{grant.id}/reviewed",
        data={"csrf_token": csrf_token(listing.text)},
        timeout=10,
    )
    assert reviewed.status_code == 200 and "No emergency accesses are waiting for review" in reviewed.text
    events = [r.event for r in log_rows(app, "SELECT event FROM access_log_entry ORDER BY seq")]
    assert "break_glass_reviewed" in events
    again = dpo.post(
        f"{live_app.url}/access-log/break-glass/{grant.id}/reviewed",
        data={"csrf_token": csrf_token(listing.text)},
        timeout=10,
    )
    assert again.status_code == 404


def test_making_a_break_glass_grant_is_itself_logged(app):
    with app.app_context():
        kelly_nhs = db.session().get(Person, person_id(app, "Kelly Brown")).nhs_number
    ctx = context_of(app, "probation.practitioner")
    with app.test_request_context():
        grant = service.start_break_glass(db.session(), ctx, kelly_nhs, "Police report a child at risk tonight")
        db.session().commit()
    last = log_rows(app, "SELECT event, outcome, detail, subject_count FROM access_log_entry ORDER BY seq")[-1]
    assert (last.event, last.outcome, last.subject_count) == ("break_glass_granted", "break_glass", 1)
    assert str(grant.id) in last.detail and "Police" not in last.detail
