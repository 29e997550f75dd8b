"""Sign-in through a real, OpenID Certified third-party provider (oidc-provider under Node), configured
only through the portal's documented provider configuration file (``PORTAL_IDP_CONFIG``).

The whole protocol runs over real HTTP: authorisation request with state, nonce and PKCE, the
provider's own login and consent pages, the code exchange with client_secret_basic, and the RS256
id_token checked against the provider's JWKS. Nothing in the portal is stubbed.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urljoin

import pytest
import requests
import yaml
from flask import Flask

from tests.conftest import LiveServer, build_app, seeded
from tests.e2e.conftest import ThirdPartyProvider
from tests.signin import h1

pytestmark = pytest.mark.e2e

SECRET_ENV = "E2E_OP_SECRET"
PROVIDER_NAME = "Hilltop NHS sign-in (e2e)"
ORG_NAME = "Hilltop End-to-End Surgery"
ORG_CODE = "Y98001"
COUNCIL_CODE = "E99000001"
NOT_REGISTERED = "Your organisation is not registered to use this service"


def write_provider_config(path: Path, op: ThirdPartyProvider) -> Path:
    """The documented provider file: see README "Adding an identity provider"."""
    document = {
        "providers": [
            {
                "key": op.provider_key,
                "name": PROVIDER_NAME,
                "issuer": op.issuer,
                "client_id": op.client_id,
                "client_secret_env": SECRET_ENV,
                "organisation_claim": "org_id",
                "subject_claim": "sub",
                "scopes": ["openid", "profile", "email", "org"],
                "organisations": [{"claim_value": f"ods:{ORG_CODE}", "scheme": "ods", "code": ORG_CODE}],
            }
        ]
    }
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


@pytest.fixture
def start_portal(
    database_url: str, tmp_path: Path, third_party_op: ThirdPartyProvider
) -> Iterator[Callable[..., tuple[Flask, LiveServer]]]:
    """Build the portal on the port the provider expects it on, configured through PORTAL_IDP_CONFIG."""
    started: list[tuple[Flask, LiveServer | None]] = []

    def start(*, dev_idp: bool = False, seed: Callable[[Flask], None] | None = None) -> tuple[Flask, LiveServer]:
        config = write_provider_config(tmp_path / "providers.yaml", third_party_op)
        app = build_app(
            database_url,
            tmp_path,
            third_party_op.portal_port,
            extra_env={
                "PORTAL_IDP_CONFIG": str(config),
                SECRET_ENV: third_party_op.client_secret,
                "PORTAL_DEV_IDP": "1" if dev_idp else "0",
            },
        )
        started.append((app, None))
        if seed is not None:
            seed(app)
        server = LiveServer(app, third_party_op.portal_port).start()
        started[-1] = (app, server)
        return app, server

    yield start
    for app, server in started:
        if server is not None:
            server.stop()
        app.extensions["db_engine"].dispose()


def add_practice_and_user(app: Flask, issuer: str) -> None:
    from portal import db
    from portal.organisations.models import CodeScheme, Organisation, OrganisationKind, Role, User, UserRole

    with app.app_context():
        s = db.session()
        practice = Organisation(
            kind=OrganisationKind.GP_PRACTICE, name=ORG_NAME, code_scheme=CodeScheme.ODS, code=ORG_CODE
        )
        s.add(practice)
        s.add(
            User(
                issuer=issuer,
                subject="e2e.practitioner",
                display_name="Erin Endtoend",
                email="erin.endtoend@hilltop-gp.test",
                organisation=practice,
                role_grants=[UserRole(role=Role.PRACTITIONER)],
            )
        )
        s.commit()


def form_on(page: str) -> tuple[str, str]:
    """Return (action, prompt) of the provider's interaction form."""
    action = re.search(r'<form[^>]*\baction="([^"]+)"', page)
    prompt = re.search(r'name="prompt" value="([^"]+)"', page)
    assert action and prompt, f"no interaction form on the provider's page:\n{page[:2000]}"
    return html.unescape(action.group(1)), prompt.group(1)


def sign_in_through_op(
    portal_url: str, op: ThirdPartyProvider, login: str, http: requests.Session | None = None
) -> tuple[requests.Session, requests.Response, list[str]]:
    """Start at the portal, fill in the provider's own login and consent pages, follow back to the portal.

    Returns the browser-like session, the final response and the provider prompts answered in order.
    """
    http = http or requests.Session()
    response = http.get(f"{portal_url}/auth/login/{op.provider_key}", timeout=10)
    prompts: list[str] = []
    while response.url.startswith(f"{op.issuer}/interaction/"):
        assert response.status_code == 200, response.text[:2000]
        assert len(prompts) < 4, f"the provider keeps asking: {prompts}"
        action, prompt = form_on(response.text)
        prompts.append(prompt)
        data = {"prompt": prompt}
        if prompt == "login":
            # devInteractions accepts any password; the account table decides who exists
            data |= {"login": login, "password": "any password at all"}
        response = http.post(urljoin(response.url, action), data=data, timeout=10)
    return http, response, prompts


def assert_not_signed_in(portal_url: str, http: requests.Session) -> None:
    home = http.get(f"{portal_url}/home", timeout=10, allow_redirects=False)
    assert home.status_code == 302 and "/sign-in" in home.headers["Location"]


def test_the_configured_provider_is_offered_on_the_sign_in_page(start_portal, third_party_op):
    _, server = start_portal()
    page = requests.get(f"{server.url}/sign-in", timeout=10)
    assert page.status_code == 200
    assert PROVIDER_NAME in page.text
    assert f"/auth/login/{third_party_op.provider_key}" in page.text


def test_a_practitioner_signs_in_through_the_third_party_provider(start_portal, third_party_op):
    _, server = start_portal(seed=lambda app: add_practice_and_user(app, third_party_op.issuer))

    http, response, prompts = sign_in_through_op(server.url, third_party_op, "e2e.practitioner")

    assert prompts == ["login", "consent"], "the provider's own login and consent pages were both answered"
    assert response.status_code == 200, response.text[:2000]
    assert response.url == f"{server.url}/home"
    assert h1(response.text) == "Welcome, Erin Endtoend"
    assert ORG_NAME in response.text
    assert "Practitioner" in response.text
    account = http.get(f"{server.url}/account", timeout=10)
    assert account.status_code == 200
    assert PROVIDER_NAME in account.text


def test_an_organisation_claim_bound_to_nothing_is_refused(start_portal, third_party_op):
    _, server = start_portal(seed=lambda app: add_practice_and_user(app, third_party_op.issuer))

    http, response, prompts = sign_in_through_op(server.url, third_party_op, "e2e.other")

    assert prompts == ["login", "consent"]
    assert response.status_code == 403
    assert response.url.startswith(f"{server.url}/auth/callback/{third_party_op.provider_key}?")
    assert h1(response.text) == NOT_REGISTERED
    assert PROVIDER_NAME in response.text
    assert_not_signed_in(server.url, http)


def test_the_provider_cannot_sign_anyone_in_to_the_council_bound_to_the_dev_provider(start_portal, third_party_op):
    """Key isolation: the demo council (la:E99000001) is bound to the built-in development provider only.

    A token from this provider asserting the council's claim value must not sign anyone in, even though a
    user row exists at the council under this provider's issuer and the same subject.
    """

    def seed(app: Flask) -> None:
        from sqlalchemy import select

        from portal import db
        from portal.organisations.models import Organisation, Role, User, UserRole

        seeded(app)
        add_practice_and_user(app, third_party_op.issuer)
        with app.app_context():
            s = db.session()
            council = s.scalar(select(Organisation).where(Organisation.code == COUNCIL_CODE))
            assert council is not None, "the demo data should include the council"
            s.add(
                User(
                    issuer=third_party_op.issuer,
                    subject="e2e.council-claim",
                    display_name="Ivy Imposter",
                    organisation=council,
                    role_grants=[UserRole(role=Role.COORDINATOR)],
                )
            )
            s.commit()

    app, server = start_portal(dev_idp=True, seed=seed)
    providers = app.extensions["portal_providers"]
    assert set(providers) == {"dev", third_party_op.provider_key}
    assert any(b.code == COUNCIL_CODE for b in providers["dev"].bindings)

    http, response, prompts = sign_in_through_op(server.url, third_party_op, "e2e.council-claim")

    assert prompts == ["login", "consent"]
    assert response.status_code == 403
    assert h1(response.text) == NOT_REGISTERED
    assert "Supporting Families coordinator" not in response.text
    assert_not_signed_in(server.url, http)

    # and the same provider still signs its own practitioner in alongside the development provider
    http, response, _ = sign_in_through_op(server.url, third_party_op, "e2e.practitioner")
    assert response.url == f"{server.url}/home"
    assert ORG_NAME in response.text


def test_a_callback_stripped_of_the_iss_parameter_is_refused(start_portal, third_party_op):
    """RFC 9207: this provider advertises the iss response parameter, so a response without it is refused."""
    _, server = start_portal(seed=lambda app: add_practice_and_user(app, third_party_op.issuer))
    callback = f"{server.url}/auth/callback/{third_party_op.provider_key}?"
    stripped: list[str] = []

    def strip_iss(response: requests.Response, *args: object, **kwargs: object) -> None:
        location = response.headers.get("Location", "")
        if location.startswith(callback) and "iss=" in location:
            response.headers["Location"] = re.sub(r"&?iss=[^&]*", "", location)
            stripped.append(location)

    http = requests.Session()
    http.hooks["response"].append(strip_iss)
    http, response, _ = sign_in_through_op(server.url, third_party_op, "e2e.practitioner", http)

    assert stripped, "the provider's redirect to the portal should have carried iss"
    assert response.status_code == 400
    assert h1(response.text) == "Sign-in could not be completed"
    assert_not_signed_in(server.url, http)
