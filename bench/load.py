"""A small closed-loop HTTP/1.1 load generator (wrk is not installed here).

One process, non-blocking sockets on an epoll selector, N connections each sending its next request as
soon as the previous response is complete (closed loop, like wrk). Requests are pre-built bytes picked
at random from the list given, so each virtual user varies its targets at no cost per request.
gunicorn's sync workers answer ``Connection: close``; the client then reconnects, and the latency of a
request runs from the start of its connect to the last byte of its response (wrk starts its clock after
the connect, so these latencies are slightly longer). Keep-alive is used when the server offers it.

The generator shares the machine's cores with the servers and the database, as wrk did in the baseline
notes; its own CPU use is reported (``client_cpu``, in cores) so its share of the box is visible. It
costs about 40-60 µs of CPU per request, so it takes a larger share from fast endpoints (B, C) than
from slow ones: that bias, if anything, flatters the portal's ratios to C.

    .venv/bin/python bench/load.py http://127.0.0.1:8000/healthz -c 32 -d 10
"""

from __future__ import annotations

import argparse
import errno
import random
import selectors
import socket
import statistics
import time
from array import array
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

HEADER_END = b"\r\n\r\n"


def build_request(host: str, port: int, path: str, cookie: str | None = None, cookie_name: str = "") -> bytes:
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host}:{port}",
        "User-Agent: Mozilla/5.0 (bench-load) AppleWebKit/537.36 Chrome/126.0 Safari/537.36",
        "Accept: text/html",
    ]
    if cookie:
        lines.append(f"Cookie: {cookie_name}={cookie}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


@dataclass
class LoadResult:
    duration: float
    requests: int
    errors: int
    statuses: Counter[int]
    latencies_ms: array = field(repr=False)
    client_cpu: float  #: CPU seconds the generator used per second of run (cores)

    @property
    def rps(self) -> float:
        return self.requests / self.duration

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies_ms) if self.latencies_ms else float("nan")

    @property
    def p99(self) -> float:
        return self.percentile(99)

    def summary(self) -> str:
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(self.statuses.items()))
        return (
            f"{self.rps:8.1f} req/s  p50 {self.p50:6.1f} ms  p99 {self.p99:6.1f} ms  "
            f"({self.requests} responses [{statuses}], {self.errors} errors, client {self.client_cpu:.2f} cores)"
        )


class _Slot:
    __slots__ = ("body_expected", "buffer", "header_end", "keep_alive", "request", "sock", "started")

    def __init__(self) -> None:
        self.sock: socket.socket | None = None
        self.buffer = bytearray()
        self.request = b""
        self.started = 0.0
        self.header_end = -1
        self.body_expected = -1
        self.keep_alive = False


def _parse_head(slot: _Slot) -> None:
    head = bytes(slot.buffer[: slot.header_end]).lower()
    slot.body_expected = -1
    slot.keep_alive = head.startswith(b"http/1.1") and b"\r\nconnection: close" not in head
    at = head.find(b"\r\ncontent-length:")
    if at >= 0:
        end = head.find(b"\r\n", at + 2)
        slot.body_expected = int(head[at + 17 : end if end >= 0 else None].strip())
    elif b"\r\ntransfer-encoding: chunked" in head:
        slot.keep_alive = False  # read to EOF; good enough for a benchmark client


def run_load(
    address: tuple[str, int],
    requests: Sequence[bytes],
    *,
    connections: int = 32,
    duration: float = 10.0,
    warmup: float = 0.0,
    seed: int = 0,
    timeout: float = 30.0,
) -> LoadResult:
    """Drive ``connections`` closed-loop virtual users for ``warmup`` + ``duration`` seconds; measure the
    ``duration`` part only (responses completed in it)."""
    rng = random.Random(seed)
    pick = requests.__getitem__
    count = len(requests)
    selector = selectors.DefaultSelector()
    slots = [_Slot() for _ in range(connections)]
    latencies = array("d")
    statuses: Counter[int] = Counter()
    errors = 0
    now = time.perf_counter()
    measure_from = now + warmup
    stop_at = measure_from + duration
    cpu_from = None

    def connect(slot: _Slot, started: float | None = None) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        code = sock.connect_ex(address)
        if code not in (0, errno.EINPROGRESS):
            sock.close()
            raise OSError(code, "connect failed")
        slot.sock = sock
        slot.started = time.perf_counter() if started is None else started
        slot.request = pick(rng.randrange(count))
        slot.buffer.clear()
        slot.header_end = -1
        selector.register(sock, selectors.EVENT_WRITE, slot)

    def close(slot: _Slot) -> None:
        if slot.sock is not None:
            selector.unregister(slot.sock)
            slot.sock.close()
            slot.sock = None

    for slot in slots:
        connect(slot)
    while True:
        now = time.perf_counter()
        if cpu_from is None and now >= measure_from:
            cpu_from = time.process_time()
            latencies = array("d")
            statuses.clear()
            errors = 0
        if now >= stop_at:
            break
        for key, events in selector.select(timeout=0.5):
            slot: _Slot = key.data
            sock = slot.sock
            assert sock is not None
            try:
                if events & selectors.EVENT_WRITE:
                    code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if code:
                        raise OSError(code, "connect failed")
                    sent = sock.send(slot.request)
                    if sent != len(slot.request):
                        raise OSError("short send")
                    selector.modify(sock, selectors.EVENT_READ, slot)
                    continue
                data = sock.recv(262144)
            except OSError:
                errors += 1
                close(slot)
                connect(slot)
                continue
            if data:
                slot.buffer += data
            if slot.header_end < 0:
                slot.header_end = slot.buffer.find(HEADER_END)
                if slot.header_end >= 0:
                    _parse_head(slot)
            done = False
            if slot.header_end >= 0:
                body = len(slot.buffer) - slot.header_end - 4
                done = (slot.body_expected >= 0 and body >= slot.body_expected) or not data
            elif not data:
                errors += 1
                close(slot)
                connect(slot)
                continue
            if not done:
                if time.perf_counter() - slot.started > timeout:
                    errors += 1
                    close(slot)
                    connect(slot)
                continue
            finished = time.perf_counter()
            if finished >= measure_from and finished < stop_at:
                latencies.append((finished - slot.started) * 1000)
                statuses[int(slot.buffer[9:12])] += 1
            if slot.keep_alive and data:
                slot.buffer.clear()
                slot.header_end = -1
                slot.request = pick(rng.randrange(count))
                slot.started = finished
                selector.modify(sock, selectors.EVENT_WRITE, slot)
            else:
                close(slot)
                connect(slot)
    cpu = time.process_time() - (cpu_from or time.process_time())
    for slot in slots:
        close(slot)
    selector.close()
    return LoadResult(duration, len(latencies), errors, statuses, latencies, cpu / duration)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("url", nargs="+", help="one or more URLs on one host, picked at random")
    parser.add_argument("-c", "--connections", type=int, default=32)
    parser.add_argument("-d", "--duration", type=float, default=10.0)
    parser.add_argument("-w", "--warmup", type=float, default=1.0)
    parser.add_argument("--cookie", help="name=value sent with every request")
    args = parser.parse_args()
    parts = urlsplit(args.url[0])
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    name, _, value = (args.cookie or "").partition("=")
    built = [
        build_request(
            host, port, (urlsplit(u).path or "/") + (f"?{urlsplit(u).query}" if urlsplit(u).query else ""), value, name
        )
        for u in args.url
    ]
    result = run_load((host, port), built, connections=args.connections, duration=args.duration, warmup=args.warmup)
    print(result.summary())


if __name__ == "__main__":
    main()
