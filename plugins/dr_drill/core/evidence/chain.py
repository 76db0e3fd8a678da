"""The hash chain that makes a table's evidence records tamper-evident.

Every record carries three fields:

- ``evidence_sequence``: 1 for a table's first record, then the previous record's plus one;
- ``previous_evidence_sha256``: the sha256 of the previous record's canonical bytes (null for the first);
- ``evidence_sha256``: the sha256 of this record's own canonical bytes.

The canonical bytes of a record are the UTF-8 encoding of its JSON with every key sorted,
no whitespace (separators ``,`` and ``:``), non-ASCII characters kept as they are, and the
field ``evidence_sha256`` left out: ``json.dumps(record_without_evidence_sha256,
sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()``.
They cover everything else in the record, the chain fields included, so editing, removing
or reordering records breaks either a record's own hash or its successor's link. What the
chain alone cannot show is the removal of the newest records; Object Lock and the head
hash that ``verify-chain`` prints (to be kept elsewhere) cover that. Nor can it see a record
rewritten in place at its own key (a second version, newest record included): the walk looks
at every stored version of every key and reports any key with more than one as ``overwritten``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

CHAIN_FIELDS = ("evidence_sequence", "previous_evidence_sha256", "evidence_sha256")
BREAK_KINDS = ("edited", "missing", "reordered", "overwritten")


def canonical_record_bytes(record: dict[str, Any]) -> bytes:
    """Return the bytes ``evidence_sha256`` covers: canonical JSON of the record without that field."""
    body = {key: value for key, value in record.items() if key != "evidence_sha256"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def record_sha256(record: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_record_bytes(record)).hexdigest()


def seal(record: dict[str, Any], previous: dict[str, Any] | None) -> dict[str, Any]:
    """Return a copy of ``record`` linked to ``previous`` (the same table's latest record, or None)."""
    sealed = {key: value for key, value in record.items() if key not in CHAIN_FIELDS}
    sealed["evidence_sequence"] = 1 if previous is None else int(previous.get("evidence_sequence") or 0) + 1
    sealed["previous_evidence_sha256"] = None if previous is None else record_sha256(previous)
    sealed["evidence_sha256"] = record_sha256(sealed)
    return sealed


@dataclass(frozen=True)
class ChainEntry:
    """One stored record: its key, its parsed JSON (None when the bytes are not a JSON object), and its versions.

    ``versions`` counts the versions stored at the key (delete markers included); ``other_versions``
    holds them parsed, when there are more than one.
    """

    key: str
    record: dict[str, Any] | None
    versions: int = 1
    other_versions: tuple[dict[str, Any] | None, ...] = ()


@dataclass(frozen=True)
class ChainVerdict:
    """The result of walking one table's records in key (time) order.

    ``head_sha256`` and ``head_sequence`` describe the newest record: keep them outside the
    bucket to be able to tell later that no newer record was removed.
    """

    table_name: str
    records_checked: int
    intact: bool
    break_kind: str | None = None
    break_key: str | None = None
    detail: str | None = None
    head_sha256: str | None = None
    head_sequence: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _own_hash_problem(record: dict[str, Any] | None) -> str | None:
    if record is None:
        return "the object is not a JSON evidence record"
    missing = [name for name in CHAIN_FIELDS if name not in record]
    if missing:
        return f"the record lacks {', '.join(missing)}"
    if record_sha256(record) != record["evidence_sha256"]:
        return "its content no longer matches its evidence_sha256"
    return None


def _overwrite_problem(entry: ChainEntry) -> str | None:
    if entry.versions <= 1:
        return None
    sealed = {record_sha256(version) for version in entry.other_versions if version and CHAIN_FIELDS[2] in version}
    what = "different contents" if len(sealed) > 1 or None in entry.other_versions else "the same contents"
    return f"{entry.versions} versions are stored at this key, with {what}: a record is written once"


def _link_problem(
    entry: ChainEntry, previous: dict[str, Any] | None, later_hashes: set[str], earlier_hashes: set[str]
) -> tuple[str, str, bool] | None:
    """Return (kind, detail, blame the previous record) when ``entry`` does not follow ``previous``."""
    record = entry.record or {}
    link = record["previous_evidence_sha256"]
    expected_link = None if previous is None else previous["evidence_sha256"]
    expected_sequence = 1 if previous is None else previous["evidence_sequence"] + 1
    sequence = record["evidence_sequence"]
    if link == expected_link and sequence == expected_sequence:
        return None
    if link is not None and (link in later_hashes or link in earlier_hashes - {expected_link}):
        return "reordered", f"it links to another record than the one before it (sequence {sequence})", False
    if link == expected_link:
        return "edited", f"its sequence is {sequence}, expected {expected_sequence}", False
    if isinstance(sequence, int) and sequence > expected_sequence:
        gap = sequence - expected_sequence
        return (
            "missing",
            f"{gap} record(s) before it are missing (sequence {sequence}, expected {expected_sequence})",
            False,
        )
    if previous is None:
        return "missing", "the table's first record links to a record that is not there", False
    return "edited", f"it no longer matches the hash its successor {entry.key} keeps of it", True


def verify_chain(table_name: str, entries: Iterable[ChainEntry]) -> ChainVerdict:
    """Walk ``entries`` in key order and report the first break: edited, missing or reordered."""
    entries = list(entries)
    hashes = [(entry.record or {}).get("evidence_sha256") for entry in entries]
    previous: dict[str, Any] | None = None
    for index, entry in enumerate(entries):
        overwritten = _overwrite_problem(entry)
        if overwritten:
            return ChainVerdict(table_name, index + 1, False, "overwritten", entry.key, overwritten)
        problem = _own_hash_problem(entry.record)
        if problem:
            return ChainVerdict(table_name, index + 1, False, "edited", entry.key, problem)
        link = _link_problem(entry, previous, set(hashes[index + 1 :]), set(hashes[:index]))
        if link:
            kind, detail, blame_previous = link
            # An edit re-hashed by the editor shows at the successor: name the record that changed.
            where = entries[index - 1].key if blame_previous else entry.key
            return ChainVerdict(table_name, index + 1, False, kind, where, detail)
        previous = entry.record
    return ChainVerdict(
        table_name,
        len(entries),
        True,
        head_sha256=previous["evidence_sha256"] if previous else None,
        head_sequence=previous["evidence_sequence"] if previous else None,
    )
