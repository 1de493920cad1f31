"""Inference replicas on Ray Serve (README, "Scaling"): the real launcher (`python -m
ownvoice_ai.serve`, what `OWNVOICE_INFERENCE=ray make start` runs) starts a local Ray cluster
with two CPU replicas of the tiny model; the real app server uses it through one URL.

One cluster for the module (starting it takes a minute or two on a busy 2-core machine). Each
answer names its replica (X-Ownvoice-Replica), which is how these tests see where work went."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from conftest import create_user_with_voice
from servers import AppServer, InferenceServer, start_app_on, start_inference
from test_renders import import_book, render, tts, unique, wait_for

REPLICA = "x-ownvoice-replica"
# about 60 chunks: a minute of generation, more while streams take turns
LONG_TEXT = " ".join(f"Sentence {n} of a long passage read aloud." for n in range(400))


@pytest.fixture(scope="module")
def ray_inference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InferenceServer]:
    # queue_size 1: two jobs per replica at most, so that four streams fill both
    server = start_inference(
        tmp_path_factory.mktemp("ray") / "data",
        timeout=600,
        ray_replicas=2,
        OWNVOICE_QUEUE_SIZE="1",
        OWNVOICE_TORCH_THREADS="1",
        OWNVOICE_LOAD_PIPER="0",
        OWNVOICE_XTTS_PRECISION="fp32",  # no speed measurement at load
        # Generation sleeps 20 ms per audio token (engines/simulated.py) instead of computing:
        # on a shared 2-core machine the real decode's pace varies tenfold, and these tests are
        # about Ray (routing, streaming, restarts), not the model, which loads and conditions
        # voices for real. So a long text streams for a predictable while and no stall limit trips.
        OWNVOICE_SIMULATE_TOKEN_S="0.02",
        OWNVOICE_XTTS_FIXED_TOKENS="48",  # about 1 s a chunk
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def app(
    ray_inference: InferenceServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AppServer]:
    server = start_app_on(
        ray_inference, tmp_path_factory.mktemp("app") / "data", OWNVOICE_RENDER_BATCH_SIZE="2"
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def listener(app: AppServer) -> Iterator[httpx.Client]:
    client = create_user_with_voice(app, unique("listener"))
    yield client
    client.close()


@pytest.fixture(scope="module")
def voice_id(listener: httpx.Client) -> str:
    return listener.get("/api/voices").json()["default_voice_id"]


def auth(server: InferenceServer) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.token}"}


def workers(server: InferenceServer, count: int = 2, timeout: float = 300) -> dict[str, dict]:
    """/ready's worker of `count` distinct replicas, by replica id: /ready goes to whichever
    replica Ray picks, so ask until that many have answered (a deadline bounds a failure)."""
    seen: dict[str, dict] = {}
    deadline = time.monotonic() + timeout
    while len(seen) < count:
        assert time.monotonic() < deadline, f"only replicas {list(seen)} answered"
        try:
            response = httpx.get(f"{server.url}/ready", headers=auth(server), timeout=10)
        except httpx.TransportError:
            continue
        if response.status_code == 200:
            seen[response.headers[REPLICA]] = response.json()["worker"]
    return seen


def open_stream(client: httpx.Client, server: InferenceServer, voice: str, text: str):
    request = client.build_request(
        "POST", f"{server.url}/generate", json={"text": text, "voice_id": voice}
    )
    return client.send(request, stream=True)


@dataclass
class Stream:
    response: httpx.Response
    chunks: Iterator[bytes]

    @property
    def replica(self) -> str:
        return self.response.headers[REPLICA]

    def close(self) -> None:
        self.response.close()


def streams_on_every_replica(
    client: httpx.Client, server: InferenceServer, voice: str, per_replica: int, text: str
) -> tuple[list[Stream], int]:
    """Long streams, `per_replica` on each of the two replicas, each with audio flowing. Ray
    picks the replica; one that is full answers 429, and then the stream is asked for again.
    Also how many streams were closed at once (a replica with its share already got it)."""
    extra, refused = 0, 0
    opened: dict[str, list[Stream]] = {}
    # A deadline for a failing test only: on a loaded 2-core machine (the other test lane in
    # Chromium beside two replicas) filling both once took longer than 120 s.
    deadline = time.monotonic() + 300
    while sum(len(streams) for streams in opened.values()) < 2 * per_replica:
        assert time.monotonic() < deadline, (
            f"could not fill both replicas: open { ({r: len(s) for r, s in opened.items()}) }, "
            f"{refused} refused with 429, {extra} closed as extra; workers {workers(server, timeout=30)}"
        )
        response = open_stream(client, server, voice, text)
        if response.status_code == 429:
            response.close()
            refused += 1
            continue
        assert response.status_code == 200, response.read()
        on_replica = opened.setdefault(response.headers[REPLICA], [])
        if len(on_replica) == per_replica:  # that one has its share already
            response.close()
            extra += 1
            continue
        chunks = response.iter_raw()  # kept: a dropped iterator closes its response
        next(chunks)  # audio is flowing
        on_replica.append(Stream(response, chunks))
    assert len(opened) == 2
    return [stream for streams in opened.values() for stream in streams], extra


def test_both_replicas_serve_and_say_so(ray_inference: InferenceServer) -> None:
    ready = httpx.get(f"{ray_inference.url}/ready", headers=auth(ray_inference), timeout=10)
    assert ready.status_code == 200 and ready.json()["replicas"] == 2
    assert len(workers(ray_inference)) == 2
    # the bearer token is still required through Ray's proxy
    assert httpx.get(f"{ray_inference.url}/ready", timeout=10).status_code == 401


def test_a_render_job_spreads_across_both_replicas_and_tts_names_its_replica(
    listener: httpx.Client, ray_inference: InferenceServer, voice_id: str
) -> None:
    before = workers(ray_inference)
    text = " ".join(f"Line {n} of the chapter is here." for n in range(12))
    book = import_book(listener, text, "Spread")
    created = render(listener, book, voiceId="custom_user_voice", speed=1.0)
    assert created.status_code == 202, created.text
    job = wait_for(listener, created.json()["id"])
    assert (job["status"], job["done"]) == ("done", 12), job
    after = workers(ray_inference)
    assert set(after) == set(before)
    # six batches of two, two at a time: both replicas rendered some
    for replica in after:
        assert after[replica]["completed"] > before[replica]["completed"], (before, after)

    spoken = tts(listener, "A sentence nobody rendered ahead.", "custom_user_voice", 1.0)
    assert spoken.status_code == 200 and spoken.headers["x-cache"] == "miss"
    assert spoken.headers[REPLICA] in after
    cached = tts(listener, "Line 3 of the chapter is here.", "custom_user_voice", 1.0)
    assert cached.headers["x-cache"] == "hit" and REPLICA not in cached.headers


def idle_workers(server: InferenceServer, quiet_s: float = 3.0, timeout: float = 180) -> dict:
    """`workers` once no replica has had a job running or waiting for `quiet_s`. The app server
    hears the last test's live sentence after it was spoken (heard_speech.LiveChecker: POST
    /verify, then a batch re-render of a take that fails), and such a batch waiting behind this
    test's long streams would hold a slot that this test counts on."""
    deadline = time.monotonic() + timeout
    quiet_since = None
    while True:
        now = workers(server)
        if any(w["in_flight"] for w in now.values()):
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= quiet_s:
            return now
        assert time.monotonic() < deadline, f"replicas still busy: {now}"
        time.sleep(0.2)


def test_a_full_cluster_answers_429_and_a_closed_stream_is_cancelled(
    ray_inference: InferenceServer, voice_id: str
) -> None:
    before = idle_workers(ray_inference)
    with httpx.Client(headers=auth(ray_inference), timeout=120) as client:
        streams, extra = streams_on_every_replica(client, ray_inference, voice_id, 2, LONG_TEXT)
        refused = client.post(
            f"{ray_inference.url}/generate", json={"text": "Me too.", "voice_id": voice_id}
        )
        assert refused.status_code == 429, refused.text
        assert refused.headers["Retry-After"].isdigit()
        assert refused.json()["detail"]["code"] == "busy"
        for stream in streams:
            stream.close()  # the client goes away: through Ray's proxy, the job is cancelled

    # Each closed stream counts one cancellation on its replica, exactly. (Its `completed` is no
    # measure here: the app server's word timing of the last test's sentence may still run.)
    def settled() -> bool:
        now = workers(ray_inference)
        return (
            all(not w["busy"] for w in now.values())
            and sum(w["cancelled"] for w in now.values())
            == sum(w["cancelled"] for w in before.values()) + 4
        )

    deadline = time.monotonic() + 120
    while not settled():
        assert time.monotonic() < deadline, workers(ray_inference)
        time.sleep(0.2)


# Ten sentences of 48 simulated tokens each: about ten seconds of generation per text, far longer
# than a listener's first chunk (8 tokens) takes when the worker lets it go first.
BATCH_TEXT = " ".join(f"Sentence {n} of a chapter rendered ahead." for n in range(10))


def test_a_listener_goes_before_the_batches_on_whichever_replica_takes_them(
    ray_inference: InferenceServer, voice_id: str
) -> None:
    """A book batch running on each replica, then a listener through Ray's proxy: the listener's
    first audio arrives before either batch ends (each replica's worker lets the listener go
    first between two batch steps; without that the listener would wait for a whole batch)."""
    ended: dict[str, float] = {}
    opened: dict[str, httpx.Response] = {}
    readers = []
    with httpx.Client(headers=auth(ray_inference), timeout=300) as client:

        def read_to_the_end(replica: str, lines: Iterator[str]) -> None:
            try:
                for line in lines:
                    if '"type":"end"' in line or '"type":"error"' in line:
                        ended[replica] = time.monotonic()
                        return
            except (httpx.HTTPError, httpx.StreamError):  # closed by the test: still running
                return

        deadline = time.monotonic() + 120
        while len(opened) < 2:  # Ray picks the replica: ask again until each runs one batch
            assert time.monotonic() < deadline, f"batches only on {list(opened)}"
            request = client.build_request(
                "POST",
                f"{ray_inference.url}/generate/batch",
                json={"texts": [BATCH_TEXT, BATCH_TEXT], "voice_id": voice_id},
            )
            response = client.send(request, stream=True)
            if response.status_code == 429 or response.headers.get(REPLICA) in opened:
                response.close()
                continue
            assert response.status_code == 200, response.read()
            lines = response.iter_lines()
            assert '"type":"start"' in next(lines)
            opened[response.headers[REPLICA]] = response
            reader = threading.Thread(
                target=read_to_the_end, args=(response.headers[REPLICA], lines)
            )
            reader.start()
            readers.append(reader)
        try:
            with client.stream(
                "POST",
                f"{ray_inference.url}/generate",
                json={"text": "A listener arrives.", "voice_id": voice_id, "format": "pcm_24000"},
            ) as listening:
                assert listening.status_code == 200, listening.read()
                next(listening.iter_raw())
                first_audio = time.monotonic()
                assert listening.headers[REPLICA] in opened
        finally:
            for response in opened.values():
                response.close()
            for reader in readers:
                reader.join(timeout=60)
    # A batch still running when the test closed it is not in `ended`: it cannot have gone first.
    for replica, at in ended.items():
        assert first_audio < at, f"the batch on {replica} ended before the listener's first audio"


def replica_pids(launcher_pid: int) -> list[int]:
    """The replica processes under our launcher (never another cluster's)."""

    def parent(pid: int) -> int:
        with open(f"/proc/{pid}/stat") as stat:
            return int(stat.read().rsplit(")", 1)[1].split()[1])

    def ours(pid: int) -> bool:
        while pid > 1:
            if pid == launcher_pid:
                return True
            pid = parent(pid)
        return False

    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            if b"ServeReplica:ownvoice:inference" in cmdline and ours(int(entry)):
                found.append(int(entry))
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
    return found


def test_a_killed_replica_is_restarted_while_requests_go_on(
    ray_inference: InferenceServer, voice_id: str
) -> None:
    assert ray_inference.process.proc is not None
    pids = replica_pids(ray_inference.process.proc.pid)
    assert len(pids) == 2, pids
    original = set(workers(ray_inference))
    with httpx.Client(headers=auth(ray_inference), timeout=120) as client:
        # 33 sentences: about 33 s of streaming (a second a sentence), which the survivor
        # finishes while Ray starts the replacement
        streams, _ = streams_on_every_replica(client, ray_inference, voice_id, 1, LONG_TEXT[:1400])
        os.kill(pids[0], signal.SIGKILL)  # as the OOM killer would
        outcomes = {}
        for stream in streams:
            try:
                for _ in stream.chunks:
                    pass
                outcomes[stream.replica] = "complete"
            except httpx.HTTPError:  # cut off: the client can tell, it does not hang
                outcomes[stream.replica] = "failed"
            finally:
                stream.close()
        assert sorted(outcomes.values()) == ["complete", "failed"], outcomes
        killed = next(replica for replica, outcome in outcomes.items() if outcome == "failed")

        # Requests go on (the survivor serves them) until Ray has started a replacement.
        served: set[str] = set()
        deadline = time.monotonic() + 300
        while not served - original:
            assert time.monotonic() < deadline, f"no new replica; served by {served}"
            spoken = client.post(
                f"{ray_inference.url}/generate",
                json={"text": "Still here.", "voice_id": voice_id, "format": "pcm_24000"},
            )
            assert spoken.status_code == 200, spoken.text
            assert len(spoken.content) > 0
            served.add(spoken.headers[REPLICA])
        assert killed not in served


def test_a_render_keeps_two_batches_in_flight_per_replica(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """/ready says 2 replicas and OWNVOICE_RENDER_BATCHES_PER_REPLICA is 2: the app server sends
    a job's batches four at a time. One plain service that says so shows it: its worker holds
    four batches at once (one running, three waiting), never more."""
    inference = start_inference(
        tmp_path_factory.mktemp("two") / "data",
        OWNVOICE_REPLICAS="2",
        OWNVOICE_SIMULATE_TOKEN_S="0.05",  # 24 tokens: 1.2 s a batch, asleep
        OWNVOICE_LOAD_PIPER="0",
    )
    try:
        app = start_app_on(
            inference,
            tmp_path_factory.mktemp("two-app") / "data",
            OWNVOICE_RENDER_BATCH_SIZE="2",
            OWNVOICE_RENDER_BATCHES_PER_REPLICA="2",
        )
        try:
            client = create_user_with_voice(app, unique("pair"))
            text = " ".join(f"Pair {n} of the lines is here." for n in range(12))
            job = render(client, import_book(client, text, "Pairs"), voiceId="custom_user_voice")
            assert job.status_code == 202, job.text
            seen = set()
            deadline = time.monotonic() + 300
            while (state := client.get(f"/api/renders/{job.json()['id']}").json())["status"] in (
                "queued",
                "running",
            ):
                assert time.monotonic() < deadline, state
                worker = httpx.get(f"{inference.url}/ready", headers=auth(inference), timeout=10)
                seen.add(worker.json()["worker"]["in_flight"])
                time.sleep(0.05)
            assert (state["status"], state["done"]) == ("done", 12), state
            assert max(seen) == 4, seen
            client.close()
        finally:
            app.stop()
    finally:
        inference.stop()
