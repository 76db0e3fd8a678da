"""Reading a table back to prove what the restore wrote: parallel scans and batched key reads.

Scans are parallel (``Segment``/``TotalSegments``) and consistent; each segment feeds its
own partial results (digest, sample, attribute counts), merged at the end, so threads
share nothing while they run.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from dr_drill.aws.consumed_capacity import RETURN_CONSUMED_CAPACITY, CapacityMeter
from dr_drill.aws.retries import DEFAULT_BACKOFF, UnprocessedBackoff
from dr_drill.core.items.canonical import TypedItem
from dr_drill.core.items.digest import BucketedDigest, item_hash, key_hash
from dr_drill.core.validate.localisation import BucketEntries
from dr_drill.core.validate.rules import Check, load_user_check, user_check_result
from dr_drill.core.validate.sampling import SeededSample

BATCH_GET_LIMIT = 100


class _Partial(Protocol):
    def feed(self, items: list[TypedItem]) -> None: ...


P = TypeVar("P", bound=_Partial)


def _scan_segment(
    ddb: Any, table_name: str, segment: int, segments: int, partial: P, capacity: CapacityMeter, **scan_args: Any
) -> P:
    paginator = ddb.get_paginator("scan")
    pages = paginator.paginate(
        TableName=table_name,
        Segment=segment,
        TotalSegments=segments,
        ConsistentRead=True,
        ReturnConsumedCapacity=RETURN_CONSUMED_CAPACITY,
        **scan_args,
    )
    for page in pages:
        capacity.add(page)
        partial.feed(page.get("Items", []))
    return partial


def parallel_scan(
    ddb: Any,
    table_name: str,
    segments: int,
    make_partial: Callable[[], P],
    capacity: CapacityMeter | None = None,
    only_segments: Sequence[int] | None = None,
    **scan_args: Any,
) -> list[P]:
    """Scan ``table_name`` in ``segments`` parallel segments; return each segment's partial result.

    The client's connection pool should hold at least ``segments`` connections (or as many as ``only_segments``).

    :param capacity: adds up the read units DynamoDB reports the scan consumed.
    :param only_segments: scan only these of the ``segments`` (one task's share of a scan spread over tasks).
    """
    capacity = capacity if capacity is not None else CapacityMeter()
    mine = list(range(segments) if only_segments is None else only_segments)
    with ThreadPoolExecutor(max_workers=max(1, len(mine)), thread_name_prefix="scan") as pool:
        futures = [
            pool.submit(_scan_segment, ddb, table_name, segment, segments, make_partial(), capacity, **scan_args)
            for segment in mine
        ]
        return [future.result() for future in futures]


@dataclass
class TableSummary:
    """What one full scan of a table proves: count, content digest, attributes lacking, and a sample."""

    digest: BucketedDigest
    sample: SeededSample
    required_attributes: tuple[str, ...] = ()
    count: int = 0
    lacking: Counter[str] = field(default_factory=Counter)

    def feed(self, items: list[TypedItem]) -> None:
        digest, sample = self.digest, self.sample
        for item in items:
            hashed_key = key_hash(item, digest.key_names)
            digest.add_hashed(digest.bucket_of_key_hash(hashed_key), item_hash(item))
            if sample.size:
                sample.offer(item, hashed_key)
            for name in self.required_attributes:
                if name not in item:
                    self.lacking[name] += 1
        self.count += len(items)

    def merge(self, other: TableSummary) -> TableSummary:
        self.digest.merge(other.digest)
        self.sample.merge(other.sample)
        self.count += other.count
        self.lacking.update(other.lacking)
        return self


def summarise_table(
    ddb: Any,
    table_name: str,
    *,
    shape: BucketedDigest,
    segments: int = 4,
    required_attributes: tuple[str, ...] = (),
    sample_size: int = 0,
    sample_seed: int = 0,
    capacity: CapacityMeter | None = None,
    only_segments: Sequence[int] | None = None,
) -> TableSummary:
    """Scan the whole table once (or ``only_segments`` of its ``segments``), in parallel, into one summary.

    Each segment sums its own share (the digest is a sum), so the merge is exact whatever the segments.

    :param shape: an (empty) digest whose key and buckets the table's digest must match.
    :param capacity: adds up the read units DynamoDB reports the scan consumed.
    """

    def make() -> TableSummary:
        return TableSummary(
            digest=BucketedDigest.like(shape),
            sample=SeededSample(sample_size, sample_seed, shape.key_names),
            required_attributes=required_attributes,
        )

    parts = parallel_scan(ddb, table_name, segments, make, capacity, only_segments)
    whole = parts[0]
    for part in parts[1:]:
        whole.merge(part)
    return whole


@dataclass
class _EntriesPartial:
    entries: BucketEntries

    def feed(self, items: list[TypedItem]) -> None:
        for item in items:
            self.entries.offer(item)


def bucket_entries_of_table(
    ddb: Any,
    table_name: str,
    shape: BucketedDigest,
    buckets: Iterable[int],
    segments: int = 4,
    capacity: CapacityMeter | None = None,
) -> BucketEntries:
    """Return ``key hash -> item hash`` of the table's items that fall in ``buckets`` (a full scan)."""
    chosen = frozenset(buckets)
    parts = parallel_scan(ddb, table_name, segments, lambda: _EntriesPartial(BucketEntries(shape, chosen)), capacity)
    whole = parts[0].entries
    for part in parts[1:]:
        whole.merge(part.entries)
    return whole


def _chunks(keys: list[TypedItem], size: int) -> Iterator[list[TypedItem]]:
    for start in range(0, len(keys), size):
        yield keys[start : start + size]


def get_items(
    ddb: Any, table_name: str, keys: list[TypedItem], backoff: UnprocessedBackoff = DEFAULT_BACKOFF
) -> dict[bytes, TypedItem]:
    """Return the items found for ``keys`` (consistent BatchGetItem), by key hash; absent keys are left out.

    :param keys: typed primary keys, each holding exactly the table's key attributes.
    :raises RuntimeError: when keys are still unprocessed after ``backoff.max_attempts`` tries.
    """
    found: dict[bytes, TypedItem] = {}
    if not keys:
        return found
    key_names = tuple(keys[0])
    for chunk in _chunks(keys, BATCH_GET_LIMIT):
        request = {table_name: {"Keys": chunk, "ConsistentRead": True}}
        for attempt in range(backoff.max_attempts):
            if attempt:
                backoff.wait(attempt - 1)
            response = ddb.batch_get_item(RequestItems=request)
            for item in response.get("Responses", {}).get(table_name, []):
                found[key_hash(item, key_names)] = item
            request = response.get("UnprocessedKeys") or {}
            if not request:
                break
        if request:
            raise RuntimeError(f"BatchGetItem left {len(request[table_name]['Keys'])} keys unprocessed after retries")
    return found


def run_user_check(path: str, table_name: str, ddb: Any) -> Check:
    """Call the plan's user check on the scratch table; an import error or exception is a failed check."""
    try:
        check = load_user_check(path)
    except (ImportError, AttributeError, TypeError) as err:
        return Check(f"user_check:{path}", False, f"cannot load it: {type(err).__name__}: {err}")
    try:
        returned = check(table_name, ddb)
    except Exception as err:  # noqa: BLE001 - a user check that raises has failed, with the reason shown
        return Check(f"user_check:{path}", False, f"raised {type(err).__name__}: {err}")
    return user_check_result(path, returned)
