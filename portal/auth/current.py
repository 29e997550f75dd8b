"""The signed-in user as every request sees it: plain frozen values read in one statement.

Why not the ORM ``User``: loading it took three statements per request (the user with its
organisation joined, then a ``selectin`` of its roles) and built ORM state that no page changes. Every
signed-in page pays this, so it set the floor under every gated page (``bench/README.md``). Here the
session row, the user, the organisation and the roles come back in one row
(``portal.auth.sessions.open_session`` selects ``USER_COLUMNS`` beside the session row), and pages get
a ``SignedInUser`` with the same attributes the templates and ``portal.gate.access_context`` reads from ``User``.
Anything that changes a user loads the ORM entity explicitly.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from portal.db import comma_joined
from portal.organisations.models import (
    CodeScheme,
    Organisation,
    OrganisationKind,
    Role,
    SignInProtocol,
    User,
    UserRole,
)


@dataclass(frozen=True)
class OrganisationSummary:
    id: uuid.UUID
    name: str
    kind: OrganisationKind
    code_scheme: CodeScheme
    code: str
    active: bool


@dataclass(frozen=True)
class SignedInUser(SignInProtocol):
    """What a request knows of its user, with the attributes pages read from ``User``."""

    id: uuid.UUID
    organisation_id: uuid.UUID
    display_name: str
    email: str | None
    job_title: str | None
    phone: str | None
    disabled: bool
    roles: frozenset[Role]
    organisation: OrganisationSummary


#: the user, their organisation and their roles (comma-joined by the database): select beside other columns
USER_COLUMNS = (
    User.id.label("user_id"),
    User.organisation_id.label("user_organisation_id"),
    User.display_name.label("user_display_name"),
    User.email.label("user_email"),
    User.job_title.label("user_job_title"),
    User.phone.label("user_phone"),
    User.disabled.label("user_disabled"),
    Organisation.name.label("organisation_name"),
    Organisation.kind.label("organisation_kind"),
    Organisation.code_scheme.label("organisation_code_scheme"),
    Organisation.code.label("organisation_code"),
    Organisation.active.label("organisation_active"),
    select(comma_joined(UserRole.role))
    .where(UserRole.user_id == User.id)
    .correlate(User)
    .scalar_subquery()
    .label("user_roles"),
)


def from_row(row: Any) -> SignedInUser | None:
    """The user in a row selected with ``USER_COLUMNS`` (None when the outer join found none)."""
    if row.user_id is None or row.organisation_name is None:
        return None
    return SignedInUser(
        id=row.user_id,
        organisation_id=row.user_organisation_id,
        display_name=row.user_display_name,
        email=row.user_email,
        job_title=row.user_job_title,
        phone=row.user_phone,
        disabled=bool(row.user_disabled),
        # a stored role this code no longer knows is ignored rather than failing every page
        roles=frozenset(Role(r) for r in (row.user_roles or "").split(",") if r in Role._value2member_map_),
        organisation=OrganisationSummary(
            id=row.user_organisation_id,
            name=row.organisation_name,
            kind=OrganisationKind(row.organisation_kind),
            code_scheme=CodeScheme(row.organisation_code_scheme),
            code=row.organisation_code,
            active=bool(row.organisation_active),
        ),
    )


def user_query() -> Select[Any]:
    return select(*USER_COLUMNS).join(Organisation, Organisation.id == User.organisation_id)


def load(db: Session, user_id: uuid.UUID) -> SignedInUser | None:
    """The user by id, in one statement; None if there is no such user."""
    return from_row(db.execute(user_query().where(User.id == user_id)).one_or_none())
