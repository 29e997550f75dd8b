"""A provider may vouch only for the organisations bound to it; users are keyed by issuer + subject."""

from __future__ import annotations

import pytest

from portal import db
from portal.auth.dev_idp import DEV_PROVIDER_KEY
from portal.auth.providers import OrganisationBinding, ProviderConfig
from portal.auth.signin import Refusal, SignInRefused, resolve_user
from portal.organisations.models import CodeScheme, Organisation, OrganisationKind, Role, User, UserRole

OTHER_ISSUER = "https://other-idp.example"


def other_provider(**changes) -> ProviderConfig:
    fields = {
        "key": "other",
        "name": "Other provider",
        "issuer": OTHER_ISSUER,
        "client_id": "portal",
        "client_secret": "x",
        "organisation_claim": "org",
        "bindings": (OrganisationBinding("ods:Y96001", CodeScheme.ODS, "Y96001"),),
    }
    return ProviderConfig(**{**fields, **changes})


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield db.session()


def dev_provider(app) -> ProviderConfig:
    return app.extensions["portal_providers"][DEV_PROVIDER_KEY]


def test_a_registered_user_resolves_to_their_organisation(app, ctx):
    signed = resolve_user(
        ctx, dev_provider(app), {"sub": "gp.practitioner", "org": "ods:Y99001", "acr": "urn:example:dev:aal1"}
    )
    assert signed.organisation.name == "Riverside Medical Practice"
    assert signed.user.roles == {Role.PRACTITIONER}


def test_a_token_from_another_provider_never_signs_in_to_an_organisation_bound_elsewhere(app, ctx):
    # even if the other provider asserts the council's claim value and a user row exists under its issuer
    council = ctx.query(Organisation).filter_by(code="E99000001").one()
    ctx.add(
        User(
            issuer=OTHER_ISSUER,
            subject="sf.coordinator",
            display_name="Imposter",
            organisation=council,
            role_grants=[UserRole(role=Role.COORDINATOR)],
        )
    )
    ctx.flush()
    with pytest.raises(SignInRefused) as refused:
        resolve_user(ctx, other_provider(), {"sub": "sf.coordinator", "org": "la:E99000001"})
    assert refused.value.reason is Refusal.ORGANISATION_NOT_REGISTERED


def test_the_same_subject_under_another_issuer_is_a_different_person(app, ctx):
    ctx.add(
        Organisation(
            kind=OrganisationKind.GP_PRACTICE, name="Hilltop Surgery", code_scheme=CodeScheme.ODS, code="Y96001"
        )
    )
    ctx.flush()
    with pytest.raises(SignInRefused) as refused:
        resolve_user(ctx, other_provider(), {"sub": "gp.practitioner", "org": "ods:Y96001"})
    assert refused.value.reason is Refusal.USER_NOT_REGISTERED


def test_a_user_registered_at_another_organisation_is_refused(app, ctx):
    with pytest.raises(SignInRefused) as refused:
        resolve_user(
            ctx, dev_provider(app), {"sub": "gp.practitioner", "org": "urn:999101", "acr": "urn:example:dev:aal1"}
        )
    assert refused.value.reason is Refusal.USER_NOT_REGISTERED


def test_insufficient_assurance_is_refused(app, ctx):
    with pytest.raises(SignInRefused) as refused:
        resolve_user(ctx, dev_provider(app), {"sub": "gp.practitioner", "org": "ods:Y99001", "acr": "weak"})
    assert refused.value.reason is Refusal.INSUFFICIENT_ASSURANCE


def test_a_user_without_roles_is_refused(app, ctx):
    user = ctx.query(User).filter_by(subject="gp.admin").one()
    user.role_grants.clear()
    ctx.flush()
    with pytest.raises(SignInRefused) as refused:
        resolve_user(ctx, dev_provider(app), {"sub": "gp.admin", "org": "ods:Y99001", "acr": "urn:example:dev:aal1"})
    assert refused.value.reason is Refusal.NO_ROLES


def test_an_inactive_organisation_is_refused(app, ctx):
    ctx.query(Organisation).filter_by(code="Y99001").one().active = False
    ctx.flush()
    with pytest.raises(SignInRefused) as refused:
        resolve_user(
            ctx, dev_provider(app), {"sub": "gp.practitioner", "org": "ods:Y99001", "acr": "urn:example:dev:aal1"}
        )
    assert refused.value.reason is Refusal.ORGANISATION_NOT_REGISTERED
