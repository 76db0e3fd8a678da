"""A seeded random sample of items that does not depend on the order they are read in.

Each key gets a priority, ``sha256(seed || key hash)``; the sample is the ``size`` keys of
lowest priority (bottom-k sampling). Every key has the same chance to be chosen, the choice
is the same whatever order the items stream in (data files, scan segments, split
restores), partial samples merge, and the recorded seed replays exactly the same sample.
Memory is ``size`` items.
"""

from __future__ import annotations

import hashlib
import heapq
from dataclasses import dataclass, field

from dr_drill.core.items.canonical import TypedItem
from dr_drill.core.items.digest import key_hash


def sample_seed_for(drill_id: str) -> int:
    """Return the seed a drill uses when the plan names none: stable for the drill, new each drill."""
    return int.from_bytes(hashlib.sha256(f"dr-drill-sample\0{drill_id}".encode()).digest()[:6], "big")


@dataclass
class SeededSample:
    """The ``size`` items of lowest seeded priority seen so far; a later item of the same key replaces it.

    The replaced versions of a sampled key are kept too (``versions``): a backup that holds a
    key twice may be restored as either.
    """

    size: int
    seed: int
    key_names: tuple[str, ...]
    _chosen: dict[bytes, tuple[int, TypedItem]] = field(default_factory=dict, repr=False)
    _heap: list[tuple[int, bytes]] = field(default_factory=list, repr=False)  # (-priority, key hash)
    _replaced: dict[bytes, list[TypedItem]] = field(default_factory=dict, repr=False)

    def priority(self, hashed_key: bytes) -> int:
        return int.from_bytes(hashlib.sha256(self.seed.to_bytes(8, "big") + hashed_key).digest()[:8], "big")

    def offer(self, item: TypedItem, hashed_key: bytes | None = None) -> None:
        hashed_key = key_hash(item, self.key_names) if hashed_key is None else hashed_key
        if hashed_key in self._chosen:
            priority, earlier = self._chosen[hashed_key]
            self._replaced.setdefault(hashed_key, []).append(earlier)
            self._chosen[hashed_key] = (priority, item)
            return
        if self.size <= 0:
            return
        priority = self.priority(hashed_key)
        if len(self._chosen) < self.size:
            self._keep(priority, hashed_key, item)
        elif priority < -self._heap[0][0]:
            _, dropped = heapq.heappop(self._heap)
            del self._chosen[dropped]
            self._replaced.pop(dropped, None)
            self._keep(priority, hashed_key, item)

    def _keep(self, priority: int, hashed_key: bytes, item: TypedItem) -> None:
        self._chosen[hashed_key] = (priority, item)
        heapq.heappush(self._heap, (-priority, hashed_key))

    def merge(self, other: SeededSample) -> SeededSample:
        for hashed_key, (_, item) in other._chosen.items():
            self.offer(item, hashed_key)
        return self

    def items(self) -> list[tuple[bytes, TypedItem]]:
        """Return (key hash, item) pairs in priority order, so a replay lists them the same way."""
        return [(hashed_key, item) for hashed_key, (_, item) in sorted(self._chosen.items(), key=lambda kv: kv[1][0])]

    def versions(self, hashed_key: bytes) -> list[TypedItem]:
        """Every version of a sampled key seen, the latest first."""
        return [self._chosen[hashed_key][1], *reversed(self._replaced.get(hashed_key, []))]

    def __len__(self) -> int:
        return len(self._chosen)
