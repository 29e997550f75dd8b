"""The access-gateway benchmark in one command: build, serve, load, measure, print, tear down.

    .venv/bin/python bench/run_all.py                 # the full run (~10-12 minutes)
    .venv/bin/python bench/run_all.py --quick         # 50,000 log entries, 1 round of 5 s (a smoke test)

1. Creates a scratch PostgreSQL database and instance folder, and builds the data set
   (``bench/build_dataset.py``: 300 organisations, 3,000 families, 10,000 people, relationships,
   flags, notices, 1,000,000 chained access-log entries, server-side sessions for the bench users).
2. Serves the portal (``bench/portal_wsgi.py``: the app ``wsgi.py`` serves, see there why) and the bare
   baselines (``bench/bare_app.py``) with gunicorn, 2 sync workers each, on 127.0.0.1.
3. Loads each endpoint with ``bench/load.py`` (32 closed-loop connections, 10 s, after a warm-up),
   round-robin over B, C, ``/home``, the flag page and the list, three rounds; reports the
   median of the rounds, each endpoint's ratio to C (median of the per-round ratios, so drift on a shared
   machine cancels) and the CPU each request cost the app workers and the database (``bench/cpu.py``).
4. Profiles the two portal endpoints in-process (``bench/profile_endpoints.py``).
5. Measures in-process: policy decisions per second, ``chain.verify`` on the whole log (now 1,000,000
   entries plus everything the load appended), and the DPO's filtered searches.
6. Prints the table, writes ``results.json`` in the instance folder (and ``--json PATH`` if given), stops
   the servers, drops the database and removes the folder (``--keep`` keeps them).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from build_dataset import ADMIN, app_env, build, create_database, drop_database  # noqa: E402
from cpu import CpuMeter  # noqa: E402
from load import LoadResult, build_request, run_load  # noqa: E402

GUNICORN = str(ROOT / ".venv" / "bin" / "gunicorn")
TARGETS = {"flag page": 0.6, "flag list": 0.35}


def start_server(module: str, port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    command = [
        GUNICORN,
        "--no-control-socket",
        "--pythonpath",
        str(HERE),
        "--workers",
        "2",
        "--worker-class",
        "sync",
        "--bind",
        f"127.0.0.1:{port}",
        "--timeout",
        "120",
        module,
    ]
    with log.open("wb") as out:
        return subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT)


def wait_until_up(url: str, process: subprocess.Popen[bytes], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server for {url} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status < 500:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {seconds} s")


def stop_server(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {memory:.0f} GiB, Python {platform.python_version()}, {platform.system()}"


def load_phase(
    manifest: dict[str, Any], ports: dict[str, int], args: argparse.Namespace, meter: CpuMeter
) -> dict[str, Any]:
    host = "127.0.0.1"
    people = manifest["person_ids"]
    requests = {
        "B: read by primary key": (
            ports["bare"],
            [build_request(host, ports["bare"], f"/b/{p}") for p in people],
        ),
        "C: B + chained audit insert": (
            ports["bare"],
            [build_request(host, ports["bare"], f"/c/{p}") for p in people],
        ),
        "signed-in floor: /home": (
            ports["portal"],
            [build_request(host, ports["portal"], "/home", g["cookie"], "portal_session") for g in manifest["gp"]],
        ),
        "flag page": (
            ports["portal"],
            [
                build_request(host, ports["portal"], f"/flags/{p}", g["cookie"], "portal_session")
                for g in manifest["gp"]
                for p in g["flag_targets"]
            ],
        ),
        "flag list": (
            ports["portal"],
            [build_request(host, ports["portal"], "/flags", g["cookie"], "portal_session") for g in manifest["gp"]],
        ),
    }
    print(f"\nwarm-up ({args.warmup:.0f} s each) ...", flush=True)
    for name, (port, built) in requests.items():
        result = run_load((host, port), built, connections=args.connections, duration=args.warmup)
        print(f"  {name:<28} {result.summary()}", flush=True)
    rounds: dict[str, list[LoadResult]] = {name: [] for name in requests}
    cpu: dict[str, list[dict[str, float]]] = {name: [] for name in requests}
    loads: list[tuple[float, float, float]] = []
    for r in range(args.runs):
        print(f"round {r + 1} of {args.runs} ({args.duration:.0f} s each, {args.connections} connections)", flush=True)
        for i, (name, (port, built)) in enumerate(requests.items()):
            before = meter.sample()
            result = run_load(
                (host, port), built, connections=args.connections, duration=args.duration, seed=r * 10 + i
            )
            used = meter.used(before, meter.sample())
            rounds[name].append(result)
            n = max(1, result.requests)
            use = {
                "app_ms": used.workers / n * 1000,
                "db_ms": used.backends / n * 1000,
                "other_cores": max(0.0, used.other - result.client_cpu * used.seconds) / used.seconds,
            }
            cpu[name].append(use)
            print(
                f"  {name:<28} {result.summary()}\n  {'':<28} CPU per request: app {use['app_ms']:.2f} ms, "
                f"db {use['db_ms']:.2f} ms; rest of the box busy {use['other_cores']:.2f} cores",
                flush=True,
            )
        loads.append(os.getloadavg())
    summary: dict[str, Any] = {}
    c_rounds = rounds["C: B + chained audit insert"]
    for name, results in rounds.items():
        summary[name] = {
            "rps": statistics.median(x.rps for x in results),
            "p50_ms": statistics.median(x.p50 for x in results),
            "p99_ms": statistics.median(x.p99 for x in results),
            "rounds_rps": [round(x.rps, 1) for x in results],
            "non_200": sum(sum(v for k, v in x.statuses.items() if k != 200) for x in results),
            "errors": sum(x.errors for x in results),
            "client_cores": statistics.median(x.client_cpu for x in results),
            "ratio_to_c": statistics.median(x.rps / c.rps for x, c in zip(results, c_rounds, strict=True)),
            "app_cpu_ms": statistics.median(c["app_ms"] for c in cpu[name]),
            "db_cpu_ms": statistics.median(c["db_ms"] for c in cpu[name]),
            "other_cores": statistics.median(c["other_cores"] for c in cpu[name]),
        }
    summary["_loadavg_after_rounds"] = loads
    return summary


def inprocess_phase(manifest: dict[str, Any], instance: Path) -> dict[str, Any]:
    from inprocess import decide_rate, gather_facts, search_latency, verify_rate

    from portal.access_log import signing
    from portal.app import create_app

    app = create_app(env=app_env(manifest["database_url"], instance, manifest["base_url"]))
    engine = app.extensions["db_engine"]
    out: dict[str, Any] = {}
    with app.app_context(), app.extensions["db_sessionmaker"]() as session:
        facts = gather_facts(session, manifest)
        session.rollback()
        out["decide"] = decide_rate(facts)
        print(
            f"policy.decide: {out['decide']['decisions_per_s']:,.0f} decisions/s "
            f"({out['decide']['us_per_decision']:.1f} µs each, {out['decide']['facts']} realistic facts: "
            f"{out['decide']['outcomes']})",
            flush=True,
        )
        out["search"] = search_latency(session, manifest)
        for label, s in out["search"].items():
            print(
                f"search_log {label:<26} p50 {s['p50_ms']:6.1f} ms  p95 {s['p95_ms']:6.1f} ms  "
                f"max {s['max_ms']:6.1f} ms  ({s['mean_rows']:.0f} rows)",
                flush=True,
            )
    pg_url = manifest["database_url"].replace("postgresql+psycopg://", "postgresql://")
    out["verify"] = verify_rate(engine, signing.trusted_keys(app), pg_url)
    v = out["verify"]
    print(
        f"chain.verify: {v['summary']}; {v['entries_per_s']:,.0f} entries/s ({v['seconds']:.2f} s, "
        f"{v['subjects']:,} subject rows); streaming floor {v['stream_entries_per_s']:,.0f} entries/s; "
        f"verify's COPY alone, no hashing: {v['verify_query_entries_per_s'] or 0:,.0f} entries/s",
        flush=True,
    )
    engine.dispose()
    return out


def table(results: dict[str, Any]) -> str:
    load = results["load"]
    lines = [
        "| endpoint | req/s | p50 / p99 ms | x C | target | met | CPU/request: app + db | rest of box busy |",
        "|---|---:|---|---:|---|---|---|---|",
    ]
    for name, s in load.items():
        if name.startswith("_"):
            continue
        target = TARGETS.get(name)
        met = "" if target is None else ("yes" if s["ratio_to_c"] >= target else "**no**")
        lines.append(
            f"| {name} | {s['rps']:,.0f} | {s['p50_ms']:.1f} / {s['p99_ms']:.1f} | {s['ratio_to_c']:.2f} | "
            f"{'' if target is None else f'>= {target} x C'} | {met} | "
            f"{s['app_cpu_ms']:.2f} + {s['db_cpu_ms']:.2f} ms | {s['other_cores']:.2f} cores |"
        )
    inproc = results.get("inprocess")
    if inproc:
        d, v = inproc["decide"], inproc["verify"]
        lines += [
            "",
            "| in-process | result | target | met |",
            "|---|---|---|---|",
            f"| policy.decide | {d['decisions_per_s']:,.0f} decisions/s ({d['us_per_decision']:.1f} µs) | | |",
            f"| chain.verify, {v['entries']:,} entries | {v['entries_per_s']:,.0f} entries/s "
            f"(floors: streaming the entries {v['stream_entries_per_s']:,.0f}/s, verify's COPY with the "
            f"subject rows, no hashing {v['verify_query_entries_per_s'] or 0:,.0f}/s) | >= 400,000/s | "
            f"{'yes' if v['entries_per_s'] >= 400_000 and v['intact'] else '**no**'} |",
        ]
        for label, s in inproc["search"].items():
            lines.append(
                f"| search_log {label} | p50 {s['p50_ms']:.1f} ms, p95 {s['p95_ms']:.1f} ms | p95 < 300 ms | "
                f"{'yes' if s['p95_ms'] < 300 else '**no**'} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--port", type=int, default=8101, help="portal port; the bare app uses the next one")
    parser.add_argument("--no-profile", action="store_true")
    # accepted for the commands quoted in older notes; there is no patched app any more
    parser.add_argument("--no-patched", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="50,000 entries, 1 round of 5 s")
    parser.add_argument("--keep", action="store_true", help="keep the database and instance folder")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    if args.quick:
        args.entries, args.runs, args.duration, args.warmup = 50_000, 1, 5.0, 2.0

    started = time.perf_counter()
    name = f"bench_gateway_{os.getpid()}"
    instance = Path(tempfile.mkdtemp(prefix="bench_gateway_"))
    ports = {"portal": args.port, "bare": args.port + 1}
    base_url = f"http://127.0.0.1:{ports['portal']}"
    servers: list[subprocess.Popen[bytes]] = []
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "settings": {k: v for k, v in vars(args).items() if k != "json"},
    }
    print(f"{results['date']} on {results['machine']}", flush=True)
    try:
        url = create_database(name)
        print(f"building the data set in {name} ({args.entries:,} log entries) ...", flush=True)
        manifest = build(url, instance, base_url, args.entries)
        results["dataset"] = {"counts": manifest["counts"], "timings_s": manifest["timings_s"]}
        print(f"  {json.dumps(manifest['counts'])}\n  build timings (s): {manifest['timings_s']}", flush=True)
        targets = [len(g["flag_targets"]) for g in manifest["gp"]]
        print(f"  GP practices' visible flagged people: {min(targets)}-{max(targets)} each", flush=True)

        portal = start_server(
            "portal_wsgi:app", ports["portal"], app_env(url, instance, base_url), instance / "portal.log"
        )
        servers.append(portal)
        bare_env = {
            "BENCH_DATABASE_URL": url,
            "BENCH_SIGNING_KEY": str(instance / "audit_signing_key.pem"),
            "BENCH_ACTOR_USER": manifest["gp"][0]["user_id"],
            "BENCH_ACTOR_ORGANISATION": manifest["gp"][0]["organisation_id"],
        }
        bare = start_server("bare_app:app", ports["bare"], bare_env, instance / "bare.log")
        servers.append(bare)
        wait_until_up(f"{base_url}/healthz", portal)
        wait_until_up(f"http://127.0.0.1:{ports['bare']}/b/{manifest['person_ids'][0]}", bare)

        meter = CpuMeter([server.pid for server in servers], name, ADMIN)
        results["load"] = load_phase(manifest, ports, args, meter)
        for server in servers:
            stop_server(server)

        if not args.no_profile:
            print("\nprofile (in-process, one request at a time; full output in profile*.txt):", flush=True)
            results["profile"] = {}
            command = [sys.executable, str(HERE / "profile_endpoints.py"), "--instance", str(instance), "--full"]
            done = subprocess.run(command, capture_output=True, text=True)
            (instance / "profile.txt").write_text(done.stdout + done.stderr)
            summary = [line for line in done.stdout.splitlines() if line.startswith("==")]
            print("\n".join(summary) or done.stderr[-2000:], flush=True)
            results["profile"]["original"] = summary

        print("\nin-process:", flush=True)
        results["inprocess"] = inprocess_phase(manifest, instance)
        results["elapsed_s"] = round(time.perf_counter() - started)
        print(f"\n{results['date']}, {results['machine']}, whole run {results['elapsed_s']} s\n")
        print(table(results))
        (instance / "results.json").write_text(json.dumps(results, indent=2, default=str))
        if args.json:
            args.json.write_text(json.dumps(results, indent=2, default=str))
    finally:
        for server in servers:
            stop_server(server)
        if args.keep:
            print(f"\nkept: database {name}, instance {instance}")
        else:
            drop_database(name)
            shutil.rmtree(instance, ignore_errors=True)


if __name__ == "__main__":
    main()
