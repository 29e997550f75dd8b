"""Load the demo organisations and users; running it twice changes nothing the second time.

The people and families it writes are logged in the access log as a system entry (``demo_data_seeded``)
in the same transaction; a run that adds no family writes no entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from importlib import resources
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.access_log import EventType
from portal.demo.families import seed_demo_families
from portal.gate import record_system
from portal.organisations import records
from portal.organisations.models import CodeScheme, Organisation, OrganisationKind, Role, User
from referrals.journey import demo as journey_demo
from referrals.setup import current_framework
from referrals.triage import demo as triage_demo
from sharing_protocols.register.file import import_register, load_register_text
from sharing_protocols.register.models import SharingProtocol


@dataclass(frozen=True)
class DemoAccount:
    subject: str
    name: str
    email: str
    organisation: str  #: "<scheme>:<code>", the claim value the development IdP asserts
    roles: tuple[str, ...]
    registered: bool
    disabled: bool


def demo_document() -> dict[str, Any]:
    return yaml.safe_load(resources.files("portal.demo").joinpath("demo_data.yaml").read_text())


def demo_accounts() -> list[DemoAccount]:
    """Every account the development identity provider offers, registered in the portal or not."""
    doc = demo_document()
    accounts = [
        DemoAccount(
            u["subject"],
            u["name"],
            u["email"],
            u["organisation"],
            tuple(u["roles"]),
            True,
            bool(u.get("disabled", False)),
        )
        for u in doc["users"]
    ]
    accounts += [
        DemoAccount(u["subject"], u["name"], u["email"], u["organisation"], (), False, False)
        for u in doc.get("idp_only_accounts", [])
    ]
    return accounts


def _seed_organisations(db: Session, doc: dict[str, Any]) -> tuple[dict[str, Organisation], int]:
    """Each demo organisation, by "<scheme>:<code>" (the claim value the development IdP asserts), and
    how many were added."""
    added = 0
    orgs: dict[str, Organisation] = {}
    for o in doc["organisations"]:
        scheme = CodeScheme(o["scheme"])
        org = db.scalar(select(Organisation).where(Organisation.code_scheme == scheme, Organisation.code == o["code"]))
        if org is None:
            org = records.add_organisation(
                db, kind=OrganisationKind(o["kind"]), name=o["name"], code_scheme=scheme, code=o["code"]
            )
            added += 1
        orgs[f"{scheme.value}:{o['code']}"] = org
    return orgs, added


def _seed_users(db: Session, doc: dict[str, Any], issuer: str, orgs: dict[str, Organisation]) -> int:
    """Each demo user bound to the development identity provider; returns how many were added."""
    added = 0
    for u in doc["users"]:
        if db.scalar(select(User).where(User.issuer == issuer, User.subject == u["subject"])) is not None:
            continue
        records.add_user(
            db,
            issuer=issuer,
            subject=u["subject"],
            organisation_id=orgs[u["organisation"]].id,
            display_name=u["name"],
            email=u["email"],
            roles=[Role(r) for r in u["roles"]],
            job_title=u.get("job_title"),
            phone=u.get("phone"),
            disabled=bool(u.get("disabled", False)),
        )
        added += 1
    return added


def seed_demo(db: Session, issuer: str, *, nominations: bool = True) -> dict[str, int]:
    """Create any demo organisation or user that is missing; returns counts of what was added.

    The people and families written are logged last, in the caller's transaction.

    Args:
        db: an open session; the caller commits.
        issuer: the development identity provider's issuer, which the demo users are bound to.
        nominations: also write the demo nominations in every state, partners' and triaged (the demo
            does; most tests start without them and build the nominations they need, so that what they
            assert about queues, lists and banners is their own).

    Raises:
        AuditUnavailable: the log entry could not be written (the caller must roll back).
    """
    doc = demo_document()
    orgs, added_organisations = _seed_organisations(db, doc)
    added = {"organisations": added_organisations, "users": _seed_users(db, doc, issuer, orgs)}
    added["register"] = _seed_register(db)
    families = seed_demo_families(db, date.today())
    added["families"] = families.families
    if families.subjects:
        what = (["protocols", "notice_versions"] if added["register"] else []) + families.what
        record_system(
            db,
            EventType.DEMO_DATA_SEEDED,
            families.subjects,
            {
                "source": "seed-demo",
                "what": ",".join(what),
                "rows": str(len(families.subjects)),
                "families": str(families.families),
            },
        )
    if not nominations:
        return added
    # nominations come last: they name the demo users, organisations and families written above
    framework = current_framework()
    added["nominations"] = journey_demo.seed_demo_nominations(db, framework, date.today()).nominations
    added["triaged_nominations"] = triage_demo.seed_demo_nominations(db, date.today(), framework).nominations
    return added


def _seed_register(db: Session) -> int:
    """Import the demo sharing register the first time (a council edits and re-imports its own)."""
    if db.scalar(select(SharingProtocol.id).limit(1)) is not None:
        return 0
    text = resources.files("portal.demo").joinpath("sharing_register.yaml").read_text()
    counts = import_register(db, load_register_text(text))
    return counts["protocols"]["created"] + counts["notice_versions"]["created"]
