"""An order-independent content digest of DynamoDB items that adds up across chunks.

Each item's canonical typed form is hashed to 256 bits; a table's digest is the sum of its
items' hashes mod 2^256, plus the item count. Equal count and equal digest mean the same
items with the same attributes, whatever order they were read in; partial digests of
chunks (data files, scan segments, restore workers) add up to the whole.

The canonical form treats values as DynamoDB does: numbers by value (``1.50`` == ``1.5``,
``1E+2`` == ``100``, ``-0`` == ``0``), sets unordered, maps by key, binary by its bytes.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any

from dr_drill.core.items.canonical import CANONICAL_NUMBER_TEXT, CanonicalItem, TypedItem, TypedValue, canonical_number

_MODULUS = 2**256
DEFAULT_BUCKETS = 256


def _bytes(value: bytes | bytearray | str) -> bytes:
    """Binary arrives as bytes from boto3 and as base64 text from exports and JSON fixtures."""
    return bytes(value) if isinstance(value, (bytes, bytearray)) else base64.b64decode(value)


def _number(text: str | int | Decimal) -> str:
    if isinstance(text, str) and text != "-0" and CANONICAL_NUMBER_TEXT.fullmatch(text):
        return text
    return canonical_number(Decimal(text) if isinstance(text, str) else text)


def canonical_value(value: TypedValue) -> Any:
    """Return a JSON-able canonical form of one typed value."""
    ((kind, inner),) = value.items()
    # The commonest kinds first: this runs for every attribute of every item, twice per drill.
    if kind in ("S", "BOOL", "NULL"):
        return value
    if kind == "N":
        number = _number(inner)
        return value if number is inner else {"N": number}
    if kind == "M":
        return {"M": {key: canonical_value(member) for key, member in inner.items()}}
    if kind == "L":
        return {"L": [canonical_value(member) for member in inner]}
    if kind == "B":
        return {"B": base64.b64encode(_bytes(inner)).decode()}
    if kind == "SS":
        return {"SS": sorted(set(inner))}
    if kind == "NS":
        return {"NS": sorted({_number(text) for text in inner}, key=Decimal)}
    if kind == "BS":
        return {"BS": sorted(base64.b64encode(raw).decode() for raw in {_bytes(x) for x in inner})}
    raise ValueError(f"unknown DynamoDB type {kind!r}")


def _canonical_json_encoder() -> Callable[[Any], str]:
    """``json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)``, set up once.

    ``JSONEncoder.encode`` builds a new C encoder on every call: for a key of one attribute that
    was most of ``key_hash``'s cost. The same C encoder, made once, writes the same bytes
    (there is no circular check: items are trees).
    """
    encoder = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if c_make_encoder is None:
        return encoder.encode
    encode = c_make_encoder(None, encoder.default, encode_basestring, None, ":", ",", True, False, True)
    return lambda value: "".join(encode(value, 0))


_ENCODE = _canonical_json_encoder()


def canonical_bytes(item: TypedItem) -> bytes:
    """Return the item's canonical form as compact JSON, keys sorted at every level."""
    # An item the reader built is canonical already: rebuilding it would only cost time.
    canonical = item if type(item) is CanonicalItem else {name: canonical_value(value) for name, value in item.items()}
    return _ENCODE(canonical).encode()


def item_hash(item: TypedItem) -> int:
    """Return the item's 256-bit hash."""
    return int.from_bytes(hashlib.sha256(canonical_bytes(item)).digest(), "big")


def key_hash(item: TypedItem, key_names: tuple[str, ...]) -> bytes:
    """Return the hash of the item's primary key: what buckets, samples and reports use, never the key.

    The one key hash of the project: a key reported by the restore (rejected items), the
    validation (differing or mismatched items) and the probes is ``reported_key`` of it, so an
    auditor can match rows within and across records.
    """
    key = {name: item[name] for name in key_names if name in item}
    return hashlib.sha256(canonical_bytes(key)).digest()


def reported_key(hashed: bytes) -> str:
    """Return the short text logs, reports and the evidence show for a key hash (never the key itself)."""
    return hashed.hex()[:16]


def same_item(left: TypedItem, right: TypedItem) -> bool:
    """Return True when DynamoDB would consider the two items equal, attribute by attribute."""
    return canonical_bytes(left) == canonical_bytes(right)


@dataclass
class ContentDigest:
    """Count and sum of item hashes; ``merge`` adds another chunk's digest."""

    count: int = 0
    total: int = 0

    def add(self, item: TypedItem) -> None:
        self.add_hash(item_hash(item))

    def add_hash(self, hashed: int) -> None:
        self.count += 1
        self.total = (self.total + hashed) % _MODULUS

    def merge(self, other: ContentDigest) -> ContentDigest:
        self.count += other.count
        self.total = (self.total + other.total) % _MODULUS
        return self

    def hexdigest(self) -> str:
        return f"{self.total:064x}"

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "digest": self.hexdigest()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ContentDigest:
        return cls(count=data["count"], total=int(data["digest"], 16))


@dataclass
class BucketedDigest:
    """Content digests per key-hash bucket: where two tables differ, only those buckets need a look."""

    key_names: tuple[str, ...]
    buckets: list[ContentDigest] = field(default_factory=lambda: [ContentDigest() for _ in range(DEFAULT_BUCKETS)])

    def bucket_of(self, item: TypedItem) -> int:
        return self.bucket_of_key_hash(key_hash(item, self.key_names))

    def bucket_of_key_hash(self, hashed_key: bytes) -> int:
        return int.from_bytes(hashed_key[:4], "big") % len(self.buckets)

    def add(self, item: TypedItem) -> None:
        self.buckets[self.bucket_of(item)].add(item)

    def add_hashed(self, bucket: int, hashed_item: int) -> None:
        """Add an item whose bucket and hash the caller already computed (it needed them too)."""
        self.buckets[bucket].add_hash(hashed_item)

    @classmethod
    def like(cls, other: BucketedDigest) -> BucketedDigest:
        """Return an empty digest with the same key and the same number of buckets."""
        return cls(other.key_names, [ContentDigest() for _ in other.buckets])

    def merge(self, other: BucketedDigest) -> BucketedDigest:
        for mine, theirs in zip(self.buckets, other.buckets, strict=True):
            mine.merge(theirs)
        return self

    def total(self) -> ContentDigest:
        whole = ContentDigest()
        for bucket in self.buckets:
            whole.merge(bucket)
        return whole

    def differing_buckets(self, other: BucketedDigest) -> list[int]:
        return [
            number
            for number, (mine, theirs) in enumerate(zip(self.buckets, other.buckets, strict=True))
            if mine != theirs
        ]

    def to_dict(self) -> dict[str, Any]:
        return {"key_names": list(self.key_names), "buckets": [[b.count, b.hexdigest()] for b in self.buckets]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BucketedDigest:
        return cls(
            key_names=tuple(data["key_names"]),
            buckets=[ContentDigest(count=count, total=int(digest, 16)) for count, digest in data["buckets"]],
        )


def digesting(items: Iterable[TypedItem], digest: BucketedDigest) -> Iterator[TypedItem]:
    """Yield ``items`` unchanged, adding each one to ``digest`` as it passes (the backup side of the proof)."""
    for item in items:
        digest.add(item)
        yield item
