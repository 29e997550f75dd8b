"""Fair processing notices: the versions the council publishes, the notices given to families, and
the objections family members raise.

A notice is not consent. What matters for a request is which version a family was given, when, and
whether that version names the recipient's sector and the data category (its coverage).
"""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.crypto import EncryptedText
from portal.db import Base, UTCDateTime, enum_type, utcnow


class NoticeMethod(enum.StrEnum):
    IN_PERSON = "in_person"
    LETTER = "letter"
    PHONE = "phone"
    EMAIL = "email"


#: how pages name each method: the coordinator's form and the family's record say it the same way
NOTICE_METHOD_LABELS = {
    NoticeMethod.IN_PERSON: "In person",
    NoticeMethod.LETTER: "By letter",
    NoticeMethod.PHONE: "By phone",
    NoticeMethod.EMAIL: "By email",
}


class ObjectionStatus(enum.StrEnum):
    UPHELD = "upheld"  #: respected: the category is not shared
    OVERRIDDEN = "overridden"  #: a safeguarding or statutory basis overrides it, recorded in ``basis``


class NoticeVersion(Base):
    __tablename__ = "notice_version"
    __table_args__ = (UniqueConstraint("reference", "version"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    #: the council's reference for the notice, stable across versions (e.g. ``FPN-SF``)
    reference: Mapped[str] = mapped_column(String(40))
    version: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(200))
    published_on: Mapped[date] = mapped_column(Date)
    summary: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    coverage: Mapped[list[NoticeCoverage]] = relationship(
        back_populates="version", cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def label(self) -> str:
        return f"{self.reference} v{self.version}"


class NoticeCoverage(Base):
    """The notice version tells the family that this kind of organisation may see this category."""

    __tablename__ = "notice_coverage"

    version_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("notice_version.id", ondelete="CASCADE"), primary_key=True)
    recipient_kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    category: Mapped[str] = mapped_column(String(40), primary_key=True)

    version: Mapped[NoticeVersion] = relationship(back_populates="coverage")


class NoticeGiven(Base):
    __tablename__ = "notice_given"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    family_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("family.id"), index=True)
    version_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("notice_version.id"))
    given_on: Mapped[date] = mapped_column(Date)
    given_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("app_user.id"))
    method: Mapped[NoticeMethod] = mapped_column(enum_type(NoticeMethod, 16))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    version: Mapped[NoticeVersion] = relationship(lazy="joined")
    members: Mapped[list[NoticeGivenMember]] = relationship(cascade="all, delete-orphan", lazy="selectin")


class NoticeGivenMember(Base):
    """A family member the notice was given to (or, for a child, given on behalf of)."""

    __tablename__ = "notice_given_member"

    notice_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("notice_given.id", ondelete="CASCADE"), primary_key=True)
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("person.id"), primary_key=True, index=True)


class Objection(Base):
    __tablename__ = "objection"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("person.id"), index=True)
    category: Mapped[str] = mapped_column(String(40))
    #: the purpose objected to; empty means every purpose
    purpose: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[ObjectionStatus] = mapped_column(enum_type(ObjectionStatus, 16))
    #: personal data (free text): the recorded safeguarding or statutory basis when overridden
    basis: Mapped[str | None] = mapped_column(EncryptedText("objection.basis"))
    recorded_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("app_user.id"))
    raised_on: Mapped[date] = mapped_column(Date)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
