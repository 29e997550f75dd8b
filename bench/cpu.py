"""Where the machine's CPU went during a load run: server workers, their database backends, the rest.

These machines are shared (other engineers run test suites and browsers on them), so a throughput
number alone can hide a busy neighbour. A ``CpuMeter`` reads ``/proc`` before and after a run and
reports CPU seconds used by the gunicorn workers, by the PostgreSQL client backends connected to the
bench database, and by everything else on the box (other work, PostgreSQL's WAL writer, checkpointer and
autovacuum; the load generator's own share is reported by the generator and taken out).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import psycopg

TICK = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            found += [int(c) for c in (task / "children").read_text().split()]
    except OSError:
        pass
    return found


def _box() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])
    return (total - idle) / TICK, total / TICK


@dataclass
class CpuSample:
    workers: dict[int, float]
    backends: dict[int, float]
    busy: float
    total: float


@dataclass
class CpuUse:
    workers: float  #: CPU seconds
    backends: float
    other: float  #: everything else that was busy (includes the load generator)
    seconds: float  #: wall-clock length of the interval


class CpuMeter:
    def __init__(self, master_pids: list[int], database: str, admin_url: str) -> None:
        self.master_pids = master_pids
        self.database = database
        self.admin_url = admin_url.replace("postgresql+psycopg://", "postgresql://")

    def _backend_pids(self) -> list[int]:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND backend_type = 'client backend'"
                " AND pid <> pg_backend_pid()",
                (self.database,),
            ).fetchall()
        return [r[0] for r in rows]

    def sample(self) -> CpuSample:
        workers = {pid: _cpu_seconds(pid) for master in self.master_pids for pid in _children(master)}
        backends = {pid: _cpu_seconds(pid) for pid in self._backend_pids()}
        busy, total = _box()
        return CpuSample(workers, backends, busy, total)

    @staticmethod
    def used(before: CpuSample, after: CpuSample) -> CpuUse:
        def delta(a: dict[int, float], b: dict[int, float]) -> float:
            return sum(value - a.get(pid, 0.0) for pid, value in b.items())

        workers = delta(before.workers, after.workers)
        backends = delta(before.backends, after.backends)
        busy = after.busy - before.busy
        cores = os.cpu_count() or 1
        return CpuUse(workers, backends, max(0.0, busy - workers - backends), (after.total - before.total) / cores)
