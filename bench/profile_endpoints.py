"""Where a gated request's time goes: the portal's endpoints in-process, under cProfile, with SQL counted.

Runs the real app (same configuration, database and key ring as the served one) through Flask's test
client with a bench session cookie, one request at a time, so there is no queueing and no HTTP: what is
left is the app's own cost per request. For each endpoint it prints the wall time per request, the SQL
statements per request and the time spent waiting on them (cursor execute to result, so round trip plus
server time), the cumulative time of the main phases (session load, user load, gate, log append,
decryption, template), and the top functions by own time.

    .venv/bin/python bench/profile_endpoints.py --instance /tmp/bench_gateway_xxx [--requests 300]

(``run_all.py`` runs it on the data set it built; ``--instance`` needs a data set kept with
``build_dataset.py --keep``.)
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import random
import statistics
import time
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import event

from portal.app import create_app

#: phases to report: (label, file suffix, function name) as cProfile names them
PHASES = (
    ("whole request (wsgi_app)", "flask/app.py", "wsgi_app"),
    ("session load (open_session)", "portal/auth/sessions.py", "open_session"),
    ("session save (save_session)", "portal/auth/sessions.py", "save_session"),
    ("user load (flask-login _load)", "portal/app.py", "_load"),
    ("view: get_flag_for", "portal/families/service.py", "get_flag_for"),
    ("view: list_flagged", "portal/families/service.py", "list_flagged"),
    ("  candidates (flags + concerns)", "portal/families/service.py", "_candidates"),
    ("  gate facts + decide (answers.decide_flags)", "portal/gate/answers.py", "decide_flags"),
    ("    facts (facts_sql.gather)", "portal/gate/facts_sql.py", "gather"),
    ("    policy.decide", "sharing_protocols/policy/flags.py", "decide"),
    ("    policy.decide_many", "sharing_protocols/policy/flags.py", "decide_many"),
    ("    protocols (register.at_version)", "portal/gate/register.py", "at_version"),
    ("    notices (answers._notices)", "portal/gate/answers.py", "_notices"),
    ("  log append (door.record)", "portal/gate/door.py", "record"),
    ("    chain.append", "portal/access_log/appending.py", "append"),
    ("  load + decrypt (_load)", "portal/families/service.py", "_load"),
    ("    AES-GCM decrypt", "portal/crypto/ring.py", "decrypt"),
    ("template (render_template)", "flask/templating.py", "render_template"),
    ("commit", "sqlalchemy/orm/session.py", "commit"),
)


class SqlMeter:
    """Counts statements and the time from cursor execute to its return, per request."""

    def __init__(self, engine: Any) -> None:
        self.count = 0
        self.seconds = 0.0
        self.statements: Counter[str] = Counter()
        self.statement_seconds: Counter[str] = Counter()
        self._started: list[tuple[float, str]] = []
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)
        self._wrap_fetch()

    def _wrap_fetch(self) -> None:
        """``portal.db.fetch`` runs PostgreSQL statements on the driver's cursor, past SQLAlchemy's
        events: count those too, wherever a module imported it."""
        import portal.access_log.appending
        import portal.families.service
        import portal.gate.facts_sql
        from portal import db as portal_db

        original = portal_db.fetch

        def fetch(session: Any, statement: Any, params: Any) -> Any:
            key = " ".join(str(statement).split())[:100]
            started = time.perf_counter()
            try:
                return original(session, statement, params)
            finally:
                elapsed = time.perf_counter() - started
                self.count += 1
                self.statements[key] += 1
                self.seconds += elapsed
                self.statement_seconds[key] += elapsed

        for module in (portal_db, portal.gate.facts_sql, portal.access_log.appending, portal.families.service):
            module.fetch = fetch  # type: ignore[attr-defined]

    def _before(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        key = " ".join(statement.split())[:100]
        self._started.append((time.perf_counter(), key))
        self.count += 1
        self.statements[key] += 1

    def _after(self, *args: Any) -> None:
        started, key = self._started.pop()
        elapsed = time.perf_counter() - started
        self.seconds += elapsed
        self.statement_seconds[key] += elapsed

    def reset(self) -> None:
        self.count, self.seconds = 0, 0.0
        self.statements.clear()
        self.statement_seconds.clear()


def _phase_times(stats: pstats.Stats, n: int) -> list[tuple[str, float, int]]:
    rows = []
    raw = stats.stats  # type: ignore[attr-defined]
    for label, suffix, name in PHASES:
        total, calls = 0.0, 0
        for (filename, _line, func), (_cc, nc, _tt, ct, _callers) in raw.items():
            if func == name and filename.endswith(suffix):
                total += ct
                calls += nc
        if calls:
            rows.append((label, total / n * 1000, calls // n if calls >= n else calls))
    return rows


def profile(app: Any, cookie: str, paths: list[str], requests: int, top: int = 25) -> dict[str, Any]:
    """Profile ``requests`` GETs of ``paths`` (cycled) as the session ``cookie``; returns the summary."""
    client = app.test_client()
    client.set_cookie("portal_session", cookie, domain="localhost")
    meter = SqlMeter(app.extensions["db_engine"])
    for path in paths[:20]:  # warm caches, templates and the pool
        assert client.get(path).status_code == 200, path
    # unprofiled timing first (cProfile adds overhead), then the profiled pass
    walls = []
    meter.reset()
    cpu_started = time.process_time()
    for i in range(requests):
        started = time.perf_counter()
        response = client.get(paths[i % len(paths)])
        walls.append(time.perf_counter() - started)
        assert response.status_code == 200, response.status_code
    cpu_ms = (time.process_time() - cpu_started) / requests * 1000
    statements, sql_seconds = meter.count / requests, meter.seconds / requests
    by_statement = [(sql, count, meter.statement_seconds[sql]) for sql, count in meter.statements.most_common()]
    profiler = cProfile.Profile()
    profiler.enable()
    for i in range(requests):
        client.get(paths[i % len(paths)])
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    return {
        "wall_ms_p50": statistics.median(walls) * 1000,
        "wall_ms_mean": statistics.fmean(walls) * 1000,
        "cpu_ms": cpu_ms,
        "statements": statements,
        "sql_ms": sql_seconds * 1000,
        "by_statement": [(s, c / requests, t / requests * 1000) for s, c, t in by_statement],
        "phases": _phase_times(stats, requests),
        "top": out.getvalue(),
    }


def report(name: str, result: dict[str, Any], full: bool = False) -> str:
    lines = [
        f"== {name}: {result['wall_ms_p50']:.1f} ms/request in-process (p50, no HTTP, no concurrency), "
        f"{result['cpu_ms']:.1f} ms of it CPU in this process; "
        f"{result['statements']:.1f} SQL statements, {result['sql_ms']:.1f} ms waiting on them "
        f"({result['sql_ms'] / result['wall_ms_mean'] * 100:.0f}% of the mean {result['wall_ms_mean']:.1f} ms)",
        "   statements per request (count, ms waiting):",
        *(f"     {count:5.2f} x {ms:5.2f} ms  {sql}" for sql, count, ms in result["by_statement"]),
        "   phases (cumulative ms per request under cProfile, which inflates Python-heavy parts):",
        *(f"     {ms:7.2f} ms  {label}" for label, ms, _calls in result["phases"]),
    ]
    if full:
        lines.append(result["top"])
    return "\n".join(lines)


def run(instance: Path, requests: int, full: bool = False) -> dict[str, dict[str, Any]]:
    """Profile the flag page and the list."""
    from build_dataset import app_env

    manifest = json.loads((instance / "manifest.json").read_text())
    app = create_app(env=app_env(manifest["database_url"], instance, manifest["base_url"]))
    rng = random.Random(3)
    gp = max(manifest["gp"], key=lambda g: len(g["flag_targets"]))
    targets = list(gp["flag_targets"])
    rng.shuffle(targets)
    results = {
        "flag page": profile(app, gp["cookie"], [f"/flags/{p}" for p in targets], requests),
        "flag list": profile(app, gp["cookie"], ["/flags"], max(50, requests // 3)),
    }
    for name, result in results.items():
        print(report(name, result, full))
    app.extensions["db_engine"].dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--instance", type=Path, required=True, help="instance folder of a kept data set")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--full", action="store_true", help="also print the top functions by own time")
    args = parser.parse_args()
    run(args.instance, args.requests, args.full)


if __name__ == "__main__":
    main()
