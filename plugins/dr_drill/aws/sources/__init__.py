"""One adapter per backup source; ``adapter_class`` is the one place a drill dispatches on its source."""

from __future__ import annotations

from typing import Any

from dr_drill.aws.sources.backup_copies import BackupVaultCopySource
from dr_drill.aws.sources.base import Clients, SourceAdapter
from dr_drill.aws.sources.native_backup import NativeBackupSource
from dr_drill.aws.sources.pitr import PitrSource
from dr_drill.aws.sources.s3_export import S3ExportSource
from dr_drill.aws.sources.s3_json import S3JsonSource
from dr_drill.constants import BackupSource

ADAPTERS: dict[BackupSource, type[SourceAdapter]] = {
    BackupSource.S3_JSON: S3JsonSource,
    BackupSource.S3_EXPORT: S3ExportSource,
    BackupSource.NATIVE_BACKUP: NativeBackupSource,
    BackupSource.PITR: PitrSource,
}


def adapter_class(source: BackupSource | str) -> type[SourceAdapter]:
    """Return the adapter of ``source``."""
    return ADAPTERS[BackupSource(source)]


def adapter_for(
    source: BackupSource | str,
    clients: Clients,
    *,
    page_size: int | None = None,
    recovery: dict[str, Any] | None = None,
) -> SourceAdapter:
    """Return the adapter of ``source``, handed the clients it may need.

    :param recovery: the drill's recovery block, when ``clients`` are the recovery side's: a
        native backup is then a copy in the recovery vault (its own adapter); S3 sources read
        the replicated bucket with their usual adapter.
    """
    chosen = BackupVaultCopySource if recovery and BackupSource(source) is BackupSource.NATIVE_BACKUP else None
    return (chosen or adapter_class(source))(clients, page_size=page_size, recovery=recovery)


__all__ = ["ADAPTERS", "Clients", "SourceAdapter", "adapter_class", "adapter_for"]
