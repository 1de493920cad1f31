"""Soak: 8 listeners and a render job against the real services; print what held and what moved.

`make soak` (SOAK_SECONDS=300 by default) starts both services the way users do
(scripts/start.py, tiny demo model, a fresh temporary data directory, loopback ports) and runs:

- N listeners (default 8), each its own user, each streaming POST /api/tts with the stock
  Piper voice `stock-joe` (cheap on a CPU): fresh texts (cache misses) and, every fourth
  request from the second on, its own reference text again (a cache hit);
- a render job at the same time: a small book imported and rendered ahead, again and again.

Checks: every stream completes or is refused with 429; no audio mixes between streams (each
listener's texts have a length of their own, 1..N sentences: the audio of a fresh text must last
as long as that listener's reference, fetched alone before the load, within 0.7 s + 3 %, while
one sentence more or less is about 1.5 s; and a cache hit must be byte for byte the reference);
the RSS and open file descriptors of both services stay flat. Printed: requests completed /
refused / failed, p50/p95 latency (first byte and whole stream), RSS and descriptors over time
(start, end, max), and the time to recover: once the load stops, how long until a fresh request
is as fast as before the load.

Piper is not deterministic (its noise is random), which is why lengths are compared rather than
bytes of two renderings of the same text. The reference is fetched with `verify: true`, so the
cache holds a take already heard, which the live checker leaves as it is. Exit code 1 when a check fails.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
VOICE = "stock-joe"
SAMPLE_RATE = 24000
PCM = {"voiceId": VOICE, "format": "pcm_24000", "language": "en"}
NAMES = ["Ada", "Ben", "Cleo", "Dan", "Eve", "Finn", "Gus", "Hal", "Ida", "Jo", "Kit", "Lou"]
SENTENCES = [  # short, about 1.5 s each: listener k speaks k+1 of them
    "The river ran past the mill.",
    "Nobody knew who built it.",
    "The water rose in spring.",
    "Children played on the bridge.",
    "Leaves drifted down to the weir.",
    "A heron waited for fish.",
    "The wheel turned all winter.",
    "At last the mill fell silent.",
]
# A fresh text per request: "take" and two letters (625 of them, no W: it is long to say), which
# vary its length by about 0.3 s; a number would vary it by more than a second.
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVXYZ"
HIT_EVERY = 4  # requests 2, 6, 10 ... of a listener are its reference text again: cache hits
LENGTH_TOLERANCE_S = 0.7
LENGTH_TOLERANCE_RATIO = 0.03
SAMPLE_EVERY_S = 2.0
PASSWORD = "soak-password-123"


def listener_text(listener: int, take: int) -> str:
    """Listener k's text number `take`: k+1 sentences, so each listener's audio has its length."""
    tag = LETTERS[take // len(LETTERS) % len(LETTERS)] + " " + LETTERS[take % len(LETTERS)]
    return f"{NAMES[listener % len(NAMES)]}, take {tag}. " + " ".join(
        SENTENCES[i % len(SENTENCES)] for i in range(listener + 1)
    )


def seconds_of(pcm: bytes) -> float:
    return len(pcm) / 2 / SAMPLE_RATE


# --- process figures -----------------------------------------------------------------------


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


@dataclass
class Sample:
    at: float  # seconds since the load started
    rss: dict[str, float]
    fds: dict[str, int]


class Sampler(threading.Thread):
    def __init__(self, pids: dict[str, int], started: float, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.pids, self.started, self.stop = pids, started, stop
        self.samples: list[Sample] = []

    def sample(self) -> None:
        self.samples.append(
            Sample(
                time.monotonic() - self.started,
                {name: rss_mb(pid) for name, pid in self.pids.items()},
                {name: open_fds(pid) for name, pid in self.pids.items()},
            )
        )

    def run(self) -> None:
        while not self.stop.wait(SAMPLE_EVERY_S):
            self.sample()


# --- the load ------------------------------------------------------------------------------


@dataclass
class Stats:
    lock: threading.Lock = field(default_factory=threading.Lock)
    completed: int = 0
    hits: int = 0
    refused: int = 0
    failures: list[str] = field(default_factory=list)
    first_byte: list[float] = field(default_factory=list)
    whole: list[float] = field(default_factory=list)
    renders_done: int = 0
    renders_failed: list[str] = field(default_factory=list)

    def fail(self, message: str) -> None:
        with self.lock:
            self.failures.append(message)


def timed_tts(
    client: httpx.Client, text: str, verify: bool = False
) -> tuple[int, bytes, str, float, float]:
    """status, body, X-Cache, seconds to the first byte, seconds to the end. `verify`: answer
    with a take already heard (rendered and heard first when the cache holds none)."""
    started = time.monotonic()
    first: float | None = None
    body = bytearray()
    payload = {"text": text, **PCM, **({"verify": True} if verify else {})}
    with client.stream("POST", "/api/tts", json=payload) as response:
        for chunk in response.iter_bytes():
            if first is None:
                first = time.monotonic() - started
            body += chunk
        total = time.monotonic() - started
        return (
            response.status_code,
            bytes(body),
            response.headers.get("x-cache", ""),
            first or total,
            total,
        )


@dataclass
class Listener:
    index: int
    client: httpx.Client
    reference: bytes = b""

    def expected_ok(self, pcm: bytes) -> bool:
        expected = seconds_of(self.reference)
        return (
            abs(seconds_of(pcm) - expected)
            <= LENGTH_TOLERANCE_S + LENGTH_TOLERANCE_RATIO * expected
        )

    def fetch_reference(self) -> None:
        """The reference text's audio as the cache keeps it: a take heard already. (A live take
        is heard after it played, and one heard wrong is replaced in the cache by another: a
        later hit would then rightly differ from what was first streamed.)"""
        status, body, _, _, _ = timed_tts(self.client, listener_text(self.index, 0), verify=True)
        if status != 200 or not body:
            raise RuntimeError(f"listener {self.index}: the reference text got {status}")
        self.reference = body

    def run(self, deadline: float, stats: Stats) -> None:
        take = 0
        while time.monotonic() < deadline:
            take += 1
            hit = take % HIT_EVERY == 2
            text = listener_text(self.index, 0 if hit else take)
            try:
                status, body, cache, first, total = timed_tts(self.client, text)
            except httpx.HTTPError as exc:
                stats.fail(f"listener {self.index} take {take}: {type(exc).__name__}: {exc}")
                continue
            if status == 429:
                with stats.lock:
                    stats.refused += 1
                time.sleep(1.0)  # a load generator backing off, as a player would; not a sync
                continue
            if status != 200:
                stats.fail(f"listener {self.index} take {take}: HTTP {status}: {body[:200]!r}")
                continue
            self.check(take, hit, body, cache, stats)
            with stats.lock:
                stats.completed += 1
                stats.hits += hit
                stats.first_byte.append(first)
                stats.whole.append(total)

    def check(self, take: int, hit: bool, body: bytes, cache: str, stats: Stats) -> None:
        if hit and (cache != "hit" or body != self.reference):
            stats.fail(
                f"listener {self.index} take {take}: the cache hit ({cache}) is not the "
                "audio first streamed for that text"
            )
        elif not hit and not self.expected_ok(body):
            stats.fail(
                f"listener {self.index} take {take}: {seconds_of(body):.2f} s of audio, "
                f"its texts last {seconds_of(self.reference):.2f} s: mixed or cut audio"
            )


def render_loop(client: httpx.Client, deadline: float, stats: Stats) -> None:
    """Import a small book and render it ahead, again and again, until the deadline."""
    while time.monotonic() < deadline:
        tag = uuid.uuid4().hex[:6]
        text = " ".join(
            f"Chapter {tag} line {n}. {SENTENCES[n % len(SENTENCES)]}" for n in range(6)
        )
        book = client.post(
            "/api/books", json={"title": f"Soak {tag}", "text": text, "language": "en"}
        )
        if book.status_code != 201:
            stats.renders_failed.append(f"import: HTTP {book.status_code} {book.text[:200]}")
            return
        job = client.post(f"/api/books/{book.json()['id']}/renders", json={"voiceId": VOICE})
        if job.status_code == 429:
            time.sleep(1.0)
            continue
        if job.status_code != 202:
            stats.renders_failed.append(f"render: HTTP {job.status_code} {job.text[:200]}")
            return
        while True:
            state = client.get(f"/api/renders/{job.json()['id']}").json()
            if state["status"] in ("done", "failed", "cancelled"):
                break
            if time.monotonic() > deadline:
                client.delete(f"/api/renders/{job.json()['id']}")
                return
            time.sleep(0.5)
        if state["status"] == "done":
            stats.renders_done += 1
        else:
            stats.renders_failed.append(f"job {state['status']}: {state.get('error')}")


# --- setup ---------------------------------------------------------------------------------


def make_listeners(
    base_url: str, admin_key: str, count: int
) -> tuple[list[Listener], httpx.Client]:
    admin = httpx.Client(
        base_url=base_url, headers={"Authorization": f"Bearer {admin_key}"}, timeout=60
    )
    clients = []
    for n in range(count + 1):  # the last one renders
        name = f"soak-{n}-{uuid.uuid4().hex[:4]}"
        created = admin.post("/api/users", json={"username": name, "password": PASSWORD})
        created.raise_for_status()
        client = httpx.Client(base_url=base_url, timeout=httpx.Timeout(120, connect=10))
        client.post(
            "/api/auth/login", json={"username": name, "password": PASSWORD}
        ).raise_for_status()
        clients.append(client)
    admin.close()
    return [Listener(n, c) for n, c in enumerate(clients[:-1])], clients[-1]


def median_latency(client: httpx.Client, texts: Callable[[int], str], tries: int = 3) -> float:
    return statistics.median(timed_tts(client, texts(n))[4] for n in range(tries))


@dataclass
class Report:
    seconds: float
    listeners: int
    stats: Stats
    samples: list[Sample]
    baseline_s: float
    recover_s: float | None

    def problems(self, rss_growth_mb: float, fd_growth: int) -> list[str]:
        problems = list(self.stats.failures) + [f"render: {r}" for r in self.stats.renders_failed]
        if self.stats.completed == 0:
            problems.append("no request completed")
        first, last = self.samples[0], self.samples[-1]
        for name in first.rss:
            if last.rss[name] - first.rss[name] > rss_growth_mb:
                problems.append(f"{name} RSS grew {first.rss[name]:.0f} -> {last.rss[name]:.0f} MB")
            if last.fds[name] - first.fds[name] > fd_growth:
                problems.append(f"{name} descriptors grew {first.fds[name]} -> {last.fds[name]}")
        if self.recover_s is None:
            problems.append("latency did not return to its baseline after the load")
        return problems


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] if ordered else 0.0


def run_soak(
    base_url: str,
    admin_key: str,
    pids: dict[str, int],
    seconds: float,
    listeners: int = 8,
    recover_within_s: float = 120,
) -> Report:
    people, renderer = make_listeners(base_url, admin_key, listeners)
    for person in people:  # alone, before the load: each listener's reference audio (cached)
        person.fetch_reference()
    probe = people[0].client
    baseline = median_latency(probe, lambda n: f"Before the load, probe {n}. {SENTENCES[0]}")
    stats, stop = Stats(), threading.Event()
    started = time.monotonic()
    sampler = Sampler(pids, started, stop)
    sampler.sample()
    deadline = started + seconds
    threads = [threading.Thread(target=p.run, args=(deadline, stats)) for p in people]
    threads.append(threading.Thread(target=render_loop, args=(renderer, deadline, stats)))
    sampler.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sampler.sample()
    recover = time_to_recover(probe, baseline, recover_within_s)
    stop.set()
    sampler.join()
    for client in [p.client for p in people] + [renderer]:
        client.close()
    settle(sampler)
    return Report(seconds, listeners, stats, sampler.samples, baseline, recover)


def settle(sampler: Sampler, within_s: float = 10.0) -> None:
    """The last sample, once the services have closed the connections the clients closed."""
    deadline = time.monotonic() + within_s
    first = sampler.samples[0]
    while True:
        sampler.sample()
        last = sampler.samples[-1]
        if all(last.fds[n] <= first.fds[n] + 2 for n in last.fds) or time.monotonic() > deadline:
            return
        time.sleep(0.2)


def time_to_recover(client: httpx.Client, baseline: float, within_s: float) -> float | None:
    """Seconds after the load until a fresh request is as fast as before it (1.5x + 0.2 s)."""
    ended = time.monotonic()
    n = 0
    while time.monotonic() - ended < within_s:
        n += 1
        status, _, _, _, total = timed_tts(client, f"After the load, probe {n}. {SENTENCES[0]}")
        if status == 200 and total <= 1.5 * baseline + 0.2:
            return time.monotonic() - ended
    return None


def print_report(report: Report) -> None:
    s = report.stats
    print(
        f"soak: {report.listeners} listeners ({VOICE}, pcm_24000) + a render job for "
        f"{report.seconds:.0f} s"
    )
    print(
        f"requests: {s.completed} completed ({s.hits} cache hits), {s.refused} refused with 429, "
        f"{len(s.failures)} failed; render jobs: {s.renders_done} done, "
        f"{len(s.renders_failed)} failed"
    )
    print(
        f"latency: first byte p50 {percentile(s.first_byte, 0.5):.2f} s, p95 "
        f"{percentile(s.first_byte, 0.95):.2f} s; "
        f"whole stream p50 {percentile(s.whole, 0.5):.2f} s, "
        f"p95 {percentile(s.whole, 0.95):.2f} s (alone before the load: {report.baseline_s:.2f} s)"
    )
    names = list(report.samples[0].rss)
    print("t (s)  " + "  ".join(f"{n} RSS MB / fds" for n in names))
    step = max(1, len(report.samples) // 10)
    for sample in report.samples[::step] + report.samples[-1:]:
        print(
            f"{sample.at:6.0f}  "
            + "  ".join(f"{sample.rss[n]:>10.0f} / {sample.fds[n]:<4d}" for n in names)
        )
    for n in names:
        rss = [x.rss[n] for x in report.samples]
        fds = [x.fds[n] for x in report.samples]
        print(
            f"{n}: RSS start {rss[0]:.0f} MB, end {rss[-1]:.0f} MB, max {max(rss):.0f} MB; "
            f"fds start {fds[0]}, end {fds[-1]}, max {max(fds)}"
        )
    recover = (
        f"{report.recover_s:.1f} s" if report.recover_s is not None else "not within the limit"
    )
    print(f"time to recover (a fresh request as fast as before the load): {recover}")
    for failure in (s.failures + s.renders_failed)[:20]:
        print(f"FAILED: {failure}")


# --- `make soak`: both services through the supervisor -------------------------------------


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_services(
    data_dir: Path, log_path: Path, **extra_env: str
) -> tuple[subprocess.Popen, str, str, dict[str, int]]:
    app_port, ai_port = free_port(), free_port()
    admin_key = "ov_soak_" + uuid.uuid4().hex
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OWNVOICE_", "ELEVENLABS_"))}
    env.update(
        OWNVOICE_DEMO_MODEL="tiny",
        COQUI_TOS_AGREED="1",
        OWNVOICE_ADMIN_API_KEY=admin_key,
        OWNVOICE_ADMIN_PASSWORD=PASSWORD,
        OMP_NUM_THREADS=env.get("OMP_NUM_THREADS", "1"),
        **extra_env,
    )
    with log_path.open("wb") as log:
        supervisor = subprocess.Popen(
            [
                sys.executable,
                str(REPO / "scripts" / "start.py"),
                "--skip-install",
                "--host",
                "127.0.0.1",
                "--data-dir",
                str(data_dir),
                "--app-port",
                str(app_port),
                "--inference-port",
                str(ai_port),
            ],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{app_port}"
    deadline = time.monotonic() + 600
    headers = {"Authorization": f"Bearer {admin_key}"}
    while time.monotonic() < deadline:
        if supervisor.poll() is not None:
            raise RuntimeError(f"scripts/start.py exited:\n{log_path.read_text()[-3000:]}")
        try:
            health = httpx.get(f"{base_url}/api/health", headers=headers, timeout=5).json()
            if health.get("inference", {}).get("ready"):
                break
        except httpx.HTTPError:
            pass
        time.sleep(1)
    else:
        raise RuntimeError("the services were not ready within 600 s")
    pids = {}
    for child in children(supervisor.pid):
        cmdline = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
        pids["inference" if b"ownvoice_ai" in cmdline else "app"] = child
    return supervisor, base_url, admin_key, pids


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("SOAK_SECONDS", 300)))
    parser.add_argument("--listeners", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ownvoice-soak-") as work:
        log_path = Path(work) / "services.log"
        supervisor, base_url, admin_key, pids = start_services(Path(work) / "data", log_path)
        try:
            report = run_soak(base_url, admin_key, pids, args.seconds, args.listeners)
        finally:
            supervisor.send_signal(signal.SIGINT)
            supervisor.wait(timeout=60)
        print_report(report)
        problems = report.problems(rss_growth_mb=100, fd_growth=16)
        for problem in problems:
            print(f"soak: {problem}", file=sys.stderr)
        return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
