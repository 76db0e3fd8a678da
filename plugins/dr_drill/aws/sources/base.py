"""The one small interface every backup source implements, and the clients it is handed.

A source owns its steps: ``locate`` (choose a backup), ``verify`` (prove it without
restoring), and either ``iter_items`` (a streamed restore: the items, for BatchWriteItem and
the content digest) or ``start_restore`` / ``restore_state`` / ``made_by_drill`` (a restore
DynamoDB runs itself). A new source is a subclass here, its pure format in
``dr_drill.core.sources``, and a line in ``BackupSource`` and in ``dr_drill.aws.sources``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, ClassVar

from botocore.exceptions import ClientError

from dr_drill.aws.server_side import MadeByDrill, backup_refused, remove_scratch_table, table_restore_state
from dr_drill.constants import BackupSource, RestoreMethod
from dr_drill.contracts import BackupRef, DrillSpec, LocatedBackup, ScratchClaim, ScratchTable, VerifiedBackup
from dr_drill.core.items.canonical import TypedItem
from dr_drill.core.plan.selection import Candidate, SelectionPolicy
from dr_drill.core.restore.ownership import OwnershipKey


class Clients:
    """The boto3 clients a source may need, made on first use by the factories the caller gives.

    The operators give factories built on the Amazon provider's hooks (connection, region,
    endpoint, assumed role); nothing here creates a client of its own.
    """

    def __init__(
        self, *, s3: Callable[[], Any], dynamodb: Callable[[], Any], backup: Callable[[], Any] | None = None
    ) -> None:
        self._factories = {"s3": s3, "dynamodb": dynamodb, "backup": backup}
        self._made: dict[str, Any] = {}

    def _get(self, name: str) -> Any:
        if name not in self._made:
            self._made[name] = self._factories[name]()
        return self._made[name]

    def s3(self) -> Any:
        return self._get("s3")

    def dynamodb(self) -> Any:
        return self._get("dynamodb")

    def backup(self) -> Any:
        """AWS Backup's client (the recovery side's copies of native backups)."""
        return self._get("backup")


class SourceAdapter(ABC):
    """A backup source: how its backups are located, verified, read and restored.

    :param page_size: entries per page when listing backups (the service's default when None).
    :param recovery: the drill's recovery block, when the clients are the recovery side's.
    """

    source: ClassVar[BackupSource]

    def __init__(
        self, clients: Clients, *, page_size: int | None = None, recovery: dict[str, Any] | None = None
    ) -> None:
        self.clients = clients
        self.page_size = page_size
        self.recovery = recovery

    @classmethod
    @abstractmethod
    def restore_method(cls, spec: DrillSpec) -> RestoreMethod:
        """How this drill's backup gets into the scratch table (needs no AWS call)."""

    @abstractmethod
    def locate(self, spec: DrillSpec, policy: SelectionPolicy, *, now: datetime) -> LocatedBackup:
        """Choose the backup to drill by ``policy``; ``now`` is the drill's start (a draw replays).

        :raises BackupNotFound: when no backup fits.
        """

    def candidates(self, spec: DrillSpec) -> list[Candidate]:
        """Every backup of the table this side holds, for the copy lag (the newest, and which have copies)."""
        raise TypeError(f"backups of source {self.source} have no copies on a recovery side")

    @staticmethod
    def copy_identity(candidate: Candidate) -> str | None:
        """What names a backup the same on both sides of a copy; None when a copy has a name of its own."""
        return None

    @abstractmethod
    def verify(self, backup: BackupRef, table_name: str) -> VerifiedBackup:
        """Prove what can be proven of ``backup`` without restoring it.

        :raises BackupCorrupt: naming the first thing that is wrong.
        """

    # A streamed restore (BatchWriteItem) --------------------------------------------------------

    def iter_items(
        self, backup: BackupRef, verified: VerifiedBackup, data_files: list[str] | None = None
    ) -> Iterator[TypedItem]:
        """Yield every item of the verified backup, in DynamoDB's typed form, in constant memory.

        :param data_files: only these of its data files (a share of a split restore).
        """
        raise TypeError(f"backups of source {self.source} are restored server-side, not streamed item by item")

    # A restore DynamoDB runs itself ---------------------------------------------------------------

    def start_restore(
        self, spec: DrillSpec, scratch: ScratchTable, located: LocatedBackup, *, key: OwnershipKey
    ) -> str | None:
        """Start the restore into the scratch name; return the id to follow it by (an import's ARN, a restore job's id).

        What an earlier try of this run left in the scratch name is removed first (guarded as
        in the teardown, ``key`` checking its owner tag).

        :raises BackupNotFound: when AWS refuses to restore the backup.
        """
        ddb = self.clients.dynamodb()
        claim = ScratchClaim(method=scratch.method, located=located)
        remove_scratch_table(ddb, spec, made_by_drill=self.made_by_drill_of(spec, claim), key=key)
        try:
            return self._start(ddb, spec, located)
        except ClientError as err:
            refused = backup_refused(err, f"{scratch.method} of {located.location}")
            if refused:
                raise refused from err
            raise

    def _start(self, ddb: Any, spec: DrillSpec, located: LocatedBackup) -> str | None:
        raise TypeError(f"backups of source {self.source} are streamed, not restored server-side")

    def restore_state(self, name: str, import_arn: str | None) -> dict[str, Any]:
        """Return ``{"state": "running" | "done" | "failed", ...}`` of the restore into ``name``."""
        return table_restore_state(self.clients.dynamodb(), name)

    def made_by_drill(self, table: dict[str, Any], spec: DrillSpec, claim: ScratchClaim) -> bool:
        """Whether DynamoDB shows that this drill's restore (``claim``) made ``table`` (DescribeTable's)."""
        return False

    def made_by_drill_of(self, spec: DrillSpec, claim: ScratchClaim) -> MadeByDrill | None:
        """The provenance check of ``claim``'s table, or None for a streamed restore's (tagged at creation)."""
        if not claim.method.server_side:
            return None
        return lambda table: self.made_by_drill(table, spec, claim)
