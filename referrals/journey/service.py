"""The partner's side of a nomination, as other code calls it: a draft saved after every page, submitted
exactly once through the gate, and followed afterwards in "Your nominations".

Every function takes the session and the gate's ``AccessContext`` (and the framework, where routes
matter); none reads the request and none commits. Reads go through the gate before anything is
decrypted (``gate``); a change takes the nomination's row first (``referrals.states``), then
appends its access-log entry, then writes, in that order everywhere, so two requests never wait on
each other's locks. The work is split by stage: ``drafts``, ``submission``, ``following``.
"""

from referrals.journey.drafts import (
    add_member,
    change_member,
    choose_route,
    missing_answers,
    next_page,
    remove_member,
    save_concern,
    save_family_told,
    save_immediate_risk,
    save_not_told_reason,
    save_person,
    save_tried,
    start_draft,
)
from referrals.journey.following import (
    give_information,
    list_nominations,
    mark_seen,
    unseen_updates,
)
from referrals.journey.gate import check_nomination, get_draft_for, get_nomination_for
from referrals.journey.records import (
    CHECK_ANSWERS,
    LINKED_MESSAGE,
    MAX_MEMBERS,
    MEMBER_ROLES,
    PAGES,
    AlreadySubmitted,
    Incomplete,
    ListItem,
    MemberNotFound,
    MessageView,
    NominationView,
    NotADraft,
    PersonAnswers,
    PersonView,
    Problem,
    StaleDraft,
    StalePage,
    Submitted,
    TooManyMembers,
    UnknownRoute,
    Update,
)
from referrals.journey.submission import submit_nomination
from referrals.labels import FAMILY_TOLD_LABELS, ROLE_LABELS

__all__ = [
    "CHECK_ANSWERS",
    "FAMILY_TOLD_LABELS",
    "LINKED_MESSAGE",
    "MAX_MEMBERS",
    "MEMBER_ROLES",
    "PAGES",
    "ROLE_LABELS",
    "AlreadySubmitted",
    "Incomplete",
    "ListItem",
    "MemberNotFound",
    "MessageView",
    "NominationView",
    "NotADraft",
    "PersonAnswers",
    "PersonView",
    "Problem",
    "StaleDraft",
    "StalePage",
    "Submitted",
    "TooManyMembers",
    "UnknownRoute",
    "Update",
    "add_member",
    "change_member",
    "check_nomination",
    "choose_route",
    "get_draft_for",
    "get_nomination_for",
    "give_information",
    "list_nominations",
    "mark_seen",
    "missing_answers",
    "next_page",
    "remove_member",
    "save_concern",
    "save_family_told",
    "save_immediate_risk",
    "save_not_told_reason",
    "save_person",
    "save_tried",
    "start_draft",
    "submit_nomination",
    "unseen_updates",
]
