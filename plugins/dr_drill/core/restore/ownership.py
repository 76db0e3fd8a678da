"""Proof that a drill made a scratch table: a tag only the holder of the drill's secret can compute.

Anyone allowed to tag a table can write ``dr-drill:scratch=true`` and a made-up run id, so
those tags only say what a table claims to be. The owner tag is an HMAC-SHA256, under the
deployment's ownership secret, of everything the claim says: the table's own name, the
source table, the DAG and run that made it, whether it is kept, and when it was created. A
copied owner tag proves nothing on a table of another name, and the creation time it covers
must match the ``CreationDateTime`` DynamoDB reports for the table carrying it, so copying a
whole tag set onto a new table of an old scratch table's name fails as well (outside the
few minutes of clock skew :data:`CREATION_SKEW` tolerates).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from dr_drill.core.restore.scratch import RUN_ID_TAG, SCRATCH_TAG, SOURCE_TAG, scratch_tags

OWNER_TAG = "dr-drill:owner"
DAG_ID_TAG = "dr-drill:dag-id"
CREATED_TAG = "dr-drill:created-at"
KEPT_TAG = "dr-drill:kept"
OWNERSHIP_TAGS = (SCRATCH_TAG, SOURCE_TAG, RUN_ID_TAG, DAG_ID_TAG, CREATED_TAG, KEPT_TAG, OWNER_TAG)
# A secret shorter than SHA-256's block of output would be the weak link of the HMAC.
MIN_SECRET_BYTES = 32
# How far the time the drill tagged may lie from DynamoDB's CreationDateTime: SigV4 already
# refuses clients more than 5 minutes off AWS's clock; the rest is the CreateTable call itself.
CREATION_SKEW = timedelta(minutes=10)
_PROOF_VERSION = "v1"
_TAG_VALUE_LIMIT = 256


class OwnershipKey:
    """The deployment's ownership secret; it signs and checks owner tags and never prints itself.

    :raises ValueError: for a secret shorter than :data:`MIN_SECRET_BYTES` bytes.
    """

    def __init__(self, secret: str | bytes) -> None:
        raw = secret.encode() if isinstance(secret, str) else bytes(secret)
        if len(raw) < MIN_SECRET_BYTES:
            raise ValueError(
                f"the ownership secret has {len(raw)} bytes; it needs at least {MIN_SECRET_BYTES} random bytes"
            )
        self._secret = raw

    def __repr__(self) -> str:
        return "OwnershipKey(<secret>)"

    def sign(self, owner: ScratchOwner) -> str:
        """Return the owner tag's value for ``owner``."""
        digest = hmac.new(self._secret, owner.message(), hashlib.sha256).hexdigest()
        return f"{_PROOF_VERSION}:{digest}"

    def proves(self, owner: ScratchOwner, proof: str) -> bool:
        """Whether ``proof`` is the owner tag this key gives ``owner`` (compared in constant time)."""
        return hmac.compare_digest(self.sign(owner), proof)


@dataclass(frozen=True, kw_only=True)
class ScratchOwner:
    """What a scratch table's tags say about it: which table it is, who made it, and when.

    :param table_name: the scratch table's own name.
    :param created_at: when it was created, ISO 8601 in UTC, as tagged.
    """

    table_name: str
    source_table: str
    dag_id: str
    run_id: str
    created_at: str
    kept: bool = False

    def message(self) -> bytes:
        """The canonical bytes the owner tag signs: every claim, unambiguously separated."""
        fields = [
            _PROOF_VERSION,
            self.table_name,
            self.source_table,
            self.dag_id,
            self.run_id,
            self.created_at,
            self.kept,
        ]
        return json.dumps(fields, separators=(",", ":"), ensure_ascii=False).encode()

    def created(self) -> datetime | None:
        """The tagged creation time, or None when it does not parse."""
        try:
            created = datetime.fromisoformat(self.created_at)
        except ValueError:
            return None
        return created if created.tzinfo else created.replace(tzinfo=UTC)


def creation_stamp(moment: datetime) -> str:
    """Return the creation time as the owner tag carries it (UTC, whole seconds)."""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat()


def scratch_owner(
    table_name: str, *, source_table: str, dag_id: str, run_id: str, created_at: datetime, kept: bool = False
) -> ScratchOwner:
    """Return the claims of a scratch table the drill is about to tag, cut to DynamoDB's tag limits."""
    return ScratchOwner(
        table_name=table_name,
        source_table=source_table[:_TAG_VALUE_LIMIT],
        dag_id=dag_id[:_TAG_VALUE_LIMIT],
        run_id=run_id[:_TAG_VALUE_LIMIT],
        created_at=creation_stamp(created_at),
        kept=kept,
    )


def ownership_tags(key: OwnershipKey, owner: ScratchOwner) -> list[dict[str, str]]:
    """Return every tag of an owned scratch table: the scratch claims, and the owner tag that proves them."""
    return [
        *scratch_tags(owner.source_table, owner.run_id),
        {"Key": DAG_ID_TAG, "Value": owner.dag_id},
        {"Key": CREATED_TAG, "Value": owner.created_at},
        {"Key": KEPT_TAG, "Value": "true" if owner.kept else "false"},
        {"Key": OWNER_TAG, "Value": key.sign(owner)},
    ]


def claimed_owner(table_name: str, tags: dict[str, str]) -> ScratchOwner | None:
    """Return what a table's tags claim, or None when a claim is missing (nothing proven yet)."""
    if tags.get(SCRATCH_TAG) != "true" or tags.get(KEPT_TAG) not in ("true", "false"):
        return None
    if any(not tags.get(name) for name in (SOURCE_TAG, RUN_ID_TAG, DAG_ID_TAG, CREATED_TAG, OWNER_TAG)):
        return None
    return ScratchOwner(
        table_name=table_name,
        source_table=tags[SOURCE_TAG],
        dag_id=tags[DAG_ID_TAG],
        run_id=tags[RUN_ID_TAG],
        created_at=tags[CREATED_TAG],
        kept=tags[KEPT_TAG] == "true",
    )


def proven_owner(
    table_name: str, tags: dict[str, str], created_at: datetime, key: OwnershipKey, *, prefix: str
) -> ScratchOwner | None:
    """Return the owner of a table the drill provably made, or None for any other table.

    Proven means: the name has the scratch prefix, every claim is tagged, the owner tag is
    the HMAC of those claims and this very name under ``key``, and the tagged creation time
    is within :data:`CREATION_SKEW` of ``created_at``, DynamoDB's own ``CreationDateTime``.
    """
    owner = claimed_owner(table_name, tags)
    if owner is None or not table_name.startswith(prefix):
        return None
    tagged = owner.created()
    if tagged is None or abs(tagged - created_at) > CREATION_SKEW:
        return None
    return owner if key.proves(owner, tags[OWNER_TAG]) else None


def missing_ownership_tags(tags: dict[str, str], expected: list[dict[str, str]]) -> list[str]:
    """Return the keys of ``expected`` tags that ``tags`` lacks or holds with another value."""
    return [tag["Key"] for tag in expected if tags.get(tag["Key"]) != tag["Value"]]


# Airflow's DagRunState values of a run that will not touch its tables again.
FINISHED_RUN_STATES = frozenset({"success", "failed"})


def sweep_reason(
    owner: ScratchOwner, created_at: datetime, *, now: datetime, max_age: timedelta, run_state: str | None
) -> str | None:
    """Return why the sweep deletes a table the drill provably made, or None to leave it.

    The run that made it is over (``run_state``, from Airflow's records): its table is an
    orphan whatever its age, unless the drill kept it for inspection. Otherwise, the run is
    still going, or Airflow has no record of it, only the age rule applies.
    """
    if run_state in FINISHED_RUN_STATES and not owner.kept:
        return f"its run {owner.run_id} of {owner.dag_id} is over ({run_state})"
    if now - created_at > max_age:
        state = run_state or "no record"
        return f"created {created_at.isoformat()}, more than {max_age} ago (run {owner.run_id}: {state})"
    return None
