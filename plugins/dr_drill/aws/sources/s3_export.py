"""s3_export: DynamoDB's Export to S3. Find a completed export, verify it, stream its items or import it.

Read-only. An export folder with ``_started`` but no ``manifest-summary.json`` is still running
or has failed: it is never chosen, and an explicit request for it is a named error.
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from dr_drill.aws.client_errors import error_code
from dr_drill.aws.import_table import find_drill_import, import_made, import_state, resume_or_start_import
from dr_drill.aws.s3 import RESUME_BACKOFF, ResumingBody, is_missing, list_keys, raise_named, read_object
from dr_drill.aws.sources.base import SourceAdapter
from dr_drill.constants import BackupSource, RestoreMethod
from dr_drill.contracts import BackupRef, DrillSpec, LocatedBackup, ScratchClaim, ScratchTable, VerifiedBackup
from dr_drill.core.items.canonical import TypedItem
from dr_drill.core.plan.selection import Candidate, Selection, SelectionPolicy, select_backup
from dr_drill.core.restore.ownership import OwnershipKey
from dr_drill.core.sources.s3_export import (
    CHECKSUM_SUFFIXES,
    STARTED_NAME,
    SUMMARY_NAME,
    DataFile,
    ExportSummary,
    checksum_file_matches,
    export_folder_of,
    export_root,
    iter_export_items,
    parse_manifest_files,
    parse_summary,
    table_name_of_arn,
)
from dr_drill.errors import BackupCorrupt, BackupNotFound, RestoreIncomplete

_LISTED_LIMIT = 5  # export ids named in an error message


def _folders(s3: Any, bucket: str, root: str, page_size: int | None) -> tuple[list[str], list[str]]:
    """Return (export ids with a summary, export ids started but without one), over every page."""
    names: dict[str, set[str]] = {}
    for key in list_keys(s3, bucket, root, page_size=page_size):
        found = export_folder_of(key, root)
        if found and found[1] in (SUMMARY_NAME, STARTED_NAME):
            names.setdefault(found[0], set()).add(found[1])
    complete = sorted(export_id for export_id, files in names.items() if SUMMARY_NAME in files)
    incomplete = sorted(export_id for export_id, files in names.items() if SUMMARY_NAME not in files)
    return complete, incomplete


def read_summary(s3: Any, bucket: str, root: str, export_id: str) -> ExportSummary:
    try:
        raw = read_object(s3, bucket, f"{root}{export_id}/{SUMMARY_NAME}")
    except BackupNotFound as err:
        raise BackupNotFound(
            f"export {export_id} under s3://{bucket}/{root} is in progress or failed: it has no {SUMMARY_NAME}"
        ) from err
    return parse_summary(raw, export_id)


def _candidate(bucket: str, root: str, summary: ExportSummary) -> Candidate:
    return Candidate(
        location=f"s3://{bucket}/{root}{summary.export_id}/{SUMMARY_NAME}",
        taken_at=summary.export_time,
        ref={
            "bucket": bucket,
            "export_root": root,
            "export_id": summary.export_id,
            "export_arn": summary.export_arn,
            "table_arn": summary.table_arn,
            "item_count": summary.item_count,
        },
    )


def _refuse_other_table(summary: ExportSummary, table_name: str) -> None:
    exported = table_name_of_arn(summary.table_arn)
    if exported != table_name:
        raise BackupNotFound(
            f"export {summary.export_id} is of table {exported or summary.table_arn}, not {table_name}"
        )


def export_candidates(
    s3: Any, bucket: str, root: str, table_name: str, *, page_size: int | None = None
) -> tuple[list[Candidate], list[str], list[str]]:
    """Return the completed exports of ``table_name`` under ``root`` as candidates, and the ids of
    exports in progress or failed, and of exports of other tables."""
    complete, incomplete = _folders(s3, bucket, root, page_size)
    candidates, other_tables = [], []
    for export_id in complete:
        summary = read_summary(s3, bucket, root, export_id)
        if table_name_of_arn(summary.table_arn) == table_name:
            candidates.append(_candidate(bucket, root, summary))
        else:
            other_tables.append(export_id)
    return candidates, incomplete, other_tables


def select_export(
    s3: Any,
    bucket: str,
    export_prefix: str | None,
    table_name: str,
    policy: SelectionPolicy,
    *,
    now: datetime,
    seed_source: str,
    page_size: int | None = None,
) -> tuple[Selection, list[str]]:
    """Choose a completed export of ``table_name`` under ``export_prefix``, ordered by ``exportTime``.

    :returns: the selection and the ids of exports in progress or failed (never chosen).
    """
    root = export_root(export_prefix)
    if policy.policy == "explicit":
        export_id = policy.backup.rsplit("/export/", 1)[-1]  # an export id or an export ARN
        summary = read_summary(s3, bucket, root, export_id)
        _refuse_other_table(summary, table_name)
        chosen = _candidate(bucket, root, summary)
        record = {**policy.to_dict(), "choice": chosen.location}
        return Selection(chosen=chosen, fallbacks=(), considered=1, record=record), []
    candidates, incomplete, other_tables = export_candidates(s3, bucket, root, table_name, page_size=page_size)
    notes = []
    if incomplete:
        notes.append(f"{len(incomplete)} in progress or failed: {', '.join(incomplete[:_LISTED_LIMIT])}")
    if other_tables:
        notes.append(f"{len(other_tables)} of other tables: {', '.join(other_tables[:_LISTED_LIMIT])}")
    what = f"of table {table_name}: no completed export under s3://{bucket}/{root}"
    selection = select_backup(
        candidates,
        policy,
        now=now,
        seed_source=seed_source,
        what=what + (f" ({'; '.join(notes)})" if notes else ""),
    )
    return selection, incomplete


def read_data_files(s3: Any, bucket: str, root: str, export_id: str) -> list[DataFile]:
    """Read ``manifest-files.json`` after proving it against its checksum file."""
    summary = read_summary(s3, bucket, root, export_id)
    raw = read_object(s3, bucket, summary.manifest_files_key)
    _check_manifest_checksum(s3, bucket, summary.manifest_files_key, raw)
    return parse_manifest_files(raw, export_id)


def _check_manifest_checksum(s3: Any, bucket: str, manifest_key: str, raw: bytes) -> None:
    stem = manifest_key.removesuffix(".json")
    for suffix in CHECKSUM_SUFFIXES:
        try:
            written = s3.get_object(Bucket=bucket, Key=stem + suffix)["Body"].read()
        except ClientError as err:
            if is_missing(err):
                continue
            raise_named(err, f"cannot read s3://{bucket}/{stem + suffix}")
            raise
        if not checksum_file_matches(written, hashlib.md5(raw).digest()):
            raise BackupCorrupt(f"s3://{bucket}/{manifest_key} does not match its checksum file {stem + suffix}")
        return
    raise BackupCorrupt(f"s3://{bucket}/{manifest_key} has no checksum file ({' or '.join(CHECKSUM_SUFFIXES)})")


class _HashingReader:
    """A read-only file object that hashes the compressed bytes as gzip pulls them."""

    def __init__(self, body: Any) -> None:
        self._body = body
        self.md5 = hashlib.md5()
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        chunk = self._body.read(size) if size is not None and size >= 0 else self._body.read()
        self.md5.update(chunk)
        self.size += len(chunk)
        return chunk

    def drain(self) -> None:
        while self.read(1 << 16):
            pass


def _open_data_file(s3: Any, bucket: str, key: str) -> Any:
    try:
        return ResumingBody(s3, bucket, key, s3.get_object(Bucket=bucket, Key=key), RESUME_BACKOFF)
    except ClientError as err:
        if error_code(err) in ("NoSuchKey", "404", "NotFound"):
            raise BackupCorrupt(f"data file s3://{bucket}/{key} listed in the manifest is missing") from err
        raise_named(err, f"cannot read s3://{bucket}/{key}")
        raise


def _iter_lines(s3: Any, bucket: str, key: str, hashing: list[_HashingReader] | None = None) -> Iterator[bytes]:
    body = _open_data_file(s3, bucket, key)
    reader = _HashingReader(body)
    if hashing is not None:
        hashing.append(reader)
    try:
        with body, gzip.GzipFile(fileobj=reader, mode="rb") as lines:
            yield from lines
            reader.drain()
    except (OSError, EOFError, zlib.error) as err:
        raise BackupCorrupt(f"data file s3://{bucket}/{key} is not complete gzip ({type(err).__name__})") from err


def verify_data_file(s3: Any, bucket: str, data_file: DataFile) -> int:
    """Stream one data file: its MD5 and its item count must match the manifest. Returns its size in bytes."""
    hashing: list[_HashingReader] = []
    md5_failure = f"data file s3://{bucket}/{data_file.key} fails its MD5 check: not what was exported"
    try:
        count = sum(1 for _ in iter_export_items(_iter_lines(s3, bucket, data_file.key, hashing), data_file.key))
    except BackupCorrupt as err:
        # Damaged bytes are first a checksum finding; only a file that matches its MD5 is malformed at the source.
        if hashing:
            hashing[0].drain()
            if hashing[0].md5.digest() != data_file.md5:
                raise BackupCorrupt(md5_failure) from err
        raise
    reader = hashing[0]
    if reader.md5.digest() != data_file.md5:
        raise BackupCorrupt(md5_failure)
    if count != data_file.item_count:
        raise BackupCorrupt(
            f"data file s3://{bucket}/{data_file.key} holds {count} items, the manifest says {data_file.item_count}"
        )
    return reader.size


def verify_export(s3: Any, export: BackupRef, table_name: str) -> VerifiedBackup:
    """Prove an export: manifests against their checksum files, each data file's MD5 and count, the total.

    The only reader of the manifests: the data files it proves are what the restore reads.

    :param export: the located export (``bucket``, ``export_root``, ``export_id``).
    :raises BackupCorrupt: naming the first thing that is wrong.
    """
    bucket, root, export_id = export.bucket or "", export.export_root or "", export.export_id or ""
    summary_raw = read_object(s3, bucket, f"{root}{export_id}/{SUMMARY_NAME}")
    _check_manifest_checksum(s3, bucket, f"{root}{export_id}/{SUMMARY_NAME}", summary_raw)
    summary = parse_summary(summary_raw, export_id)
    exported = table_name_of_arn(summary.table_arn)
    if exported != table_name:
        raise BackupCorrupt(f"export {export_id} is of table {exported or summary.table_arn}, not {table_name}")
    data_files = read_data_files(s3, bucket, root, export_id)
    listed = sum(data_file.item_count for data_file in data_files)
    if listed != summary.item_count:
        raise BackupCorrupt(
            f"export {export_id}: its data files hold {listed} items, its summary says {summary.item_count}"
        )
    size = sum(verify_data_file(s3, bucket, data_file) for data_file in data_files)
    return VerifiedBackup(
        backup_timestamp=summary.export_time.isoformat(),
        item_count=summary.item_count,
        checksum_verified=True,
        size_bytes=size,
        export_arn=summary.export_arn,
        data_files=tuple(data_file.key for data_file in data_files),
        data_file_count=len(data_files),
    )


def iter_export_data(s3: Any, bucket: str, data_files: list[str]) -> Iterator[TypedItem]:
    """Yield the typed items of the given data files, one line at a time."""
    for key in data_files:
        yield from iter_export_items(_iter_lines(s3, bucket, key), key)


class S3ExportSource(SourceAdapter):
    """``{export_prefix}/AWSDynamoDB/{export-id}/``: streamed, or imported by ImportTable (``import_table``)."""

    source = BackupSource.S3_EXPORT

    @classmethod
    def restore_method(cls, spec: DrillSpec) -> RestoreMethod:
        return RestoreMethod.IMPORT_TABLE if spec.import_table else RestoreMethod.BATCH_WRITE

    def locate(self, spec: DrillSpec, policy: SelectionPolicy, *, now: datetime) -> LocatedBackup:
        selection, incomplete = select_export(
            self.clients.s3(),
            spec.backup_bucket or "",
            spec.export_prefix,
            spec.table_name,
            policy,
            now=now,
            seed_source=spec.drill_id,
            page_size=self.page_size,
        )
        return selection.located(self.source, incomplete_exports=tuple(incomplete[:20]))

    def candidates(self, spec: DrillSpec) -> list[Candidate]:
        root = export_root(spec.export_prefix)
        return export_candidates(self.clients.s3(), spec.backup_bucket or "", root, spec.table_name)[0]

    @staticmethod
    def copy_identity(candidate: Candidate) -> str | None:
        return candidate.ref["export_id"]  # replication keeps the export's folder and its id

    def verify(self, backup: BackupRef, table_name: str) -> VerifiedBackup:
        return verify_export(self.clients.s3(), backup, table_name)

    def iter_items(
        self, backup: BackupRef, verified: VerifiedBackup, data_files: list[str] | None = None
    ) -> Iterator[TypedItem]:
        files = list(verified.data_files) if data_files is None else data_files
        yield from iter_export_data(self.clients.s3(), backup.bucket or "", files)

    def start_restore(
        self, spec: DrillSpec, scratch: ScratchTable, located: LocatedBackup, *, key: OwnershipKey
    ) -> str | None:
        if scratch.definition is None:
            raise RestoreIncomplete("ImportTable needs the table's key schema and none is known")
        # An import an earlier try started (same client token) is resumed, not deleted and repeated.
        try:
            return resume_or_start_import(
                self.clients.dynamodb(), spec=spec, export=located, definition=scratch.definition, key=key
            )
        except ClientError as err:
            if error_code(err) == "ImportConflictException":
                raise RestoreIncomplete(
                    f"ImportTable into {scratch.name} refused: an earlier try of this run sent other parameters "
                    f"with the same client token (did the source's schema change?): {err}"[:500]
                ) from err
            raise

    def restore_state(self, name: str, import_arn: str | None) -> dict[str, Any]:
        return import_state(self.clients.dynamodb(), name=name, import_arn=import_arn or "")

    def made_by_drill(self, table: dict[str, Any], spec: DrillSpec, claim: ScratchClaim) -> bool:
        export = claim.located
        if export is None:
            return False
        ddb = self.clients.dynamodb()
        # The restore may have died before saving the import's ARN: find it, and prove it is this drill's.
        import_arn = claim.import_arn or find_drill_import(ddb, table, spec=spec, export=export)
        return bool(import_arn) and import_made(ddb, table, import_arn=import_arn, export=export)
