"""Nominations: a partner's request that the council consider a family, from draft to decision.

A nomination is written page by page as a draft (the row itself, status ``draft``), so nothing typed is
lost when a session times out, and becomes visible to the council only when submitted. Everything a
nominator types about people (names, dates of birth, identifiers, postcodes, the concern in their own
words) is personal data and encrypted like ``portal.families`` columns; NHS number and UPN also get
blind indexes so that duplicates and matches are found by exact lookup without decrypting.

The framework the route came from is recorded with its key and version, so a decision can always be
explained under the rules in force when it was made, whatever the framework file says later.
"""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, SmallInteger, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.crypto import EncryptedDate, EncryptedText
from portal.db import Base, UTCDateTime, enum_type, utcnow


class NominationStatus(enum.StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    MORE_INFORMATION_REQUESTED = "more_information_requested"
    ACCEPTED = "accepted"
    NOT_ACCEPTED = "not_accepted"
    #: the people were already known: the nomination was added to an existing nomination or family
    LINKED = "linked"

    @property
    def open(self) -> bool:
        """Still with the council (or the nominator): a new nomination for the same person is a duplicate."""
        return self in (NominationStatus.SUBMITTED, NominationStatus.MORE_INFORMATION_REQUESTED)


class FamilyTold(enum.StrEnum):
    """Whether the family knows about the nomination and has been given the fair processing notice."""

    TOLD_AND_NOTICE_GIVEN = "told_and_notice_given"
    TOLD_NO_NOTICE = "told_no_notice"
    NOT_TOLD = "not_told"


class HouseholdRole(enum.StrEnum):
    SUBJECT = "subject"  #: the person the concern is about
    PARENT_CARER = "parent_carer"
    CHILD = "child"
    OTHER_ADULT = "other_adult"


class MatchStatus(enum.StrEnum):
    UNREVIEWED = "unreviewed"
    CONFIRMED = "confirmed"  #: a coordinator confirmed this is the known person
    NEW_PERSON = "new_person"  #: a coordinator confirmed nobody known matches


class Nomination(Base):
    __tablename__ = "nomination"
    __table_args__ = (
        UniqueConstraint("reference"),
        Index("ix_nomination_status_submitted_at", "status", "submitted_at"),
        Index("ix_nomination_organisation_id_status", "organisation_id", "status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    #: given at submission, quoted by the nominator when they call (e.g. SFN-7K3M9Q)
    reference: Mapped[str | None] = mapped_column(String(20))
    status: Mapped[NominationStatus] = mapped_column(enum_type(NominationStatus), default=NominationStatus.DRAFT)
    #: incremented by every change, so a stale page (another tab, a replayed POST) is refused
    version: Mapped[int] = mapped_column(Integer, default=1)
    framework_key: Mapped[str] = mapped_column(String(64))
    framework_version: Mapped[str] = mapped_column(String(32))
    route_key: Mapped[str] = mapped_column(String(64))
    #: the data category the route evidences (what the sharing check on submission is about)
    category: Mapped[str] = mapped_column(String(40))
    organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisation.id"))
    nominator_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("app_user.id"), index=True)
    #: the nominator answered "no" to "is anyone at immediate risk of harm?"
    no_immediate_risk: Mapped[bool] = mapped_column(Boolean, default=False)
    #: personal data (free text): the concern in the nominator's own words
    concern: Mapped[str | None] = mapped_column(EncryptedText("nomination.concern"))
    #: personal data (free text): what the organisation has already tried
    tried: Mapped[str | None] = mapped_column(EncryptedText("nomination.tried"))
    family_told: Mapped[FamilyTold | None] = mapped_column(enum_type(FamilyTold))
    #: personal data (free text): why the family has not been told or given the notice
    not_told_reason: Mapped[str | None] = mapped_column(EncryptedText("nomination.not_told_reason"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: when the nominator last saw the nomination's status (for the "your nomination has changed" banner)
    nominator_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("app_user.id"))
    #: personal data (free text): the reason given to the nominator when not accepted
    decision_reason: Mapped[str | None] = mapped_column(EncryptedText("nomination.decision_reason"))
    #: the family the people were attached to (accepted) or already belong to (linked)
    family_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("family.id"), index=True)
    #: an earlier open nomination for the same person that this one was added to
    linked_to_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("nomination.id"))

    people: Mapped[list[NominatedPerson]] = relationship(
        back_populates="nomination", cascade="all, delete-orphan", order_by="NominatedPerson.ordinal"
    )
    events: Mapped[list[NominationEvent]] = relationship(
        back_populates="nomination", cascade="all, delete-orphan", order_by="NominationEvent.at"
    )


class NominatedPerson(Base):
    """A person as the nominator described them; matched to a known person only by a coordinator."""

    __tablename__ = "nominated_person"
    __table_args__ = (UniqueConstraint("nomination_id", "ordinal"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    nomination_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("nomination.id", ondelete="CASCADE"))
    #: 0 is the person the concern is about; household members follow in the order given
    ordinal: Mapped[int] = mapped_column(SmallInteger)
    role: Mapped[HouseholdRole] = mapped_column(enum_type(HouseholdRole, 16))
    #: personal data
    given_name: Mapped[str] = mapped_column(EncryptedText("nominated_person.given_name"))
    #: personal data
    family_name: Mapped[str] = mapped_column(EncryptedText("nominated_person.family_name"))
    #: personal data
    date_of_birth: Mapped[date | None] = mapped_column(EncryptedDate("nominated_person.date_of_birth"))
    #: personal data: standardised, encrypted; with a blind index for duplicate detection
    nhs_number: Mapped[str | None] = mapped_column(EncryptedText("nominated_person.nhs_number"))
    nhs_number_index: Mapped[str | None] = mapped_column(String(64), index=True)
    #: personal data: upper-case, encrypted; with a blind index
    upn: Mapped[str | None] = mapped_column(EncryptedText("nominated_person.upn"))
    upn_index: Mapped[str | None] = mapped_column(String(64), index=True)
    #: personal data: normalised UK postcode
    postcode: Mapped[str | None] = mapped_column(EncryptedText("nominated_person.postcode"))
    match_status: Mapped[MatchStatus] = mapped_column(enum_type(MatchStatus, 16), default=MatchStatus.UNREVIEWED)
    #: the known person a coordinator confirmed this is
    person_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("person.id"), index=True)

    nomination: Mapped[Nomination] = relationship(back_populates="people")


class NominationEventKind(enum.StrEnum):
    SUBMITTED = "submitted"
    DUPLICATE_LINKED = "duplicate_linked"
    INFORMATION_REQUESTED = "information_requested"
    INFORMATION_GIVEN = "information_given"
    MATCH_CONFIRMED = "match_confirmed"
    MATCH_REJECTED = "match_rejected"
    ACCEPTED = "accepted"
    NOT_ACCEPTED = "not_accepted"
    LEAD_PROFESSIONAL_ASSIGNED = "lead_professional_assigned"
    NOTICE_RECORDED = "notice_recorded"
    FLAGS_RAISED = "flags_raised"


class NominationEvent(Base):
    """The history of a nomination: every state change and message, with who and when (never edited)."""

    __tablename__ = "nomination_event"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    nomination_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("nomination.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("app_user.id"))
    kind: Mapped[NominationEventKind] = mapped_column(enum_type(NominationEventKind))
    #: personal data (free text): a message to or from the nominator, or a coordinator's note
    message: Mapped[str | None] = mapped_column(EncryptedText("nomination_event.message"))
    #: whether the nominator sees this entry in their view of the nomination
    shared_with_nominator: Mapped[bool] = mapped_column(Boolean, default=False)

    nomination: Mapped[Nomination] = relationship(back_populates="events")
