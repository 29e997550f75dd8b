"""Health check, security headers, error pages; against both databases."""

from __future__ import annotations

from pathlib import Path

from portal.app import create_app


def test_healthz_reports_the_database_reachable(app):
    response = app.test_client().get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "reachable"}


def test_healthz_answers_503_when_the_database_is_unreachable(tmp_path: Path):
    env = {
        "PORTAL_ENV": "test",
        "PORTAL_INSTANCE_PATH": str(tmp_path),
        # a port nothing listens on
        "PORTAL_DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:1/none?connect_timeout=2",
        "PORTAL_DEV_IDP": "0",
    }
    app = create_app(env=env)
    response = app.test_client().get("/healthz")
    app.extensions["db_engine"].dispose()
    assert response.status_code == 503
    assert response.json["database"] == "unreachable"


def test_pages_carry_strict_security_headers(app):
    response = app.test_client().get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "Strict-Transport-Security" not in response.headers  # plain http here
    nonce = csp.split("'nonce-")[1].split("'")[0]
    assert f'nonce="{nonce}"' in response.text, "the GOV.UK inline script must carry the CSP nonce"
    https = app.test_client().get("/", base_url="https://portal.example")
    assert https.headers["Strict-Transport-Security"].startswith("max-age=")


def test_unknown_page_gets_the_gov_uk_404(app):
    response = app.test_client().get("/no-such-page")
    assert response.status_code == 404
    assert "Page not found" in response.text


def test_signed_in_pages_send_anonymous_users_to_sign_in(app):
    client = app.test_client()
    for path in ("/home", "/account"):
        response = client.get(path)
        assert response.status_code == 302
        assert "/sign-in" in response.headers["Location"]
