"""Import service relationships from CSV: a practice's registered NHS numbers, a school's roll of UPNs.

The file is the organisation's current list. Each row is validated (check digit or check letter,
date format) and matched to a known person by blind index; rows that cannot be validated or matched
are reported by line number, never guessed. With ``replace``, relationships of that kind which are
not in the file are ended (valid_to set to the day before), which is how a deregistered patient or a
pupil who has left stops seeing a flag. A file with a wrong header writes nothing.

``import_relationships_file`` is the command-line import (``flask import-relationships``): in the same
transaction it logs the people it matched or whose relationship it ended, as system entries naming the
file by its SHA-256.
"""

from __future__ import annotations

import csv
import hashlib
import io
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from portal.access_log import EventType, SubjectRef
from portal.crypto import blind_index
from portal.families.identifiers import clean_nhs_number, clean_upn
from portal.families.models import FamilyMember, Person, RelationshipKind, RelationshipSource, ServiceRelationship
from portal.families.records import add_relationship, end_relationship
from portal.gate import record_system

MAX_ROWS = 200_000


@dataclass
class ImportReport:
    rows: int = 0
    added: int = 0
    already_present: int = 0
    ended: int = 0
    #: (line number, what was wrong), in file order
    invalid: list[tuple[int, str]] = field(default_factory=list)
    #: line numbers whose identifier is valid but matches nobody known to the programme
    unmatched: list[int] = field(default_factory=list)
    duplicates: list[int] = field(default_factory=list)
    #: the people the file's rows matched (added or already present), and those whose relationship
    #: ``replace`` ended: every person the import touched, for the access log
    matched: list[uuid.UUID] = field(default_factory=list)
    ended_people: list[uuid.UUID] = field(default_factory=list)


class ImportRefused(ValueError):
    """The file as a whole cannot be read (wrong header, not CSV, too large); nothing was written."""


def _identifier_column(kind: RelationshipKind) -> str:
    return "upn" if kind == RelationshipKind.ON_ROLL else "nhs_number"


def _read(reader: csv.DictReader[str], column: str, today: date, report: ImportReport) -> dict[str, tuple[int, date]]:
    """Validate each row: blind index of the identifier -> (line, valid from). Rows that cannot be used
    are reported by line number (invalid, or a duplicate of an earlier line), never guessed.

    Raises:
        ImportRefused: more than ``MAX_ROWS`` rows.
    """
    wanted: dict[str, tuple[int, date]] = {}
    what = "UPN" if column == "upn" else "NHS number"
    for line, raw in enumerate(reader, start=2):
        report.rows += 1
        if report.rows > MAX_ROWS:
            raise ImportRefused(f"the file has more than {MAX_ROWS} rows: split it")
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
        value = row.get(column, "")
        cleaned = clean_upn(value) if column == "upn" else clean_nhs_number(value)
        if not cleaned:
            report.invalid.append((line, f"'{value}' is not a valid {what}" if value else f"{what} is missing"))
            continue
        valid_from = today
        if row.get("valid_from"):
            try:
                valid_from = date.fromisoformat(row["valid_from"])
            except ValueError:
                report.invalid.append((line, f"valid_from '{row['valid_from']}' is not a date written YYYY-MM-DD"))
                continue
            if valid_from > today:
                report.invalid.append((line, "valid_from is in the future"))
                continue
        index = blind_index(column, cleaned)
        if index in wanted:
            report.duplicates.append(line)
            continue
        wanted[index] = (line, valid_from)
    return wanted


def _known(
    session: Session, column: str, wanted: dict[str, tuple[int, date]], report: ImportReport
) -> dict[str, uuid.UUID]:
    """The people the rows name, by blind index (1,000 at a time); lines that match nobody are reported."""
    index_column = Person.upn_index if column == "upn" else Person.nhs_number_index
    people: dict[str, uuid.UUID] = {}
    indexes = list(wanted)
    for start in range(0, len(indexes), 1000):
        chunk = indexes[start : start + 1000]
        people.update(dict(session.execute(select(index_column, Person.id).where(index_column.in_(chunk))).all()))
    report.unmatched.extend(sorted(line for index, (line, _) in wanted.items() if index not in people))
    return people


def import_relationships(
    session: Session,
    organisation_id: uuid.UUID,
    kind: RelationshipKind,
    text: str,
    *,
    today: date,
    replace: bool = False,
) -> ImportReport:
    """Apply a CSV list of people the organisation serves; flush, never commit.

    The CSV has a header row with ``nhs_number`` (or ``upn`` for a school roll) and optionally
    ``valid_from`` (YYYY-MM-DD; default today).

    Raises:
        ImportRefused: the header is wrong or the file is unreadable; nothing is written.
    """
    column = _identifier_column(kind)
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    if not reader.fieldnames or column not in [f.strip().lower() for f in reader.fieldnames]:
        raise ImportRefused(f"the first row must be a header naming a '{column}' column")
    report = ImportReport()
    wanted = _read(reader, column, today, report)
    people = _known(session, column, wanted, report)
    live = {
        r.person_id: r
        for r in session.scalars(
            select(ServiceRelationship).where(
                ServiceRelationship.organisation_id == organisation_id,
                ServiceRelationship.kind == kind,
                or_(ServiceRelationship.valid_to.is_(None), ServiceRelationship.valid_to >= today),
            )
        )
    }
    for index, person_id in people.items():
        report.matched.append(person_id)
        if person_id in live:
            report.already_present += 1
            continue
        add_relationship(
            session,
            organisation_id=organisation_id,
            person_id=person_id,
            kind=kind,
            source=RelationshipSource.CSV_IMPORT,
            valid_from=wanted[index][1],
        )
        report.added += 1
    if replace:
        in_file = set(people.values())
        for person_id, relationship in live.items():
            if person_id not in in_file:
                end_relationship(relationship, last_day=today - timedelta(days=1))
                report.ended += 1
                report.ended_people.append(person_id)
    session.flush()
    return report


def import_relationships_file(
    session: Session,
    organisation_id: uuid.UUID,
    kind: RelationshipKind,
    data: bytes,
    *,
    today: date,
    replace: bool = False,
) -> ImportReport:
    """The command-line import: apply the CSV file's bytes, then log the people it touched; flush only.

    The entries (``records_imported``, actor "system", at most 1,000 people each) name every person
    the file matched and every person whose relationship was ended, with their families, and carry the
    file's SHA-256 and the counts. An import that matched and ended nobody logs nothing. The caller
    commits, or rolls back on an error, which takes the entries with the writes.

    Raises:
        ImportRefused: the file is not UTF-8, or its header is wrong; nothing is written or logged.
        AuditUnavailable: the entries could not be written (roll back).
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ImportRefused(f"the file is not UTF-8 text: {exc}") from exc
    report = import_relationships(session, organisation_id, kind, text, today=today, replace=replace)
    people = sorted(set(report.matched) | set(report.ended_people))
    if people:
        record_system(
            session,
            EventType.RECORDS_IMPORTED,
            _subjects(session, people),
            {
                "source": "import-relationships",
                "what": "relationships",
                "file_sha256": hashlib.sha256(data).hexdigest(),
                "rows": str(report.rows),
                "organisation_id": str(organisation_id),
                "kind": kind.value,
                "added": str(report.added),
                "already_present": str(report.already_present),
                "ended": str(report.ended),
            },
        )
    return report


def _subjects(session: Session, people: list[uuid.UUID]) -> list[SubjectRef]:
    """One subject per family each person belongs to (one without a family if they belong to none)."""
    families: dict[uuid.UUID, list[uuid.UUID]] = {}
    for start in range(0, len(people), 1000):
        rows = session.execute(
            select(FamilyMember.person_id, FamilyMember.family_id)
            .where(FamilyMember.person_id.in_(people[start : start + 1000]))
            .order_by(FamilyMember.person_id, FamilyMember.family_id)
        )
        for person_id, family_id in rows:
            families.setdefault(person_id, []).append(family_id)
    return [
        SubjectRef(person_id=person_id, family_id=family_id)
        for person_id in people
        for family_id in families.get(person_id) or [None]
    ]
