"""Production configuration refuses unsafe settings; development makes its own secrets."""

from __future__ import annotations

import pytest

from portal import create_app
from portal.config import ConfigError, load_config

GOOD_PRODUCTION = {
    "PORTAL_ENV": "production",
    "PORTAL_SECRET_KEY": "x" * 48,
    "PORTAL_DATABASE_URL": "postgresql+psycopg://portal@db.internal/portal",
    "PORTAL_BASE_URL": "https://portal.example-council.gov.uk",
    "PORTAL_IDP_CONFIG": "/etc/portal/providers.yaml",
    "PORTAL_KEYRING_FILE": "/etc/portal/keyring.json",
    "PORTAL_AUDIT_SIGNING_KEY_FILE": "/etc/portal/audit-signing-key.pem",
    "PORTAL_DEV_IDP": "0",
}


def test_a_complete_production_configuration_is_accepted(tmp_path):
    config = load_config(tmp_path, GOOD_PRODUCTION)
    assert config["SESSION_COOKIE_SECURE"] is True
    assert config["SESSION_COOKIE_NAME"] == "__Host-portal"
    assert config["SESSION_COOKIE_HTTPONLY"] is True
    assert config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert config["DEV_IDP_ENABLED"] is False


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"PORTAL_DEV_IDP": "1"}, "development identity provider"),
        ({"PORTAL_SECRET_KEY": ""}, "PORTAL_SECRET_KEY must be set"),
        ({"PORTAL_SECRET_KEY": "short"}, "PORTAL_SECRET_KEY must be set"),
        ({"PORTAL_SECRET_KEY": "dev-only-" + "x" * 40}, "development secret"),
        ({"PORTAL_DATABASE_URL": ""}, "PORTAL_DATABASE_URL must be set"),
        ({"PORTAL_DATABASE_URL": "sqlite:////var/portal.db"}, "SQLite is not for production"),
        ({"PORTAL_BASE_URL": "http://portal.example"}, "https://"),
        ({"PORTAL_IDP_CONFIG": ""}, "PORTAL_IDP_CONFIG"),
    ],
)
def test_production_refuses_unsafe_settings(tmp_path, change, message):
    with pytest.raises(ConfigError, match=message):
        load_config(tmp_path, {**GOOD_PRODUCTION, **change})


def test_production_does_not_enable_the_development_provider_by_default(tmp_path):
    env = {k: v for k, v in GOOD_PRODUCTION.items() if k != "PORTAL_DEV_IDP"}
    assert load_config(tmp_path, env)["DEV_IDP_ENABLED"] is False


def test_the_app_factory_refuses_to_start_with_development_secrets_in_production(tmp_path):
    dev = load_config(tmp_path, {"PORTAL_ENV": "development"})
    env = {**GOOD_PRODUCTION, "PORTAL_SECRET_KEY": str(dev["SECRET_KEY"]), "PORTAL_INSTANCE_PATH": str(tmp_path)}
    with pytest.raises(ConfigError, match="development secret"):
        create_app(env=env)


def test_development_generates_and_keeps_its_own_secret(tmp_path):
    first = load_config(tmp_path, {})
    second = load_config(tmp_path, {})
    assert first["SECRET_KEY"] == second["SECRET_KEY"]
    assert str(first["SECRET_KEY"]).startswith("dev-only-")
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0
    assert first["DEV_IDP_ENABLED"] is True
    assert str(first["DATABASE_URL"]).startswith("sqlite:///")


def test_session_limits_must_be_numbers(tmp_path):
    with pytest.raises(ConfigError, match="PORTAL_SESSION_IDLE_MINUTES"):
        load_config(tmp_path, {"PORTAL_SESSION_IDLE_MINUTES": "thirty"})
