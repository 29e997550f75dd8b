"""Sign-in through the built-in development identity provider, end to end over HTTP, on both databases."""

from __future__ import annotations

import re

import pytest
import requests
from sqlalchemy import func, select

from portal import db
from portal.auth.models import ServerSession
from tests.signin import dev_sign_in, h1


def test_practitioner_signs_in_and_sees_who_they_are(live_app):
    http, response = dev_sign_in(live_app.url, "gp.practitioner")
    assert response.status_code == 200
    assert response.url == f"{live_app.url}/home"
    assert "Riverside Medical Practice" in response.text
    assert "Dr Priya Patel" in response.text
    assert "Practitioner" in response.text
    assert http.get(f"{live_app.url}/account", timeout=10).status_code == 200


@pytest.mark.parametrize(
    ("subject", "heading"),
    [
        ("school.disabled", "Your account has been disabled"),
        ("gp.unregistered", "You do not have an account for this service"),
        ("stranger.unknown-org", "Your organisation is not registered to use this service"),
    ],
)
def test_refused_accounts_get_a_clear_page_and_no_session(live_app, subject, heading):
    http, response = dev_sign_in(live_app.url, subject)
    assert response.status_code == 403
    assert h1(response.text) == heading
    home = http.get(f"{live_app.url}/home", timeout=10, allow_redirects=False)
    assert home.status_code == 302 and "/sign-in" in home.headers["Location"]


def test_session_id_changes_at_sign_in(live_app):
    http = requests.Session()
    http.get(f"{live_app.url}/auth/login/dev", timeout=10)
    before = http.cookies.get("portal_session")
    assert before, "the pre-sign-in session (holding state and nonce) should exist"
    dev_sign_in(live_app.url, "sf.coordinator", http)
    after = http.cookies.get("portal_session")
    assert after and after != before
    old = requests.get(f"{live_app.url}/home", cookies={"portal_session": before}, timeout=10, allow_redirects=False)
    assert old.status_code == 302


def test_sign_out_invalidates_the_session_on_the_server(live_app):
    http, _ = dev_sign_in(live_app.url, "sf.dpo")
    cookie = http.cookies.get("portal_session")
    page = http.get(f"{live_app.url}/home", timeout=10).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    out = http.post(f"{live_app.url}/sign-out", data={"csrf_token": token}, timeout=10)
    assert h1(out.text) == "You have signed out"
    copied = requests.get(f"{live_app.url}/home", cookies={"portal_session": cookie}, timeout=10, allow_redirects=False)
    assert copied.status_code == 302, "a copied cookie must not work after sign-out"
    with live_app.app.app_context():
        remaining = db.session().scalar(
            select(func.count()).select_from(ServerSession).where(ServerSession.user_id.is_not(None))
        )
    assert remaining == 0


def test_sign_out_without_csrf_token_is_refused(live_app):
    http, _ = dev_sign_in(live_app.url, "sf.dpo")
    response = http.post(f"{live_app.url}/sign-out", data={}, timeout=10)
    assert response.status_code == 400
    assert http.get(f"{live_app.url}/home", timeout=10, allow_redirects=False).status_code == 200


def test_idle_timeout_ends_the_session(live_app):
    http, _ = dev_sign_in(live_app.url, "gp.admin")
    from datetime import UTC, datetime, timedelta

    with live_app.app.app_context():
        session = db.session()
        for row in session.scalars(select(ServerSession)):
            row.last_seen_at = datetime.now(UTC) - timedelta(minutes=31)
        session.commit()
    response = http.get(f"{live_app.url}/home", timeout=10)
    assert response.url.startswith(f"{live_app.url}/sign-in")
    assert "You were signed out because you had not done anything for a while" in response.text


def test_absolute_lifetime_ends_an_active_session(live_app):
    http, _ = dev_sign_in(live_app.url, "gp.admin")
    from datetime import UTC, datetime, timedelta

    with live_app.app.app_context():
        session = db.session()
        for row in session.scalars(select(ServerSession)):
            row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
        session.commit()
    assert http.get(f"{live_app.url}/home", timeout=10, allow_redirects=False).status_code == 302


def test_role_without_permission_gets_a_403_that_says_why(live_app):
    from flask import Blueprint

    from portal.auth.rules import requires
    from portal.organisations.models import Role

    # a route registered only for this test, declared for coordinators
    app = live_app.app
    bp = Blueprint("probe", __name__)

    @bp.get("/probe/coordinators-only")
    @requires(Role.COORDINATOR)
    def coordinators_only():
        return "ok"

    app.register_blueprint(bp)
    http, _ = dev_sign_in(live_app.url, "gp.practitioner")
    response = http.get(f"{live_app.url}/probe/coordinators-only", timeout=10)
    assert response.status_code == 403
    assert "Supporting Families coordinator role" in response.text
    http2, _ = dev_sign_in(live_app.url, "sf.coordinator")
    assert http2.get(f"{live_app.url}/probe/coordinators-only", timeout=10).text == "ok"
