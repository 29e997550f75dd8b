"""CPU per request of each phase of a gated page, without a profiler's inflation.

cProfile (``profile_endpoints.py``) roughly doubles Python-heavy phases and hides nothing of the
framework, but its proportions mislead. This wraps only the gate's phases (session, candidates, facts,
decision, load, log append, commit, template) with ``time.process_time`` and serves the page through
Flask's test client, so the phase totals are real CPU and "rest" is Flask, Werkzeug, Flask-Login and
the test client itself:

    .venv/bin/python bench/phases.py --instance /tmp/bench_gateway_xxx [--page flag|list|home] [-n 1000]

(the instance folder of a data set kept with ``build_dataset.py --keep`` or ``run_all.py --keep``).
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from build_dataset import app_env  # noqa: E402

spent: dict[str, float] = {}


def _timed(label: str, function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.process_time()
        try:
            return function(*args, **kwargs)
        finally:
            spent[label] = spent.get(label, 0.0) + time.process_time() - started

    return timed


def _instrument() -> None:
    import flask

    import portal.auth.sessions as sessions
    import portal.families.service as service
    import portal.families.views as views
    import portal.gate as gate
    import portal.gate.door as door
    import portal.gate.facts_sql as facts_sql
    import portal.gate.register as register
    import portal.home as main
    from sharing_protocols import policy

    # each wrapped where it is looked up when a page calls it: the gate's answers call
    # ``facts_sql.gather``, ``register.at_version`` and ``policy.decide_many`` through their modules,
    # ``door.record`` calls ``door._append``, and the views call ``gate.commit`` (re-exported from ``door``)
    for module, name, label in (
        (service, "_candidates", "candidates"),
        (service, "_load", "load and decrypt"),
        (facts_sql, "gather", "facts"),
        (register, "at_version", "register (cached)"),
        (policy, "decide_many", "policy.decide_many"),
        (door, "_append", "log append"),
    ):
        setattr(module, name, _timed(label, getattr(module, name)))
    committed = _timed("commit", door.commit)
    for module in (door, gate):  # the views call gate.commit, which is door.commit re-exported
        module.commit = committed
    render = _timed("template", flask.render_template)
    views.render_template = render  # type: ignore[attr-defined]
    main.render_template = render  # type: ignore[attr-defined]
    interface = sessions.DatabaseSessionInterface
    interface.open_session = _timed("session and user", interface.open_session)  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--instance", type=Path, required=True)
    parser.add_argument("--page", choices=("flag", "list", "home"), default="flag")
    parser.add_argument("-n", type=int, default=1000, help="requests (a quarter of them for the list)")
    args = parser.parse_args()
    _instrument()
    from portal.app import create_app

    manifest = json.loads((args.instance / "manifest.json").read_text())
    app = create_app(env=app_env(manifest["database_url"], args.instance, manifest["base_url"]))
    gp = max(manifest["gp"], key=lambda g: len(g["flag_targets"]))
    client = app.test_client()
    client.set_cookie("portal_session", gp["cookie"], domain="localhost")
    paths = {"flag": [f"/flags/{p}" for p in gp["flag_targets"]], "list": ["/flags"], "home": ["/home"]}[args.page]
    requests = args.n if args.page != "list" else max(50, args.n // 4)
    for path in paths[:20]:
        assert client.get(path).status_code == 200, path
    spent.clear()
    started = time.process_time()
    for i in range(requests):
        client.get(paths[i % len(paths)])
    total = (time.process_time() - started) / requests * 1000
    print(f"{args.page}: {total:.2f} ms of CPU a request ({requests} requests, in-process)")
    for label, seconds in sorted(spent.items(), key=lambda item: -item[1]):
        print(f"  {label:22} {seconds / requests * 1000:6.3f} ms")
    print(f"  {'rest (Flask, client)':22} {total - sum(spent.values()) / requests * 1000:6.3f} ms")
    app.extensions["db_engine"].dispose()


if __name__ == "__main__":
    main()
