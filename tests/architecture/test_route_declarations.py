"""Deny by default: every route declares who may call it, and the declaration is enforced."""

from __future__ import annotations

import re

import pytest
from flask import Blueprint

from portal.auth.rules import PUBLIC, declaration

#: the only endpoints anyone may call without signing in
PUBLIC_ENDPOINTS = {
    "main.start",
    "main.healthz",
    "auth.choose_provider",
    "auth.login",
    "auth.callback",
    "auth.signed_out",
    # the development identity provider is itself a sign-in service; it is never mounted in production
    "dev_idp.discovery",
    "dev_idp.jwks",
    "dev_idp.authorize",
    "dev_idp.token",
    "dev_idp.userinfo",
}


def _is_static(endpoint: str) -> bool:
    return endpoint == "static" or endpoint.endswith(".static")


@pytest.fixture
def backend():
    return "sqlite"  # the URL map does not depend on the database


def test_every_route_declares_who_may_call_it(app):
    undeclared = [
        rule.rule
        for rule in app.url_map.iter_rules()
        if not _is_static(rule.endpoint) and declaration(app.view_functions[rule.endpoint]) is None
    ]
    assert undeclared == [], f"routes with no access declaration: {undeclared}"


def test_only_sign_in_health_and_start_pages_are_public(app):
    public = {
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if not _is_static(rule.endpoint) and declaration(app.view_functions[rule.endpoint]) == PUBLIC
    }
    assert public <= PUBLIC_ENDPOINTS, f"unexpected public routes: {public - PUBLIC_ENDPOINTS}"


def test_an_undeclared_route_is_refused_at_run_time(app):
    bp = Blueprint("undeclared_probe", __name__)

    @bp.get("/undeclared-probe")
    def undeclared():
        return "should never be served"

    app.register_blueprint(bp)
    response = app.test_client().get("/undeclared-probe")
    assert response.status_code == 403
    assert "should never be served" not in response.text


def test_urls_are_kebab_case(app):
    for rule in app.url_map.iter_rules():
        if _is_static(rule.endpoint):
            continue
        literal = re.sub(r"<[^>]+>", "", rule.rule)
        for part in filter(None, literal.split("/")):
            assert re.fullmatch(r"[a-z0-9.-]+", part), f"{rule.rule}: '{part}' is not kebab-case"
