"""The OpenID Connect relying party: one authlib client per configured provider.

authlib does the protocol (state, nonce, PKCE S256, code exchange, JWKS signature check), but two of
its defaults are unsafe for us and are overridden here: it does not check ``aud`` unless told, and
passing ``claims_options`` replaces its ``iss`` check, so every claim rule is restated explicitly.
Its claim errors are joserfc exceptions, not ``OAuthError``, so both are caught.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import requests
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.flask_client import OAuth
from flask import Flask, current_app, request, session, url_for
from joserfc.errors import JoseError

from portal.auth.providers import ProviderConfig
from portal.auth.signin import Refusal, SignInRefused

log = logging.getLogger(__name__)

#: seconds of clock skew tolerated on exp and iat
LEEWAY = 60
#: the only id_token signatures we accept: asymmetric ones. ``none`` proves nothing, and an HMAC "signature"
#: keyed with the client secret could be forged by anyone who holds that secret, so neither is allowed
#: whatever the provider's discovery document advertises.
ALLOWED_ID_TOKEN_ALGS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")


def init_app(app: Flask, providers: list[ProviderConfig]) -> None:
    oauth = OAuth(app)
    # seconds before a provider that does not answer counts as down; authlib's requests session
    # ignores a plain ``timeout`` in client_kwargs and wants ``default_timeout``
    timeout = app.config["IDP_HTTP_TIMEOUT"]
    for provider in providers:
        oauth.register(
            provider.key,
            client_id=provider.client_id,
            client_secret=provider.client_secret,
            server_metadata_url=provider.metadata_url,
            client_kwargs={
                "scope": " ".join(provider.scopes),
                "code_challenge_method": "S256",
                "token_endpoint_auth_method": "client_secret_basic",
                "default_timeout": timeout,
            },
        )
    app.extensions["portal_oauth"] = oauth
    app.extensions["portal_providers"] = {p.key: p for p in providers}


def providers() -> dict[str, ProviderConfig]:
    return current_app.extensions["portal_providers"]


def _client(key: str) -> Any:
    return current_app.extensions["portal_oauth"].create_client(key)


def start(provider: ProviderConfig, *, reauthenticate: bool = False) -> Any:
    """Return the redirect to the provider's authorisation endpoint (state, nonce and PKCE included).

    Args:
        reauthenticate: ask the provider to make the user sign in again now (``prompt=login``,
            ``max_age=0``), before break-glass access; ``finish`` then insists on a fresh ``auth_time``.
    """
    client = _client(provider.key)
    extra: dict[str, Any] = {"acr_values": provider.acr_values} if provider.acr_values else {}
    if reauthenticate:
        extra.update(prompt="login", max_age=0)
        session["reauth_started_at"] = int(time.time())
    else:
        session.pop("reauth_started_at", None)
    try:
        return client.authorize_redirect(url_for("auth.callback", provider_key=provider.key, _external=True), **extra)
    except (requests.RequestException, ValueError, OAuthError) as exc:
        # metadata could not be fetched or parsed: the provider is down or misconfigured
        raise SignInRefused(Refusal.PROVIDER_UNAVAILABLE, repr(exc)) from exc


def finish(provider: ProviderConfig) -> dict[str, Any]:
    """Validate the provider's response and return the verified claims.

    Raises:
        SignInRefused: for anything short of a fully valid response; never lets an exception through.
    """
    client = _client(provider.key)
    try:
        metadata = client.load_server_metadata()
        # RFC 9207: a provider that names itself in the response must name the one we asked
        iss_expected = "iss" in request.args or metadata.get("authorization_response_iss_parameter_supported")
        if iss_expected and request.args.get("iss") != metadata.get("issuer"):
            raise SignInRefused(Refusal.INVALID_RESPONSE, "iss parameter missing or not this provider's")
        if metadata.get("issuer") != provider.issuer:
            raise SignInRefused(Refusal.INVALID_RESPONSE, "discovery issuer differs from configuration")
        _restrict_signing_algorithms(metadata)
        token = client.authorize_access_token(
            claims_options={
                "iss": {"essential": True, "value": provider.issuer},
                "aud": {"essential": True, "value": provider.client_id},
                "sub": {"essential": True},
                "exp": {"essential": True},
                "iat": {"essential": True},
            },
            leeway=LEEWAY,
        )
        claims = token.get("userinfo")
        if not claims:
            # authlib skips id_token validation entirely when the token response lacks one
            raise SignInRefused(Refusal.INVALID_RESPONSE, "no id_token in the token response")
        claims = dict(claims)
        started = session.pop("reauth_started_at", None)
        if started is not None:
            auth_time = claims.get("auth_time")
            if not isinstance(auth_time, int) or auth_time < int(started) - LEEWAY:
                raise SignInRefused(Refusal.INVALID_RESPONSE, "re-authentication asked for, but auth_time is not fresh")
        aud = claims.get("aud")
        if isinstance(aud, list) and len(aud) > 1 and claims.get("azp") != provider.client_id:
            raise SignInRefused(Refusal.INVALID_RESPONSE, "multiple audiences without azp")
        if provider.use_userinfo:
            extra = dict(client.userinfo(token=token))
            if extra.get("sub") != claims.get("sub"):
                raise SignInRefused(Refusal.INVALID_RESPONSE, "userinfo sub differs from id_token sub")
            claims = {**extra, **claims}
        return claims
    except SignInRefused:
        raise
    except OAuthError as exc:
        reason = Refusal.PROVIDER_ERROR if request.args.get("error") else Refusal.INVALID_RESPONSE
        raise SignInRefused(reason, f"{exc.error}: {exc.description}") from exc
    except JoseError as exc:
        raise SignInRefused(Refusal.INVALID_RESPONSE, f"id_token rejected: {exc!r}") from exc
    except requests.RequestException as exc:
        raise SignInRefused(Refusal.PROVIDER_UNAVAILABLE, repr(exc)) from exc
    except (ValueError, KeyError, TypeError) as exc:
        # malformed JSON or token shapes from the provider
        raise SignInRefused(Refusal.INVALID_RESPONSE, repr(exc)) from exc


def _restrict_signing_algorithms(metadata: dict[str, Any]) -> None:
    """Narrow, in place, the algorithms authlib will accept on the id_token to our allow-list.

    authlib passes the discovery document's ``id_token_signing_alg_values_supported`` straight to the
    JWS verifier, so a provider (or whoever can alter its discovery document) that lists ``none`` or
    ``HS256`` would get those accepted. Discovery says RS256 is the default when the field is absent.
    """
    advertised = metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
    if not isinstance(advertised, list):
        raise SignInRefused(Refusal.INVALID_RESPONSE, "id_token_signing_alg_values_supported is not a list")
    allowed = [alg for alg in advertised if alg in ALLOWED_ID_TOKEN_ALGS]
    if not allowed:
        raise SignInRefused(Refusal.INVALID_RESPONSE, f"provider offers no acceptable id_token algorithm: {advertised}")
    metadata["id_token_signing_alg_values_supported"] = allowed
