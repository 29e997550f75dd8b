"""The access gateway: the one door to personal data.

Every service that reads or writes a person, family, flag, nomination or notice asks ``authorise``
with a question (``FlagOf``, ``Triage``, ...): the gate gathers the facts the question needs, has the
pure policy (``sharing_protocols.policy``) decide, and either refuses (the refusal logged, committed
and raised as ``AccessDenied``) or hands back a ``Permit``. The service loads only what the permit
allows, then ``record``s the access (the log entry, in its own transaction) before returning any of
it, and read pages ``commit`` before rendering. Command-line tasks that write personal data log with
``record_system``. If the log cannot be written, ``AuditUnavailable``: nothing is served.

Nothing else here is public: the facts, the register cache, the tuned statement and the answers are
the gate's own (``tests/architecture`` keeps the policy's ``decide*`` calls inside this package).
"""

from portal.gate.context import AccessContext, access_context
from portal.gate.door import (
    SYSTEM_PURPOSE,
    SYSTEM_ROLES,
    SYSTEM_SUBJECTS_PER_ENTRY,
    AccessDenied,
    AuditUnavailable,
    Permit,
    Seen,
    authorise,
    commit,
    record,
    record_system,
)
from portal.gate.questions import (
    BreakGlassGrant,
    FlagOf,
    FlagsOf,
    LogAction,
    NominationAccess,
    NominationRoute,
    NominationSending,
    NominationsList,
    Question,
    ServedPerson,
    Triage,
)

__all__ = [
    "SYSTEM_PURPOSE",
    "SYSTEM_ROLES",
    "SYSTEM_SUBJECTS_PER_ENTRY",
    "AccessContext",
    "AccessDenied",
    "AuditUnavailable",
    "BreakGlassGrant",
    "FlagOf",
    "FlagsOf",
    "LogAction",
    "NominationAccess",
    "NominationRoute",
    "NominationSending",
    "NominationsList",
    "Permit",
    "Question",
    "Seen",
    "ServedPerson",
    "Triage",
    "access_context",
    "authorise",
    "commit",
    "record",
    "record_system",
]
