"""A short soak (scripts/soak.py; `make soak` runs it for 5 minutes): 8 listeners streaming
the stock Piper voice plus a render job for 20 s against the real app server and the shared
inference service. Every stream completes or is refused with 429, no audio mixes between
streams, memory and descriptors stay flat, and the latency comes back to its level before the
load."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from servers import ADMIN_API_KEY, AppServer, InferenceServer

from scripts.soak import print_report, run_soak

SOAK_SECONDS = 20
LISTENERS = 8


@pytest.fixture(scope="module")
def soak_server(app_on_inference: Callable[..., AppServer]) -> AppServer:
    return app_on_inference("soak")


def test_a_short_soak_holds(soak_server: AppServer, inference: InferenceServer) -> None:
    pids = {"app": soak_server.process.proc.pid, "inference": inference.process.proc.pid}  # type: ignore[union-attr]
    report = run_soak(
        soak_server.url, ADMIN_API_KEY, pids, SOAK_SECONDS, LISTENERS, recover_within_s=60
    )
    print_report(report)
    assert report.stats.completed >= LISTENERS
    assert report.problems(rss_growth_mb=100, fd_growth=16) == []
