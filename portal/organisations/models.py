"""Organisations, users and roles.

A user is bound to exactly one organisation and is identified by the identity provider's issuer and
the subject it asserts, never by e-mail or name, which are mutable and in multi-tenant providers
attacker-controllable. Roles are local data: an identity provider can vouch for who someone is, never
for what they may do here.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import Boolean, Enum, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base, UTCDateTime, utcnow


class OrganisationKind(enum.StrEnum):
    COUNCIL_TEAM = "council_team"
    GP_PRACTICE = "gp_practice"
    SCHOOL = "school"
    RSL = "rsl"
    PROBATION = "probation"
    POLICE = "police"
    HEALTH_VISITING = "health_visiting"
    OTHER = "other"

    @property
    def label(self) -> str:
        return _KIND_LABELS[self]


_KIND_LABELS = {
    OrganisationKind.COUNCIL_TEAM: "Council Supporting Families team",
    OrganisationKind.GP_PRACTICE: "GP practice",
    OrganisationKind.SCHOOL: "School",
    OrganisationKind.RSL: "Registered social landlord",
    OrganisationKind.PROBATION: "Probation service",
    OrganisationKind.POLICE: "Police",
    OrganisationKind.HEALTH_VISITING: "Health visiting service",
    OrganisationKind.OTHER: "Other organisation",
}


class CodeScheme(enum.StrEnum):
    """How an organisation is identified nationally; the binding to an identity provider uses it."""

    ODS = "ods"  #: NHS Organisation Data Service code (GP practices, NHS trusts)
    URN = "urn"  #: DfE Unique Reference Number (schools)
    LA = "la"  #: ONS local authority code
    RSL = "rsl"  #: Regulator of Social Housing registration number
    LOCAL = "local"  #: a code the council assigns where no national scheme fits

    @property
    def label(self) -> str:
        return {
            "ods": "ODS code",
            "urn": "URN",
            "la": "LA code",
            "rsl": "RSH registration",
            "local": "Council reference",
        }[self.value]


class Role(enum.StrEnum):
    PRACTITIONER = "practitioner"
    ORG_ADMIN = "org_admin"
    COORDINATOR = "coordinator"
    DPO = "dpo"
    SYSADMIN = "sysadmin"

    @property
    def label(self) -> str:
        return {
            "practitioner": "Practitioner",
            "org_admin": "Organisation administrator",
            "coordinator": "Supporting Families coordinator",
            "dpo": "Data protection officer",
            "sysadmin": "System administrator",
        }[self.value]


class Organisation(Base):
    __tablename__ = "organisation"
    __table_args__ = (UniqueConstraint("code_scheme", "code"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    kind: Mapped[OrganisationKind] = mapped_column(
        Enum(OrganisationKind, native_enum=False, length=32, values_callable=lambda e: [m.value for m in e])
    )
    name: Mapped[str] = mapped_column(String(200))
    code_scheme: Mapped[CodeScheme] = mapped_column(
        Enum(CodeScheme, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e])
    )
    code: Mapped[str] = mapped_column(String(32))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    users: Mapped[list[User]] = relationship(back_populates="organisation")


class SignInProtocol:
    """Flask-Login's protocol, written out rather than inherited from its mixin so nothing is implicit.

    Shared by the ORM ``User`` and the per-request ``portal.auth.current.SignedInUser``: both have
    ``id``, ``disabled`` and an ``organisation`` with ``active`` (not declared here, where the
    declarative mapping would take them for columns).
    """

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return not self.disabled and self.organisation.active

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return str(self.id)


class User(SignInProtocol, Base):
    __tablename__ = "app_user"
    __table_args__ = (UniqueConstraint("issuer", "subject"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    #: exact issuer string of the identity provider that vouches for this user
    issuer: Mapped[str] = mapped_column(String(500))
    #: the provider's stable subject identifier (sub, or Entra oid)
    subject: Mapped[str] = mapped_column(String(255))
    organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisation.id"), index=True)
    display_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    #: work contact details, shown to partners when this user is a family's lead professional
    job_title: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(40))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    organisation: Mapped[Organisation] = relationship(back_populates="users", lazy="joined")
    role_grants: Mapped[list[UserRole]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def roles(self) -> frozenset[Role]:
        return frozenset(grant.role for grant in self.role_grants)


class UserRole(Base):
    __tablename__ = "user_role"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[Role] = mapped_column(
        Enum(Role, native_enum=False, length=32, values_callable=lambda e: [m.value for m in e]),
        primary_key=True,
    )
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    user: Mapped[User] = relationship(back_populates="role_grants")
