"""Every model, imported in one place so that Alembic and the tests see the whole schema."""

from consent.models import NoticeCoverage, NoticeGiven, NoticeGivenMember, NoticeVersion, Objection
from portal.access_log import models as audit_models  # noqa: F401 - registers the access log tables
from portal.auth.models import ServerSession
from portal.db import Base
from portal.families.models import (
    BreakGlassAccess,
    Family,
    FamilyMember,
    Flag,
    FlagConcern,
    Person,
    ServiceRelationship,
)
from portal.organisations.models import Organisation, User, UserRole
from referrals.models import NominatedPerson, Nomination, NominationEvent
from referrals.triage.models import CriterionMet, MatchReview
from sharing_protocols.register.models import ProtocolFlow, ProtocolParty, SharingProtocol, SharingRegisterState

__all__ = [
    "Base",
    "BreakGlassAccess",
    "CriterionMet",
    "Family",
    "FamilyMember",
    "Flag",
    "FlagConcern",
    "MatchReview",
    "NominatedPerson",
    "Nomination",
    "NominationEvent",
    "NoticeCoverage",
    "NoticeGiven",
    "NoticeGivenMember",
    "NoticeVersion",
    "Objection",
    "Organisation",
    "Person",
    "ProtocolFlow",
    "ProtocolParty",
    "ServerSession",
    "ServiceRelationship",
    "SharingProtocol",
    "SharingRegisterState",
    "User",
    "UserRole",
]
