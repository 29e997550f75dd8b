"""Sign-in, refused sign-in and sign-out each leave the right access-log entry; the CLI verifies the log
and says so in its exit code. On SQLite and PostgreSQL."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import requests
from sqlalchemy import Row, delete, select, update

from portal import db
from portal.access_log import signing
from portal.access_log.events import SYSTEM_EVENTS
from portal.access_log.models import AccessLogEntry
from portal.access_log.search import LogFilters, search_log
from portal.organisations.models import Organisation, User, UserRole
from tests.conftest import build_app, free_port, seeded
from tests.integration.test_access_log import tampering
from tests.signin import dev_sign_in


def entries(app) -> list[Row]:
    """The log's entries but those of command-line tasks (the demo seed logs what it wrote)."""
    with app.app_context():
        return list(
            db.session().execute(
                select(AccessLogEntry.__table__)
                .where(AccessLogEntry.event.not_in([e.value for e in SYSTEM_EVENTS]))
                .order_by(AccessLogEntry.seq)
            )
        )


def user_id(app, subject: str) -> str:
    with app.app_context():
        return str(db.session().scalar(select(User.id).where(User.subject == subject)))


def organisation_id(app, code: str) -> str:
    with app.app_context():
        return str(db.session().scalar(select(Organisation.id).where(Organisation.code == code)))


def test_a_sign_in_is_logged_with_who_and_from_where(live_app):
    _http, response = dev_sign_in(live_app.url, "gp.practitioner")
    assert response.status_code == 200
    (entry,) = entries(live_app.app)
    assert (entry.event, entry.outcome) == ("signed_in", "permitted")
    assert entry.actor_user_id == user_id(live_app.app, "gp.practitioner")
    assert uuid.UUID(entry.actor_organisation_id)
    assert entry.actor_roles == "practitioner"
    assert entry.detail == '{"provider":"dev"}'
    assert entry.ip == "127.0.0.1"
    assert entry.user_agent.startswith("python-requests/")
    assert re.fullmatch(r"[0-9a-f]{32}", entry.request_id)
    assert entry.subject_count == 0


def test_a_refused_sign_in_is_logged_as_denied_with_the_reason_and_the_disabled_user(live_app):
    _http, response = dev_sign_in(live_app.url, "school.disabled")
    assert response.status_code == 403
    (entry,) = entries(live_app.app)
    assert (entry.event, entry.outcome) == ("sign_in_failed", "denied")
    # the DPO finds a disabled account's attempts by user and by organisation
    assert entry.actor_user_id == user_id(live_app.app, "school.disabled")
    assert entry.actor_organisation_id == organisation_id(live_app.app, "999101")
    assert entry.actor_roles == ""  # nobody was signed in: no role was exercised
    assert entry.detail == (
        '{"organisation_claim":"urn:999101","provider":"dev","refusal":"user_disabled","subject":"school.disabled"}'
    )
    with live_app.app.app_context():
        found = search_log(db.session(), LogFilters(actor_user_id=entry.actor_user_id))
    assert [e.seq for e in found.entries] == [entry.seq]


def test_a_refused_sign_in_of_a_user_without_roles_names_the_user(live_app):
    with live_app.app.app_context():
        session = db.session()
        session.execute(delete(UserRole).where(UserRole.user_id == uuid.UUID(user_id(live_app.app, "gp.admin"))))
        session.commit()
    _http, response = dev_sign_in(live_app.url, "gp.admin")
    assert response.status_code == 403
    (entry,) = entries(live_app.app)
    assert (entry.event, entry.outcome) == ("sign_in_failed", "denied")
    assert '"refusal":"no_roles"' in entry.detail
    assert entry.actor_user_id == user_id(live_app.app, "gp.admin")
    assert entry.actor_organisation_id == organisation_id(live_app.app, "Y99001")


def test_a_refused_sign_in_of_an_unknown_user_names_the_organisation_only(live_app):
    _http, response = dev_sign_in(live_app.url, "gp.unregistered")
    assert response.status_code == 403
    (entry,) = entries(live_app.app)
    assert (entry.event, entry.outcome) == ("sign_in_failed", "denied")
    assert '"refusal":"user_not_registered"' in entry.detail and '"subject":"gp.unregistered"' in entry.detail
    assert entry.actor_user_id is None
    assert entry.actor_organisation_id == organisation_id(live_app.app, "Y99001")


def test_a_refused_sign_in_from_an_unknown_organisation_names_nobody(live_app):
    _http, response = dev_sign_in(live_app.url, "stranger.unknown-org")
    assert response.status_code == 403
    (entry,) = entries(live_app.app)
    assert '"refusal":"organisation_not_registered"' in entry.detail
    assert entry.actor_user_id is None and entry.actor_organisation_id is None


def test_an_invalid_callback_is_logged_as_a_failed_sign_in(live_app):
    response = requests.get(f"{live_app.url}/auth/callback/dev?code=x&state=forged", timeout=10)
    assert response.status_code == 400
    (entry,) = entries(live_app.app)
    assert (entry.event, entry.outcome) == ("sign_in_failed", "denied")
    assert entry.detail == '{"provider":"dev","refusal":"invalid_response"}'


def test_a_sign_out_is_logged(live_app):
    http, _ = dev_sign_in(live_app.url, "sf.dpo")
    page = http.get(f"{live_app.url}/home", timeout=10).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    http.post(f"{live_app.url}/sign-out", data={"csrf_token": token}, timeout=10)
    signed_in, signed_out = entries(live_app.app)
    assert (signed_out.event, signed_out.outcome) == ("signed_out", "permitted")
    assert signed_out.actor_user_id == signed_in.actor_user_id == user_id(live_app.app, "sf.dpo")
    assert signed_out.actor_organisation_id == signed_in.actor_organisation_id
    assert signed_out.actor_roles == "dpo"
    assert signed_out.request_id != signed_in.request_id


def test_a_refused_sign_out_is_not_logged(live_app):
    http, _ = dev_sign_in(live_app.url, "sf.dpo")
    assert http.post(f"{live_app.url}/sign-out", data={}, timeout=10).status_code == 400
    assert [e.event for e in entries(live_app.app)] == ["signed_in"]


# -- the CLI -----------------------------------------------------------------------------------------


def test_audit_verify_reports_an_intact_log_and_exits_0(database_url, tmp_path: Path):
    app = seeded(build_app(database_url, tmp_path, free_port(), {"PORTAL_AUDIT_CHECKPOINT_INTERVAL": "2"}))
    try:
        client = app.test_client()
        for _ in range(5):
            client.get("/auth/callback/dev?code=x&state=forged")
        result = app.test_cli_runner().invoke(args=["audit-verify"])
        assert result.exit_code == 0, result.output
        # entry 1 is the demo seed's (it logs the people it wrote), then the five refusals
        assert result.output.strip() == "Access log intact up to entry 6 (6 entries, 3 checkpoints)"
    finally:
        app.extensions["db_engine"].dispose()


def test_audit_verify_names_the_first_bad_entry_and_exits_1(database_url, tmp_path: Path):
    app = seeded(build_app(database_url, tmp_path, free_port()))
    try:
        client = app.test_client()
        for _ in range(4):
            client.get("/auth/callback/dev?code=x&state=forged")
        with tampering(app.extensions["db_engine"]) as connection:
            connection.execute(update(AccessLogEntry).where(AccessLogEntry.seq == 3).values(ip="203.0.113.9"))
        result = app.test_cli_runner().invoke(args=["audit-verify"])
        assert result.exit_code == 1
        assert "first bad entry 3: entry 3 was changed" in result.output
        assert "Entries 1 to 2 verified" in result.output
    finally:
        app.extensions["db_engine"].dispose()


def test_audit_keygen_prints_a_usable_production_key(database_url, tmp_path: Path):
    app = build_app(database_url, tmp_path, free_port())
    try:
        result = app.test_cli_runner().invoke(args=["audit-keygen"])
        assert result.exit_code == 0
        key = signing.parse_private_key(result.output, "output")
        assert not signing.is_development_key(result.output)
        assert signing.public_pem(key.public_key()) in result.output
        assert signing.key_id(key.public_key()) in result.output
    finally:
        app.extensions["db_engine"].dispose()


def test_older_public_keys_from_configuration_still_verify_their_checkpoints(database_url, tmp_path: Path):
    """After a key rotation the old key's public half, listed in the trusted keys file, checks old
    checkpoints; without it they are reported."""
    old = tmp_path / "old"
    first = build_app(database_url, old, free_port(), {"PORTAL_AUDIT_CHECKPOINT_INTERVAL": "2"})
    try:
        for _ in range(2):
            first.test_client().get("/auth/callback/dev?code=x&state=forged")
        old_public = signing.public_pem(signing.sealer(first).private_key.public_key())
    finally:
        first.extensions["db_engine"].dispose()
    trusted = tmp_path / "trusted.pem"
    trusted.write_text(old_public)
    for extra, expected in (({}, 1), ({"PORTAL_AUDIT_TRUSTED_KEYS_FILE": str(trusted)}, 0)):
        app = build_app(database_url, tmp_path / f"new{expected}", free_port(), extra)
        try:
            result = app.test_cli_runner().invoke(args=["audit-verify"])
            assert result.exit_code == expected, result.output
        finally:
            app.extensions["db_engine"].dispose()
