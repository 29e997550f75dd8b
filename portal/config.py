"""Configuration, read from the environment inside the app factory, never at import time.

Defaults are safe to publish: the development profile generates its own secrets into the instance
folder, and the production profile has no defaults for secrets at all and refuses to start without them.
"""

from __future__ import annotations

import os
import secrets
from email.utils import parseaddr
from pathlib import Path

from portal.access_log.signing import read_private_key_file
from portal.crypto import read_keyring_file
from portal.errors import DEV_SECRET_MARKER, ConfigError

__all__ = ["DEV_SECRET_MARKER", "ConfigError", "check_mail", "check_production", "instance_secret", "load_config"]


def _bool(value: str | None, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}") from exc


def instance_secret(instance_path: Path, name: str) -> str:
    """Return a development secret kept in the instance folder, creating it on first use.

    Development secrets carry a marker so the production check can recognise and refuse them.
    """
    instance_path.mkdir(parents=True, exist_ok=True)
    path = instance_path / name
    if not path.exists():
        path.write_text(DEV_SECRET_MARKER + secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


def load_config(instance_path: Path, env: dict[str, str] | None = None) -> dict[str, object]:
    """Build the Flask configuration mapping from environment variables.

    Args:
        instance_path: the app's instance folder, where development secrets and keys live.
        env: the environment to read (defaults to ``os.environ``); tests pass their own.

    Returns:
        A mapping for ``app.config.update``.

    Raises:
        ConfigError: production configuration that is missing secrets or uses development ones.
    """
    env = dict(os.environ if env is None else env)
    profile = env.get("PORTAL_ENV", "development").strip().lower()
    if profile not in {"development", "test", "production"}:
        raise ConfigError(f"PORTAL_ENV must be development, test or production, not {profile!r}")
    production = profile == "production"
    base_url = env.get("PORTAL_BASE_URL", "http://127.0.0.1:5000").rstrip("/")
    # in this order, so that of two bad numbers the same one is reported first
    config: dict[str, object] = {
        **_site(env, instance_path, profile, base_url),
        **_keys_and_files(env, instance_path, production),
        **_nominations_and_mail(env, production),
        **_serving(env, production, base_url),
    }
    if production:
        check_production(config)
    else:
        check_mail(config)
    return config


def _site(env: dict[str, str], instance_path: Path, profile: str, base_url: str) -> dict[str, object]:
    """Which portal this is, where its data lives, and its secret key: production has no defaults for
    secrets (``check_production`` refuses it), development makes its own in the instance folder."""
    production = profile == "production"
    if production:
        secret_key = env.get("PORTAL_SECRET_KEY", "")
        database_url = env.get("PORTAL_DATABASE_URL", "")
    else:
        secret_key = env.get("PORTAL_SECRET_KEY") or instance_secret(instance_path, "secret_key")
        database_url = env.get("PORTAL_DATABASE_URL") or f"sqlite:///{instance_path / 'portal.sqlite3'}"
    return {
        "PORTAL_ENV": profile,
        "SECRET_KEY": secret_key,
        "DATABASE_URL": database_url,
        "BASE_URL": base_url,
        "SERVICE_NAME": env.get("PORTAL_SERVICE_NAME", "Supporting Families partner portal"),
        "COUNCIL_NAME": env.get("PORTAL_COUNCIL_NAME", "Example County Council"),
        "DEV_IDP_ENABLED": _bool(env.get("PORTAL_DEV_IDP"), default=not production),
    }


def _keys_and_files(env: dict[str, str], instance_path: Path, production: bool) -> dict[str, object]:
    """The files read at start: identity providers, the key ring, the access log's keys, the framework."""
    return {
        "IDP_CONFIG_FILE": env.get("PORTAL_IDP_CONFIG", ""),
        "KEYRING_FILE": env.get("PORTAL_KEYRING_FILE", ""),
        "AUDIT_CHECKPOINT_INTERVAL": _int(env, "PORTAL_AUDIT_CHECKPOINT_INTERVAL", 1000),
        # the access log's checkpoint signing key (PEM); development generates one into the instance folder
        "AUDIT_SIGNING_KEY_FILE": env.get("PORTAL_AUDIT_SIGNING_KEY_FILE")
        or ("" if production else str(instance_path / "audit_signing_key.pem")),
        # older public keys (PEM) that still verify the checkpoints they signed, after a key rotation
        "AUDIT_TRUSTED_KEYS_FILE": env.get("PORTAL_AUDIT_TRUSTED_KEYS_FILE", ""),
        # the programme's framework (criteria, indicators, nomination routes, threshold), checked at start
        # a path, or the key of a framework shipped with the portal (resolved by referrals.setup)
        "FRAMEWORK_FILE": env.get("PORTAL_FRAMEWORK_FILE", "").strip(),
    }


def _nominations_and_mail(env: dict[str, str], production: bool) -> dict[str, object]:
    """What nominators are told: the front door's number, and e-mail (off unless switched on)."""
    return {
        # the council's children's services front door, shown when a nominator says someone is at immediate risk
        "FRONT_DOOR_PHONE": env.get("PORTAL_FRONT_DOOR_PHONE", "" if production else "01632 960000"),
        # e-mail nominators when their nomination's status changes: off unless switched on (never in the demo)
        "NOMINATION_EMAIL": _bool(env.get("PORTAL_NOMINATION_EMAIL")),
        # the mail server (SMTP submission); read always, checked only when e-mail is on (``mail_problems``)
        "SMTP_HOST": env.get("PORTAL_SMTP_HOST", "").strip(),
        "SMTP_PORT": _int(env, "PORTAL_SMTP_PORT", 587),
        "SMTP_STARTTLS": _bool(env.get("PORTAL_SMTP_STARTTLS"), default=True),
        "SMTP_USERNAME": env.get("PORTAL_SMTP_USERNAME", ""),
        # a secret, like PORTAL_SECRET_KEY: from the environment only, never a default
        "SMTP_PASSWORD": env.get("PORTAL_SMTP_PASSWORD", ""),
        # seconds each step of talking to the mail server may take; it runs inside the request that committed
        "SMTP_TIMEOUT": _int(env, "PORTAL_SMTP_TIMEOUT", 5),
        "MAIL_FROM": env.get("PORTAL_MAIL_FROM", "").strip(),
        "ALLOW_PLAIN_SMTP_IN_PRODUCTION": _bool(env.get("PORTAL_ALLOW_PLAIN_SMTP")),
    }


def _serving(env: dict[str, str], production: bool, base_url: str) -> dict[str, object]:
    """How requests are served: sign-in timeouts, session lifetimes and cookies, the proxy in front."""
    return {
        "IDP_HTTP_TIMEOUT": _int(env, "PORTAL_IDP_HTTP_TIMEOUT", 10),
        "SESSION_IDLE_MINUTES": _int(env, "PORTAL_SESSION_IDLE_MINUTES", 30),
        "SESSION_ABSOLUTE_HOURS": _int(env, "PORTAL_SESSION_ABSOLUTE_HOURS", 10),
        "SESSION_COOKIE_NAME": "__Host-portal" if production else "portal_session",
        "SESSION_COOKIE_SECURE": production or base_url.startswith("https://"),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "WTF_CSRF_TIME_LIMIT": None,  # the token lives as long as the server-side session, no longer
        "ALLOW_SQLITE_IN_PRODUCTION": _bool(env.get("PORTAL_ALLOW_SQLITE")),
        "TRUST_PROXY": _int(env, "PORTAL_TRUST_PROXY", 0),
        "PREFERRED_URL_SCHEME": "https" if base_url.startswith("https://") else "http",
    }


def check_mail(config: dict[str, object]) -> None:
    """Refuse e-mail switched on without what it needs, in every profile: a portal that promised to
    e-mail nominators and silently could not would be worse than one that never offered to."""
    problems = mail_problems(config)
    if problems:
        raise ConfigError("Refusing to start: " + "; ".join(problems))


def mail_problems(config: dict[str, object]) -> list[str]:
    """What is wrong with the e-mail settings (nothing, when e-mail is off). Production also refuses a
    mail server reached without STARTTLS unless explicitly allowed (a relay on the same host), and a
    password sent without it."""
    if not config.get("NOMINATION_EMAIL"):
        return []
    problems = []
    if not config.get("SMTP_HOST"):
        problems.append("PORTAL_NOMINATION_EMAIL is on but PORTAL_SMTP_HOST (the mail server) is not set")
    sender = str(config.get("MAIL_FROM") or "")
    if not sender:
        problems.append("PORTAL_NOMINATION_EMAIL is on but PORTAL_MAIL_FROM (the sender's address) is not set")
    elif "@" not in parseaddr(sender)[1] or any(c in sender for c in "\r\n"):
        problems.append(f"PORTAL_MAIL_FROM must be an e-mail address, optionally with a name, not {sender!r}")
    port = config.get("SMTP_PORT")
    if not isinstance(port, int) or not 0 < port < 65536:
        problems.append("PORTAL_SMTP_PORT must be between 1 and 65535")
    timeout = config.get("SMTP_TIMEOUT")
    if not isinstance(timeout, int) or timeout < 1:
        problems.append("PORTAL_SMTP_TIMEOUT must be at least 1 second")
    if bool(config.get("SMTP_USERNAME")) != bool(config.get("SMTP_PASSWORD")):
        problems.append("PORTAL_SMTP_USERNAME and PORTAL_SMTP_PASSWORD must be set together, or neither")
    if config.get("PORTAL_ENV") == "production" and not config.get("SMTP_STARTTLS"):
        if not config.get("ALLOW_PLAIN_SMTP_IN_PRODUCTION"):
            problems.append(
                "PORTAL_SMTP_STARTTLS is off: mail would cross the network in clear; turn it on, or set "
                "PORTAL_ALLOW_PLAIN_SMTP=1 for a relay on the same host"
            )
        elif config.get("SMTP_PASSWORD"):
            problems.append("PORTAL_SMTP_PASSWORD would be sent in clear: turn PORTAL_SMTP_STARTTLS on")
    return problems


def check_production(config: dict[str, object]) -> None:
    """Refuse a production configuration that would be unsafe to run on real families' data."""
    problems = []
    secret_key = str(config.get("SECRET_KEY") or "")
    if len(secret_key) < 32:
        problems.append("PORTAL_SECRET_KEY must be set to at least 32 random characters")
    if secret_key.startswith(DEV_SECRET_MARKER):
        problems.append("PORTAL_SECRET_KEY is a development secret")
    if config.get("DEV_IDP_ENABLED"):
        problems.append("the built-in development identity provider (PORTAL_DEV_IDP) must be off")
    database_url = str(config.get("DATABASE_URL") or "")
    if not database_url:
        problems.append("PORTAL_DATABASE_URL must be set")
    elif database_url.startswith("sqlite") and not config.get("ALLOW_SQLITE_IN_PRODUCTION"):
        problems.append("SQLite is not for production; use PostgreSQL or set PORTAL_ALLOW_SQLITE=1")
    if not str(config.get("BASE_URL", "")).startswith("https://"):
        problems.append("PORTAL_BASE_URL must be an https:// address")
    if not config.get("IDP_CONFIG_FILE"):
        problems.append("PORTAL_IDP_CONFIG must name the identity provider configuration file")
    problems += _keyring_problems(str(config.get("KEYRING_FILE") or ""))
    problems += _audit_key_problems(config)
    problems += mail_problems(config)
    if problems:
        raise ConfigError("Refusing to start in production: " + "; ".join(problems))


def _keyring_problems(path: str) -> list[str]:
    """Production needs its own key ring file; a generated development ring would put real data under
    keys that sit unprotected in the instance folder. The file's full validation happens when the app
    loads it (``portal.crypto.load_keyring``); here a file that exists is checked so all problems are
    reported together."""
    if not path:
        return ["PORTAL_KEYRING_FILE must name the encryption key ring file (see `flask keys-generate`)"]
    if not Path(path).exists():
        return []  # reported, with the path, when the app loads the ring
    try:
        ring = read_keyring_file(path)
    except ConfigError as exc:
        return [str(exc)]
    return ["PORTAL_KEYRING_FILE is a development key ring"] if ring.development else []


def _audit_key_problems(config: dict[str, object]) -> list[str]:
    """Production signs access-log checkpoints with its own key, kept outside the database and the
    instance folder; a generated development key would let anyone with the server's files forge them."""
    problems = []
    interval = config.get("AUDIT_CHECKPOINT_INTERVAL")
    if not isinstance(interval, int) or interval < 1:
        problems.append("PORTAL_AUDIT_CHECKPOINT_INTERVAL must be at least 1")
    path = str(config.get("AUDIT_SIGNING_KEY_FILE") or "")
    if not path:
        problems.append("PORTAL_AUDIT_SIGNING_KEY_FILE must name the access-log signing key (see `flask audit-keygen`)")
        return problems
    if not Path(path).exists():
        return problems  # reported, with the path, when the app loads the key
    try:
        _key, development = read_private_key_file(path)
    except ConfigError as exc:
        return [*problems, str(exc)]
    return [*problems, "PORTAL_AUDIT_SIGNING_KEY_FILE is a development key"] if development else problems
