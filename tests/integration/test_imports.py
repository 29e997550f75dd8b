"""The sharing register (YAML) and service relationships (CSV) imports: all or nothing, explained, and
logged as system entries in the access log (the people matched or affected, and the file's SHA-256)."""

from __future__ import annotations

import hashlib
import uuid
from datetime import date
from importlib import resources

import pytest
import yaml
from sqlalchemy import func, select

from consent.models import NoticeGiven, NoticeGivenMember, NoticeVersion
from portal import db
from portal.access_log.search import LogFilters, LoggedEntry, search_log
from portal.families.identifiers import synthetic_nhs_number
from portal.families.imports import ImportRefused, import_relationships
from portal.families.models import FamilyMember, Person, RelationshipKind, ServiceRelationship
from portal.organisations.models import Organisation
from sharing_protocols.register.file import import_register, load_register_text
from sharing_protocols.register.models import SharingProtocol
from sharing_protocols.register.service import RegisterError


def demo_register() -> dict:
    return load_register_text(resources.files("portal.demo").joinpath("sharing_register.yaml").read_text())


def imported(app) -> list[LoggedEntry]:
    """The log's records_imported entries, oldest first."""
    with app.app_context():
        page = search_log(db.session(), LogFilters(event="records_imported"), per_page=500)
    return sorted(page.entries, key=lambda e: e.seq)


def log_size(app) -> int:
    with app.app_context():
        return len(search_log(db.session(), LogFilters(), per_page=500).entries)


def relationship_rows(app) -> list[tuple]:
    with app.app_context():
        return sorted(
            db.session()
            .execute(
                select(
                    ServiceRelationship.organisation_id,
                    ServiceRelationship.person_id,
                    ServiceRelationship.kind,
                    ServiceRelationship.valid_to,
                )
            )
            .all()
        )


def test_a_register_with_mistakes_is_refused_whole_with_every_problem_located(app):
    register = demo_register()
    register["protocols"][0]["status"] = "active"
    register["protocols"][1]["flows"][0]["categories"].append("astrology")
    register["protocols"][2]["valid_to"] = "31/03/2024"
    register["protocols"][3]["parties"] = {"organisations": ["ods:NOPE", "Y99001"]}
    register["notice_versions"][0]["coverage"]["school"].append("health ")
    with app.app_context():
        before = db.session().scalars(select(SharingProtocol.status)).all()
        with pytest.raises(RegisterError) as refused:
            import_register(db.session(), register)
        db.session().rollback()
        assert db.session().scalars(select(SharingProtocol.status)).all() == before
    problems = "\n".join(refused.value.problems)
    assert "protocols[0].status: 'active' is not one of" in problems
    assert "protocols[1].flows[0].categories[4]: 'astrology'" in problems
    assert "protocols[2].valid_to: must be a date written YYYY-MM-DD" in problems
    assert "protocols[3].parties.organisations[1]: 'Y99001' must be written scheme:code" in problems
    assert "notice_versions[0].coverage.school[3]: 'health '" in problems


def test_a_party_that_is_not_registered_is_refused(app):
    register = demo_register()
    register["protocols"][0]["parties"] = {"organisations": ["ods:Y12345"]}
    with app.app_context(), pytest.raises(RegisterError, match="ods:Y12345 is not registered"):
        import_register(db.session(), register)


@pytest.mark.parametrize("text", ["protocols: [", "- just a list", "protocols: []\nsurprise: 1"])
def test_unreadable_register_files_are_refused(text):
    with pytest.raises(RegisterError):
        load_register_text(text)


def test_reimporting_the_register_replaces_what_changed_and_counts(app):
    with app.app_context():
        counts = import_register(db.session(), demo_register())
        assert counts["protocols"] == {"created": 0, "updated": 0, "unchanged": 5}
        assert counts["notice_versions"] == {"created": 0, "updated": 0, "unchanged": 2}
        register = demo_register()
        register["protocols"][0]["review_on"] = "2031-01-31"
        register["notice_versions"][0]["coverage"]["school"].remove("children_need_help")
        register["notice_versions"].append({**register["notice_versions"][1], "version": "3"})
        counts = import_register(db.session(), register)
        assert counts["protocols"] == {"created": 0, "updated": 1, "unchanged": 4}
        assert counts["notice_versions"] == {"created": 1, "updated": 1, "unchanged": 1}
        db.session().commit()
        v1 = db.session().scalar(select(NoticeVersion).where(NoticeVersion.version == "1"))
        assert ("school", "children_need_help") not in {(c.recipient_kind, c.category) for c in v1.coverage}


def test_cli_reports_problems_and_exits_1(app, tmp_path):
    bad = tmp_path / "register.yaml"
    bad.write_text(yaml.safe_dump({"protocols": [{"reference": "X"}]}))
    result = app.test_cli_runner().invoke(args=["import-sharing", str(bad)])
    assert result.exit_code == 1
    assert "Nothing was imported" in result.output and "protocols[0].version: is required" in result.output
    assert imported(app) == []


def test_cli_import_sharing_logs_the_people_whose_notice_it_changed_with_the_file_hash(app, tmp_path):
    register = demo_register()
    register["notice_versions"][0]["coverage"]["school"].remove("children_need_help")  # FPN-SF v1
    path = tmp_path / "register.yaml"
    path.write_text(yaml.safe_dump(register, sort_keys=False))
    before = log_size(app)
    result = app.test_cli_runner().invoke(args=["import-sharing", str(path)])
    assert result.exit_code == 0, result.output
    assert "notice versions 0 new, 1 replaced, 1 unchanged" in result.output
    (entry,) = imported(app)
    assert log_size(app) == before + 1
    assert (entry.outcome, entry.actor_user_id, entry.actor_organisation_id) == ("permitted", None, None)
    assert entry.actor_roles == ("system",) and entry.purpose == "administration"
    assert entry.detail["source"] == "import-sharing" and entry.detail["what"] == "notice_versions"
    assert entry.detail["file_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert entry.detail["rows"] == "7" and entry.detail["notice_versions_updated"] == "1"
    with app.app_context():
        given_v1 = set(
            db.session().execute(
                select(NoticeGivenMember.person_id, NoticeGiven.family_id)
                .join(NoticeGiven, NoticeGiven.id == NoticeGivenMember.notice_id)
                .join(NoticeVersion, NoticeVersion.id == NoticeGiven.version_id)
                .where(NoticeVersion.version == "1")
            )
        )
    assert given_v1  # the Brown family was given version 1
    assert {(uuid.UUID(s.person_id), uuid.UUID(s.family_id)) for s in entry.subjects} == given_v1
    # the same file again changes nothing, so it logs nothing
    again = app.test_cli_runner().invoke(args=["import-sharing", str(path)])
    assert again.exit_code == 0 and "0 new, 0 replaced, 5 unchanged" in again.output
    assert log_size(app) == before + 1


def test_cli_import_sharing_refuses_a_file_that_is_not_utf8(app, tmp_path):
    path = tmp_path / "register.yaml"
    path.write_bytes(b"protocols: []\nnotice_versions: [\xff]\n")
    result = app.test_cli_runner().invoke(args=["import-sharing", str(path)])
    assert result.exit_code == 1 and "not UTF-8" in result.output
    assert imported(app) == []


def _gp(session):
    return session.scalar(select(Organisation).where(Organisation.code == "Y99001"))


def test_csv_relationships_are_matched_by_blind_index_and_the_rest_reported(app):
    with app.app_context():
        session = db.session()
        gp = _gp(session)
        known = sorted(p.nhs_number for p in session.scalars(select(Person)) if p.nhs_number)
        served_before = session.scalar(
            select(func.count()).select_from(ServiceRelationship).where(ServiceRelationship.organisation_id == gp.id)
        )
        text = "\n".join(
            [
                "NHS_Number,valid_from",
                f"{known[0][:3]} {known[0][3:6]} {known[0][6:]},",  # already served: present
                "943 476 5910,",  # bad check digit
                f"{synthetic_nhs_number(77_777)},",  # valid, but nobody known
                f"{known[0]},",  # duplicate of line 2
                f"{known[1]},2099-01-01",  # future
                ",",
            ]
        )
        report = import_relationships(
            session, gp.id, RelationshipKind.REGISTERED_PATIENT, text, today=date.today(), replace=True
        )
        session.commit()
        assert report.rows == 6
        assert [line for line, _ in report.invalid] == [3, 6, 7]
        assert report.unmatched == [4] and report.duplicates == [5]
        assert report.already_present == 1 and report.added == 0
        assert report.ended == served_before - 1  # --replace ends everyone not in the file
        live = session.scalar(
            select(func.count())
            .select_from(ServiceRelationship)
            .where(ServiceRelationship.organisation_id == gp.id, ServiceRelationship.valid_to.is_(None))
        )
        assert live == 1


def test_csv_with_the_wrong_header_writes_nothing(app):
    with app.app_context():
        session = db.session()
        with pytest.raises(ImportRefused, match="upn"):
            import_relationships(
                session, _gp(session).id, RelationshipKind.ON_ROLL, "nhs_number\n1\n", today=date.today()
            )


def test_cli_imports_relationships_and_prints_the_report(app, tmp_path):
    with app.app_context():
        pupil = next(p for p in db.session().scalars(select(Person)) if p.upn)
        upn, pupil_id = pupil.upn, pupil.id
    csv_file = tmp_path / "roll.csv"
    csv_file.write_text(f"upn\n{upn.lower()}\nNOT-A-UPN\n")
    result = app.test_cli_runner().invoke(
        args=["import-relationships", "--organisation", "urn:999101", "--kind", "on_roll", str(csv_file)]
    )
    assert result.exit_code == 0, result.output
    assert (
        "2 rows; 0 added, 1 already present" in result.output
        and "line 3: 'NOT-A-UPN' is not a valid UPN" in result.output
    )
    # the person matched is logged, with the file's hash: the import read their relationship
    (entry,) = imported(app)
    assert [uuid.UUID(s.person_id) for s in entry.subjects] == [pupil_id]
    assert entry.subjects[0].family_id is not None
    assert entry.detail["file_sha256"] == hashlib.sha256(csv_file.read_bytes()).hexdigest()
    assert entry.detail["source"] == "import-relationships" and entry.detail["what"] == "relationships"
    assert entry.detail["rows"] == "2" and entry.detail["kind"] == "on_roll"


def test_cli_import_with_replace_logs_the_people_matched_and_those_whose_relationship_it_ended(app, tmp_path):
    with app.app_context():
        session = db.session()
        gp_id = _gp(session).id
        served = set(
            session.scalars(select(ServiceRelationship.person_id).where(ServiceRelationship.organisation_id == gp_id))
        )
        kelly = next(p for p in session.scalars(select(Person)) if p.full_name == "Kelly Brown")
        kelly_id, kelly_nhs = kelly.id, kelly.nhs_number
        memberships = set(session.execute(select(FamilyMember.person_id, FamilyMember.family_id)))
    csv_file = tmp_path / "patients.csv"
    csv_file.write_text(f"nhs_number\r\n{kelly_nhs}\r\n{synthetic_nhs_number(77_777)}\r\n")
    gp_patients = ["import-relationships", "--organisation", "ods:Y99001", "--kind", "registered_patient"]
    result = app.test_cli_runner().invoke(args=[*gp_patients, "--replace", str(csv_file)])
    assert result.exit_code == 0, result.output
    assert f"0 added, 1 already present, {len(served) - 1} ended" in result.output
    (entry,) = imported(app)
    assert {uuid.UUID(s.person_id) for s in entry.subjects} == served and kelly_id in served
    assert {(uuid.UUID(s.person_id), uuid.UUID(s.family_id)) for s in entry.subjects} <= memberships
    assert (entry.detail["added"], entry.detail["already_present"]) == ("0", "1")
    assert entry.detail["ended"] == str(len(served) - 1)
    assert entry.detail["organisation_id"] == str(gp_id)


@pytest.mark.parametrize(
    "content",
    [b"nhs_number\n1\n", b"upn\n\xff\xfe\n"],
    ids=["wrong-header", "not-utf8"],
)
def test_a_refused_relationships_import_writes_neither_data_nor_log_entry(app, tmp_path, content):
    csv_file = tmp_path / "roll.csv"
    csv_file.write_bytes(content)
    relationships, entries = relationship_rows(app), log_size(app)
    result = app.test_cli_runner().invoke(
        args=["import-relationships", "--organisation", "urn:999101", "--kind", "on_roll", "--replace", str(csv_file)]
    )
    assert result.exit_code == 1 and "Nothing was imported" in result.output
    assert relationship_rows(app) == relationships
    assert log_size(app) == entries and imported(app) == []


def test_an_import_that_matches_nobody_logs_nothing(app, tmp_path):
    csv_file = tmp_path / "patients.csv"
    csv_file.write_text(f"nhs_number\n{synthetic_nhs_number(77_777)}\n")
    result = app.test_cli_runner().invoke(
        args=["import-relationships", "--organisation", "ods:Y99001", "--kind", "registered_patient", str(csv_file)]
    )
    assert result.exit_code == 0, result.output
    assert imported(app) == []


def test_the_documented_example_register_is_valid_and_is_the_demo_register(app):
    from pathlib import Path

    example = Path(__file__).resolve().parents[2] / "docs" / "sharing-register.example.yaml"
    assert load_register_text(example.read_text()) == demo_register()
