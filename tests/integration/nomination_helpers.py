"""Builders for the nomination tests: an app per framework file, contexts for the demo users, routes by
sector and category, valid people, and complete drafts made through the journey's own services.

Plain functions (no fixtures), so each test module states its own fixtures in two lines.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import select, text

from portal import db
from portal.families.identifiers import synthetic_nhs_number, synthetic_upn
from portal.gate import AccessContext
from portal.organisations.models import Role, User, UserRole
from referrals.framework import Framework, Route
from referrals.journey import service
from referrals.models import Nomination
from tests.conftest import build_app, free_port, seeded

#: the shipped framework files: every nomination integration test runs under both
FRAMEWORKS = ("troubled_families_2015", "supporting_families_2022")


def nomination_app(database_url: str, tmp_path: Path, framework: str, port: int | None = None) -> Flask:
    """The seeded portal running ``framework``."""
    return seeded(build_app(database_url, tmp_path, port or free_port(), {"PORTAL_FRAMEWORK_FILE": framework}))


def framework_of(app: Flask) -> Framework:
    return app.extensions["framework"]


def context(app: Flask, subject: str) -> AccessContext:
    with app.app_context():
        user = db.session().scalar(select(User).where(User.subject == subject))
        assert user is not None, subject
        return AccessContext(
            user_id=user.id,
            organisation_id=user.organisation_id,
            organisation_kind=user.organisation.kind.value,
            roles=frozenset(r.role.value for r in user.role_grants),
            request_id=uuid.uuid4().hex,
            ip="127.0.0.1",
            user_agent="pytest",
        )


def add_colleague(app: Flask, of_subject: str, subject: str, roles: tuple[Role, ...] = (Role.PRACTITIONER,)) -> str:
    """Another user in the same organisation as ``of_subject`` (the demo has one practitioner each)."""
    with app.app_context():
        session = db.session()
        other = session.scalar(select(User).where(User.subject == of_subject))
        assert other is not None
        session.add(
            User(
                issuer=other.issuer,
                subject=subject,
                display_name=f"Colleague {subject}",
                email=f"{subject}@example.test",
                organisation_id=other.organisation_id,
                role_grants=[UserRole(role=r) for r in roles],
            )
        )
        session.commit()
    return subject


def route_for(framework: Framework, kind: str, category: str) -> Route:
    """The framework's route open to this sector that evidences this category."""
    routes = [r for r in framework.routes_for(kind) if r.category == category]
    assert routes, f"{framework.key} has no {category} route for {kind}"
    return routes[0]


def route_not_for(framework: Framework, kind: str) -> Route:
    """A route of the framework that this sector may not use."""
    return next(r for r in framework.routes if kind not in r.sectors)


_counter = iter(range(5000, 10_000))


def a_person(**overrides: Any) -> service.PersonAnswers:
    """A valid, invented person (NHS number in the never-issued 999 range, a UPN with LA code 999)."""
    n = next(_counter)
    values: dict[str, Any] = {
        "given_name": "Jamie",
        "family_name": f"Tester{n}",
        "date_of_birth": date(2015, 4, 3),
        "nhs_number": synthetic_nhs_number(700_000 + n),
        "upn": synthetic_upn(n),
        "postcode": "EX1 1AA",
        "role": "subject",
    }
    return service.PersonAnswers(**{**values, **overrides})


def complete_draft(
    app: Flask,
    ctx: AccessContext,
    route: Route,
    person: service.PersonAnswers | None = None,
    *,
    members: tuple[service.PersonAnswers, ...] = (),
    told: str = "told_and_notice_given",
) -> uuid.UUID:
    """A draft with every answer, made page by page through the services (one commit per page)."""
    framework = framework_of(app)
    draft_id = uuid.uuid4()

    def page(call, *args, **kwargs):
        with app.app_context():
            result = call(db.session(), ctx, *args, **kwargs)
            db.session().commit()
            return result

    assert page(service.start_draft, framework, draft_id, immediate_risk=False) == draft_id
    page(service.choose_route, framework, draft_id, route.key)
    page(service.save_person, draft_id, person or a_person())
    for member in members:
        page(service.add_member, draft_id, member)
    page(service.save_concern, draft_id, "Misses most Mondays; seems tired and hungry.")
    page(service.save_tried, draft_id, "Two meetings with the parents and a referral to the school nurse.")
    if page(service.save_family_told, draft_id, told):
        page(service.save_not_told_reason, draft_id, "The parent asked us to wait until after a hospital appointment.")
    return draft_id


def call(app: Flask, function, *args, **kwargs):
    """Run a service function in its own transaction, committed when it returns (as ``commits`` does)."""
    with app.app_context():
        result = function(db.session(), *args, **kwargs)
        db.session().commit()
        return result


def version_of(app: Flask, nomination_id: uuid.UUID) -> int:
    with app.app_context():
        return db.session().scalar(select(Nomination.version).where(Nomination.id == nomination_id))


def nomination(app: Flask, nomination_id: uuid.UUID) -> Nomination:
    with app.app_context():
        found = db.session().get(Nomination, nomination_id)
        assert found is not None
        db.session().expunge(found)
        return found


def log_entries(app: Flask, after: int = 0) -> list[Any]:
    """(seq, event, outcome, reasons, protocol_refs, detail) of entries after ``after``."""
    with app.app_context():
        return list(
            db.session().execute(
                text(
                    "SELECT seq, event, outcome, reasons, protocol_refs, detail FROM access_log_entry "
                    "WHERE seq > :after ORDER BY seq"
                ),
                {"after": after},
            )
        )


def last_seq(app: Flask) -> int:
    with app.app_context():
        return db.session().execute(text("SELECT coalesce(max(seq), 0) FROM access_log_entry")).scalar_one()


def count_nominations(app: Flask) -> int:
    with app.app_context():
        return db.session().execute(text("SELECT count(*) FROM nomination")).scalar_one()


def disposed(app: Flask) -> Iterator[Flask]:
    try:
        yield app
    finally:
        app.extensions["db_engine"].dispose()
