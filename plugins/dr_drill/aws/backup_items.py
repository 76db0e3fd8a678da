"""The items of a located backup, streamed in DynamoDB's typed form, whatever the backup's format."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from dr_drill.aws.s3_backups import open_backup
from dr_drill.aws.s3_exports import iter_export_data
from dr_drill.core.items import TypedItem
from dr_drill.core.json_backup import iter_typed_items
from dr_drill.core.selection import BackupRef


def iter_backup_items(s3: Any, located: dict[str, Any], data_files: list[str] | None = None) -> Iterator[TypedItem]:
    """Yield every item of the backup the locate step returned, in constant memory.

    :param located: the locate step's result; ``source`` says how to read it.
    :param data_files: for an ``s3_export``, only these of its data files (a restore split over tasks).
    """
    source = located.get("source", "s3_json")
    if source == "s3_export":
        yield from iter_export_data(s3, located["bucket"], located["data_files"] if data_files is None else data_files)
        return
    if source != "s3_json":
        raise ValueError(f"backups of source {source} are restored server-side, not streamed item by item")
    backup = open_backup(s3, BackupRef(bucket=located["bucket"], key=located["key"], timestamp=None))
    with backup.body:
        yield from iter_typed_items(backup.body)
