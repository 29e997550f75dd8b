"""The sharing register (YAML) and service relationships (CSV) imports: all or nothing, and explained."""

from __future__ import annotations

from datetime import date
from importlib import resources

import pytest
import yaml
from sqlalchemy import func, select

from portal import db
from portal.demo.families import synthetic_nhs_number
from portal.families.imports import ImportRefused, import_relationships
from portal.families.models import Person, RelationshipKind, ServiceRelationship
from portal.organisations.models import Organisation
from portal.register import import_register, load_register_text
from sharing_protocols.models import SharingProtocol
from sharing_protocols.service import RegisterError


def demo_register() -> dict:
    return load_register_text(resources.files("portal.demo").joinpath("sharing_register.yaml").read_text())


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


def test_reimporting_the_register_replaces_and_counts(app):
    with app.app_context():
        counts = import_register(db.session(), demo_register())
        assert counts["protocols"] == {"created": 0, "updated": 5}
        assert counts["notice_versions"] == {"created": 0, "updated": 2}


def test_cli_reports_problems_and_exits_1(app, tmp_path):
    bad = tmp_path / "register.yaml"
    bad.write_text(yaml.safe_dump({"protocols": [{"reference": "X"}]}))
    result = app.test_cli_runner().invoke(args=["import-sharing", str(bad)])
    assert result.exit_code == 1
    assert "Nothing was imported" in result.output and "protocols[0].version: is required" in result.output


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
        upn = pupil.upn
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


def test_the_documented_example_register_is_valid_and_is_the_demo_register(app):
    from pathlib import Path

    example = Path(__file__).resolve().parents[2] / "docs" / "sharing-register.example.yaml"
    assert load_register_text(example.read_text()) == demo_register()
