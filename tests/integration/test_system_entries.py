"""Command-line tasks that write personal data log it as system entries: the demo seed names every person
it wrote, a re-run that writes nothing logs nothing, a large write is split into entries of at most 1,000
subjects, a write that cannot be logged is not made, and the DPO's pages show such an entry as the
system's. On SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from portal import db
from portal.access_log import EventType, SubjectRef, chain, signing
from portal.access_log.search import LogFilters, LoggedEntry, get_entry, search_log
from portal.auth.dev_idp import issuer
from portal.demo.seed import seed_demo
from portal.families.models import Family, FamilyMember, Flag, FlagConcern, Person
from portal.gate import SYSTEM_SUBJECTS_PER_ENTRY, AuditUnavailable, record_system
from tests.conftest import build_app, free_port
from tests.signin import dev_sign_in, h1


def logged(app, event: str | None = None) -> list[LoggedEntry]:
    """Entries (of one event), oldest first."""
    with app.app_context():
        page = search_log(db.session(), LogFilters(event=event), per_page=500)
    return sorted(page.entries, key=lambda e: e.seq)


def test_the_seed_logs_every_person_and_family_it_wrote_as_the_system(app):
    (entry,) = logged(app)  # nothing else has happened yet
    assert entry.event == "demo_data_seeded"
    assert (entry.outcome, entry.actor_user_id, entry.actor_organisation_id) == ("permitted", None, None)
    assert entry.actor_roles == ("system",) and entry.purpose == "administration"
    assert entry.detail["source"] == "seed-demo"
    assert entry.detail["what"].split(",") == [
        "protocols",
        "notice_versions",
        "families",
        "people",
        "relationships",
        "flags",
        "notices_given",
        "objections",
    ]
    with app.app_context():
        session = db.session()
        memberships = {
            (str(p), str(f)) for p, f in session.execute(select(FamilyMember.person_id, FamilyMember.family_id))
        }
        people = {str(p) for p in session.scalars(select(Person.id))}
        families = session.scalar(select(func.count()).select_from(Family))
        concerns = {
            (str(person), category)
            for person, category in session.execute(
                select(Flag.person_id, FlagConcern.category).join(FlagConcern, FlagConcern.flag_id == Flag.id)
            )
        }
    assert entry.detail["rows"] == str(len(people)) and entry.detail["families"] == str(families)
    assert {(s.person_id, s.family_id) for s in entry.subjects} == memberships
    assert {s.person_id for s in entry.subjects} == people
    assert {(s.person_id, c) for s in entry.subjects for c in s.categories} == concerns
    assert set(entry.categories) == {c for _, c in concerns}
    report = chain.verify(app.extensions["db_engine"], signing.trusted_keys(app))
    assert report.intact, report.problem


def test_a_second_seed_writes_nothing_and_logs_nothing(app):
    before = logged(app)
    with app.app_context():
        added = seed_demo(db.session(), issuer(app), nominations=False)
        db.session().commit()
    assert added == {"organisations": 0, "users": 0, "register": 0, "families": 0}
    assert logged(app) == before


def test_a_large_write_is_logged_in_entries_of_at_most_1000_subjects(app):
    subjects = [SubjectRef(person_id=uuid.uuid4(), categories=("health",) if i == 2400 else ()) for i in range(2500)]
    with app.app_context():
        seqs = record_system(
            db.session(),
            EventType.RECORDS_IMPORTED,
            subjects,
            {"source": "import-test", "what": "people", "file_sha256": "0" * 64, "rows": "2500"},
        )
        db.session().commit()
        entries = [get_entry(db.session(), seq) for seq in seqs]
    assert SYSTEM_SUBJECTS_PER_ENTRY == 1000
    assert [len(e.subjects) for e in entries] == [1000, 1000, 500]
    assert [s.person_id for e in entries for s in e.subjects] == [str(s.person_id) for s in subjects]
    assert [(e.detail["part"], e.detail["parts"]) for e in entries] == [("1", "3"), ("2", "3"), ("3", "3")]
    assert len({e.request_id for e in entries}) == 1 and entries[0].request_id  # one run, findable together
    assert [e.categories for e in entries] == [(), (), ("health",)]
    assert all(e.detail["source"] == "import-test" and e.actor_roles == ("system",) for e in entries)


def test_a_system_write_with_no_subjects_is_one_entry_without_parts(app):
    with app.app_context():
        (seq,) = record_system(
            db.session(),
            EventType.RECORDS_IMPORTED,
            [],
            {"source": "import-sharing", "what": "protocols", "file_sha256": "0" * 64, "rows": "1"},
        )
        db.session().commit()
        entry = get_entry(db.session(), seq)
    assert entry.subjects == () and "part" not in entry.detail


def test_an_entry_missing_its_required_detail_is_refused(app):
    with app.app_context(), pytest.raises(AuditUnavailable):
        record_system(db.session(), EventType.RECORDS_IMPORTED, [], {"source": "import-sharing"})


def test_a_seed_that_cannot_be_logged_writes_nothing(database_url, tmp_path: Path, monkeypatch):
    app = build_app(database_url, tmp_path, free_port())
    try:

        def refuse(*args, **kwargs):
            raise OperationalError("INSERT INTO access_log_entry", {}, Exception("disk full"))

        monkeypatch.setattr(chain, "append", refuse)
        result = app.test_cli_runner().invoke(args=["seed-demo"])
        assert result.exit_code != 0
        assert isinstance(result.exception, AuditUnavailable)
        monkeypatch.undo()
        with app.app_context():
            assert db.session().scalar(select(func.count()).select_from(Person)) == 0
            assert db.session().scalar(select(func.count()).select_from(Family)) == 0
        assert logged(app) == []
    finally:
        app.extensions["db_engine"].dispose()


def test_the_dpo_sees_a_system_entry_as_the_systems(live_app):
    app = live_app.app
    (seeded,) = logged(app, "demo_data_seeded")
    http, _ = dev_sign_in(live_app.url, "sf.dpo")
    listing = http.get(f"{live_app.url}/access-log", params={"event": "demo_data_seeded"}, timeout=10)
    assert listing.status_code == 200
    assert "System (command-line task)" in listing.text and "flask seed-demo" in listing.text
    assert "Unknown user" not in listing.text
    page = http.get(f"{live_app.url}/access-log/{seeded.seq}", timeout=10)
    assert page.status_code == 200 and h1(page.text) == f"Access log entry {seeded.seq}"
    assert "System (command-line task: flask seed-demo)" in page.text
    assert "None (a system task, not an organisation)" in page.text
    assert "Concerns written" in page.text and "What was shown" not in page.text
    assert "Kelly Brown" in page.text and "SF-000101" in page.text
    assert "Not signed in" not in page.text
    with app.app_context():
        report = chain.verify(app.extensions["db_engine"], signing.trusted_keys(app))
    assert report.intact, report.problem
