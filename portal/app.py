"""The Supporting Families partner portal: the app factory.

``create_app()`` reads configuration from the environment (never at import time), refuses unsafe
production settings, and wires sign-in, the server-side session, security headers and the pages.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

from flask import Flask, session
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect
from govuk_frontend_wtf.main import WTFormsHelpers
from jinja2 import ChoiceLoader, FileSystemLoader, PackageLoader, PrefixLoader
from werkzeug.middleware.proxy_fix import ProxyFix

from portal import db
from portal.auth.providers import ProviderConfig, load_providers
from portal.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parent.parent

csrf = CSRFProtect()


def create_app(config: dict[str, Any] | None = None, env: dict[str, str] | None = None) -> Flask:
    """Build the portal.

    Args:
        config: overrides applied after the environment is read (tests use this).
        env: the environment to read instead of ``os.environ``.
    """
    instance = (os.environ if env is None else env).get("PORTAL_INSTANCE_PATH") or str(ROOT / "instance")
    app = Flask(__name__, instance_path=instance, static_folder="static", template_folder=None)
    app.config.update(load_config(Path(app.instance_path), env))
    if config:
        app.config.update(config)
        from portal.config import check_mail, check_production

        if app.config["PORTAL_ENV"] == "production":
            check_production(app.config)
        else:
            check_mail(app.config)

    if app.config.get("TRUST_PROXY"):
        hops = int(app.config["TRUST_PROXY"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)

    _init_templates(app)
    db.init_app(app)
    from portal import crypto  # imported here so `python -m portal.crypto` runs without a warning

    crypto.init_app(app)
    from portal import access_log as audit

    audit.init_app(app)  # the access log's checkpoint keys: a bad production key stops the start here
    from referrals import setup as framework_setup

    framework_setup.init_app(app)  # the programme framework file: a malformed one stops the start here
    _init_sessions(app)
    csrf.init_app(app)

    from portal import security

    security.init_app(app)
    _init_login(app)
    _init_sign_in(app, env)
    _register_blueprints(app)
    from portal import mail

    mail.init_app(app)  # nominators' status e-mails, sent after commit; nothing at all when switched off

    from portal import cli
    from portal import models as schema
    from portal.demo import commands as demo_commands
    from portal.families import commands as families_commands
    from sharing_protocols.register import commands as register_commands

    app.extensions["schema"] = schema.Base.metadata  # every domain's tables, for keys-reencrypt
    cli.init_app(app)
    families_commands.init_app(app)
    register_commands.init_app(app)
    demo_commands.init_app(app)
    return app


def _init_templates(app: Flask) -> None:
    app.jinja_loader = ChoiceLoader(
        [
            FileSystemLoader(str(ROOT / "templates")),
            PrefixLoader(
                {
                    "govuk_frontend_jinja": PackageLoader("govuk_frontend_jinja"),
                    "govuk_frontend_wtf": PackageLoader("govuk_frontend_wtf"),
                }
            ),
        ]
    )
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
    WTFormsHelpers(app)
    from portal import kit, templating

    templating.init_app(app)
    kit.init_app(app)

    from flask import Blueprint

    # GOV.UK Frontend's compiled assets, copied from npm at install time, served where its CSS expects them
    app.register_blueprint(Blueprint("govuk", __name__, static_folder="static/govuk", static_url_path="/assets"))


def _init_sessions(app: Flask) -> None:
    from portal.auth.sessions import DatabaseSessionInterface

    app.session_interface = DatabaseSessionInterface(app.extensions["db_sessionmaker"])


def _init_login(app: Flask) -> None:
    from portal.auth import current
    from portal.auth.sessions import DatabaseSession

    manager = LoginManager(app)
    manager.login_view = "auth.choose_provider"
    manager.login_message = "Sign in to continue."
    manager.login_message_category = "info"
    manager.session_protection = None  # the server-side session already binds and rotates the id

    @manager.user_loader
    def _load(user_id: str) -> current.SignedInUser | None:
        try:
            wanted = uuid.UUID(user_id)
        except ValueError:
            return None
        # open_session read the user beside the session row; load it here only if that was not it
        loaded = session.user if isinstance(session, DatabaseSession) else None
        user = loaded if loaded is not None and loaded.id == wanted else current.load(db.session(), wanted)
        if user is None or not user.is_active:
            return None
        if session.get("organisation_id") != str(user.organisation_id):
            return None
        return user


def _init_sign_in(app: Flask, env: dict[str, str] | None) -> None:
    from portal.auth import oidc

    providers: list[ProviderConfig] = []
    if app.config["DEV_IDP_ENABLED"]:
        from portal.auth import dev_idp
        from portal.config import instance_secret
        from portal.demo.seed import demo_accounts

        secret = instance_secret(Path(app.instance_path), "dev_idp_client_secret")
        providers.append(dev_idp.init_app(app, secret, csrf, demo_accounts()))
    if app.config["IDP_CONFIG_FILE"]:
        providers += load_providers(str(app.config["IDP_CONFIG_FILE"]), env)
    keys = [p.key for p in providers]
    if len(set(keys)) != len(keys):
        raise ConfigError(f"identity provider keys must be unique: {keys}")
    issuers = [p.issuer for p in providers]
    if len(set(issuers)) != len(issuers):
        raise ConfigError("two identity providers share an issuer; users are keyed by issuer + subject")
    bound = [(b.scheme, b.code) for p in providers for b in p.bindings]
    if len(set(bound)) != len(bound):
        raise ConfigError("an organisation is bound to more than one identity provider")
    oidc.init_app(app, providers)


def _register_blueprints(app: Flask) -> None:
    from portal import home as main
    from portal.auth import views as auth_views
    from portal.dpo import views as audit_views
    from portal.families import views as families_views
    from referrals.journey import views as nominations_views
    from referrals.triage import views as triage_views

    app.register_blueprint(main.bp)
    app.register_blueprint(auth_views.bp)
    app.register_blueprint(families_views.bp)
    app.register_blueprint(audit_views.bp)
    app.register_blueprint(nominations_views.bp)
    app.register_blueprint(triage_views.bp)
    main.add_home_section(app, "updates", nominations_views.home_updates)
