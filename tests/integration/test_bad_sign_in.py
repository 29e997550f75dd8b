"""Bad sign-in input never gives a 500: it gets a GOV.UK refusal page, and nobody is signed in.

State and code cases run against the built-in development identity provider. Cases where the
provider itself sends something wrong run against ``tests.rogue_op.RogueOP``, a provider that
misbehaves on purpose, configured only through a provider YAML file as a real one would be. Its
well-behaved mode signs in successfully first (the positive control), so each refusal is the portal
rejecting the one thing that was made wrong, not a broken test provider.
"""

from __future__ import annotations

import html
import secrets
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from portal import db
from portal.auth.signin import Refusal
from portal.auth.views import REFUSALS
from portal.organisations.models import CodeScheme, Organisation, OrganisationKind, Role, User, UserRole
from tests.conftest import LiveServer, build_app, free_port
from tests.rogue_op import OTHER_ISSUER, RogueOP
from tests.signin import h1, start_dev_sign_in

ROGUE_KEY = "rogue"
ROGUE_CLIENT_ID = "portal-rogue-client"
ROGUE_SECRET_ENV = "ROGUE_OP_CLIENT_SECRET"
ROGUE_SUBJECT = "rogue-subject-0001"
ROGUE_ORG = "ods:Y97001"
DOWN_KEY = "offline"
DOWN_SECRET_ENV = "OFFLINE_OP_CLIENT_SECRET"
HUNG_KEY = "hung"
HUNG_SECRET_ENV = "HUNG_OP_CLIENT_SECRET"
TIMEOUT = 15
#: the portal's timeout for provider calls in these tests, short so the hung-provider case is quick
HUNG_TIMEOUT = 2


# helpers -----------------------------------------------------------------------------------------


def heading(page: str) -> str:
    return html.unescape(h1(page))


def assert_not_signed_in(base_url: str, http: requests.Session) -> None:
    home = http.get(f"{base_url}/home", timeout=TIMEOUT, allow_redirects=False)
    assert home.status_code == 302, f"/home should redirect to sign-in, got {home.status_code}"
    assert urlsplit(home.headers["Location"]).path == "/sign-in"


def assert_refused(base_url: str, http: requests.Session, response: requests.Response, reason: Refusal) -> None:
    """The refusal page for ``reason``, with its status (never a 500), and no session afterwards."""
    expected_heading, _, status = REFUSALS[reason]
    assert response.status_code != 500, response.text[:800]
    assert response.status_code == status, (response.status_code, heading(response.text))
    assert heading(response.text) == expected_heading
    assert "govuk-template" in response.text, "the refusal should be a GOV.UK page"
    assert "You have not been signed in." in response.text
    assert_not_signed_in(base_url, http)


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def begin_login(base_url: str, http: requests.Session, provider_key: str) -> str:
    """Start a sign-in (state, nonce and PKCE verifier go into the session); return the authorize URL."""
    response = http.get(f"{base_url}/auth/login/{provider_key}", timeout=TIMEOUT, allow_redirects=False)
    assert response.status_code == 302, response.text[:500]
    return response.headers["Location"]


def dev_callback_url(base_url: str, http: requests.Session, subject: str) -> str:
    """Sign in at the development provider, but return the callback URL instead of following it."""
    action, token = start_dev_sign_in(base_url, http)
    response = http.post(
        base_url + action,
        data={"csrf_token": token, "account": subject},
        timeout=TIMEOUT,
        allow_redirects=False,
    )
    assert response.status_code == 302, response.text[:500]
    location = response.headers["Location"]
    assert urlsplit(location).path == "/auth/callback/dev"
    return location


# the development provider: state, code and provider-error cases ----------------------------------


def test_callback_without_state_is_refused(live_app):
    http = requests.Session()
    begin_login(live_app.url, http, "dev")
    response = http.get(f"{live_app.url}/auth/callback/dev?code=abc123", timeout=TIMEOUT)
    assert_refused(live_app.url, http, response, Refusal.INVALID_RESPONSE)


def test_callback_with_no_parameters_and_no_login_is_refused(live_app):
    http = requests.Session()
    response = http.get(f"{live_app.url}/auth/callback/dev", timeout=TIMEOUT)
    assert_refused(live_app.url, http, response, Refusal.INVALID_RESPONSE)


def test_callback_with_wrong_state_is_refused_even_with_a_genuine_code(live_app):
    http = requests.Session()
    callback = dev_callback_url(live_app.url, http, "gp.practitioner")
    params = query(callback)
    forged = {"code": params["code"], "state": "not-" + params["state"]}
    response = http.get(f"{live_app.url}/auth/callback/dev?{urlencode(forged)}", timeout=TIMEOUT)
    assert_refused(live_app.url, http, response, Refusal.INVALID_RESPONSE)


def test_callback_with_state_but_no_login_started_is_refused(live_app):
    http = requests.Session()
    response = http.get(f"{live_app.url}/auth/callback/dev?code=abc&state=xyz", timeout=TIMEOUT)
    assert_refused(live_app.url, http, response, Refusal.INVALID_RESPONSE)


def test_unknown_code_with_valid_state_is_refused(live_app):
    http = requests.Session()
    state = query(begin_login(live_app.url, http, "dev"))["state"]
    made_up = {"code": secrets.token_urlsafe(24), "state": state}
    response = http.get(f"{live_app.url}/auth/callback/dev?{urlencode(made_up)}", timeout=TIMEOUT)
    assert_refused(live_app.url, http, response, Refusal.INVALID_RESPONSE)


def test_replayed_callback_in_the_same_browser_is_refused(live_app):
    http = requests.Session()
    callback = dev_callback_url(live_app.url, http, "gp.practitioner")
    first = http.get(callback, timeout=TIMEOUT)
    assert first.status_code == 200 and first.url == f"{live_app.url}/home"
    signed_in_cookie = http.cookies.get("portal_session")

    # the state was used up when the first callback succeeded: the replay is refused, and the
    # signed-in session the user already had is neither replaced nor upgraded by it
    replay = http.get(callback, timeout=TIMEOUT)
    assert replay.status_code == 400, replay.text[:800]
    assert heading(replay.text) == REFUSALS[Refusal.INVALID_RESPONSE][0]
    assert http.cookies.get("portal_session") == signed_in_cookie

    # once signed out, replaying it again still does not sign anyone back in
    page = http.get(f"{live_app.url}/home", timeout=TIMEOUT).text
    token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    out = http.post(f"{live_app.url}/sign-out", data={"csrf_token": token}, timeout=TIMEOUT)
    assert heading(out.text) == "You have signed out"
    again = http.get(callback, timeout=TIMEOUT)
    assert_refused(live_app.url, http, again, Refusal.INVALID_RESPONSE)


def test_replayed_callback_in_another_browser_is_refused(live_app):
    victim = requests.Session()
    callback = dev_callback_url(live_app.url, victim, "gp.practitioner")
    assert victim.get(callback, timeout=TIMEOUT).url == f"{live_app.url}/home"

    # an attacker with the callback URL, who has started a sign-in of their own
    attacker = requests.Session()
    own_state = query(begin_login(live_app.url, attacker, "dev"))["state"]
    as_captured = attacker.get(callback, timeout=TIMEOUT)
    assert_refused(live_app.url, attacker, as_captured, Refusal.INVALID_RESPONSE)

    # with the captured (already redeemed) code under the attacker's own valid state: the state
    # check passes, so only the provider's single-use code (and PKCE) can stop it
    own_state_fresh = query(begin_login(live_app.url, attacker, "dev"))["state"]
    assert own_state_fresh != own_state
    spliced = {"code": query(callback)["code"], "state": own_state_fresh}
    response = attacker.get(f"{live_app.url}/auth/callback/dev?{urlencode(spliced)}", timeout=TIMEOUT)
    assert_refused(live_app.url, attacker, response, Refusal.INVALID_RESPONSE)


def test_intercepted_unredeemed_code_is_refused_in_another_browser(live_app):
    """Code injection: a code the victim has not used yet, under the attacker's own state. PKCE stops it."""
    victim = requests.Session()
    callback = dev_callback_url(live_app.url, victim, "gp.practitioner")
    attacker = requests.Session()
    own_state = query(begin_login(live_app.url, attacker, "dev"))["state"]
    injected = {"code": query(callback)["code"], "state": own_state}
    response = attacker.get(f"{live_app.url}/auth/callback/dev?{urlencode(injected)}", timeout=TIMEOUT)
    assert_refused(live_app.url, attacker, response, Refusal.INVALID_RESPONSE)


@pytest.mark.parametrize("with_state", [True, False], ids=["with-state", "without-state"])
def test_provider_error_access_denied_is_refused(live_app, with_state):
    http = requests.Session()
    state = query(begin_login(live_app.url, http, "dev"))["state"]
    params = {"error": "access_denied", "error_description": "The user cancelled"}
    if with_state:
        params["state"] = state
    response = http.get(f"{live_app.url}/auth/callback/dev?{urlencode(params)}", timeout=TIMEOUT)
    assert_refused(live_app.url, http, response, Refusal.PROVIDER_ERROR)


def test_callback_for_an_unknown_provider_is_not_found(live_app):
    http = requests.Session()
    response = http.get(f"{live_app.url}/auth/callback/nobody?code=a&state=b", timeout=TIMEOUT)
    assert response.status_code == 404
    assert_not_signed_in(live_app.url, http)


# the rogue provider: what the provider sends back ------------------------------------------------


class RoguePortal:
    """The portal configured with the rogue provider and an offline one, served over HTTP."""

    def __init__(self, server: LiveServer, rogue: RogueOP) -> None:
        self.server = server
        self.url = server.url
        self.rogue = rogue

    def callback_url(self, http: requests.Session) -> str:
        """Start a sign-in and pass the provider; return the callback URL it redirects back to."""
        authorize = begin_login(self.url, http, ROGUE_KEY)
        assert authorize.startswith(f"{self.rogue.issuer}/authorize?")
        back = http.get(authorize, timeout=TIMEOUT, allow_redirects=False)
        assert back.status_code == 302, back.text[:500]
        location = back.headers["Location"]
        assert location.startswith(f"{self.url}/auth/callback/{ROGUE_KEY}?")
        return location

    def sign_in(self) -> tuple[requests.Session, requests.Response]:
        """Run the whole flow through the rogue provider as a browser would."""
        http = requests.Session()
        return http, http.get(self.callback_url(http), timeout=TIMEOUT)


def _write_provider_config(path: Path, rogue: RogueOP, dead_port: int, hung_port: int) -> None:
    path.write_text(
        f"""\
providers:
  - key: {ROGUE_KEY}
    name: Rogue Test Provider
    issuer: {rogue.issuer}
    client_id: {ROGUE_CLIENT_ID}
    client_secret_env: {ROGUE_SECRET_ENV}
    organisation_claim: org
    organisations:
      - {{claim_value: "{ROGUE_ORG}", scheme: ods, code: Y97001}}
  - key: {DOWN_KEY}
    name: Offline Test Provider
    issuer: http://127.0.0.1:{dead_port}
    client_id: portal-offline
    client_secret_env: {DOWN_SECRET_ENV}
    organisation_claim: org
    organisations:
      - {{claim_value: "ods:Y97002", scheme: ods, code: Y97002}}
  - key: {HUNG_KEY}
    name: Unresponsive Test Provider
    issuer: http://127.0.0.1:{hung_port}
    client_id: portal-hung
    client_secret_env: {HUNG_SECRET_ENV}
    organisation_claim: org
    organisations:
      - {{claim_value: "ods:Y97003", scheme: ods, code: Y97003}}
"""
    )


@pytest.fixture
def rogue_portal(database_url: str, tmp_path: Path) -> Iterator[RoguePortal]:
    secret = secrets.token_urlsafe(48)
    rogue = RogueOP(ROGUE_CLIENT_ID, secret, ROGUE_SUBJECT, ROGUE_ORG).start()
    # a provider that accepts connections (the kernel completes them) but never answers
    hung = socket.socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen(8)
    config = tmp_path / "providers.yaml"
    _write_provider_config(config, rogue, free_port(), hung.getsockname()[1])
    port = free_port()
    env = {
        "PORTAL_IDP_CONFIG": str(config),
        ROGUE_SECRET_ENV: secret,
        DOWN_SECRET_ENV: "offline-secret",
        HUNG_SECRET_ENV: "hung-secret",
        "PORTAL_IDP_HTTP_TIMEOUT": str(HUNG_TIMEOUT),
    }
    app = build_app(database_url, tmp_path, port, extra_env=env)
    with app.app_context():
        session = db.session()
        org = Organisation(
            kind=OrganisationKind.GP_PRACTICE, name="Rogue Test Practice", code_scheme=CodeScheme.ODS, code="Y97001"
        )
        session.add(org)
        session.add(
            User(
                issuer=rogue.issuer,
                subject=ROGUE_SUBJECT,
                display_name="Rita Rogue",
                email=None,
                organisation=org,
                role_grants=[UserRole(role=Role.PRACTITIONER)],
            )
        )
        session.commit()
    server = LiveServer(app, port).start()
    try:
        yield RoguePortal(server, rogue)
    finally:
        hung.close()  # first, so a request still waiting on it ends before the database goes away
        server.stop()
        rogue.stop()
        app.extensions["db_engine"].dispose()


@pytest.mark.parametrize("mode", ["good", "multi_aud_with_azp"])
def test_positive_control_the_rogue_provider_can_sign_in(rogue_portal, mode):
    """Without this, every refusal below could be a broken test provider rather than the portal."""
    rogue_portal.rogue.mode = mode
    http, response = rogue_portal.sign_in()
    assert response.status_code == 200, (response.status_code, heading(response.text))
    assert response.url == f"{rogue_portal.url}/home"
    assert "Rita Rogue" in response.text
    assert "Rogue Test Practice" in response.text
    assert rogue_portal.rogue.token_log == [f"issued:{mode}"]
    assert http.get(f"{rogue_portal.url}/home", timeout=TIMEOUT, allow_redirects=False).status_code == 200


@pytest.mark.parametrize(
    "mode",
    [
        "wrong_nonce",
        "no_nonce",
        "expired",
        "issued_in_future",
        "wrong_key_same_kid",
        "wrong_key_unknown_kid",
        "wrong_issuer",
        "wrong_audience",
        "wrong_audience_with_azp",
        "multi_aud_without_azp",
        "no_sub",
        "no_id_token",
        "alg_none",
        "alg_none_advertised",
        "hs256_with_client_secret",
        "not_a_jwt",
        "token_not_json",
        "jwks_garbage",
    ],
)
def test_bad_id_token_or_token_response_is_refused(rogue_portal, mode):
    rogue_portal.rogue.mode = mode
    http, response = rogue_portal.sign_in()
    # the provider accepted the portal's client secret and PKCE verifier and answered in this mode,
    # so the refusal is the portal rejecting what the provider sent
    assert rogue_portal.rogue.token_log == [f"issued:{mode}"]
    assert_refused(rogue_portal.url, http, response, Refusal.INVALID_RESPONSE)


@pytest.mark.parametrize("mode", ["token_server_error", "jwks_server_error"])
def test_provider_failing_mid_sign_in_is_refused_as_unavailable(rogue_portal, mode):
    rogue_portal.rogue.mode = mode
    http, response = rogue_portal.sign_in()
    assert rogue_portal.rogue.token_log == [f"issued:{mode}"]
    assert_refused(rogue_portal.url, http, response, Refusal.PROVIDER_UNAVAILABLE)


def test_replayed_code_at_the_rogue_provider_is_refused(rogue_portal):
    """A redeemed code under the attacker's own valid state: the provider refuses it as used."""
    victim = requests.Session()
    callback = rogue_portal.callback_url(victim)
    assert victim.get(callback, timeout=TIMEOUT).url == f"{rogue_portal.url}/home"
    attacker = requests.Session()
    state = query(begin_login(rogue_portal.url, attacker, ROGUE_KEY))["state"]
    spliced = {"code": query(callback)["code"], "state": state}
    response = attacker.get(f"{rogue_portal.url}/auth/callback/{ROGUE_KEY}?{urlencode(spliced)}", timeout=TIMEOUT)
    assert rogue_portal.rogue.token_log == ["issued:good", "refused:unknown or used code"]
    assert_refused(rogue_portal.url, attacker, response, Refusal.INVALID_RESPONSE)


@pytest.mark.parametrize("advertised", [False, True], ids=["iss-not-advertised", "iss-advertised"])
def test_iss_parameter_naming_another_provider_is_refused(rogue_portal, advertised):
    """RFC 9207 mix-up defence: a callback naming another issuer is refused before any code exchange."""
    rogue_portal.rogue.advertise_iss_parameter = advertised
    rogue_portal.rogue.callback_iss = OTHER_ISSUER
    http, response = rogue_portal.sign_in()
    assert rogue_portal.rogue.token_log == []
    assert_refused(rogue_portal.url, http, response, Refusal.INVALID_RESPONSE)


def test_iss_parameter_missing_when_the_provider_advertises_it_is_refused(rogue_portal):
    rogue_portal.rogue.advertise_iss_parameter = True
    http, response = rogue_portal.sign_in()
    assert rogue_portal.rogue.token_log == []
    assert_refused(rogue_portal.url, http, response, Refusal.INVALID_RESPONSE)


def test_positive_control_correct_iss_parameter_signs_in(rogue_portal):
    rogue_portal.rogue.advertise_iss_parameter = True
    rogue_portal.rogue.callback_iss = rogue_portal.rogue.issuer
    _, response = rogue_portal.sign_in()
    assert response.url == f"{rogue_portal.url}/home", heading(response.text)
    assert rogue_portal.rogue.token_log == ["issued:good"]


def test_discovery_naming_another_issuer_is_refused(rogue_portal):
    rogue_portal.rogue.discovery_issuer = OTHER_ISSUER
    http, response = rogue_portal.sign_in()
    assert rogue_portal.rogue.token_log == []
    assert_refused(rogue_portal.url, http, response, Refusal.INVALID_RESPONSE)


# a provider that is down ------------------------------------------------------------------------


def test_provider_down_at_sign_in_start_gives_the_not_responding_page(rogue_portal):
    http = requests.Session()
    response = http.get(f"{rogue_portal.url}/auth/login/{DOWN_KEY}", timeout=TIMEOUT)
    assert_refused(rogue_portal.url, http, response, Refusal.PROVIDER_UNAVAILABLE)
    assert "Offline Test Provider" in response.text


def test_provider_going_down_before_the_callback_is_refused(rogue_portal):
    http = requests.Session()
    callback = rogue_portal.callback_url(http)
    rogue_portal.rogue.stop()
    response = http.get(callback, timeout=TIMEOUT)
    assert rogue_portal.rogue.token_log == []
    assert_refused(rogue_portal.url, http, response, Refusal.PROVIDER_UNAVAILABLE)


def test_provider_that_never_answers_gives_the_not_responding_page(rogue_portal):
    """The portal must give up on a hung provider after its own timeout (PORTAL_IDP_HTTP_TIMEOUT)."""
    http = requests.Session()
    patience = HUNG_TIMEOUT + 10
    try:
        response = http.get(f"{rogue_portal.url}/auth/login/{HUNG_KEY}", timeout=patience)
    except requests.ReadTimeout:
        pytest.fail(
            f"the portal had not answered after {patience} s: its {HUNG_TIMEOUT} s timeout for calls "
            "to the provider is not applied, so a hung provider holds the request (and a worker) indefinitely"
        )
    assert_refused(rogue_portal.url, http, response, Refusal.PROVIDER_UNAVAILABLE)


def test_a_re_authentication_the_provider_did_not_perform_is_refused(rogue_portal):
    """Break-glass asks for a fresh sign-in (prompt=login, max_age=0); an old auth_time is refused."""
    rogue_portal.rogue.mode = "stale_auth_time"
    http, normal = rogue_portal.sign_in()
    assert normal.url == f"{rogue_portal.url}/home"  # an ordinary sign-in does not ask for freshness
    response = http.get(
        f"{rogue_portal.url}/auth/login/{ROGUE_KEY}?reauth=1&next=/break-glass", timeout=TIMEOUT, allow_redirects=False
    )
    authorize = response.headers["Location"]
    assert query(authorize)["prompt"] == "login" and query(authorize)["max_age"] == "0"
    back = http.get(authorize, timeout=TIMEOUT, allow_redirects=False)
    refused = http.get(back.headers["Location"], timeout=TIMEOUT)
    assert refused.status_code == 400 and heading(refused.text) == REFUSALS[Refusal.INVALID_RESPONSE][0]
