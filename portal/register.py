"""Import the sharing register (protocols and notice versions) from its YAML file.

The file format is documented in ``docs/sharing-register.example.yaml``. All or nothing: every
problem is reported with its location and nothing is written unless the whole file is valid.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from consent.service import parse_notice_versions, save_notice_versions
from portal.organisations.models import CodeScheme, Organisation, OrganisationKind
from sharing_protocols.service import Problems, RegisterError, parse_protocols, save_protocols


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

    Raises:
        RegisterError: with every problem found; nothing has been written.
    """
    problems = Problems()
    kinds = {k.value for k in OrganisationKind}
    protocols = parse_protocols(doc.get("protocols"), kinds, {s.value for s in CodeScheme}, problems)
    notices = parse_notice_versions(doc.get("notice_versions"), kinds, problems)
    if problems.items:
        raise RegisterError(problems.items)
    organisation_ids = {(o.code_scheme.value, o.code): o.id for o in session.scalars(select(Organisation)).all()}
    return {
        "protocols": save_protocols(session, protocols, organisation_ids),
        "notice_versions": save_notice_versions(session, notices),
    }


def import_register_file(session: Session, path: Path) -> dict[str, dict[str, int]]:
    return import_register(session, load_register_text(path.read_text(encoding="utf-8")))
