"""What triage records beyond the nomination itself: each match verdict, and the criteria a family meets.

Both tables are written once and never edited: a coordinator who changes their mind about a match adds
a new verdict (the latest counts), so the history of how a person was identified stays whole. The
criteria met are what an auditor asks for ("why was this family eligible?"): each names the framework
and its version it was judged under, the criterion, the person, who recorded it and on what evidence.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.crypto import EncryptedText
from portal.db import Base, UTCDateTime, enum_type, utcnow


class MatchOutcome(enum.StrEnum):
    CONFIRMED = "confirmed"  #: this known person is the nominated one
    REJECTED = "rejected"  #: this known person is not the nominated one


class MatchReview(Base):
    """A coordinator's verdict on one candidate known person for one nominated person."""

    __tablename__ = "match_review"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    nominated_person_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("nominated_person.id", ondelete="CASCADE"), index=True
    )
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("person.id"))
    outcome: Mapped[MatchOutcome] = mapped_column(enum_type(MatchOutcome, 16))
    reviewed_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("app_user.id"))
    reviewed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class EvidenceSource(enum.StrEnum):
    NOMINATION = "nomination"  #: the route the nomination was made under
    COORDINATOR = "coordinator"  #: other evidence the coordinator holds, ticked when accepting

    @property
    def label(self) -> str:
        return {"nomination": "The nomination", "coordinator": "Evidence the council holds"}[self.value]


class CriterionMet(Base):
    """A family member meets a headline criterion (or has a need under an outcome) of a framework."""

    __tablename__ = "criterion_met"
    __table_args__ = (Index("ix_criterion_met_family_id_person_id", "family_id", "person_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    family_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("family.id"))
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("person.id"), index=True)
    #: the framework (key and the council's version of the file) the criterion was judged under
    framework_key: Mapped[str] = mapped_column(String(64))
    framework_version: Mapped[str] = mapped_column(String(32))
    criterion_key: Mapped[str] = mapped_column(String(64))
    #: the criterion's data category, kept so a flag's concerns can be raised from it
    category: Mapped[str] = mapped_column(String(40))
    #: the indicator met, when the evidence names one (a route's indicator)
    indicator_key: Mapped[str | None] = mapped_column(String(64))
    source: Mapped[EvidenceSource] = mapped_column(enum_type(EvidenceSource, 16))
    #: the nomination that brought the evidence (or during whose acceptance it was recorded)
    nomination_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("nomination.id"), index=True)
    #: personal data (free text): what the evidence is, when the coordinator adds a note
    note: Mapped[str | None] = mapped_column(EncryptedText("criterion_met.note"))
    recorded_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("app_user.id"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
