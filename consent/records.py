"""The writers of what families are told and what they object to: notices given and objections.

A notice given decides, with the version's coverage, what partners may see of a family's flags, and an
upheld objection stops a category being shared whatever else allows it; so these rows are written only
here, whoever records them (triage after acceptance, the demo seed), and read by the gate directly.
``tests/architecture/test_table_owners.py`` fails if another domain writes these tables. Notice
versions themselves come from the sharing register file (``consent.service.save_notice_versions``).

Neither writer commits or logs: the caller has passed the gate (or logs its writes as a system entry)
and owns the transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import date, datetime

from sqlalchemy.orm import Session

from consent.models import NoticeGiven, NoticeGivenMember, NoticeMethod, Objection, ObjectionStatus


def give_notice(
    session: Session,
    *,
    family_id: uuid.UUID,
    version_id: uuid.UUID,
    member_ids: Collection[uuid.UUID],
    given_on: date,
    given_by_id: uuid.UUID | None,
    method: NoticeMethod,
    recorded_at: datetime | None = None,
) -> NoticeGiven:
    """Record that this version of the fair processing notice was given to these members of the family
    (or, for a child, on their behalf); flush, so that its id is known.

    Args:
        recorded_at: when it was recorded; None stamps it as it is written.
    """
    notice = NoticeGiven(
        family_id=family_id,
        version_id=version_id,
        given_on=given_on,
        given_by_id=given_by_id,
        method=method,
        members=[NoticeGivenMember(person_id=pid) for pid in sorted(member_ids)],
    )
    if recorded_at is not None:
        notice.recorded_at = recorded_at
    session.add(notice)
    session.flush()
    return notice


def record_objection(
    session: Session,
    *,
    person_id: uuid.UUID,
    category: str,
    raised_on: date,
    recorded_by_id: uuid.UUID | None,
    purpose: str | None = None,
) -> Objection:
    """Record a family member's objection to a category being shared (for one purpose, or with
    ``purpose`` None for every purpose), upheld: the category is not shared with anyone. Written with
    the caller's next flush."""
    objection = Objection(
        person_id=person_id,
        category=category,
        purpose=purpose,
        status=ObjectionStatus.UPHELD,
        raised_on=raised_on,
        recorded_by_id=recorded_by_id,
    )
    session.add(objection)
    return objection
