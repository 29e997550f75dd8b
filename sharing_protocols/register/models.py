"""The register of sharing protocols: who may receive what, for which purpose, on which lawful basis.

A protocol is a signed agreement between the council and a partner organisation or a class of them
(every GP practice in the area). It lists flows (category x purpose x direction) and is in force only
between its dates and while its status is ``in_force``: suspending or expiring it stops every flow it
covered at once, because the policy reads these rows on every request.
"""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base, UTCDateTime, enum_type, utcnow


class ProtocolStatus(enum.StrEnum):
    DRAFT = "draft"
    IN_FORCE = "in_force"
    SUSPENDED = "suspended"
    WITHDRAWN = "withdrawn"


class SharingProtocol(Base):
    __tablename__ = "sharing_protocol"
    __table_args__ = (UniqueConstraint("reference", "version"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    reference: Mapped[str] = mapped_column(String(40))
    version: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(200))
    status: Mapped[ProtocolStatus] = mapped_column(enum_type(ProtocolStatus, 16))
    #: e.g. "UK GDPR Art 6(1)(e); Art 9(2)(h); Children Act 2004 s10"
    lawful_basis: Mapped[str] = mapped_column(Text)
    valid_from: Mapped[date] = mapped_column(Date)
    #: inclusive; open-ended when empty
    valid_to: Mapped[date | None] = mapped_column(Date)
    review_on: Mapped[date | None] = mapped_column(Date)
    signatories: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    parties: Mapped[list[ProtocolParty]] = relationship(
        back_populates="protocol", cascade="all, delete-orphan", lazy="selectin"
    )
    flows: Mapped[list[ProtocolFlow]] = relationship(
        back_populates="protocol", cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def label(self) -> str:
        return f"{self.reference} v{self.version}"


class ProtocolParty(Base):
    """A party to the protocol: one organisation, or every organisation of a kind."""

    __tablename__ = "protocol_party"
    __table_args__ = (
        CheckConstraint("(organisation_id IS NULL) <> (organisation_kind IS NULL)", name="one_of_organisation_or_kind"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    protocol_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sharing_protocol.id", ondelete="CASCADE"), index=True)
    organisation_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organisation.id"))
    organisation_kind: Mapped[str | None] = mapped_column(String(32))

    protocol: Mapped[SharingProtocol] = relationship(back_populates="parties")


class ProtocolFlow(Base):
    __tablename__ = "protocol_flow"

    protocol_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("sharing_protocol.id", ondelete="CASCADE"), primary_key=True
    )
    category: Mapped[str] = mapped_column(String(40), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(40), primary_key=True)
    direction: Mapped[str] = mapped_column(String(24), primary_key=True)

    protocol: Mapped[SharingProtocol] = relationship(back_populates="flows")


class SharingRegisterState(Base):
    """One row: a counter the database bumps (by trigger) whenever a protocol or notice version changes.

    App processes cache the register in memory and compare this counter on every request, in the same
    statement as the request's other facts (``portal.gate``), so a change takes effect at once
    everywhere without the register being read on every request. See migration 0006.
    """

    __tablename__ = "sharing_register_state"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(BigInteger)
