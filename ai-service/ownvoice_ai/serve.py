"""The inference service as a Ray Serve application: N replicas of the same FastAPI app.

Each replica is `create_app(Settings())` with its own engines and device worker, on one device:
one GPU (`num_gpus: 1`, Ray sets CUDA_VISIBLE_DEVICES) where the cluster has GPUs, else a share of
the CPU cores. Ray's proxy is the one URL the app server calls (`OWNVOICE_INFERENCE_URL`); its
router sends each request to the replica with the shortest queue, restarts a replica that dies,
and streams responses. Routes, the bearer token, 429 backpressure and the listener-first worker
are the app's own, unchanged: a replica refuses with 429 when its worker is full, and Ray never
queues in front of it (`max_ongoing_requests` is above the worker's capacity). Every answer says
which replica gave it (`X-Ownvoice-Replica`), and /ready says how many replicas there are, so the
app server keeps a render batch in flight per replica (OWNVOICE_RENDER_BATCHES_PER_REPLICA).

Config: ai-service/serve.yaml (a Ray Serve config file; `serve deploy serve.yaml` works on any
cluster). `python -m ownvoice_ai.serve` starts a local Ray head, runs that config with
`OWNVOICE_RAY_REPLICAS` replicas (default 2) on OWNVOICE_AI_HOST:OWNVOICE_AI_PORT, and stops
both on SIGTERM/SIGINT; further machines join with `ray start --address=HEAD:PORT`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from ray.serve.request_router import FIFOMixin, RequestRouter

REPLICA_HEADER = b"x-ownvoice-replica"
CONFIG_FILE = Path(__file__).resolve().parents[1] / "serve.yaml"
DEFAULT_REPLICAS = 2
APP_NAME = "ownvoice"
FORWARDED_ENV = ("OWNVOICE_", "XTTS_MODEL_DIR", "COQUI_TOS_AGREED", "OMP_")

logger = logging.getLogger("ownvoice_ai.serve")


class ReplicaHeader:
    """ASGI middleware: every HTTP answer carries `X-Ownvoice-Replica: <replica id>`. Plain ASGI
    (not BaseHTTPMiddleware), so streaming and disconnects pass through untouched."""

    def __init__(self, app: Any, replica_id: str) -> None:
        self.app = app
        self.replica_id = replica_id.encode()

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_id(message: dict) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), (REPLICA_HEADER, self.replica_id)]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_id)


class LeastLoadedRouter(FIFOMixin, RequestRouter):
    """Ray's request router, looking at every replica rather than two picked at random (Ray's
    default, "power of two choices"): a book's batches arrive together, and two random picks
    often put two on one replica while another idles. The shortest queue wins; among equals,
    a random one (the order is shuffled), so idle replicas share the light requests too."""

    async def choose_replicas(self, candidate_replicas, pending_request=None):
        return [random.sample(candidate_replicas, len(candidate_replicas))]


def replica_count(args: dict[str, Any] | None = None) -> int:
    """`replicas` from the config's args, else OWNVOICE_RAY_REPLICAS, else 2."""
    value = (
        (args or {}).get("replicas") or os.environ.get("OWNVOICE_RAY_REPLICAS") or DEFAULT_REPLICAS
    )
    count = int(value)
    if count < 1:
        raise ValueError(f"OWNVOICE_RAY_REPLICAS must be at least 1, not {count}")
    return count


def replica_options(replicas: int, gpus: float, cpus: float) -> dict[str, Any]:
    """Ray options of the deployment: one GPU per replica where there are GPUs, else CPU cores
    split evenly (each replica's torch uses its share: OWNVOICE_TORCH_THREADS)."""
    from .config import Settings

    settings = Settings()
    # The replicas' settings are this environment's, on every machine: a worker that joined with
    # a bare `ray start --address=...` has none of its own.
    env = {key: value for key, value in os.environ.items() if key.startswith(FORWARDED_ENV)}
    if gpus >= 1:
        actor: dict[str, Any] = {"num_gpus": 1, "num_cpus": 1}
        env.setdefault("OWNVOICE_DEVICE", "cuda")
    else:
        share = max(1, int(cpus) // replicas)
        actor = {"num_cpus": 0}  # CPU replicas share the cores; the thread count splits them
        env["OWNVOICE_DEVICE"] = "cpu"
        env.setdefault("OWNVOICE_TORCH_THREADS", str(share))
    env["OWNVOICE_REPLICAS"] = str(
        replicas
    )  # /ready says it: the app server sends that many batches
    actor["runtime_env"] = {"env_vars": env}
    return {
        "num_replicas": replicas,
        "ray_actor_options": actor,
        # above the worker's capacity: the replica answers 429 itself, Ray never queues in front
        "max_ongoing_requests": settings.queue_size + 1 + 8,
        # loading a model takes a while on a busy machine
        "health_check_timeout_s": 60,
        "request_router_config": {"request_router_class": LeastLoadedRouter},
    }


def _deployment() -> Any:
    from ray import serve

    from .config import Settings
    from .main import create_app

    @serve.deployment(name="inference", graceful_shutdown_timeout_s=5)
    @serve.ingress()
    class Inference:
        """One replica: the whole inference service (its lifespan loads the engines)."""

        def __init__(self) -> None:
            context = serve.get_replica_context()
            self.replica_id = context.replica_id.unique_id

        def __serve_build_asgi_app__(self) -> Any:
            app = create_app(Settings())
            app.add_middleware(ReplicaHeader, replica_id=self.replica_id)
            return app

    return Inference


def build(args: dict[str, Any] | None = None) -> Any:
    """Ray Serve application builder (serve.yaml's import_path): the deployment, sized to the
    cluster it runs on."""
    import ray

    replicas = replica_count(args)
    resources = ray.cluster_resources() if ray.is_initialized() else {}
    if not resources:
        ray.init(address="auto", ignore_reinit_error=True)
        resources = ray.cluster_resources()
    options = replica_options(replicas, resources.get("GPU", 0), resources.get("CPU", 1))
    return _deployment().options(**options).bind()


def load_config(path: Path = CONFIG_FILE) -> dict[str, Any]:
    import yaml

    return yaml.safe_load(path.read_text(encoding="utf-8"))


def run(host: str, port: int, config: dict[str, Any] | None = None) -> None:
    """Deploy the config's application on the connected cluster, Ray's proxy on host:port."""
    from ray import serve

    config = config or load_config()
    application = config["applications"][0]
    serve.start(http_options={**config.get("http_options", {}), "host": host, "port": port})
    serve.run(
        build(application.get("args")),
        name=application.get("name", APP_NAME),
        route_prefix=application.get("route_prefix", "/"),
        blocking=False,
    )


def ray_command() -> str:
    return str(Path(sys.executable).with_name("ray"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _die_with_parent() -> None:
    """In the child before exec: on Linux, SIGTERM it when the process that started it dies
    (even by SIGKILL), so that a Ray head never outlives its launcher."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class LocalHead:
    """A Ray head on this machine (`ray start --head --block`), its files in a temporary
    directory; `stop()` ends exactly the processes it started (its own process group)."""

    def __init__(
        self,
        port: int,
        node_ip: str = "127.0.0.1",
        num_cpus: int | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.port = port
        self.node_ip = node_ip
        # short: Ray's socket paths live under it and must stay below 108 characters
        self.temp_dir = Path(tempfile.mkdtemp(prefix="ovray-", dir="/tmp"))
        argv = [
            ray_command(),
            "start",
            "--head",
            "--block",
            f"--port={port}",
            f"--node-ip-address={node_ip}",
            f"--temp-dir={self.temp_dir}",
            "--include-dashboard=false",
            "--disable-usage-stats",
            # free ports, not Ray's fixed defaults: two clusters on one machine must not collide
            f"--ray-client-server-port={free_port()}",
            f"--dashboard-agent-listen-port={free_port()}",
            f"--dashboard-agent-grpc-port={free_port()}",
            "--min-worker-port=0",
            "--max-worker-port=0",
            *([f"--num-cpus={num_cpus}"] if num_cpus is not None else []),
        ]
        self.log = self.temp_dir / "ray-start.log"
        self.process = subprocess.Popen(
            argv,
            env={**os.environ, **(env or {})},
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )

    @property
    def address(self) -> str:
        return f"{self.node_ip}:{self.port}"

    def connect(self, timeout_s: float = 120.0) -> None:
        """ray.init against this head once it answers (a deadline, not a guess)."""
        import ray

        deadline = time.monotonic() + timeout_s
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"ray start exited: {self.log.read_text()[-2000:]}")
            try:
                with socket.create_connection((self.node_ip, self.port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"Ray head not up after {timeout_s:g} s") from None
                time.sleep(0.2)
        ray.init(address=self.address, log_to_driver=False)

    def stop(self, wait_s: float = 10.0) -> None:
        """SIGTERM (`ray start --block` then stops its processes, after trying to drain the
        node for up to 30 s), then SIGKILL to the whole group: nothing in it is durable."""
        import ray

        ray.shutdown()
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(wait_s)
        with contextlib.suppress(ProcessLookupError):  # helpers left in the group, if any
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        shutil.rmtree(self.temp_dir, ignore_errors=True)


def main() -> int:
    """`python -m ownvoice_ai.serve`: a Ray head on this machine, the application on it, until
    SIGTERM or SIGINT; then both stop."""
    from .config import Settings

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = Settings()
    ray_port = int(os.environ.get("OWNVOICE_RAY_PORT", "6379"))
    # 0.0.0.0-reachable when other machines join: OWNVOICE_RAY_NODE_IP=<this machine's IP>
    head = LocalHead(ray_port, os.environ.get("OWNVOICE_RAY_NODE_IP", "127.0.0.1"))
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    try:
        head.connect()
        run(settings.host, settings.port)
        logger.info(
            "inference on Ray Serve at http://%s:%s; more machines join with: "
            "ray start --address=%s",
            settings.host,
            settings.port,
            head.address,
        )
        stop.wait()
    finally:  # stopping the cluster stops Serve with it
        head.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
