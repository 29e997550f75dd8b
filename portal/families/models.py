"""People, supported families, the organisations that serve them, and the flags partners see.

Identifiers (NHS number, UPN), names, dates of birth, postcodes and free text are encrypted in the
application (``portal.crypto``) so that a copy of the database, a backup or a careless query shows
nobody's identity. Exact lookups by NHS number or UPN go through keyed blind indexes; nothing else
about a person is searchable in SQL, by design.
"""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.crypto import EncryptedDate, EncryptedText
from portal.db import Base, UTCDateTime, enum_type, utcnow


class MemberRole(enum.StrEnum):
    PARENT_CARER = "parent_carer"
    CHILD = "child"
    OTHER_ADULT = "other_adult"

    @property
    def label(self) -> str:
        return {"parent_carer": "Parent or carer", "child": "Child", "other_adult": "Other adult"}[self.value]


class FamilyStatus(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class RelationshipKind(enum.StrEnum):
    """How an organisation serves a person: the legitimate relationship that lets it see a flag."""

    REGISTERED_PATIENT = "registered_patient"
    ON_ROLL = "on_roll"
    TENANT = "tenant"
    ON_CASELOAD = "on_caseload"
    NOMINATOR = "nominator"

    @property
    def label(self) -> str:
        return {
            "registered_patient": "Registered patient",
            "on_roll": "On the school roll",
            "tenant": "Tenant",
            "on_caseload": "On the caseload",
            "nominator": "Nominated by the organisation",
        }[self.value]


class RelationshipSource(enum.StrEnum):
    CSV_IMPORT = "csv_import"
    MANUAL = "manual"
    NOMINATION = "nomination"
    DEMO = "demo"


class Person(Base):
    __tablename__ = "person"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    #: personal data: 10-digit NHS number, standardised, encrypted
    nhs_number: Mapped[str | None] = mapped_column(EncryptedText("person.nhs_number"))
    #: keyed blind index of the NHS number for exact lookups (HMAC, not reversible without the key)
    nhs_number_index: Mapped[str | None] = mapped_column(String(64), unique=True)
    #: personal data: Unique Pupil Number, upper-case, encrypted
    upn: Mapped[str | None] = mapped_column(EncryptedText("person.upn"))
    upn_index: Mapped[str | None] = mapped_column(String(64), unique=True)
    #: personal data
    given_name: Mapped[str] = mapped_column(EncryptedText("person.given_name"))
    #: personal data
    family_name: Mapped[str] = mapped_column(EncryptedText("person.family_name"))
    #: personal data
    date_of_birth: Mapped[date | None] = mapped_column(EncryptedDate("person.date_of_birth"))
    #: personal data: normalised UK postcode
    postcode: Mapped[str | None] = mapped_column(EncryptedText("person.postcode"))
    #: blocking keys for matching nominated people (``referrals.matching``), keyed blind indexes like the
    #: NHS number's: of the date of birth, of the postcode, and of the family name with the year of birth.
    #: Written with the person by ``portal.families.records.add_person`` (``matching_keys``).
    dob_block_index: Mapped[str | None] = mapped_column(String(64), index=True)
    postcode_block_index: Mapped[str | None] = mapped_column(String(64), index=True)
    name_year_block_index: Mapped[str | None] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    @property
    def full_name(self) -> str:
        return f"{self.given_name} {self.family_name}"


class Family(Base):
    __tablename__ = "family"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    #: the council's reference, shown to partners so they can quote it when they call
    reference: Mapped[str] = mapped_column(String(20), unique=True)
    status: Mapped[FamilyStatus] = mapped_column(enum_type(FamilyStatus, 16), default=FamilyStatus.OPEN)
    lead_professional_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("app_user.id"), index=True)
    attached_on: Mapped[date] = mapped_column(Date)
    closed_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    members: Mapped[list[FamilyMember]] = relationship(back_populates="family", cascade="all, delete-orphan")


class FamilyMember(Base):
    __tablename__ = "family_member"

    family_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("family.id", ondelete="CASCADE"), primary_key=True)
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("person.id"), primary_key=True, index=True)
    role: Mapped[MemberRole] = mapped_column(enum_type(MemberRole, 16))
    joined_on: Mapped[date] = mapped_column(Date)
    left_on: Mapped[date | None] = mapped_column(Date)

    family: Mapped[Family] = relationship(back_populates="members")
    person: Mapped[Person] = relationship()


class ServiceRelationship(Base):
    """An organisation serves a person (a practice's registered patient, a school's pupil, ...)."""

    __tablename__ = "service_relationship"
    __table_args__ = (
        Index("ix_service_relationship_org_person", "organisation_id", "person_id"),
        UniqueConstraint("organisation_id", "person_id", "kind", "valid_from"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisation.id"))
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("person.id"), index=True)
    kind: Mapped[RelationshipKind] = mapped_column(enum_type(RelationshipKind))
    source: Mapped[RelationshipSource] = mapped_column(enum_type(RelationshipSource, 16))
    #: inclusive; the relationship counts from this date
    valid_from: Mapped[date] = mapped_column(Date)
    #: inclusive; open-ended when empty (a patient deregistered, a pupil left the roll)
    valid_to: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Flag(Base):
    """Tells the organisations that serve a person that the person is in a supported family."""

    __tablename__ = "flag"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("person.id"), index=True)
    family_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("family.id"), index=True)
    raised_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("app_user.id"))
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    review_on: Mapped[date | None] = mapped_column(Date)
    #: inclusive: partners stop seeing the flag after this date (the family's work has closed)
    ends_on: Mapped[date | None] = mapped_column(Date)
    #: whether the family has been told that partners will see this flag
    family_told: Mapped[bool] = mapped_column(Boolean, default=False)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    removed_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("app_user.id"))
    #: personal data (free text)
    removal_reason: Mapped[str | None] = mapped_column(EncryptedText("flag.removal_reason"))

    concerns: Mapped[list[FlagConcern]] = relationship(
        back_populates="flag", cascade="all, delete-orphan", lazy="selectin", order_by="FlagConcern.category"
    )

    def live_on(self, day: date) -> bool:
        return self.removed_at is None and (self.ends_on is None or day <= self.ends_on)


class FlagConcern(Base):
    """One headline criterion behind a flag, with the detail a covered recipient may see."""

    __tablename__ = "flag_concern"

    flag_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("flag.id", ondelete="CASCADE"), primary_key=True)
    #: a data category of the framework (e.g. ``education``, ``health``)
    category: Mapped[str] = mapped_column(String(40), primary_key=True)
    #: personal data (free text): e.g. the attendance picture a school may see
    detail: Mapped[str | None] = mapped_column(EncryptedText("flag_concern.detail"))

    flag: Mapped[Flag] = relationship(back_populates="concerns")


class BreakGlassAccess(Base):
    """An emergency access outside the normal relationship and notice rules, kept for review."""

    __tablename__ = "break_glass_access"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("app_user.id"), index=True)
    organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisation.id"))
    person_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("person.id"), index=True)
    #: personal data (free text): why the practitioner needed emergency access
    reason: Mapped[str] = mapped_column(EncryptedText("break_glass_access.reason"))
    accessed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: set when the data protection officer has reviewed the access
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reviewed_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("app_user.id"))
