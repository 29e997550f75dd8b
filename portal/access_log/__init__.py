"""The access log: a hash-chained, append-only record of every access to personal data.

Public interface: ``append`` and ``verify`` (chain), ``NewEntry`` / ``SubjectRef`` (what to record),
``EventType`` (the catalogue), ``search_log`` / ``get_entry`` (the DPO's queries), ``init_app`` (loads
the checkpoint keys at start-up).
"""

from portal.access_log.chain import ChainError, NewEntry, SubjectRef, VerifyReport, append, verify
from portal.access_log.events import EventType, Outcome, request_origin
from portal.access_log.search import EntryNotFound, LogFilters, LogPage, get_entry, search_log
from portal.access_log.signing import init_app, trusted_keys

__all__ = [
    "ChainError",
    "EntryNotFound",
    "EventType",
    "LogFilters",
    "LogPage",
    "NewEntry",
    "Outcome",
    "SubjectRef",
    "VerifyReport",
    "append",
    "get_entry",
    "init_app",
    "request_origin",
    "search_log",
    "trusted_keys",
    "verify",
]
