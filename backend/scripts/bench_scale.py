"""Scaling: 1, 2 and 4 inference replicas on Ray Serve render the same 64 sentences.

`make bench-scale` starts Ownvoice the way users do with replicas (scripts/start.py with
OWNVOICE_INFERENCE=ray, a fresh temporary data directory, loopback ports) once per replica
count, on a simulated XTTS (OWNVOICE_SIMULATE_TOKEN_S): every audio token costs a fixed time
asleep and no CPU, a batch's rows share a step as on a GPU (ai-service engines/simulated.py). So
what is measured is the scheduling (Ray's router, each replica's worker, the app server keeping
one batch in flight per replica), not this machine's cores. A user with a cloned voice renders
a 64-sentence book; the job's own start and finish times give its duration. One line per count:

    replicas=N speedup=X.XXx

(the 1-replica time over the N-replica time). Exit code 1 when a render fails.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

import httpx
from soak import PASSWORD, REPO, start_services

VOICE_WAV = REPO / ".." / "shared" / "data" / "speech" / "ljspeech" / "LJ001-0001.wav"
SENTENCES = 64
BOOK = " ".join(f"Sentence {n} of the scaling run is read aloud." for n in range(SENTENCES))


def render_seconds(base_url: str, admin_key: str) -> float:
    """A fresh user with a cloned voice renders the book: the job's duration, in seconds."""
    name = f"scale-{uuid.uuid4().hex[:6]}"
    with httpx.Client(
        base_url=base_url, headers={"Authorization": f"Bearer {admin_key}"}, timeout=60
    ) as admin:
        admin.post("/api/users", json={"username": name, "password": PASSWORD}).raise_for_status()
    with httpx.Client(base_url=base_url, timeout=httpx.Timeout(300, connect=10)) as client:
        client.post(
            "/api/auth/login", json={"username": name, "password": PASSWORD}
        ).raise_for_status()
        client.post(
            "/api/voice/upload",
            data={"name": "Me", "language": "en", "consent": "attested"},
            files={"audio": ("me.wav", VOICE_WAV.read_bytes(), "audio/wav")},
        ).raise_for_status()
        book = client.post("/api/books", json={"title": "Scale", "text": BOOK, "language": "en"})
        book.raise_for_status()
        job = client.post(
            f"/api/books/{book.json()['id']}/renders",
            json={"voiceId": "custom_user_voice", "speed": 1.0},
        )
        job.raise_for_status()
        deadline = time.monotonic() + 1800
        while (state := client.get(f"/api/renders/{job.json()['id']}").json())["status"] in (
            "queued",
            "running",
        ):
            if time.monotonic() > deadline:
                raise RuntimeError("the render did not finish within 30 minutes")
            time.sleep(0.2)
    if state["status"] != "done" or state["done"] != SENTENCES:
        raise RuntimeError(f"the render ended {state['status']}: {state.get('error')}")
    started = datetime.fromisoformat(state["started_at"])
    return (datetime.fromisoformat(state["finished_at"]) - started).total_seconds()


def run_with(replicas: int, token_s: float, tokens: int) -> float:
    with tempfile.TemporaryDirectory(prefix="ownvoice-scale-") as work:
        log_path = Path(work) / "services.log"
        supervisor, base_url, admin_key, _ = start_services(
            Path(work) / "data",
            log_path,
            OWNVOICE_INFERENCE="ray",
            OWNVOICE_RAY_REPLICAS=str(replicas),
            OWNVOICE_SIMULATE_TOKEN_S=str(token_s),
            OWNVOICE_XTTS_FIXED_TOKENS=str(tokens),
            OWNVOICE_VERIFY="off",
            OWNVOICE_LOAD_PIPER="0",
            OWNVOICE_TORCH_THREADS="1",
            OWNVOICE_XTTS_PRECISION="fp32",
        )
        try:
            return render_seconds(base_url, admin_key)
        except Exception:
            print(log_path.read_text(errors="replace")[-4000:], file=sys.stderr)
            raise
        finally:
            supervisor.send_signal(signal.SIGINT)
            supervisor.wait(timeout=180)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", default="1,2,4")
    # About a GPU's pace: a batch of 8 sentences of 200 tokens (8 s of speech each) at 25 ms a
    # step takes 5 s, as XTTS v2 batched on a consumer GPU does.
    parser.add_argument("--token-s", type=float, default=0.025, help="simulated seconds per step")
    parser.add_argument("--tokens", type=int, default=200, help="audio tokens per sentence")
    args = parser.parse_args()
    base: float | None = None
    for replicas in (int(n) for n in args.replicas.split(",")):
        try:
            seconds = run_with(replicas, args.token_s, args.tokens)
        except RuntimeError as error:
            print(f"replicas={replicas} failed: {error}", file=sys.stderr)
            return 1
        base = base or seconds
        print(f"replicas={replicas} speedup={base / seconds:.2f}x", flush=True)
        print(f"  ({replicas} replica(s): {seconds:.1f} s)", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
