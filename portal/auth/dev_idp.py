"""The built-in development identity provider: a real OpenID Connect provider for the demo accounts.

Built on authlib's server components (discovery, JWKS, authorize, token, userinfo), so the portal's
sign-in code runs the same protocol against it as against NHS CIS2 or Entra ID. It exists so that a
newcomer can run the portal with no credentials; the app refuses to start in production while it is on.

State (codes, tokens) lives in memory: run it under the single-process development server only.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import ClientMixin, TokenMixin
from authlib.oauth2.rfc6749.errors import InvalidRequestError
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant
from authlib.oauth2.rfc6750 import BearerTokenValidator
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import UserInfo, UserInfoEndpoint
from authlib.oidc.core.grants import OpenIDCode
from authlib.oidc.core.models import AuthorizationCodeMixin
from flask import Blueprint, Flask, current_app, jsonify, render_template, request, url_for
from joserfc.jwk import KeySet, RSAKey

from portal.auth.providers import OrganisationBinding, ProviderConfig
from portal.auth.rules import public
from portal.organisations.models import CodeScheme

DEV_PROVIDER_KEY = "dev"
DEV_CLIENT_ID = "portal-dev"
ORG_CLAIM = "org"
ACR = "urn:example:dev:aal1"

bp = Blueprint("dev_idp", __name__, url_prefix="/dev-idp")


class DevAccount(Protocol):
    """An account the provider signs in as: the app factory hands it the demo accounts (``portal.demo``)."""

    subject: str
    name: str
    email: str
    organisation: str  #: "<scheme>:<code>", the claim value the provider asserts
    registered: bool


def issuer(app: Flask) -> str:
    return f"{app.config['BASE_URL']}/dev-idp"


def provider_config(app: Flask, client_secret: str, accounts: Sequence[DevAccount]) -> ProviderConfig:
    """The development IdP as the portal's sign-in code sees it: just another configured provider."""
    bindings = []
    for org in {a.organisation for a in accounts if a.registered}:
        scheme, code = org.split(":", 1)
        bindings.append(OrganisationBinding(org, CodeScheme(scheme), code))
    return ProviderConfig(
        key=DEV_PROVIDER_KEY,
        name="Demo accounts (development sign-in)",
        issuer=issuer(app),
        client_id=DEV_CLIENT_ID,
        client_secret=client_secret,
        organisation_claim=ORG_CLAIM,
        scopes=("openid", "profile", "email"),
        required_acr=(ACR,),
        bindings=tuple(sorted(bindings, key=lambda b: b.claim_value)),
    )


def _load_or_create_key(instance_path: Path) -> RSAKey:
    """Keep the signing key across restarts, so open sessions' tokens still verify after a reload."""
    path = instance_path / "dev_idp_key.json"
    if path.exists():
        key = RSAKey.import_key(json.loads(path.read_text()))
    else:
        key = RSAKey.generate_key(2048, parameters={"use": "sig", "alg": "RS256"}, private=True)
        instance_path.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(key.as_dict(private=True)))
        path.chmod(0o600)
    key.ensure_kid()  # RFC 7638 thumbprint: a new key always gets a new kid, so RPs refetch the JWKS
    return key


@dataclass
class Client(ClientMixin):
    client_id: str
    client_secret: str
    redirect_uris: list[str]

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return self.redirect_uris[0]

    def get_allowed_scope(self, scope: str) -> str:
        allowed = {"openid", "profile", "email"}
        return " ".join(s for s in scope.split() if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris  # exact match only

    def check_client_secret(self, client_secret: str) -> bool:
        return secrets.compare_digest(client_secret, self.client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == "client_secret_basic" if endpoint == "token" else True

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


@dataclass
class AuthCode(AuthorizationCodeMixin):
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    subject: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    auth_time: int = field(default_factory=lambda: int(time.time()))
    expires_at: float = field(default_factory=lambda: time.time() + 60)

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> str:
        return ACR

    def get_amr(self) -> list[str]:
        return ["pwd"]


@dataclass
class Token(TokenMixin):
    client_id: str
    subject: str
    scope: str
    access_token: str
    issued_at: float
    expires_in: int

    def check_client(self, client: ClientMixin) -> bool:
        return client.get_client_id() == self.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return self.expires_in

    def is_expired(self) -> bool:
        return time.time() > self.issued_at + self.expires_in

    def is_revoked(self) -> bool:
        return False

    def get_user(self) -> str:
        return self.subject

    def get_client(self) -> Client:
        return _state().client


class _State:
    """The provider's in-memory state for one app."""

    def __init__(self, app: Flask, client_secret: str, accounts: Sequence[DevAccount]) -> None:
        self.lock = threading.Lock()
        self.key = _load_or_create_key(Path(app.instance_path))
        self.issuer = issuer(app)
        base = str(app.config["BASE_URL"])
        self.client = Client(DEV_CLIENT_ID, client_secret, [f"{base}/auth/callback/{DEV_PROVIDER_KEY}"])
        self.codes: dict[str, AuthCode] = {}
        self.tokens: dict[str, Token] = {}
        self.accounts = {a.subject: a for a in accounts}
        self.server: AuthorizationServer


def _state() -> _State:
    return current_app.extensions["dev_idp"]


def _user_info(account: DevAccount, scope: str) -> UserInfo:
    info = UserInfo(sub=account.subject, **{ORG_CLAIM: account.organisation})
    if "profile" in scope.split():
        info["name"] = account.name
    if "email" in scope.split():
        info["email"] = account.email
    return info


class _CodeGrant(AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic"]

    def save_authorization_code(self, code: str, req: Any) -> None:
        data = req.payload.data
        with _state().lock:
            _state().codes[code] = AuthCode(
                code=code,
                client_id=req.client.client_id,
                redirect_uri=req.payload.redirect_uri,
                scope=req.payload.scope,
                subject=req.user,
                nonce=data.get("nonce"),
                code_challenge=data.get("code_challenge"),
                code_challenge_method=data.get("code_challenge_method"),
            )

    def query_authorization_code(self, code: str, client: Client) -> AuthCode | None:
        found = _state().codes.get(code)
        if found and found.client_id == client.client_id and found.expires_at > time.time():
            return found
        return None

    def delete_authorization_code(self, authorization_code: AuthCode) -> None:
        with _state().lock:
            _state().codes.pop(authorization_code.code, None)  # single use

    def authenticate_user(self, authorization_code: AuthCode) -> str:
        return authorization_code.subject


class _OpenIDCode(OpenIDCode):
    def exists_nonce(self, nonce: str, req: Any) -> bool:
        return any(c.nonce == nonce for c in _state().codes.values())

    def resolve_client_private_key(self, client: Client) -> KeySet:
        return KeySet([_state().key])

    def get_client_claims(self, client: Client) -> dict[str, Any]:
        return {"iss": _state().issuer, "aud": [client.client_id], "exp": int(time.time()) + 300}

    def get_encode_header(self, client: Client) -> dict[str, str]:
        return {"alg": "RS256", "kid": _state().key.kid}

    def generate_user_info(self, user: str, scope: str) -> UserInfo:
        return _user_info(_state().accounts[user], scope)


class _StrictPKCE(CodeChallenge):
    """Require PKCE with S256 for every client; authlib's own default requires it only for public ones."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge") or data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("PKCE with S256 is required")
        return super().validate_code_challenge(grant, redirect_uri)


class _UserInfo(UserInfoEndpoint):
    def get_issuer(self) -> str:
        return _state().issuer

    def generate_user_info(self, user: str, scope: str) -> UserInfo:
        return _user_info(_state().accounts[user], scope)

    def resolve_private_key(self) -> KeySet:
        return KeySet([_state().key])


class _BearerValidator(BearerTokenValidator):
    def authenticate_token(self, token_string: str) -> Token | None:
        return _state().tokens.get(token_string)


def _save_token(token: dict[str, Any], req: Any) -> None:
    with _state().lock:
        _state().tokens[token["access_token"]] = Token(
            client_id=req.client.client_id,
            subject=req.user,
            scope=token.get("scope", ""),
            access_token=token["access_token"],
            issued_at=time.time(),
            expires_in=int(token.get("expires_in", 300)),
        )


def _server() -> AuthorizationServer:
    return _state().server


def init_app(app: Flask, client_secret: str, csrf: Any, accounts: Sequence[DevAccount]) -> ProviderConfig:
    """Mount the provider on the app and return its configuration for the sign-in code."""
    state = _State(app, client_secret, accounts)
    app.config["OAUTH2_TOKEN_EXPIRES_IN"] = {"authorization_code": 300}
    server = AuthorizationServer(
        app, query_client=lambda cid: state.client if cid == DEV_CLIENT_ID else None, save_token=_save_token
    )
    server.register_grant(_CodeGrant, [_OpenIDCode(require_nonce=True), _StrictPKCE(required=True)])
    protector = ResourceProtector()
    protector.register_token_validator(_BearerValidator())
    server.register_endpoint(_UserInfo(resource_protector=protector))
    state.server = server
    app.extensions["dev_idp"] = state
    csrf.exempt(token)
    csrf.exempt(userinfo)
    app.register_blueprint(bp)
    return provider_config(app, client_secret, accounts)


@bp.get("/.well-known/openid-configuration")
@public
def discovery() -> Any:
    """Serve the provider's discovery document."""
    base = _state().issuer
    return jsonify(
        {
            "issuer": base,
            "authorization_endpoint": f"{base}/authorize",
            "token_endpoint": f"{base}/token",
            "userinfo_endpoint": f"{base}/userinfo",
            "jwks_uri": f"{base}/jwks",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "profile", "email"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic"],
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": ["sub", "name", "email", ORG_CLAIM, "acr", "auth_time", "nonce"],
            "acr_values_supported": [ACR],
        }
    )


@bp.get("/jwks")
@public
def jwks() -> Any:
    """Serve the public signing key."""
    return jsonify(KeySet([_state().key]).as_dict(private=False))


@bp.route("/authorize", methods=["GET", "POST"])
@public
def authorize() -> Any:
    """Let the developer pick a demo account, then send the code back to the portal."""
    try:
        grant = _server().get_consent_grant(end_user=None)
    except OAuth2Error as error:
        # Never redirect to an unvalidated redirect_uri: show the error here instead.
        return render_template("auth/dev_idp_error.html", error=error), 400
    accounts = sorted(_state().accounts.values(), key=lambda a: (a.organisation, a.subject))
    if request.method == "POST":
        subject = request.form.get("account", "")
        if subject not in _state().accounts:
            return render_template(
                "auth/dev_idp_authorize.html", accounts=accounts, grant=grant, error="Select the account to sign in as"
            ), 400
        return _server().create_authorization_response(grant_user=subject, grant=grant)
    return render_template(
        "auth/dev_idp_authorize.html",
        accounts=accounts,
        grant=grant,
        error=None,
        action=url_for("dev_idp.authorize", **request.args),
    )


@bp.post("/token")
@public
def token() -> Any:
    """Exchange a code for tokens (back channel, client_secret_basic)."""
    return _server().create_token_response()


@bp.route("/userinfo", methods=["GET", "POST"])
@public
def userinfo() -> Any:
    """Return the claims of the token's user."""
    return _server().create_endpoint_response("userinfo")
