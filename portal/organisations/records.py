"""The writers of this domain's tables: organisations, their users and the roles users hold.

Every other part of the portal (the demo seed today, an onboarding page or import later) writes these
rows by calling these functions, never by building them itself, because a row here carries rules its
writer must not forget: an organisation is known by its national code (scheme and code, unique
together), which is what the identity provider's claim is matched against at sign-in; a user is bound to
exactly one organisation by the issuer and subject the provider asserts, never by e-mail or name; and
roles are granted here, as local data, never taken from the provider (``portal.organisations.models``).
``tests/architecture/test_table_owners.py`` fails if another domain writes these tables.

None of them commits or logs: the caller (a command-line task such as ``seed-demo``) owns the
transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection

from sqlalchemy.orm import Session

from portal.organisations.models import CodeScheme, Organisation, OrganisationKind, Role, User, UserRole


def add_organisation(
    session: Session, *, kind: OrganisationKind, name: str, code_scheme: CodeScheme, code: str
) -> Organisation:
    """Record an organisation (active) under its national code; flush, so that its id is known for the
    users bound to it and a clash is raised here.

    Raises:
        sqlalchemy.exc.IntegrityError: an organisation with this scheme and code is already recorded
            (they are unique together); the session must be rolled back.
    """
    organisation = Organisation(kind=kind, name=name, code_scheme=code_scheme, code=code)
    session.add(organisation)
    session.flush()
    return organisation


def add_user(
    session: Session,
    *,
    issuer: str,
    subject: str,
    organisation_id: uuid.UUID,
    display_name: str,
    email: str | None,
    roles: Collection[Role],
    job_title: str | None = None,
    phone: str | None = None,
    disabled: bool = False,
) -> User:
    """Record a user of an organisation, identified by the identity provider's exact ``issuer`` and the
    ``subject`` it asserts, with the roles they hold here, each once (granted locally: a provider
    vouches for who someone is, never for what they may do); flush, so that its id is known and a clash is raised here.

    Args:
        job_title, phone: work contact details, shown to partners when the user is a family's lead
            professional.
        disabled: recorded but refused at sign-in.

    Raises:
        sqlalchemy.exc.IntegrityError: a user with this issuer and subject is already recorded (they are
            unique together); the session must be rolled back.
    """
    user = User(
        issuer=issuer,
        subject=subject,
        organisation_id=organisation_id,
        display_name=display_name,
        email=email,
        job_title=job_title,
        phone=phone,
        disabled=disabled,
        role_grants=[UserRole(role=r) for r in sorted(set(roles))],
    )
    session.add(user)
    session.flush()
    return user
