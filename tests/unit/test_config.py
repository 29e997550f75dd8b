"""Production configuration refuses unsafe settings; development makes its own secrets."""

from __future__ import annotations

import pytest

from portal.app import create_app
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


# ------------------------------------------------------------------------------------ e-mail settings

MAIL = {
    "PORTAL_NOMINATION_EMAIL": "1",
    "PORTAL_SMTP_HOST": "smtp.example-council.gov.uk",
    "PORTAL_MAIL_FROM": "Supporting Families <no-reply@example-council.gov.uk>",
}


def test_email_is_off_by_default_with_safe_smtp_defaults_and_no_secret(tmp_path):
    config = load_config(tmp_path, {})
    assert config["NOMINATION_EMAIL"] is False
    assert (config["SMTP_PORT"], config["SMTP_STARTTLS"], config["SMTP_TIMEOUT"]) == (587, True, 5)
    assert (config["SMTP_HOST"], config["SMTP_USERNAME"], config["SMTP_PASSWORD"], config["MAIL_FROM"]) == ("",) * 4
    assert load_config(tmp_path, {**GOOD_PRODUCTION})["NOMINATION_EMAIL"] is False


def test_the_development_demo_does_not_send_email(tmp_path):
    """`make run` sets no e-mail variables: the demo never sends (and the demo seed suppresses it anyway)."""
    assert create_app(env={"PORTAL_INSTANCE_PATH": str(tmp_path)}).extensions.get("mail_outbox") is None


@pytest.mark.parametrize("profile", ["development", "test", "production"])
@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("PORTAL_SMTP_HOST", "PORTAL_NOMINATION_EMAIL is on but PORTAL_SMTP_HOST"),
        ("PORTAL_MAIL_FROM", "PORTAL_NOMINATION_EMAIL is on but PORTAL_MAIL_FROM"),
    ],
)
def test_email_switched_on_without_a_mail_server_or_sender_refuses_to_start(tmp_path, profile, missing, message):
    base = GOOD_PRODUCTION if profile == "production" else {"PORTAL_ENV": profile}
    env = {**base, **MAIL, missing: ""}
    with pytest.raises(ConfigError, match=message):
        load_config(tmp_path, env)
    with pytest.raises(ConfigError, match=message):
        create_app(env={**env, "PORTAL_INSTANCE_PATH": str(tmp_path)})


def test_both_missing_are_named_together(tmp_path):
    with pytest.raises(ConfigError, match=r"PORTAL_SMTP_HOST .* PORTAL_MAIL_FROM"):
        load_config(tmp_path, {"PORTAL_NOMINATION_EMAIL": "yes"})


def test_configuration_passed_to_the_app_factory_is_checked_too(tmp_path):
    with pytest.raises(ConfigError, match="PORTAL_SMTP_HOST"):
        create_app(config={"NOMINATION_EMAIL": True}, env={"PORTAL_INSTANCE_PATH": str(tmp_path)})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"PORTAL_MAIL_FROM": "no-reply"}, "PORTAL_MAIL_FROM must be an e-mail address"),
        ({"PORTAL_MAIL_FROM": "a@b.test\r\nBcc: x@y.test"}, "PORTAL_MAIL_FROM must be an e-mail address"),
        ({"PORTAL_SMTP_PORT": "0"}, "PORTAL_SMTP_PORT must be between"),
        ({"PORTAL_SMTP_PORT": "submission"}, "PORTAL_SMTP_PORT must be a whole number"),
        ({"PORTAL_SMTP_TIMEOUT": "0"}, "PORTAL_SMTP_TIMEOUT must be at least 1"),
        ({"PORTAL_SMTP_USERNAME": "portal"}, "PORTAL_SMTP_USERNAME and PORTAL_SMTP_PASSWORD must be set together"),
        ({"PORTAL_SMTP_PASSWORD": "secret"}, "PORTAL_SMTP_USERNAME and PORTAL_SMTP_PASSWORD must be set together"),
    ],
)
def test_malformed_email_settings_are_refused(tmp_path, change, message):
    with pytest.raises(ConfigError, match=message):
        load_config(tmp_path, {**MAIL, **change})


def test_a_complete_email_configuration_is_accepted_in_production(tmp_path):
    env = {**GOOD_PRODUCTION, **MAIL, "PORTAL_SMTP_USERNAME": "portal", "PORTAL_SMTP_PASSWORD": "from-the-vault"}
    config = load_config(tmp_path, env)
    assert (config["NOMINATION_EMAIL"], config["SMTP_STARTTLS"], config["SMTP_PASSWORD"]) == (
        True,
        True,
        "from-the-vault",
    )


def test_production_refuses_plain_smtp_unless_explicitly_allowed(tmp_path):
    plain = {**GOOD_PRODUCTION, **MAIL, "PORTAL_SMTP_STARTTLS": "0"}
    with pytest.raises(ConfigError, match=r"PORTAL_SMTP_STARTTLS is off.*PORTAL_ALLOW_PLAIN_SMTP=1"):
        load_config(tmp_path, plain)
    allowed = load_config(tmp_path, {**plain, "PORTAL_ALLOW_PLAIN_SMTP": "1", "PORTAL_SMTP_PORT": "25"})
    assert allowed["SMTP_STARTTLS"] is False and allowed["SMTP_PORT"] == 25
    with pytest.raises(ConfigError, match="PORTAL_SMTP_PASSWORD would be sent in clear"):
        load_config(
            tmp_path,
            {**plain, "PORTAL_ALLOW_PLAIN_SMTP": "1", "PORTAL_SMTP_USERNAME": "u", "PORTAL_SMTP_PASSWORD": "p"},
        )
    # outside production a local test server without TLS is fine
    assert load_config(tmp_path, {**MAIL, "PORTAL_SMTP_STARTTLS": "0"})["SMTP_STARTTLS"] is False
