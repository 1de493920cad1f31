"""OWNVOICE_XTTS_PRECISION: auto measures fp32 at load and takes int8 where it is slower than real
time; fp32/int8 override. The measured speed comes from an injected clock, not this machine."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from ownvoice_ai.config import Settings
from ownvoice_ai.engines.precision import REAL_TIME_MS_PER_TOKEN, SpeedSample, choose_precision
from ownvoice_ai.engines.xtts import SPEED_TEST_TIMED
from tests.conftest import AUTH, make_settings


class TickingClock:
    """Each reading is `step_s` later than the one before: one reading per token is measured as
    `step_s` per token for the GPT, and the vocoder's two readings as `step_s` over the tokens."""

    def __init__(self, step_s: float) -> None:
        self.step_s = step_s
        self.now = 0.0

    def __call__(self) -> float:
        self.now += self.step_s
        return self.now


def measured_ms(step_s: float) -> float:
    return step_s * 1000 + step_s * 1000 / SPEED_TEST_TIMED


def never_measured() -> SpeedSample:
    raise AssertionError("the speed was measured although the precision was given")


def test_auto_takes_int8_when_fp32_is_slower_than_real_time():
    choice = choose_precision("auto", "cpu", lambda: SpeedSample(110.0, 20.0))
    assert choice.chosen == "int8" and choice.measured_ms_per_token == 130.0
    assert (
        "fp32 130 ms/token (GPT 110 + vocoder 20) > 46 ms/token needed for real time"
        in choice.reason
    )


def test_auto_keeps_fp32_when_it_keeps_real_time():
    choice = choose_precision("auto", "cpu", lambda: SpeedSample(30.0, 10.0))
    assert choice.chosen == "fp32" and choice.measured_ms_per_token == 40.0
    assert "<= 46 ms/token" in choice.reason


def test_the_setting_overrides_without_measuring():
    assert choose_precision("fp32", "cpu", never_measured).chosen == "fp32"
    assert choose_precision("int8", "cpu", never_measured).chosen == "int8"


def test_int8_is_a_cpu_path_only():
    for requested in ("auto", "int8"):
        choice = choose_precision(requested, "cuda", never_measured)
        assert choice.chosen == "fp32" and "CPUs only" in choice.reason


def test_the_environment_variable_sets_it(monkeypatch):
    assert Settings().xtts_precision == "auto"
    monkeypatch.setenv("OWNVOICE_XTTS_PRECISION", "int8")
    assert Settings().xtts_precision == "int8"
    monkeypatch.setenv("OWNVOICE_XTTS_PRECISION", "fast")
    with pytest.raises(ValidationError):
        Settings()


@pytest.fixture
def app_with_clock(tiny_checkpoint, tmp_path):
    """The real app (lifespan, tiny model) whose load-time speed measurement reads `clock`."""
    from ownvoice_ai.main import create_app

    clients = []

    def start(clock, **overrides) -> TestClient:
        settings = make_settings(tmp_path / f"data{len(clients)}", **overrides)
        client = TestClient(create_app(settings, clock=clock))
        client.__enter__()
        clients.append(client)
        return client

    yield start
    for client in clients:
        client.__exit__(None, None, None)


def test_ready_says_auto_took_int8_on_a_cpu_slower_than_real_time(app_with_clock):
    slow = 0.110  # 110 ms per token, like fp32 on a 2-core AVX2 laptop
    client = app_with_clock(TickingClock(slow), xtts_precision="auto")
    ready = client.get("/ready", headers=AUTH).json()
    precision = ready["precision"]
    assert precision["chosen"] == "int8"
    assert precision["measured_ms_per_token"] == pytest.approx(measured_ms(slow))
    assert precision["needed_ms_per_token"] == pytest.approx(REAL_TIME_MS_PER_TOKEN)
    assert "needed for real time" in precision["reason"]
    assert ready["engines"]["xtts"]["int8"] is True
    assert client.app.state.services.xtts.tuning.overlap_vocoder


def test_ready_says_auto_kept_fp32_on_a_cpu_fast_enough(app_with_clock):
    fast = 0.010
    client = app_with_clock(TickingClock(fast), xtts_precision="auto")
    precision = client.get("/ready", headers=AUTH).json()["precision"]
    assert precision["chosen"] == "fp32"
    assert precision["measured_ms_per_token"] == pytest.approx(measured_ms(fast))
    assert client.get("/ready", headers=AUTH).json()["engines"]["xtts"]["int8"] is False


def test_ready_says_fp32_was_set_even_where_auto_would_take_int8(app_with_clock):
    client = app_with_clock(TickingClock(0.110), xtts_precision="fp32")
    ready = client.get("/ready", headers=AUTH).json()
    assert ready["precision"]["chosen"] == "fp32"
    assert ready["precision"]["measured_ms_per_token"] is None
    assert "OWNVOICE_XTTS_PRECISION=fp32" in ready["precision"]["reason"]
    assert ready["engines"]["xtts"]["int8"] is False
