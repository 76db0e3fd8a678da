"""Every proof that a restore is right: count, content digest, localisation, sample, fidelity, rules.

Which proofs can run depends on the restore: a streamed restore (``s3_json``, ``s3_export``)
digested the backup while it restored it, so the scratch table's digest must equal it; a server-side
restore (``native_backup``, ``pitr``) has no file to digest, so its count is checked against
the backup's own metadata where there is one, and its sampled items against the live source.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from dr_drill.aws.consumed_capacity import CapacityMeter
from dr_drill.aws.table_scan import bucket_entries_of_table, get_items, run_user_check, summarise_table
from dr_drill.contracts import ValidationResult
from dr_drill.core.items.canonical import TypedItem
from dr_drill.core.items.digest import BucketedDigest, key_hash, reported_key, same_item
from dr_drill.core.validate.fidelity import FidelityReport, drifted_attributes
from dr_drill.core.validate.localisation import BucketEntries, Localisation, buckets_to_examine, localise
from dr_drill.core.validate.rules import Check, ValidationRules
from dr_drill.core.validate.sampling import SeededSample
from dr_drill.core.validate.scan_parts import SampledOutcome, ScanTotals, chosen_outcomes, fidelity_of

log = logging.getLogger(__name__)
FIRST_KEYS_SHOWN = 5


@dataclass(frozen=True)
class ProofInputs:
    """What the earlier steps established, and where to look.

    :param streamed: the restore read the backup's items (a file backup), rather than DynamoDB.
    :param backup_items: re-reads the backup's items (streamed restores only); called at most once.
    :param scan_segments: the segments of each scan of the scratch table.
    :param scan_sized_from: the table size the segments were sized from: ``size_bytes`` and ``size_basis``.

    The content scan itself is spread over tasks (``scan_share``, then ``run`` over their results).
    """

    scratch_table: str
    source: str
    streamed: bool
    key_names: tuple[str, ...]
    expected_items: int | None
    backup_digest: dict[str, Any] | None
    source_table: str | None
    rules: ValidationRules
    sample_seed: int
    backup_items: Callable[[], Iterable[TypedItem]] | None = None
    scan_segments: int = 4
    scan_sized_from: dict[str, Any] = field(default_factory=dict)


@dataclass
class ProofResult:
    """The validation block of the evidence, built up proof by proof."""

    expected_items: int | None
    restored_items: int = 0
    content_digest_expected: str | None = None
    content_digest_actual: str | None = None
    digest_match: bool | None = None
    localisation: Localisation | None = None
    items_proven: int | None = None
    sample_seed: int | None = None
    sample_basis: str | None = None
    samples_checked: int = 0
    sample_mismatches: int | None = None
    first_sample_mismatch_keys: list[str] = field(default_factory=list)
    type_drift: dict[str, Any] | None = None
    checks: list[Check] = field(default_factory=list)
    proofs: list[str] = field(default_factory=list)
    proofs_skipped: dict[str, str] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    scan: dict[str, Any] | None = None

    def result(self, finished_at: str) -> ValidationResult:
        """Return the validate step's result, finished at ``finished_at``."""
        return ValidationResult.from_xcom({**self.to_dict(), "finished_at": finished_at})

    def to_dict(self) -> dict[str, Any]:
        located = self.localisation.to_dict() if self.localisation else {}
        return {
            "passed": not self.failures,
            "expected_items": self.expected_items,
            "restored_items": self.restored_items,
            "content_digest_expected": self.content_digest_expected,
            "content_digest_actual": self.content_digest_actual,
            "digest_match": self.digest_match,
            "missing_items": located.pop("missing_items", None),
            "extra_items": located.pop("extra_items", None),
            "different_items": located.pop("different_items", None),
            "localisation": located or None,
            "items_proven": self.items_proven,
            "sample_seed": self.sample_seed,
            "sample_basis": self.sample_basis,
            "samples_checked": self.samples_checked,
            "sample_mismatches": self.sample_mismatches,
            "first_sample_mismatch_keys": self.first_sample_mismatch_keys,
            "type_drift": self.type_drift,
            "checks": [check.to_dict() for check in self.checks],
            "proofs": self.proofs,
            "proofs_skipped": self.proofs_skipped,
            "failures": self.failures,
            "scan": self.scan,
        }


class RestoreProof:
    """Runs the proofs one after the other; each records what it found in ``result``."""

    def __init__(self, ddb: Any, inputs: ProofInputs, *, source_ddb: Any = None) -> None:
        """:param source_ddb: the live source table's client, when it is on another side than the scratch table."""
        self.ddb = ddb
        self.source_ddb = source_ddb or ddb
        self.inputs = inputs
        self.rules = inputs.rules
        self.expected = BucketedDigest.from_dict(inputs.backup_digest) if inputs.backup_digest else None
        self.shape = BucketedDigest.like(self.expected) if self.expected else BucketedDigest(inputs.key_names)
        self.result = ProofResult(expected_items=inputs.expected_items, sample_seed=inputs.sample_seed)
        self.scan_capacity = CapacityMeter()  # every scan of the scratch table, localisation's included

    def scan_share(self, segments: list[int]) -> dict[str, Any]:
        """Scan ``segments`` of the scratch table's scan: one task's share, handed on without item contents.

        With no backup file, the share's own seeded sample is compared with the live source
        here, and only what that found goes on (``SampledOutcome``), by hashed key.
        """
        has_file = self.expected is not None
        capacity = CapacityMeter()
        summary = summarise_table(
            self.ddb,
            self.inputs.scratch_table,
            shape=self.shape,
            segments=self.inputs.scan_segments,
            required_attributes=self.rules.required_attributes,
            sample_size=0 if has_file else self.rules.sample_size,
            sample_seed=self.inputs.sample_seed,
            capacity=capacity,
            only_segments=segments,
        )
        share: dict[str, Any] = {
            "segments": segments,
            "total_segments": self.inputs.scan_segments,
            "count": summary.count,
            "digest": summary.digest.to_dict(),
            "lacking": dict(summary.lacking),
            "read_units": capacity.units,
        }
        if not has_file and len(summary.sample):
            chosen = summary.sample.items()
            found = self._source_items([item for _, item in chosen])
            if found is None:
                share["fidelity_skipped"] = self.result.proofs_skipped["fidelity"]
            else:
                share["sampled"] = [self._outcome(summary.sample, hashed, item, found) for hashed, item in chosen]
        return share

    def _outcome(
        self, sample: SeededSample, hashed: bytes, restored: TypedItem, found: dict[bytes, TypedItem]
    ) -> dict[str, Any]:
        source = found.get(hashed)
        return SampledOutcome(
            priority=sample.priority(hashed),
            key=reported_key(hashed),
            absent=source is None,
            changed=source is not None and not same_item(restored, source),
            drifted=tuple(drifted_attributes(restored, source)) if source is not None else (),
        ).to_dict()

    def run(self, shares: list[dict[str, Any]]) -> ProofResult:
        """Every proof, from the scan tasks' ``shares`` (``scan_share``) and what the earlier steps handed on."""
        has_file = self.expected is not None
        scan = ScanTotals.of(shares, self.shape)
        self._count(scan.count)
        self.result.content_digest_actual = scan.digest.total().hexdigest()
        if has_file:
            sample = self._digest_localise_and_sample(scan.digest)
            self._fidelity(self._sample(sample, has_file))
        else:
            self._no_file_to_digest()
            self._fidelity_of_shares(scan)
        self._rules(scan.count, scan.lacking)
        read_units = [units for units in (scan.read_units, self.scan_capacity.units) if units is not None]
        self.result.scan = {
            "segments": scan.segments,
            "tasks": scan.tasks,
            **self.inputs.scan_sized_from,
            "read_units": sum(read_units) if read_units else None,
        }
        return self.result

    def _count(self, count: int) -> None:
        result = self.result
        result.restored_items = count
        if result.expected_items is None:
            result.proofs_skipped["count"] = f"a {self.inputs.source} backup states no item count of its own"
            return
        result.proofs.append("count")
        if count != result.expected_items:
            result.failures.append(f"scratch table holds {count} items, the backup {result.expected_items}")

    def _no_file_to_digest(self) -> None:
        reason = f"a {self.inputs.source} restore is server-side: no backup file was read to digest"
        if self.inputs.streamed:
            reason = "the restore step returned no backup digest"
        self.result.proofs_skipped["digest"] = reason
        self.result.proofs_skipped["localisation"] = reason

    def _digest_localise_and_sample(self, actual: BucketedDigest) -> SeededSample:
        """Compare the digests; re-read the backup once for the sample and, if they differ, the localisation."""
        assert self.expected is not None
        result, expected = self.result, self.expected
        result.proofs.append("digest")
        result.content_digest_expected = expected.total().hexdigest()
        result.digest_match = expected.total() == actual.total()
        differing, examined = buckets_to_examine(expected, actual) if not result.digest_match else ([], [])
        sample = SeededSample(self.rules.sample_size, self.inputs.sample_seed, self.shape.key_names)
        backup_side = BucketEntries(self.shape, frozenset(examined))
        if self.rules.sample_size or examined:
            for item in self.inputs.backup_items():  # type: ignore[misc]
                sample.offer(item)
                if examined:
                    backup_side.offer(item)
        if result.digest_match:
            result.items_proven = expected.total().count
            return sample
        result.failures.append("the scratch table's content digest differs from the backup's")
        restored_side = bucket_entries_of_table(
            self.ddb, self.inputs.scratch_table, self.shape, examined, self.inputs.scan_segments, self.scan_capacity
        )
        result.localisation = localise(backup_side, restored_side, len(differing))
        result.proofs.append("localisation")
        matching_buckets = sum(bucket.count for n, bucket in enumerate(expected.buckets) if n not in set(differing))
        matching_entries = sum(1 for key, hashed in restored_side.entries.items() if backup_side.holds(key, hashed))
        result.items_proven = matching_buckets + matching_entries
        return sample

    def _sample(self, sample: SeededSample, has_file: bool) -> list[tuple[TypedItem, TypedItem | None]]:
        """Deep-compare a file backup's sampled items with the scratch table; return (restored, expected) pairs."""
        result = self.result
        if not has_file:
            return [(item, None) for _, item in sample.items()]
        if not sample:
            result.proofs_skipped["sample"] = "sample_size is 0"
            return []
        chosen = sample.items()
        found = get_items(self.ddb, self.inputs.scratch_table, [self._key(item) for _, item in chosen])
        mismatched = [
            hashed
            for hashed, _ in chosen
            if hashed not in found or not any(same_item(version, found[hashed]) for version in sample.versions(hashed))
        ]
        result.proofs.append("sample")
        result.sample_basis = "backup"
        result.samples_checked = len(chosen)
        result.sample_mismatches = len(mismatched)
        result.first_sample_mismatch_keys = [reported_key(hashed) for hashed in mismatched[:FIRST_KEYS_SHOWN]]
        if mismatched:
            result.failures.append(f"{len(mismatched)} of {len(chosen)} sampled items differ from the backup")
        return [(found[hashed], item) for hashed, item in chosen if hashed in found]

    def _key(self, item: TypedItem) -> TypedItem:
        return {name: item[name] for name in self.shape.key_names}

    def _source_items(self, restored: list[TypedItem]) -> dict[bytes, TypedItem] | None:
        source = self.inputs.source_table
        if not source:
            self.result.proofs_skipped["fidelity"] = "the source table is not known"
            return None
        try:
            return get_items(self.source_ddb, source, [self._key(item) for item in restored])
        except ClientError as err:
            code = err.response.get("Error", {}).get("Code", "")
            why = "does not exist" if code == "ResourceNotFoundException" else f"cannot be read ({code})"
            self.result.proofs_skipped["fidelity"] = f"the source table {source} {why}"
            return None

    def _fidelity(self, pairs: list[tuple[TypedItem, TypedItem | None]]) -> None:
        """Compare the sampled restored items' attribute types with the live source's (a file backup's sample)."""
        if not pairs:
            self.result.proofs_skipped.setdefault("fidelity", "no sampled items to compare")
            return
        found = self._source_items([restored for restored, _ in pairs])
        if found is None:
            return
        report = FidelityReport()
        for restored, _ in pairs:
            report.add(restored, found.get(key_hash(restored, self.shape.key_names)))
        self._found_fidelity(report)

    def _fidelity_of_shares(self, scan: ScanTotals) -> None:
        """With no backup file: the sample the scan tasks compared with the live source, merged."""
        result = self.result
        if scan.fidelity_skipped:
            result.proofs_skipped["fidelity"] = scan.fidelity_skipped
            result.proofs_skipped["sample"] = "no backup file and no live source to compare the sample with"
            return
        outcomes = chosen_outcomes(scan.sampled, self.rules.sample_size)
        if not outcomes:
            result.proofs_skipped.setdefault("fidelity", "no sampled items to compare")
            return
        report = fidelity_of(outcomes)
        self._found_fidelity(report)
        # No backup file to compare with: the live source is the sample's only reference.
        result.proofs.append("sample")
        result.sample_basis = "live_source"
        result.samples_checked = len(outcomes)
        result.sample_mismatches = report.changed_since_backup

    def _found_fidelity(self, report: FidelityReport) -> None:
        result = self.result
        result.proofs.append("fidelity")
        result.type_drift = {**report.to_dict(), "fails_drill": self.rules.fail_on_type_drift}
        if report.drifted_items and self.rules.fail_on_type_drift:
            result.failures.append(f"{report.drifted_items} sampled items have other attribute types than the source")

    def _probe_checks(self) -> list[Check]:
        key_names = self.shape.key_names
        probes = list(enumerate(self.rules.probe_keys))
        usable = [(number, probe) for number, probe in probes if set(probe.key) == set(key_names)]
        found = get_items(self.ddb, self.inputs.scratch_table, [probe.key for _, probe in usable])
        checks = {number: probe.check(number, found.get(key_hash(probe.key, key_names))) for number, probe in usable}
        wrong_shape = f"a probe key must give exactly the key attributes {', '.join(key_names)}"
        return [checks.get(number, Check(f"probe_keys[{number}]", False, wrong_shape)) for number, _ in probes]

    def _rules(self, count: int, lacking: Any) -> None:
        checks = self.rules.count_checks(count) + self.rules.required_attribute_checks(lacking, count)
        probes = self.rules.probe_keys
        if probes:
            checks += self._probe_checks()
        if self.rules.user_check:
            checks.append(run_user_check(self.rules.user_check, self.inputs.scratch_table, self.ddb))
        self.result.checks = checks
        if not checks:
            self.result.proofs_skipped["rules"] = "the plan sets no rules for this table"
            return
        self.result.proofs.append("rules")
        failed = [check.name for check in checks if not check.passed]
        if failed:
            self.result.failures.append(f"plan rules failed: {', '.join(failed)}")
