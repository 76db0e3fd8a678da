"""The restore's requests in flight: found from the measured rate, cut on pressure, within the cap."""

from __future__ import annotations

import pytest

from dr_drill.core.restore.concurrency import AdaptiveConcurrency


def _run(controller, endpoint, windows=60):
    """Feed the controller ``windows`` windows of ``endpoint(limit) -> (rate, pressure)``; the limits it chose."""
    limits = []
    for _ in range(windows):
        rate, pressure = endpoint(controller.limit)
        limits.append(controller.observe(rate, pressure))
    return limits


def _saturating(knee, per_request=100.0):
    """An endpoint whose rate grows with the requests in flight up to ``knee``, then stays flat."""
    return lambda limit: (min(limit, knee) * per_request, False)


@pytest.mark.parametrize(
    ("knee", "cap"),
    [
        pytest.param(4, 64, id="short-round-trip"),
        pytest.param(40, 64, id="20ms-like"),
        pytest.param(200, 64, id="more-than-the-cap"),
    ],
)
def test_it_reaches_the_endpoints_rate_without_running_away(knee, cap):
    controller = AdaptiveConcurrency(cap=cap)
    limits = _run(controller, _saturating(knee))
    assert max(limits) <= cap
    settled = limits[-20:]
    # The endpoint's best rate at every window, and no more requests than a doubling past
    # the knee (or the start) needed to show that they bring nothing, but for one probe.
    assert all(min(limit, knee) >= min(knee, cap) for limit in settled)
    assert max(settled) <= controller.probe_factor * max(controller.start, min(cap, 2 * knee)) + 1


def test_throttling_cuts_the_limit_and_it_stays_near_what_the_endpoint_accepts():
    accepted = 24

    def throttling(limit):
        return min(limit, accepted) * 100.0, limit > accepted

    controller = AdaptiveConcurrency(cap=64)
    limits = _run(controller, throttling, windows=80)
    over = [limit for limit in limits[-40:] if limit > accepted]
    # Probing past the limit is how it notices the endpoint scaled; it happens, but seldom.
    assert len(over) <= 40 // controller.probe_every
    mean_rate = sum(min(limit, accepted) for limit in limits[-40:]) / 40
    assert mean_rate >= 0.75 * accepted


def test_it_follows_an_endpoint_that_scales_up():
    capacity = [8]

    def scaling(limit):
        return min(limit, capacity[0]) * 100.0, limit > capacity[0]

    controller = AdaptiveConcurrency(cap=64)
    _run(controller, scaling, windows=30)
    capacity[0] = 32  # the table doubled its peak, twice
    limits = _run(controller, scaling, windows=80)
    assert max(limits[-10:]) >= 0.8 * 32


def test_the_cap_bounds_it_from_the_start():
    assert AdaptiveConcurrency(cap=3).limit == 3
    assert AdaptiveConcurrency(cap=1).observe(1e6, pressure=False) == 1
    with pytest.raises(ValueError, match="at least 1"):
        AdaptiveConcurrency(cap=0)


def test_pressure_never_takes_it_below_one():
    controller = AdaptiveConcurrency(cap=8)
    assert _run(controller, lambda limit: (0.0, True), windows=20)[-1] == 1
