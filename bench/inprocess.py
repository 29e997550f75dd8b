"""In-process measurements on the benchmark data set: policy decisions, chain verification, DPO searches.

- ``decide_rate``: ``sharing_protocols.policy.decide`` on realistic ``Facts``, gathered from the database
  exactly as the gate (``portal.gate.answers.decide_flags``) gathers them (relationships, protocols,
  notices, objections) for the flagged people of GP practices, schools, the landlord with a protocol and
  probation units, plus 10% of requests about people the organisation does not serve (refused at the
  relationship).
  Decisions per second of one core, the facts already in memory.
- ``verify_rate``: ``portal.access_log.chain.verify`` over the whole log (its own REPEATABLE READ snapshot,
  checkpoints checked with the app's trusted keys), entries per second, beside the floor
  ``bench/verify_speed.stream_only`` (COPY every entry in sequence order and do nothing).
- ``search_latency``: ``portal.access_log.search.search_log`` (page 1, 50 a page) with 20 different values
  of each filter: by person, by user, by organisation + a 30-day range, by outcome; p50 and p95.
"""

from __future__ import annotations

import random
import statistics
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import psycopg
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from verify_speed import stream_only

from portal.access_log import chain
from portal.access_log import search as service
from portal.families import service as families_service
from portal.gate import AccessContext, answers, facts_sql, register
from portal.organisations.models import User
from sharing_protocols import policy

KINDS = ("gp_practice", "school", "rsl", "probation")


def gather_facts(session: Session, manifest: dict[str, Any], per_kind: int = 12, seed: int = 5) -> list[policy.Facts]:
    """Facts for every flagged person some organisations serve, as ``portal.gate.answers.decide_flags``
    builds them (``facts_sql.gather``, the register at the facts' counter, ``answers._notices``)."""
    rng = random.Random(seed)
    orgs_by_kind: dict[str, list[str]] = {}
    for org in manifest["organisations"]:
        # only landlords that signed a protocol use the portal (the register names one: rsl:L9901)
        if org["kind"] != "rsl" or org.get("code") == "rsl:L9901":
            orgs_by_kind.setdefault(org["kind"], []).append(org["id"])
    facts: list[policy.Facts] = []
    today = date.today()
    request = answers.view_request(today)
    all_people = manifest["person_ids"]
    for kind in KINDS:
        for org_id in rng.sample(orgs_by_kind[kind], min(per_kind, len(orgs_by_kind[kind]))):
            org_uuid = uuid.UUID(org_id)
            user = session.scalars(select(User).where(User.organisation_id == org_uuid).order_by(User.subject)).first()
            actor = policy.Actor(str(user.id), org_id, kind, frozenset({"practitioner"}))
            ctx = AccessContext(user.id, org_uuid, kind, frozenset({"practitioner"}), "bench")
            candidates = families_service._served_candidates(session, ctx, today)
            subjects = [c.subject for c in candidates]
            # 10% about people the organisation does not serve: refused at the relationship
            strangers = [
                c
                for p in rng.sample(all_people, 8)
                for c in families_service._candidates_for(session, uuid.UUID(p), today)
            ]
            subjects += [c.subject for c in strangers][: max(1, len(subjects) // 10)]
            if not subjects:
                continue
            person_ids = list(dict.fromkeys(uuid.UUID(s.person_id) for s in subjects))
            family_ids = list(dict.fromkeys(uuid.UUID(s.family_id) for s in subjects if s.family_id))
            gathered = facts_sql.gather(session, org_uuid, person_ids, family_ids)
            reg = register.at_version(session, gathered.register_version)
            protocols = reg.protocols_for(org_id, kind)
            notices = answers._notices(gathered, reg)
            for s in subjects:
                facts.append(
                    policy.Facts(
                        actor=actor,
                        request=request,
                        subject=s,
                        relationships=tuple(gathered.relationships.get(s.person_id, ())),
                        protocols=protocols,
                        notices=notices.get(s.family_id, ()),
                        objections=tuple(gathered.objections.get(s.person_id, ())),
                    )
                )
    return facts


def decide_rate(facts: list[policy.Facts], seconds: float = 2.0) -> dict[str, Any]:
    decide = policy.decide
    outcomes = [decide(f) for f in facts]
    loops = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        for f in facts:
            decide(f)
        loops += 1
    elapsed = time.perf_counter() - started
    rate = loops * len(facts) / elapsed
    tiers = Counter("denied" if not d.permitted else d.tier.name.lower() for d in outcomes)
    return {"decisions_per_s": rate, "us_per_decision": 1e6 / rate, "facts": len(facts), "outcomes": dict(tiers)}


def verify_rate(engine: Engine, trusted: Any, pg_url: str, runs: int = 3) -> dict[str, Any]:
    times, report = [], None
    for _ in range(runs):
        started = time.perf_counter()
        report = chain.verify(engine, trusted)
        times.append(time.perf_counter() - started)
    assert report is not None
    stream = [stream_only(pg_url) for _ in range(runs)]
    query = verify_query_only(pg_url)
    median = statistics.median(times)
    return {
        "intact": report.intact,
        "summary": report.summary(),
        "entries": report.entries,
        "subjects": report.subjects,
        "checkpoints": report.checkpoints,
        "seconds": median,
        "entries_per_s": report.entries / median,
        "stream_entries_per_s": report.entries / statistics.median(stream),
        "verify_query_entries_per_s": report.entries / query if query else None,
    }


def verify_query_only(pg_url: str) -> float | None:
    """Seconds to run verify's own COPY statement and discard its lines (no hashing in Python): the
    server's share of a verification. Uses ``chain``'s private statement; None if it has changed shape."""
    try:
        sql = chain._PG_STREAM.format(body=chain._PG_BODY, record=chain._PG_RECORD, subject_bound="", entry_bound="")
    except (AttributeError, KeyError):
        return None
    with psycopg.connect(pg_url) as conn, conn.cursor() as cursor:
        cursor.execute(
            "SELECT set_config('jit', 'off', true), set_config('max_parallel_workers_per_gather', '0', true)"
        )
        started = time.perf_counter()
        with cursor.copy(sql) as copy:
            for _line in copy:
                pass
        return time.perf_counter() - started


def _timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


def search_latency(session: Session, manifest: dict[str, Any], values: int = 20, seed: int = 9) -> dict[str, Any]:
    rng = random.Random(seed)
    today = date.today()
    people = rng.sample(manifest["person_ids"], values)
    users = rng.sample(manifest["users"], values)
    orgs = rng.sample([o["id"] for o in manifest["organisations"]], values)
    cases: dict[str, list[service.LogFilters]] = {
        "by person": [service.LogFilters(person_id=p) for p in people],
        "by user": [service.LogFilters(actor_user_id=u) for u in users],
        "by organisation + 30 days": [
            service.LogFilters(
                actor_organisation_id=o,
                date_from=(start := today - timedelta(days=rng.randint(30, 360))),
                date_to=start + timedelta(days=29),
            )
            for o in orgs
        ],
        "by outcome": [
            service.LogFilters(outcome=("denied", "break_glass", "permitted")[i % 3]) for i in range(values)
        ],
        "no filter (newest 50)": [service.LogFilters() for _ in range(values)],
    }
    results: dict[str, Any] = {}
    for label, filters in cases.items():
        samples, found = [], 0
        for f in filters:
            samples.append(_timed(lambda f=f: service.search_log(session, f, page=1, per_page=50)))
            found += len(service.search_log(session, f, page=1, per_page=50).entries)
            samples.append(_timed(lambda f=f: service.search_log(session, f, page=1, per_page=50)))
        ordered = sorted(samples)
        results[label] = {
            "p50_ms": statistics.median(ordered),
            "p95_ms": ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))],
            "max_ms": ordered[-1],
            "mean_rows": found / len(filters),
        }
        session.rollback()
    return results
