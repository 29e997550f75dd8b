"""Cached GOV.UK components (portal/templating.py) are exactly the library's macros' output, and the
sign-out form's CSRF token is always the request's own, never one cached from another session."""

from __future__ import annotations

import re

import pytest
from flask import session

from portal.app import create_app
from portal.templating import COMPONENTS, CSRF_PLACEHOLDER

PARAMS = {
    "generic-header": {"url": "/", "logoText": "Example Council"},
    "phase-banner": {"tag": {"text": "Beta"}, "html": "This is a <strong>new</strong> service."},
    "service-navigation": {
        "serviceName": "Partner portal",
        "serviceUrl": "/home",
        "navigation": [{"href": "/home", "text": "Home", "current": True}, {"href": "/flags", "text": "Flags"}],
        "navigationLabel": "Menu",
        "slots": {"navigationEnd": f'<li><input type="hidden" name="csrf_token" value="{CSRF_PLACEHOLDER}"></li>'},
    },
}


@pytest.fixture
def app(tmp_path):
    return create_app(
        env={
            "PORTAL_ENV": "test",
            "PORTAL_INSTANCE_PATH": str(tmp_path),
            "PORTAL_DATABASE_URL": f"sqlite:///{tmp_path / 'portal.sqlite3'}",
        }
    )


def _direct(app, component: str, params: dict) -> str:
    path, name = COMPONENTS[component]
    return str(getattr(app.jinja_env.get_template(path).module, name)(params))


@pytest.mark.parametrize("component", sorted(PARAMS))
def test_a_cached_component_is_the_library_macro_output(app, component):
    render = app.jinja_env.globals["govuk_component"]
    with app.test_request_context():
        first, again = str(render(component, PARAMS[component])), str(render(component, PARAMS[component]))
        token = session["csrf_token"] if CSRF_PLACEHOLDER in _direct(app, component, PARAMS[component]) else None
    expected = _direct(app, component, PARAMS[component])
    if token is None:
        assert first == again == expected
    else:
        assert CSRF_PLACEHOLDER not in first
        assert first == again != expected
        assert first == expected.replace(CSRF_PLACEHOLDER, re.search(r'value="([^"]+)"', first).group(1))


def test_different_parameters_are_different_entries(app):
    render = app.jinja_env.globals["govuk_component"]
    other = {**PARAMS["generic-header"], "logoText": "Another Council"}
    with app.test_request_context():
        assert "Another Council" in render("generic-header", other)
        assert "Another Council" not in render("generic-header", PARAMS["generic-header"])


def test_each_session_gets_its_own_csrf_token_in_cached_markup(app):
    render = app.jinja_env.globals["govuk_component"]
    tokens = []
    for _ in range(2):
        with app.test_request_context():
            html = str(render("service-navigation", PARAMS["service-navigation"]))
            tokens.append(re.search(r'name="csrf_token" value="([^"]+)"', html).group(1))
    assert tokens[0] != tokens[1]


def _normalised(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r">\s+<", "><", str(html).strip()))


@pytest.mark.parametrize(
    "rows",
    [
        [("Date of birth", "3 March 2012")],
        [("Name", "Kelly <Brown> & co"), ("Telephone", "Not given"), ("Email", "k@example.org")],
        [],
    ],
)
def test_the_plain_summary_list_is_the_library_summary_list(app, rows):
    """templates/macros/summary_list.html stands in for govukSummaryList on text rows; it must not drift."""
    ours = app.jinja_env.from_string(
        '{% from "macros/summary_list.html" import summary_list %}{{ summary_list(rows) }}'
    ).render(rows=rows)
    theirs = app.jinja_env.from_string(
        '{% from "govuk_frontend_jinja/components/summary-list/macro.html" import govukSummaryList %}'
        "{{ govukSummaryList(params) }}"
    ).render(params={"rows": [{"key": {"text": k}, "value": {"text": v}} for k, v in rows]})
    assert _normalised(ours) == _normalised(theirs)
    if any("<" in value for _, value in rows):
        assert "&lt;Brown&gt; &amp; co" in ours  # text is escaped, never markup


def _navigation(html: str) -> list[tuple[str, bool]]:
    """(text, current) of each navigation link."""
    items = re.findall(
        r'<li class="govuk-service-navigation__item( govuk-service-navigation__item--active)?">\s*<a[^>]*>\s*'
        r"(?:<strong[^>]*>)?\s*([^<]+?)\s*<",
        html,
    )
    return [(text, bool(active)) for active, text in items]


HOME, NOMINATIONS, TRIAGE, FLAGS, LOG, ACCOUNT = (
    "Home",
    "Your nominations",
    "Triage",
    "Flagged people",
    "Access log",
    "Your account",
)


@pytest.mark.parametrize(
    ("subject", "page", "expected"),
    [
        ("gp.practitioner", "/home", [(HOME, True), (NOMINATIONS, False), (FLAGS, False), (ACCOUNT, False)]),
        ("gp.practitioner", "/flags", [(HOME, False), (NOMINATIONS, False), (FLAGS, True), (ACCOUNT, False)]),
        ("sf.coordinator", "/triage", [(HOME, False), (TRIAGE, True), (FLAGS, False), (ACCOUNT, False)]),
        ("sf.dpo", "/access-log", [(HOME, False), (LOG, True), (ACCOUNT, False)]),
        ("school.admin", "/account", [(HOME, False), (ACCOUNT, True)]),
    ],
)
def test_the_navigation_shows_what_the_users_roles_allow_and_marks_the_page(subject, page, expected, tmp_path):
    from flask_login import login_user
    from sqlalchemy import select

    from portal import db
    from portal.auth.current import load
    from portal.organisations.models import User
    from tests.conftest import build_app, seeded

    app = seeded(build_app(f"sqlite:///{tmp_path / 'nav.sqlite3'}", tmp_path, 5999))
    with app.test_request_context(page):
        user = load(db.session(), db.session().scalar(select(User.id).where(User.subject == subject)))
        login_user(user)
        html = str(app.jinja_env.globals["service_navigation"]())
        again = str(app.jinja_env.globals["service_navigation"]())
    assert _navigation(html) == expected
    assert re.sub(r'value="[^"]+"', "", html) == re.sub(r'value="[^"]+"', "", again)  # cached, the token apart
    assert CSRF_PLACEHOLDER not in html and "Sign out" in html
