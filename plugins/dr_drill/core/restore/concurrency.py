"""How many requests a streamed restore keeps in flight: found by measuring, not configured.

The restore cannot know how much the endpoint takes: the round trip (a few ms in-region,
100 ms across regions), what a new on-demand table accepts (about 4,000 writes/s until it
scales), and the client's own CPU all change it. So :class:`AdaptiveConcurrency` measures the
items written per second over windows of a few round trips and climbs the hill:

- it starts at ``start`` and doubles while each doubling raises the rate by at least
  ``gain`` (slow start); a step that does not is undone. From then on, every ``probe_every``
  quiet windows, it probes one step of ``probe_factor``, up and down in turn: up is kept if
  the rate rose with it (so the limit follows an endpoint that scales, as DynamoDB on demand
  doubles its peak), down if the rate held (requests beyond the knee only wait in a queue);
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
    _step: int = field(init=False, default=0, repr=False)  # +1 / -1: the last probe, judged next window
    _probes: int = field(init=False, default=0, repr=False)
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
            self._step = 0
            self._quiet_windows = 0
            self._set(math.floor(self.limit * self.backoff_factor))
        elif self._step:
            self._judge_step(items_per_second)
        else:
            self._quiet_windows += 1
            if self._slow_start or self._quiet_windows >= self.probe_every:
                self._probe(items_per_second)
        return self.limit

    def _judge_step(self, rate: float) -> None:
        went_up = self._step > 0
        self._step = 0
        if went_up and rate >= self._rate_before_step * (1 + self.gain):
            if self._slow_start:
                self._probe(rate)
            return
        if not went_up and rate >= self._rate_before_step * (1 - self.gain):
            return  # as fast with fewer requests: the others only waited at the endpoint
        self._set(self._previous_limit)
        self._slow_start = False  # from now on, careful probes only

    def _probe(self, rate: float) -> None:
        """Step up (doubling in slow start), or every other probe down, and judge it next window."""
        self._quiet_windows = 0
        self._probes += 1
        if self._slow_start:
            target = self.limit * 2
        elif self._probes % 2 and self.limit < self.cap:
            target = max(self.limit + 1, math.floor(self.limit * self.probe_factor))
        else:
            target = math.ceil(self.limit / self.probe_factor)
        target = max(1, min(self.cap, target))
        if target == self.limit:
            self._slow_start = False
            return
        self._rate_before_step = rate
        self._step = 1 if target > self.limit else -1
        self._set(target)

    def _set(self, limit: int) -> None:
        self._previous_limit = self.limit
        self.limit = max(1, min(self.cap, limit))
