"""How many requests a streamed restore keeps in flight: found by measuring, not configured.

The restore cannot know how much the endpoint takes: the round trip (a few ms in-region,
100 ms across regions), what a new on-demand table accepts (about 4,000 writes/s until it
scales), and the client's own CPU all change it. So :class:`AdaptiveConcurrency` measures the
items written per second over windows of a few round trips and climbs the hill:

- it starts at ``start`` and doubles while each doubling raises the rate by at least
  ``gain`` (slow start); a step that does not is undone. From then on, every ``probe_every``
  quiet windows, it probes one step of ``probe_factor`` up, kept only if the rate rose with it,
  so the limit follows an endpoint that scales (DynamoDB on demand doubles its peak);
- it never probes down: at the knee, where fewer requests would still keep the endpoint
  busy, a busy shared machine's noise made the rate look unchanged a step below it, and
  probes down ratcheted the limit under the knee (measured: half raw's rate at 20 ms);
- any sign of pressure in a window (a throttled answer, a retried request, a round of
  unprocessed items) cuts the limit by ``backoff_factor`` at once: a throttled endpoint
  gains nothing from more requests, and waiting for its retries to clear costs time;
- it never exceeds ``cap`` (the plan's ``restore_workers``) nor drops below 1.

Pure: the caller feeds it each window's figures and applies the limit it returns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass
class AdaptiveConcurrency:
    """A limit on requests in flight, moved by the rate and pressure measured over each window."""

    cap: int
    start: int = 16
    gain: float = 0.05
    probe_factor: float = 1.25
    probe_every: int = 4
    backoff_factor: float = 0.7
    limit: int = field(init=False)
    _previous_limit: int = field(init=False, repr=False)
    _rate_before_step: float = field(init=False, default=0.0, repr=False)
    _stepped: bool = field(init=False, default=False, repr=False)  # the last window stepped up: judge it
    _slow_start: bool = field(init=False, default=True, repr=False)
    _quiet_windows: int = field(init=False, default=0, repr=False)

    def __post_init__(self) -> None:
        if self.cap < 1:
            raise ValueError("the cap on requests in flight must be at least 1")
        self.limit = max(1, min(self.cap, self.start))
        self._previous_limit = self.limit

    def observe(self, items_per_second: float, pressure: bool) -> int:
        """Take one window's rate and whether the endpoint pushed back in it; return the new limit."""
        if pressure:
            self._slow_start = False
            self._stepped = False
            self._quiet_windows = 0
            self._set(math.floor(self.limit * self.backoff_factor))
        elif self._stepped:
            self._judge_step(items_per_second)
        else:
            self._quiet_windows += 1
            if self._slow_start or self._quiet_windows >= self.probe_every:
                self._step_up(items_per_second)
        return self.limit

    def _judge_step(self, rate: float) -> None:
        self._stepped = False
        if rate >= self._rate_before_step * (1 + self.gain):
            if self._slow_start:
                self._step_up(rate)
            return
        # More requests did not bring more items: they would only wait at the endpoint.
        self._set(self._previous_limit)
        self._slow_start = False  # from now on, careful probes only

    def _step_up(self, rate: float) -> None:
        self._quiet_windows = 0
        factor = 2.0 if self._slow_start else self.probe_factor
        target = min(self.cap, max(self.limit + 1, math.floor(self.limit * factor)))
        if target == self.limit:
            self._slow_start = False
            return
        self._rate_before_step = rate
        self._stepped = True
        self._set(target)

    def _set(self, limit: int) -> None:
        self._previous_limit = self.limit
        self.limit = max(1, min(self.cap, limit))
