"""Who may touch a table, on the moto server: only tables the drill's owner tag proves are its own.

Every forgery of a scratch table that could be written with TagResource (hand-made scratch
tags, made-up runs, copied owner tags, prefix-matching names), each holding items, is left
untouched by the sweep and refused by every guarded write and delete. Tables the drill made
but whose tags DynamoDB did not keep are deleted by the drill at once.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dr_drill.aws import scratch_tables
from dr_drill.aws.scratch_tables import (
    assert_scratch_table,
    create_scratch_table,
    delete_scratch_table,
    describe_table,
    sweep_scratch_tables,
    table_tags,
)
from dr_drill.aws.server_side import claim_restored_table
from dr_drill.core.restore.ownership import OWNER_TAG, OwnershipKey, ownership_tags, scratch_owner
from dr_drill.core.restore.scratch import SCRATCH_TAG, scratch_table_name, scratch_tags
from dr_drill.errors import RestoreIncomplete, UnsafeTarget
from tests.drills import DAG_ID, OWNER_KEY, drill_spec
from tests.snapshots import table_items

PREFIX = "drill-"
FINISHED_RUN = "scheduled__2026-11-25T02:00:00+00:00"
KEYS = {
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
}
DAY = timedelta(hours=24)


def _owned(ddb, source: str, run_id: str = FINISHED_RUN, *, kept: bool = False) -> str:
    """Make the drill's own scratch table of ``source`` in ``run_id``, as the create step does."""
    name = scratch_table_name(source, run_id, PREFIX)
    create_scratch_table(
        ddb,
        name,
        source_table=source,
        schema=KEYS,
        prefix=PREFIX,
        dag_id=DAG_ID,
        run_id=run_id,
        key=OWNER_KEY,
        kept=kept,
    )
    return name


def _hand_made(ddb, name: str, tags: list[dict[str, str]]) -> str:
    """Make a table by hand with ``tags``, holding three items someone cares about."""
    ddb.create_table(TableName=name, Tags=tags, BillingMode="PAY_PER_REQUEST", **KEYS)
    for number in range(3):
        ddb.put_item(TableName=name, Item={"pk": {"S": f"precious-{number}"}})
    return name


def _tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in tags.items()]


def _forgeries(ddb) -> dict[str, str]:
    """Make every forgery of a scratch table of the finished run; return {what it is: table name}."""
    genuine = _owned(ddb, "orders")
    copied = table_tags(ddb, describe_table(ddb, genuine)["TableArn"])
    ddb.delete_table(TableName=genuine)
    ddb.get_waiter("table_not_exists").wait(TableName=genuine, WaiterConfig={"Delay": 1})
    other_key = OwnershipKey("someone-elses-secret-that-is-long-enough-000")
    made_up_run = scratch_owner(
        scratch_table_name("orders", "manual__never-ran"),
        source_table="orders",
        dag_id=DAG_ID,
        run_id="manual__never-ran",
        created_at=datetime.now(UTC),
    )
    replayed_at = datetime.now(UTC) - timedelta(hours=2)  # as an old drill table's tags said
    replayed = scratch_owner(genuine, source_table="orders", dag_id=DAG_ID, run_id=FINISHED_RUN, created_at=replayed_at)
    return {
        "scratch tag only": _hand_made(ddb, "drill-orders-by-hand", [{"Key": SCRATCH_TAG, "Value": "true"}]),
        "made-up run id and source": _hand_made(ddb, "drill-orders-made-up", scratch_tags("orders", FINISHED_RUN)),
        "made-up owner tag": _hand_made(
            ddb, "drill-orders-fake-owner", _tag_list({**copied, OWNER_TAG: "v1:" + "ab" * 32})
        ),
        "owner tag of a run that never ran, signed with another key": _hand_made(
            ddb, made_up_run.table_name, ownership_tags(other_key, made_up_run)
        ),
        "valid tags copied onto another name": _hand_made(ddb, genuine + "-copy", _tag_list(copied)),
        "valid tags copied onto a prefix-matching name": _hand_made(ddb, "drill-orders", _tag_list(copied)),
        "old valid tags on a table made anew under that name": _hand_made(
            ddb, genuine, ownership_tags(OWNER_KEY, replayed)
        ),
    }


@pytest.mark.parametrize("hours_later", [pytest.param(0, id="young"), pytest.param(25, id="older-than-the-sweep-age")])
def test_the_sweep_never_touches_a_forged_scratch_table_whatever_its_age_or_run(ddb, hours_later):
    forged = _forgeries(ddb)
    before = {name: table_items(ddb, name) for name in forged.values()}

    deleted = sweep_scratch_tables(
        ddb,
        prefix=PREFIX,
        key=OWNER_KEY,
        max_age=DAY,
        now=datetime.now(UTC) + timedelta(hours=hours_later),
        run_state=lambda dag_id, run_id: "success",  # every run they name is over: the strongest temptation
    )

    assert deleted == []
    assert {name: table_items(ddb, name) for name in forged.values()} == before


def test_every_guarded_write_and_delete_refuses_a_forged_scratch_table(ddb):
    forged = _forgeries(ddb)
    spec = drill_spec("orders", run_id=FINISHED_RUN, backup_source="native_backup")

    for what, name in forged.items():
        with pytest.raises(UnsafeTarget, match="not a scratch table of this drill"):
            assert_scratch_table(ddb, name, prefix=PREFIX, run_id=FINISHED_RUN, key=OWNER_KEY)
        with pytest.raises(UnsafeTarget, match="not a scratch table of this drill"):
            delete_scratch_table(ddb, name, prefix=PREFIX, run_id=FINISHED_RUN, key=OWNER_KEY)
        with pytest.raises(UnsafeTarget):
            claim_restored_table(ddb, name, spec=spec, made_by_drill=lambda table: True, key=OWNER_KEY)
        assert len(table_items(ddb, name)) == 3, what


def test_the_sweep_deletes_orphans_of_finished_runs_at_once_and_the_rest_by_age(ddb):
    orphan = _owned(ddb, "orders")
    kept = _owned(ddb, "payments", kept=True)
    running = _owned(ddb, "orders", "manual__still-running")
    unknown = _owned(ddb, "orders", "manual__no-record")
    states = {FINISHED_RUN: "success", "manual__still-running": "running"}
    asked = []

    def run_state(dag_id: str, run_id: str) -> str | None:
        asked.append((dag_id, run_id))
        return states.get(run_id)

    now = datetime.now(UTC)
    assert sweep_scratch_tables(ddb, prefix=PREFIX, key=OWNER_KEY, max_age=DAY, now=now, run_state=run_state) == [
        orphan
    ]
    assert (DAG_ID, FINISHED_RUN) in asked
    later = sweep_scratch_tables(
        ddb, prefix=PREFIX, key=OWNER_KEY, max_age=DAY, now=now + timedelta(hours=25), run_state=run_state
    )
    assert sorted(later) == sorted([kept, running, unknown])


class TagsNotKept:
    """A DynamoDB client whose service drops the tags of CreateTable and TagResource (or only ``dropped``)."""

    def __init__(self, ddb, dropped: tuple[str, ...] | None = None) -> None:
        self._ddb = ddb
        self._dropped = dropped

    def __getattr__(self, name):
        return getattr(self._ddb, name)

    def _kept(self, tags):
        return [tag for tag in tags if self._dropped is not None and tag["Key"] not in self._dropped]

    def create_table(self, **request):
        tags = self._kept(request.pop("Tags", []))
        return self._ddb.create_table(**request, **({"Tags": tags} if tags else {}))

    def tag_resource(self, **request):
        tags = self._kept(request["Tags"])
        return self._ddb.tag_resource(**{**request, "Tags": tags}) if tags else {}


class TagsShowLate(TagsNotKept):
    """A client whose ListTagsOfResource answers with no tags the first ``late`` times, as AWS may after tagging."""

    def __init__(self, ddb, late: int) -> None:
        super().__init__(ddb)
        self.late = late

    def create_table(self, **request):
        return self._ddb.create_table(**request)

    def get_paginator(self, name):
        if name == "list_tags_of_resource" and self.late > 0:
            self.late -= 1
            return _NoTags()
        return self._ddb.get_paginator(name)


class _NoTags:
    def paginate(self, **request):
        return [{"Tags": []}]


def test_tags_that_show_late_are_waited_for_not_taken_for_lost(ddb, monkeypatch):
    monkeypatch.setattr(scratch_tables, "TAGS_SETTLE_SECONDS", 0.01)
    client = TagsShowLate(ddb, late=3)

    table = create_scratch_table(
        client,
        "drill-orders-late",
        source_table="orders",
        schema=KEYS,
        prefix=PREFIX,
        dag_id=DAG_ID,
        run_id=FINISHED_RUN,
        key=OWNER_KEY,
    )

    assert client.late == 0 and describe_table(ddb, table["TableName"]) is not None


@pytest.mark.parametrize(
    "dropped",
    [pytest.param(None, id="no-tags-kept"), pytest.param((OWNER_TAG,), id="owner-tag-lost")],
)
def test_a_scratch_table_created_without_its_tags_fails_clearly_and_is_deleted(ddb, monkeypatch, dropped):
    monkeypatch.setattr(scratch_tables, "TAGS_SETTLE_SECONDS", 0.01)  # the emulator's tags show at once
    name = scratch_table_name("orders", FINISHED_RUN, PREFIX)

    with pytest.raises(
        RestoreIncomplete, match=r"did not keep its ownership tags .*dr-drill:owner.*the drill deleted it"
    ):
        create_scratch_table(
            TagsNotKept(ddb, dropped),
            name,
            source_table="orders",
            schema=KEYS,
            prefix=PREFIX,
            dag_id=DAG_ID,
            run_id=FINISHED_RUN,
            key=OWNER_KEY,
        )

    assert describe_table(ddb, name) is None


def test_a_restored_table_whose_tags_did_not_stick_fails_clearly_and_is_deleted(ddb, monkeypatch):
    monkeypatch.setattr(scratch_tables, "TAGS_SETTLE_SECONDS", 0.01)
    spec = drill_spec("orders", run_id=FINISHED_RUN, backup_source="native_backup")
    # As a server-side restore leaves it: the scratch name, untagged, made by this drill's restore.
    ddb.create_table(TableName=spec.scratch_table, BillingMode="PAY_PER_REQUEST", **KEYS)

    with pytest.raises(RestoreIncomplete, match="did not keep its ownership tags"):
        claim_restored_table(
            TagsNotKept(ddb), spec.scratch_table, spec=spec, made_by_drill=lambda table: True, key=OWNER_KEY
        )

    assert describe_table(ddb, spec.scratch_table) is None
