"""The restore proofs against a real moto server: what a wrong restore looks like, and what an equal one does."""

from __future__ import annotations

import base64

import pytest

from dr_drill.aws.proof import ProofInputs, RestoreProof
from dr_drill.core.items.digest import BucketedDigest, key_hash, reported_key
from dr_drill.core.validate.rules import ValidationRules
from dr_drill.core.validate.scan_parts import scan_shares
from tests.integration.aws.tables import SCRATCH, create_things_table, thing

SOURCE = "things"
BACKUP = [thing(number) for number in range(120)]


def _prove(
    ddb,
    backup: list[dict],
    restored: list[dict],
    *,
    source: str = "s3_json",
    source_table=None,
    segments: int = 4,
    **rules,
):
    """Prove the restore as the table run does: each scan share by a proof of its own (a task), then the merge."""
    create_things_table(ddb, SCRATCH, restored)
    digest = BucketedDigest(("id",))
    for item in backup:
        digest.add(item)
    has_file = source in ("s3_json", "s3_export")
    inputs = ProofInputs(
        scratch_table=SCRATCH,
        source=source,
        streamed=has_file,
        key_names=("id",),
        expected_items=len(backup) if has_file else rules.pop("expected_items", None),
        backup_digest=digest.to_dict() if has_file else None,
        source_table=source_table,
        rules=ValidationRules.from_spec(rules),
        sample_seed=42,
        backup_items=(lambda: iter(backup)) if has_file else None,
        scan_segments=segments,
    )
    shares = [RestoreProof(ddb, inputs).scan_share(share["segments"]) for share in scan_shares(segments, {})]
    return RestoreProof(ddb, inputs).run(shares)


def _hash(item: dict) -> str:
    return reported_key(key_hash(item, ("id",)))


def test_an_exact_restore_is_proven_item_by_item(ddb):
    result = _prove(ddb, BACKUP, BACKUP, sample_size=30)
    assert result.failures == []
    assert result.restored_items == 120 and result.digest_match is True
    assert result.content_digest_actual == result.content_digest_expected
    assert result.items_proven == 120
    assert (result.samples_checked, result.sample_mismatches, result.sample_basis) == (30, 0, "backup")
    assert result.proofs == ["count", "digest", "sample"]
    assert result.localisation is None and "fidelity" in result.proofs_skipped


def _noncanonical(item: dict) -> dict:
    """The same item as DynamoDB sees it, written in other forms: exponents, zeros, set order, base64."""
    number = int(item["id"]["S"].split("-")[1])
    return {
        **item,
        "price": {"N": f"{number * 10 + 5}E-1"},
        "tags": {"SS": list(reversed(item["tags"]["SS"]))},
        "blob": {"B": base64.b64encode(item["blob"]["B"]).decode()},
        "meta": {"M": {"deep": item["meta"]["M"]["deep"], "sizes": {"NS": ["10.0", "2.50", "1"]}}},
    }


def test_values_written_in_other_forms_are_accepted_as_equal(ddb):
    restored = BACKUP[:]
    backup = [_noncanonical(item) for item in BACKUP]
    result = _prove(ddb, backup, restored, sample_size=120)
    assert result.failures == []
    assert result.digest_match is True and result.sample_mismatches == 0


def test_one_altered_one_deleted_one_extra_are_each_counted_by_hashed_key(ddb):
    restored = [dict(item) for item in BACKUP]
    restored[5]["price"] = {"N": "999"}  # altered
    deleted = restored.pop(17)
    extra = thing(5000)
    restored.append(extra)

    result = _prove(ddb, BACKUP, restored, sample_size=0)

    assert result.digest_match is False and result.restored_items == 120  # the count alone would pass
    local = result.localisation
    assert (local.missing, local.extra, local.different) == (1, 1, 1)
    assert local.first_missing == [_hash(deleted)]
    assert local.first_extra == [_hash(extra)]
    assert local.first_different == [_hash(BACKUP[5])]
    assert local.complete and local.backup_duplicate_keys == 0
    assert result.items_proven == 118
    assert "localisation" in result.proofs
    assert result.failures == ["the scratch table's content digest differs from the backup's"]
    evidence = result.to_dict()
    assert (evidence["missing_items"], evidence["extra_items"], evidence["different_items"]) == (1, 1, 1)
    assert "thing-0005" not in str(evidence)  # keys only as hashes


@pytest.mark.parametrize(
    ("attribute", "value"),
    [
        pytest.param("blob", {"B": b"\x05\x00\xfe"}, id="binary"),
        pytest.param("meta", {"M": {"sizes": {"NS": ["1", "2.5"]}, "deep": {"L": [{"S": "x"}]}}}, id="nested"),
        pytest.param("tags", {"SS": ["red", "green"]}, id="set-member"),
        pytest.param("price", {"S": "5.50"}, id="number-as-string"),
    ],
)
def test_a_changed_value_deep_inside_is_found_by_digest_and_sample(ddb, attribute, value):
    restored = [dict(item) for item in BACKUP]
    restored[5][attribute] = value
    result = _prove(ddb, BACKUP, restored, sample_size=120)
    assert result.digest_match is False
    assert result.localisation.different == 1
    assert result.sample_mismatches == 1 and result.first_sample_mismatch_keys == [_hash(BACKUP[5])]


@pytest.mark.parametrize("restored_twin", ["earlier", "later"])
def test_duplicate_keys_in_the_backup_are_named_and_either_twin_restored_matches(ddb, restored_twin):
    backup = [*BACKUP, dict(BACKUP[3], price={"N": "1"})]  # twins in other batches: either may be written last
    restored = [dict(item) for item in BACKUP]
    if restored_twin == "later":
        restored[3] = backup[-1]
    result = _prove(ddb, backup, restored, sample_size=len(BACKUP))
    assert "scratch table holds 120 items, the backup 121" in result.failures
    assert result.localisation.backup_duplicate_keys == 1
    assert (result.localisation.missing, result.localisation.extra, result.localisation.different) == (0, 0, 0)
    assert result.items_proven == 120 and result.sample_mismatches == 0


def test_type_drift_against_the_live_source_is_a_finding_and_fails_only_when_the_plan_says(ddb):
    source = [dict(item) for item in BACKUP]
    for item in source[:3]:
        item["price"] = {"S": "on request"}  # the source now keeps price as text
    source[10]["ok"] = {"BOOL": not source[10]["ok"]["BOOL"]}  # changed since the backup: same types
    del source[20]  # deleted since the backup
    create_things_table(ddb, SOURCE, source)

    result = _prove(ddb, BACKUP, BACKUP, source_table=SOURCE, sample_size=120)
    drift = result.type_drift
    assert result.failures == [] and "fidelity" in result.proofs
    assert drift["drifted_items"] == 3
    assert drift["attributes"] == [{"attribute": "price", "restored_type": "N", "source_type": "S", "items": 3}]
    assert drift["changed_since_backup"] == 4 and drift["absent_from_source"] == 1
    assert drift["fails_drill"] is False

    ddb.delete_table(TableName=SCRATCH)
    strict = _prove(ddb, BACKUP, BACKUP, source_table=SOURCE, sample_size=120, fail_on_type_drift=True)
    assert strict.failures == ["3 sampled items have other attribute types than the source"]


def test_a_missing_source_table_skips_fidelity_with_the_reason(ddb):
    result = _prove(ddb, BACKUP, BACKUP, source_table="gone-table", sample_size=5)
    assert result.failures == []
    assert result.proofs_skipped["fidelity"] == "the source table gone-table does not exist"


def test_a_server_side_restore_counts_against_metadata_and_samples_against_the_source(ddb):
    source = [dict(item) for item in BACKUP]
    source[0]["price"] = {"N": "1"}
    create_things_table(ddb, SOURCE, source)
    result = _prove(
        ddb, BACKUP, BACKUP, source="native_backup", source_table=SOURCE, expected_items=120, sample_size=120
    )
    assert result.failures == []
    assert result.proofs == ["count", "fidelity", "sample"]
    assert set(result.proofs_skipped) == {"digest", "localisation", "rules"}
    assert result.digest_match is None and result.content_digest_expected is None
    assert result.sample_basis == "live_source" and result.samples_checked == 120
    assert result.sample_mismatches == 1  # changed since the backup: reported, not a failure

    ddb.delete_table(TableName=SCRATCH)
    pitr = _prove(ddb, BACKUP, BACKUP[:-1], source="pitr", source_table=SOURCE, sample_size=0)
    assert pitr.failures == [] and "count" in pitr.proofs_skipped and pitr.restored_items == 119


@pytest.mark.parametrize("source", ["s3_json", "native_backup"])
def test_a_scan_spread_over_tasks_proves_exactly_what_one_task_proves(ddb, source):
    # 11 segments over 3 tasks: the merged count, digest, sample and fidelity are one task's.
    altered = [dict(item) for item in BACKUP[:-1]]
    altered[7] = {**altered[7], "price": {"N": "0"}}
    source_items = [dict(item) for item in BACKUP]
    source_items[3]["price"] = {"S": "on request"}
    create_things_table(ddb, SOURCE, source_items)
    settings = {"source": source, "source_table": SOURCE, "sample_size": 40, "expected_items": 120}

    one = _prove(ddb, BACKUP, altered, **settings).to_dict()
    ddb.delete_table(TableName=SCRATCH)
    spread = _prove(ddb, BACKUP, altered, segments=11, **settings).to_dict()

    assert len(scan_shares(11, {})) == 3
    assert one.pop("scan")["tasks"] == 1 and spread.pop("scan")["tasks"] == 3
    assert spread == one
    assert one["restored_items"] == 119 and one["failures"]
    assert one["samples_checked"] == 40


def bad_check(table_name, ddb):
    """A user check for the tests: fails, naming the table it looked at."""
    return False, f"looked at {table_name}: not good"


def good_check(table_name, ddb):
    return ddb.describe_table(TableName=table_name)["Table"]["TableName"] == table_name, "table is there"


def test_plan_rules_each_report_a_check(ddb):
    probes = [
        {"key": {"id": "thing-0001"}, "expect": {"price": 1.5, "ok": False}},
        {"key": {"id": "thing-0002"}, "expect": {"price": 3}},
        {"key": {"id": "no-such-thing"}},
        {"key": {"name": "x"}},
    ]
    result = _prove(
        ddb,
        BACKUP,
        BACKUP,
        sample_size=0,
        min_items=100,
        max_items=110,
        required_attributes=["price", "colour"],
        probe_keys=probes,
        user_check=f"{__name__}.bad_check",
    )
    checks = {check.name: check for check in result.checks}
    assert checks["min_items"].passed and not checks["max_items"].passed
    assert checks["required_attributes.price"].passed
    assert not checks["required_attributes.colour"].passed and checks["required_attributes.colour"].detail.startswith(
        "120 of 120"
    )
    assert checks["probe_keys[0]"].passed
    assert not checks["probe_keys[1]"].passed and "price" in checks["probe_keys[1]"].detail
    assert not checks["probe_keys[2]"].passed and "not in the restored table" in checks["probe_keys[2]"].detail
    assert not checks["probe_keys[3]"].passed and "exactly the key attributes id" in checks["probe_keys[3]"].detail
    assert "no-such-thing" not in str(result.to_dict()) and "thing-0002" not in str(result.to_dict())
    assert not checks[f"user_check:{__name__}.bad_check"].passed
    assert checks[f"user_check:{__name__}.bad_check"].detail == f"looked at {SCRATCH}: not good"
    assert result.failures == [
        f"plan rules failed: max_items, required_attributes.colour, probe_keys[1], probe_keys[2], probe_keys[3], "
        f"user_check:{__name__}.bad_check"
    ]
    assert result.digest_match is True  # the content proof is independent of the rules


@pytest.mark.parametrize(
    ("path", "passed", "detail"),
    [
        pytest.param(f"{__name__}.good_check", True, "table is there", id="passes"),
        pytest.param(f"{__name__}:no_such_function", False, "cannot load it", id="missing"),
        pytest.param("no_such_module.check", False, "cannot load it: ModuleNotFoundError", id="no-module"),
        pytest.param(f"{__name__}.SCRATCH", False, "is not callable", id="not-callable"),
    ],
)
def test_user_checks_that_pass_or_cannot_run(ddb, path, passed, detail):
    result = _prove(ddb, BACKUP[:5], BACKUP[:5], sample_size=0, user_check=path)
    [check] = result.checks
    assert check.passed is passed and detail in check.detail
