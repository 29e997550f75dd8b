"""Import the sharing register (protocols and notice versions) from its YAML file.

The file format is documented in ``docs/sharing-register.example.yaml``. All or nothing: every
problem is reported with its location and nothing is written unless the whole file is valid. A record
that already says what the file says is left as it is, so re-importing an unchanged file writes nothing.

``import_register_file`` is the command-line import (``flask import-sharing``): in the same transaction
it logs what it changed as a system entry with the file's SHA-256. Replacing a notice version changes
what every notice given in that version covers, so the people those notices name are its subjects.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from consent.models import NoticeGiven, NoticeGivenMember, NoticeVersion
from consent.service import parse_notice_versions, save_notice_versions
from portal.access_log import EventType, SubjectRef
from portal.gate import record_system
from portal.organisations.models import CodeScheme, Organisation, OrganisationKind
from sharing_protocols.register.models import SharingProtocol
from sharing_protocols.register.service import Problems, RegisterError, parse_protocols, save_protocols
from sharing_protocols.yaml_register import Upserted


@dataclass(frozen=True)
class RegisterImport:
    """What an import of the register did."""

    protocols: Upserted[SharingProtocol]
    notice_versions: Upserted[NoticeVersion]

    @property
    def counts(self) -> dict[str, dict[str, int]]:
        return {"protocols": self.protocols.counts, "notice_versions": self.notice_versions.counts}

    @property
    def records(self) -> int:
        return sum(sum(c.values()) for c in self.counts.values())

    @property
    def changed(self) -> bool:
        return any(c["created"] or c["updated"] for c in self.counts.values())


def load_register_text(text: str) -> dict[str, Any]:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RegisterError([f"the file is not valid YAML: {exc}"]) from exc
    if not isinstance(doc, dict):
        raise RegisterError(["the file must be a mapping with 'protocols' and/or 'notice_versions'"])
    unknown = set(doc) - {"protocols", "notice_versions"}
    if unknown:
        raise RegisterError([f"unknown section(s): {', '.join(sorted(map(str, unknown)))}"])
    return doc


def import_register(session: Session, doc: dict[str, Any]) -> dict[str, dict[str, int]]:
    """Validate the whole register, then create or replace its protocols and notice versions; flush only.

    Returns:
        Per section, how many records were created, updated (replaced) and left unchanged.

    Raises:
        RegisterError: with every problem found; nothing has been written.
    """
    return apply_register(session, doc).counts


def apply_register(session: Session, doc: dict[str, Any]) -> RegisterImport:
    """``import_register``, returning the rows created and replaced as well as the counts."""
    problems = Problems()
    kinds = {k.value for k in OrganisationKind}
    protocols = parse_protocols(doc.get("protocols"), kinds, {s.value for s in CodeScheme}, problems)
    notices = parse_notice_versions(doc.get("notice_versions"), kinds, problems)
    if problems.items:
        raise RegisterError(problems.items)
    organisation_ids = {(o.code_scheme.value, o.code): o.id for o in session.scalars(select(Organisation)).all()}
    return RegisterImport(
        protocols=save_protocols(session, protocols, organisation_ids),
        notice_versions=save_notice_versions(session, notices),
    )


def import_register_file(session: Session, path: Path) -> dict[str, dict[str, int]]:
    """Import the register file at ``path`` and, if anything changed, log it in the same transaction.

    The entry (``records_imported``, actor "system") names the file by its SHA-256 and has as subjects
    the people named by notices given in a notice version the import replaced. Flush only: the caller
    commits, or rolls back on an error, which takes the entry with the writes.

    Raises:
        RegisterError: the file is not UTF-8, not valid, or names unregistered organisations; nothing
            has been written or logged.
        AuditUnavailable: the entry could not be written (roll back).
    """
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RegisterError([f"the file is not UTF-8 text: {exc}"]) from exc
    done = apply_register(session, load_register_text(text))
    if done.changed:
        replaced = [v.id for v in done.notice_versions.updated]
        members = (
            session.execute(
                select(NoticeGivenMember.person_id, NoticeGiven.family_id)
                .join(NoticeGiven, NoticeGiven.id == NoticeGivenMember.notice_id)
                .where(NoticeGiven.version_id.in_(replaced))
                .order_by(NoticeGiven.family_id, NoticeGivenMember.person_id)
                .distinct()
            ).all()
            if replaced
            else []
        )
        counts = done.counts
        record_system(
            session,
            EventType.RECORDS_IMPORTED,
            [SubjectRef(person_id=person_id, family_id=family_id) for person_id, family_id in members],
            {
                "source": "import-sharing",
                "what": ",".join(k for k, c in counts.items() if c["created"] or c["updated"]),
                "file_sha256": hashlib.sha256(data).hexdigest(),
                "rows": str(done.records),
                **{f"{k}_{n}": str(c[n]) for k, c in counts.items() for n in ("created", "updated")},
            },
        )
    return done.counts
