"""Turn a validated identity (provider, subject, claims) into a portal user, or refuse with a reason.

A provider can only vouch for the organisations bound to it in the provider configuration: the
organisation is found through *that provider's* bindings, and the user row must carry that provider's
issuer. So a valid token from provider X can never sign anyone in to an organisation bound to Y.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.auth.providers import ProviderConfig
from portal.organisations.models import Organisation, User


class Refusal(enum.StrEnum):
    """Why a sign-in was refused; each has a heading and advice on the refusal page."""

    PROVIDER_ERROR = "provider_error"  #: the provider said no, or the response was malformed
    INVALID_RESPONSE = "invalid_response"  #: state, code, nonce or id_token failed validation
    PROVIDER_UNAVAILABLE = "provider_unavailable"  #: the provider could not be reached
    INSUFFICIENT_ASSURANCE = "insufficient_assurance"  #: acr below what this provider must give
    ORGANISATION_NOT_REGISTERED = "organisation_not_registered"
    USER_NOT_REGISTERED = "user_not_registered"
    USER_DISABLED = "user_disabled"
    NO_ROLES = "no_roles"


class SignInRefused(Exception):
    """A refused sign-in, with whom it refused when that is known, for the access log.

    ``user_id`` is set once the user row was found (disabled, no roles); ``organisation_id`` once the
    organisation the provider vouched for was found (those, an unregistered user, an inactive
    organisation). Neither is shown to the person refused.
    """

    def __init__(
        self,
        reason: Refusal,
        detail: str = "",
        *,
        user_id: uuid.UUID | None = None,
        organisation_id: uuid.UUID | None = None,
    ) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail
        self.user_id = user_id
        self.organisation_id = organisation_id


@dataclass(frozen=True)
class SignedIn:
    user: User
    organisation: Organisation


def resolve_user(db: Session, provider: ProviderConfig, claims: dict[str, Any]) -> SignedIn:
    """Find the portal user for validated claims from ``provider``.

    Args:
        db: an open session.
        provider: the provider whose id_token was validated (its issuer was checked).
        claims: the validated id_token claims, merged with userinfo where the provider uses it.

    Returns:
        The user and the organisation they act for.

    Raises:
        SignInRefused: with the reason the user is shown.
    """
    if provider.required_acr and claims.get("acr") not in provider.required_acr:
        raise SignInRefused(Refusal.INSUFFICIENT_ASSURANCE, f"acr {claims.get('acr')!r}")
    subject = claims.get(provider.subject_claim)
    if not isinstance(subject, str) or not subject:
        raise SignInRefused(Refusal.INVALID_RESPONSE, f"no {provider.subject_claim} claim")
    claim_value = claims.get(provider.organisation_claim)
    binding = provider.binding_for(claim_value) if isinstance(claim_value, str) else None
    if binding is None:
        raise SignInRefused(
            Refusal.ORGANISATION_NOT_REGISTERED,
            f"{provider.organisation_claim}={claim_value!r} is not bound to {provider.key}",
        )
    organisation = db.scalar(
        select(Organisation).where(Organisation.code_scheme == binding.scheme, Organisation.code == binding.code)
    )
    if organisation is None or not organisation.active:
        raise SignInRefused(
            Refusal.ORGANISATION_NOT_REGISTERED,
            f"{binding.scheme.value}:{binding.code} has no active organisation record",
            organisation_id=organisation.id if organisation is not None else None,
        )
    user = db.scalar(select(User).where(User.issuer == provider.issuer, User.subject == subject))
    if user is None or user.organisation_id != organisation.id:
        # A user registered at another organisation is treated as unregistered here: the token
        # vouches only for this organisation, and the portal never moves people between them.
        # So the log names the organisation but no user.
        raise SignInRefused(
            Refusal.USER_NOT_REGISTERED, f"no user {subject!r} at {organisation.name}", organisation_id=organisation.id
        )
    if user.disabled:
        raise SignInRefused(
            Refusal.USER_DISABLED, f"user {user.id} is disabled", user_id=user.id, organisation_id=organisation.id
        )
    if not user.roles:
        raise SignInRefused(
            Refusal.NO_ROLES, f"user {user.id} holds no role", user_id=user.id, organisation_id=organisation.id
        )
    return SignedIn(user, organisation)
