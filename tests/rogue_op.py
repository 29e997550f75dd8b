"""A test-only OpenID provider that misbehaves on purpose.

It speaks the protocol properly where the portal is the one being checked (client_secret_basic, PKCE
S256, single-use codes, exact redirect_uri), so when it is told to send a bad id_token, a refusal can
only be the portal noticing the id_token. ``mode`` chooses what the token endpoint (and, for a few
modes, discovery or the JWKS) gets wrong; ``"good"`` is a well-behaved provider, the positive control.

Served by werkzeug on its own port in a thread; the portal reaches it only through a provider YAML file.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from typing import Any
from urllib.parse import unquote, urlencode

from flask import Flask, Response, jsonify, redirect, request
from joserfc import jwt
from joserfc.jwk import KeySet, OctKey, RSAKey
from werkzeug.serving import make_server

ORG_CLAIM = "org"
OTHER_ISSUER = "https://login.other-provider.example"
OTHER_CLIENT = "someone-elses-client"

#: what the token endpoint sends back; each name says what is wrong with the id_token or response
TOKEN_MODES = (
    "good",  # a valid id_token: the positive control
    "stale_auth_time",  # valid, but the user authenticated an hour ago (no fresh sign-in was done)
    "multi_aud_with_azp",  # aud [us, other] and azp us: valid per OIDC Core 3.1.3.7
    "wrong_nonce",
    "no_nonce",
    "expired",  # exp and iat in the past, beyond the portal's 60 s leeway
    "issued_in_future",  # iat well beyond the leeway in the future
    "wrong_key_same_kid",  # signed by another RSA key that claims the published kid
    "wrong_key_unknown_kid",  # signed by another RSA key under a kid the JWKS never publishes
    "wrong_issuer",
    "wrong_audience",
    "wrong_audience_with_azp",  # aud another client, azp us: still not for us
    "multi_aud_without_azp",  # aud [other, us], no azp
    "no_sub",
    "no_id_token",
    "alg_none",  # unsigned id_token; discovery advertises RS256 only
    "alg_none_advertised",  # unsigned id_token; discovery also lists "none"
    "hs256_with_client_secret",  # algorithm confusion: HMAC keyed with the shared client secret
    "not_a_jwt",
    "token_server_error",  # HTTP 500 with an HTML body
    "token_not_json",  # HTTP 200 with an HTML body
    "jwks_server_error",  # the JWKS endpoint fails
    "jwks_garbage",  # the JWKS is not a key set
)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _s256(verifier: str) -> str:
    return _b64(hashlib.sha256(verifier.encode()).digest())


class RogueOP:
    """One provider on 127.0.0.1, with a fixed client, signing key, and one registered subject."""

    def __init__(self, client_id: str, client_secret: str, subject: str, org_claim_value: str) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.subject = subject
        self.org_claim_value = org_claim_value
        self.mode = "good"
        self.discovery_issuer: str | None = None  #: set to make discovery name another issuer
        self.callback_iss: str | None = None  #: set to add an RFC 9207 iss parameter to the callback
        self.advertise_iss_parameter = False  #: discovery says callbacks carry iss (RFC 9207)
        self.lock = threading.Lock()
        self.codes: dict[str, dict[str, Any]] = {}
        #: what the token endpoint did, one entry per call: "issued:<mode>" or "refused:<why>"
        self.token_log: list[str] = []
        self.key = RSAKey.generate_key(2048, parameters={"use": "sig", "alg": "RS256"}, private=True)
        self.key.ensure_kid()
        self.impostor = RSAKey.generate_key(2048, parameters={"use": "sig", "alg": "RS256"}, private=True)
        self._server = make_server("127.0.0.1", 0, self._build_app(), threaded=True)
        self.port = self._server.server_port
        self.issuer = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._running = False

    # lifecycle -------------------------------------------------------------------------------

    def start(self) -> RogueOP:
        self._thread.start()
        self._running = True
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket, so connections are refused at once."""
        if self._running:
            self._server.shutdown()
            self._thread.join(5)
            self._running = False
        self._server.server_close()

    @property
    def tokens_issued(self) -> list[str]:
        return [entry for entry in self.token_log if entry.startswith("issued:")]

    # the id_token ------------------------------------------------------------------------------

    def _claims(self, nonce: str | None) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": self.subject,
            "aud": self.client_id,
            "exp": now + 300,
            "iat": now,
            "auth_time": now,
            "nonce": nonce,
            "name": "Rita Rogue",
            ORG_CLAIM: self.org_claim_value,
        }
        mode = self.mode
        if mode == "multi_aud_with_azp":
            claims.update(aud=[self.client_id, OTHER_CLIENT], azp=self.client_id)
        elif mode == "stale_auth_time":
            claims.update(auth_time=now - 3600)
        elif mode == "wrong_nonce":
            claims["nonce"] = "n-" + secrets.token_urlsafe(16)
        elif mode == "no_nonce":
            del claims["nonce"]
        elif mode == "expired":
            claims.update(exp=now - 120, iat=now - 900, auth_time=now - 900)
        elif mode == "issued_in_future":
            claims.update(iat=now + 600, exp=now + 900)
        elif mode == "wrong_issuer":
            claims["iss"] = OTHER_ISSUER
        elif mode == "wrong_audience":
            claims["aud"] = OTHER_CLIENT
        elif mode == "wrong_audience_with_azp":
            claims.update(aud=OTHER_CLIENT, azp=self.client_id)
        elif mode == "multi_aud_without_azp":
            claims["aud"] = [OTHER_CLIENT, self.client_id]
        elif mode == "no_sub":
            del claims["sub"]
        return claims

    def _id_token(self, nonce: str | None) -> str:
        claims = self._claims(nonce)
        mode = self.mode
        if mode in ("alg_none", "alg_none_advertised"):
            header = {"alg": "none", "kid": self.key.kid}
            return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}."
        if mode == "hs256_with_client_secret":
            return jwt.encode({"alg": "HS256", "kid": self.key.kid}, claims, OctKey.import_key(self.client_secret))
        if mode == "not_a_jwt":
            return "this-is-not-a-jwt"
        if mode == "wrong_key_same_kid":
            return jwt.encode({"alg": "RS256", "kid": self.key.kid}, claims, self.impostor)
        if mode == "wrong_key_unknown_kid":
            return jwt.encode({"alg": "RS256", "kid": "kid-nobody-published"}, claims, self.impostor)
        return jwt.encode({"alg": "RS256", "kid": self.key.kid}, claims, self.key)

    # the provider's endpoints --------------------------------------------------------------------

    def _build_app(self) -> Flask:
        app = Flask("rogue_op")
        app.add_url_rule("/.well-known/openid-configuration", view_func=self._discovery)
        app.add_url_rule("/jwks", view_func=self._jwks)
        app.add_url_rule("/authorize", view_func=self._authorize)
        app.add_url_rule("/token", view_func=self._token, methods=["POST"])
        return app

    def _discovery(self) -> Response:
        algs = ["RS256", "none"] if self.mode == "alg_none_advertised" else ["RS256"]
        return jsonify(
            {
                "issuer": self.discovery_issuer or self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": algs,
                "token_endpoint_auth_methods_supported": ["client_secret_basic"],
                "code_challenge_methods_supported": ["S256"],
                "scopes_supported": ["openid", "profile", "email"],
                "authorization_response_iss_parameter_supported": self.advertise_iss_parameter,
            }
        )

    def _jwks(self) -> Any:
        if self.mode == "jwks_server_error":
            return "<html><body>Internal Server Error</body></html>", 500
        if self.mode == "jwks_garbage":
            return jsonify({"keys": "nothing to see here"})
        return jsonify(KeySet([self.key]).as_dict(private=False))

    def _authorize(self) -> Any:
        args = request.args
        if args.get("client_id") != self.client_id or args.get("response_type") != "code":
            return "unknown client or response type", 400
        if not args.get("redirect_uri") or not args.get("state"):
            return "redirect_uri and state are required", 400
        if args.get("code_challenge_method") != "S256" or not args.get("code_challenge"):
            return "PKCE S256 is required", 400
        code = secrets.token_urlsafe(24)
        with self.lock:
            self.codes[code] = {
                "redirect_uri": args["redirect_uri"],
                "nonce": args.get("nonce"),
                "code_challenge": args["code_challenge"],
            }
        back = {"code": code, "state": args["state"]}
        if self.callback_iss:
            back["iss"] = self.callback_iss
        return redirect(f"{args['redirect_uri']}?{urlencode(back)}")

    def _refuse_token(self, why: str, error: str, status: int = 400) -> Any:
        self.token_log.append(f"refused:{why}")
        return jsonify({"error": error, "error_description": why}), status

    def _token(self) -> Any:
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Basic "):
            return self._refuse_token("client_secret_basic expected", "invalid_client", 401)
        user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
        if unquote(user) != self.client_id or not secrets.compare_digest(unquote(password), self.client_secret):
            return self._refuse_token("wrong client credentials", "invalid_client", 401)
        form = request.form
        if form.get("grant_type") != "authorization_code":
            return self._refuse_token("grant_type", "unsupported_grant_type")
        with self.lock:
            grant = self.codes.pop(form.get("code", ""), None)  # single use
        if grant is None:
            return self._refuse_token("unknown or used code", "invalid_grant")
        if form.get("redirect_uri") != grant["redirect_uri"]:
            return self._refuse_token("redirect_uri differs", "invalid_grant")
        verifier = form.get("code_verifier", "")
        if not verifier or not secrets.compare_digest(_s256(verifier), grant["code_challenge"]):
            return self._refuse_token("PKCE verifier does not match", "invalid_grant")

        mode = self.mode
        self.token_log.append(f"issued:{mode}")
        if mode == "token_server_error":
            return "<html><body>Internal Server Error</body></html>", 500
        if mode == "token_not_json":
            return "<html><body>Sign-in service maintenance</body></html>", 200
        body: dict[str, Any] = {
            "access_token": secrets.token_urlsafe(24),
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "openid profile email",
        }
        if mode != "no_id_token":
            body["id_token"] = self._id_token(grant["nonce"])
        return jsonify(body)
