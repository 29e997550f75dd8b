"""What the journey's pages show and the errors its services raise: plain values, no database access."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from referrals.duplicates import Duplicate
from referrals.models import (
    FamilyTold,
    HouseholdRole,
    NominationStatus,
)

S = NominationStatus

#: the question pages of the journey, in order (their URL slugs; also the ``page`` the log records)
PAGES = ("immediate-risk", "route", "person", "household", "concern", "tried", "family-told", "why-not-told")
CHECK_ANSWERS = "check-answers"
#: household members a nominator can add besides the person the concern is about
MAX_MEMBERS = 15
#: what a nominator is told when the person was already known (nothing more: not which family, nor who)
LINKED_MESSAGE = (
    "This person is already known to the Supporting Families team: "
    "your information has been added to the existing record."
)

#: members a nominator may add (the person the concern is about is asked for on its own page)
MEMBER_ROLES = (HouseholdRole.PARENT_CARER, HouseholdRole.CHILD, HouseholdRole.OTHER_ADULT)


# ------------------------------------------------------------------------------------- errors


class NotADraft(Exception):
    """The nomination has been sent, so its answers can no longer be changed here."""

    def __init__(self, nomination_id: uuid.UUID, status: NominationStatus, reference: str | None) -> None:
        super().__init__(f"nomination {nomination_id} is {status.value}")
        self.nomination_id = nomination_id
        self.status = status
        self.reference = reference


class AlreadySubmitted(NotADraft):
    """A second submission of the same nomination (a double click, a replayed request): nothing was sent."""


class StaleDraft(Exception):
    """The draft changed after the check-answers page was shown (another tab): nothing was sent."""

    def __init__(self, nomination_id: uuid.UUID) -> None:
        super().__init__(f"nomination {nomination_id} changed since the page was shown")
        self.nomination_id = nomination_id


class StalePage(Exception):
    """The nomination changed after the page was shown (a reply from another tab, or already answered)."""

    def __init__(self, nomination_id: uuid.UUID, status: NominationStatus) -> None:
        super().__init__(f"nomination {nomination_id} is {status.value}")
        self.nomination_id = nomination_id
        self.status = status


class UnknownRoute(ValueError):
    """The route named is not in the framework the portal runs."""


class MemberNotFound(LookupError):
    """No household member with that number in this draft."""


class TooManyMembers(ValueError):
    """The draft already has ``MAX_MEMBERS`` household members."""


@dataclass(frozen=True)
class Problem:
    """An answer the nomination still needs, for the check-answers page's error summary."""

    page: str  #: the question page that asks for it
    text: str  #: GOV.UK error wording


class Incomplete(Exception):
    """The nomination cannot be sent yet; ``problems`` lists what is missing."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__(", ".join(p.page for p in problems))
        self.problems = list(problems)


# ------------------------------------------------------------------------------ what pages show


@dataclass(frozen=True)
class PersonAnswers:
    """A person as the nominator describes them (validated and normalised by the form)."""

    given_name: str
    family_name: str
    date_of_birth: date | None
    nhs_number: str | None = None
    upn: str | None = None
    postcode: str | None = None
    role: str = HouseholdRole.SUBJECT.value


@dataclass(frozen=True)
class PersonView:
    ordinal: int
    role: str
    role_label: str
    given_name: str
    family_name: str
    date_of_birth: date | None
    nhs_number: str | None
    upn: str | None
    postcode: str | None

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.family_name}"


@dataclass(frozen=True)
class MessageView:
    at: datetime
    kind: str
    label: str
    message: str | None
    author: str  #: who wrote it, as the nominator reads it
    from_council: bool


@dataclass(frozen=True)
class NominationView:
    id: uuid.UUID
    reference: str | None
    status: str
    status_label: str
    version: int
    route_key: str
    route_title: str
    no_immediate_risk: bool
    concern: str | None
    tried: str | None
    family_told: str | None
    family_told_label: str | None
    not_told_reason: str | None
    created_at: datetime
    submitted_at: datetime | None
    decided_at: datetime | None
    decision_reason: str | None
    people: tuple[PersonView, ...]
    nominator_name: str
    mine: bool
    messages: tuple[MessageView, ...] = ()

    @property
    def draft(self) -> bool:
        return self.status == S.DRAFT.value

    @property
    def subject(self) -> PersonView | None:
        return next((p for p in self.people if p.ordinal == 0), None)

    @property
    def members(self) -> tuple[PersonView, ...]:
        return tuple(p for p in self.people if p.ordinal > 0)

    @property
    def needs_reason(self) -> bool:
        """Whether the "why not" page applies: the family was not told, or not given the notice."""
        return self.family_told is not None and self.family_told != FamilyTold.TOLD_AND_NOTICE_GIVEN.value

    @property
    def awaiting_information(self) -> bool:
        return self.status == S.MORE_INFORMATION_REQUESTED.value

    def member(self, ordinal: int) -> PersonView:
        for person in self.members:
            if person.ordinal == ordinal:
                return person
        raise MemberNotFound(str(ordinal))


@dataclass(frozen=True)
class ListItem:
    id: uuid.UUID
    reference: str | None
    person_name: str | None
    route_title: str
    on: date  #: submitted on, or started on for a draft
    status: str
    status_label: str
    decision_reason: str | None
    mine: bool
    updated: bool  #: changed since its nominator last looked (only ever true for the viewer's own)
    continue_page: str  #: for a draft, the page to go on from

    @property
    def draft(self) -> bool:
        return self.status == S.DRAFT.value


@dataclass(frozen=True)
class Update:
    """A nomination of the viewer's whose status changed since they last looked: no personal data."""

    id: uuid.UUID
    reference: str | None
    status_label: str


@dataclass(frozen=True)
class Submitted:
    nomination_id: uuid.UUID
    reference: str
    linked: bool
    duplicate: Duplicate | None = field(default=None, repr=False)
