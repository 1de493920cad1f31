"""The windowed frame arithmetic matches torch's interpolation chain exactly (property-based)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ownvoice_ai.engines.xtts_vocoder import FramePlan

MEL_FACTOR = 1024 / 256
RATE_FACTOR = 24000 / 22050


def reference_frames(latents: torch.Tensor, length_scale: float) -> torch.Tensor:
    """XTTS's path: optional speed interpolation, then HifiDecoder's two interpolations. [frames, d]."""
    x = latents.T.unsqueeze(0)
    if length_scale != 1.0:
        x = F.interpolate(x, scale_factor=length_scale, mode="linear")
    x = F.interpolate(x, scale_factor=[MEL_FACTOR], mode="linear")
    x = F.interpolate(x, scale_factor=[RATE_FACTOR], mode="linear")
    return x[0].T


def plan_for(length_scale: float) -> FramePlan:
    factors = [MEL_FACTOR, RATE_FACTOR]
    return FramePlan(([length_scale] if length_scale != 1.0 else []) + factors)


speeds = st.sampled_from([1.0, 1 / 0.5, 1 / 0.8, 1 / 1.3, 1 / 2.0, 1 / 0.99, 1 / 1.01])


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 120), speed=speeds, data=st.data())
def test_any_window_equals_the_full_interpolation(n, speed, data):
    latents = torch.randn(n, 6, generator=torch.Generator().manual_seed(n))
    plan = plan_for(speed)
    plan.resize(n)
    assume(plan.n_frames > 0 and min(plan.sizes) > 0)  # torch cannot interpolate to zero frames
    full = reference_frames(latents, speed)
    assert plan.n_frames == full.shape[0]
    start = data.draw(st.integers(0, plan.n_frames - 1))
    stop = data.draw(st.integers(start + 1, plan.n_frames))
    assert torch.allclose(plan.frames(latents, start, stop), full[start:stop], atol=1e-5)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 100), more=st.integers(1, 40), speed=speeds)
def test_stable_frames_never_change_as_latents_arrive(n, more, speed):
    latents = torch.randn(n + more, 6, generator=torch.Generator().manual_seed(n + more))
    plan = plan_for(speed)
    plan.resize(n)
    assume(min(plan.sizes) > 0)
    stable = plan.stable_frames()
    assert 0 <= stable <= plan.n_frames
    if stable:
        now = reference_frames(latents[:n], speed)[:stable]
        later = reference_frames(latents, speed)[:stable]
        assert torch.allclose(now, later, atol=1e-6)
    if n >= 8 and speed == 1.0:
        assert stable >= plan.n_frames - 12  # only the edge waits for more latents
