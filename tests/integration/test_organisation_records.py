"""The writers of organisations, users and their roles (``portal.organisations.records``), and the demo
seed that writes its organisations and users through them, once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from portal import db
from portal.auth.dev_idp import issuer
from portal.demo.seed import demo_document, seed_demo
from portal.organisations import records
from portal.organisations.models import CodeScheme, Organisation, OrganisationKind, Role, User, UserRole
from tests.conftest import build_app, free_port


@pytest.fixture
def bare_app(database_url, tmp_path) -> Iterator[Flask]:
    """The portal on a migrated, empty database."""
    app = build_app(database_url, tmp_path, free_port())
    yield app
    app.extensions["db_engine"].dispose()


def _school(session) -> Organisation:
    return records.add_organisation(
        session, kind=OrganisationKind.SCHOOL, name="Exeter Primary", code_scheme=CodeScheme.URN, code="999001"
    )


def test_an_organisation_and_its_user_are_written_with_their_roles(bare_app):
    with bare_app.app_context():
        session = db.session()
        school = _school(session)
        user = records.add_user(
            session,
            issuer="https://idp.example.test",
            subject="teacher-1",
            organisation_id=school.id,
            display_name="Alex Teacher",
            email="alex@example.test",
            roles=[Role.PRACTITIONER, Role.ORG_ADMIN, Role.PRACTITIONER],
            job_title="Designated safeguarding lead",
        )
        assert school.id is not None and user.id is not None  # flushed: the ids are known
        session.commit()
        session.expunge_all()
        found = session.scalar(select(User).where(User.subject == "teacher-1"))
        assert found is not None
        assert found.organisation.name == "Exeter Primary" and found.organisation.active
        assert found.roles == {Role.PRACTITIONER, Role.ORG_ADMIN}
        assert (found.job_title, found.phone, found.disabled) == ("Designated safeguarding lead", None, False)


def test_a_second_organisation_with_the_same_code_or_user_with_the_same_subject_is_refused(bare_app):
    with bare_app.app_context():
        session = db.session()
        school = _school(session)
        session.commit()
        with pytest.raises(IntegrityError):
            _school(session)
        session.rollback()
        user = {
            "issuer": "https://idp.example.test",
            "subject": "teacher-1",
            "organisation_id": school.id,
            "display_name": "Alex Teacher",
            "email": None,
            "roles": [Role.PRACTITIONER],
        }
        records.add_user(session, **user)
        session.commit()
        with pytest.raises(IntegrityError):
            records.add_user(session, **user)
        session.rollback()


def test_the_demo_seed_writes_its_organisations_and_users_once(bare_app):
    doc = demo_document()
    with bare_app.app_context():
        session = db.session()
        first = seed_demo(session, issuer(bare_app), nominations=False)
        session.commit()
        again = seed_demo(session, issuer(bare_app), nominations=False)
        session.commit()
        assert (first["organisations"], first["users"]) == (len(doc["organisations"]), len(doc["users"]))
        assert (again["organisations"], again["users"]) == (0, 0)
        assert session.scalar(select(func.count()).select_from(Organisation)) == len(doc["organisations"])
        assert session.scalar(select(func.count()).select_from(User)) == len(doc["users"])
        grants = sum(len(u["roles"]) for u in doc["users"])
        assert session.scalar(select(func.count()).select_from(UserRole)) == grants
        for u in doc["users"]:
            user = session.scalar(select(User).where(User.issuer == issuer(bare_app), User.subject == u["subject"]))
            assert user is not None, u["subject"]
            org = user.organisation
            assert f"{org.code_scheme.value}:{org.code}" == u["organisation"]
            assert (user.display_name, user.email, user.disabled) == (u["name"], u["email"], bool(u.get("disabled")))
            assert (user.job_title, user.phone) == (u.get("job_title"), u.get("phone"))
            assert user.roles == {Role(r) for r in u["roles"]}
