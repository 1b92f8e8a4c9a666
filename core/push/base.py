"""ProcessorBase: what every phase of a batch shares — the board, the waits that heartbeat, progress.

``BatchProcessor`` (``core.push.run``) is built on it: ``PushPhases`` (``core.push.phases``) adds
the phases that send a staged batch, ``run`` the customers and their batches. Every wait of the
monday client (a 429, a backoff, the budget's pacing) goes through ``_sleep``, which keeps the
batch's heartbeat up and notices a cancel requested from any workstation.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from contextlib import AbstractContextManager
from typing import Protocol

from sqlalchemy.engine import Engine

from core.detect.changes import CustomerChanges
from core.foundation.config import HEARTBEAT_SLICE, Settings
from core.foundation.exceptions import BoardMismatch, OrderSyncError
from core.monday.client import MondayApiClient
from core.monday.columns import BoardMeta, Column
from core.monday.reads import read_board
from core.push.archive import BulkArchive
from core.push.payloads import PayloadBuilder
from core.push.progress import NullProgress, ProgressSink
from core.push.protect import EditGuard
from core.push.reconcile import BoardWatch, Lookup
from core.push.stream import RequestStream, StreamSettings
from core.source.mapping import Mapping
from core.staging.audit import AuditTrail
from core.staging.ledger import RequestLedger
from core.staging.operations import StagingOperations

# The processor's parts log under the name the log file has always shown for the push (people and tests filter on it).
log = logging.getLogger("core.push.run")

REPORT_EVERY = 0.25  # seconds between progress reports (each costs a query)


class EngineContextLike(Protocol):
    """What the processor needs of the engine context (``core.engine.context.EngineContext``)."""

    engine: Engine
    settings: Settings
    mapping: Mapping
    staging: StagingOperations

    @property
    def board_id(self) -> str: ...

    def detect(self, customers: Iterable[str]) -> list[CustomerChanges]: ...

    def one_run(self) -> AbstractContextManager[None]: ...


class ProcessorBase:
    """The processor's client, board, ledger and request stream; its waits and its progress reports."""

    def __init__(
        self,
        ctx: EngineContextLike,
        client: MondayApiClient,
        progress: ProgressSink | None = None,
        cancel: threading.Event | None = None,
        max_batch: int | None = None,
    ):
        self.ctx = ctx
        self.staging = ctx.staging
        self.client = client
        self.progress = progress or NullProgress()
        self.cancel = cancel or threading.Event()
        self.max_batch = max_batch or client.max_batch
        self.board_id = ctx.board_id
        settings = ctx.settings
        self.ledger = RequestLedger(self.staging)
        self.ledger.audit = AuditTrail(self.board_id, ctx.mapping.removal_policy)
        self.stream = RequestStream(
            client,
            self.ledger,
            self.board_id,
            StreamSettings(
                idempotency_keys=settings["monday.idempotency_keys"],
                late_apply=float(settings["monday.late_apply_seconds"]),
            ),
            self.wait,
        )
        self.lookup = Lookup(
            client,
            self.staging,
            self.ledger,
            self.board_id,
            lambda: self.sync_key_column.id,
            self.stream.settings.late_apply,
            self.wait,
            self._board_groups,
        )
        self.lookup.removal_policy = ctx.mapping.removal_policy
        self.bulk_archive = BulkArchive(
            client, self.staging, self.ledger, self.board_id, self.wait, self.cancel, settings["monday.bulk_archive"]
        )
        self._meta: BoardMeta | None = None
        self._payloads: PayloadBuilder | None = None
        self._watch: BoardWatch | None = None
        self._guard: EditGuard | None = None
        self._sync_key_column: Column | None = None
        self._batch_id: int | None = None  # the batch this process is running: its heartbeat goes on while waiting
        self._last_report = 0.0
        # Every wait of the client (a 429, backoff, the budget's pacing) heartbeats the batch.
        client.sleep = self._sleep
        client.governor.sleep = self._sleep

    # == setup ======================================================================================

    def board(self) -> BoardMeta:
        """Board metadata, read once per processor; titles resolved to ids with clear errors."""
        if self._meta is None:
            meta = read_board(self.client, self.board_id)
            mapping = self.ctx.mapping
            item_columns = meta.resolve(mapping.columns)
            if not meta.subitem_board_id:
                raise BoardMismatch(f"board {self.board_id} has no subitems column; add one so sizes can be sent")
            sub_columns = meta.resolve(mapping.subitem_columns, subitems=True)
            key_label = next((c.label for c in mapping.columns if c.source == "$key"), None)
            if key_label is None:
                raise OrderSyncError(
                    'the mapping has no column with source = "$key" (the SYNC KEY): '
                    "OrderSync could not find its items again after a crash"
                )
            self._sync_key_column = item_columns[key_label]
            audit = self.ledger.audit
            if audit is not None:  # the audit names the board's columns by id and title
                audit.item_columns = {label: (c.id, c.title) for label, c in item_columns.items()}
                audit.sub_columns = {label: (c.id, c.title) for label, c in sub_columns.items()}
            self._payloads = PayloadBuilder(
                self.board_id, meta.subitem_board_id, item_columns, sub_columns, mapping.removal_policy
            )
            self._watch = BoardWatch(
                self.client,
                self.staging,
                self.board_id,
                mapping.removal_policy,
                self.ctx.settings["sync.deleted_items"],
            )
            self._guard = EditGuard(self.client, self.staging, self.board_id, mapping.protected(), item_columns)
            self._meta = meta
        return self._meta

    @property
    def payloads(self) -> PayloadBuilder:
        """The payload builder for the board's columns (the board is read first, once)."""
        self.board()
        if self._payloads is None:  # never: ``board`` sets it or raises
            raise RuntimeError("the board was read without its payload builder")
        return self._payloads

    @property
    def watch(self) -> BoardWatch:
        """What people did on the board, read in bulk (the board is read first, once)."""
        self.board()
        if self._watch is None:  # never: ``board`` sets it or raises
            raise RuntimeError("the board was read without its watch")
        return self._watch

    @property
    def guard(self) -> EditGuard:
        """The protection of cells people changed on the board (the board is read first, once)."""
        self.board()
        if self._guard is None:  # never: ``board`` sets it or raises
            raise RuntimeError("the board was read without its edit guard")
        return self._guard

    @property
    def sync_key_column(self) -> Column:
        """The board's SYNC KEY column (the board is read first, once)."""
        self.board()
        if self._sync_key_column is None:  # never: ``board`` sets it or raises
            raise RuntimeError("the board was read without its SYNC KEY column")
        return self._sync_key_column

    def _board_groups(self) -> dict[str, str]:
        """The board's groups read again (after a group request whose outcome only the board knows)."""
        groups = self.client.board(self.board_id).groups
        if self._meta is not None:
            self._meta.groups.update(groups)
        return groups

    # == waiting ====================================================================================

    def _sleep(self, seconds: float) -> None:
        """Sleep in slices; between them the batch's heartbeat (and its cancel flag) is kept up to date."""
        end = time.monotonic() + max(seconds, 0.0)
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, HEARTBEAT_SLICE))
            if self._batch_id is not None and self.staging.heartbeat(self._batch_id, **self._request_counts()):
                self.cancel.set()

    def wait(self, seconds: float, why: str) -> None:
        if seconds <= 0:
            return
        log.info("waiting %.1f s: %s", seconds, why)
        self._sleep(seconds)

    def _request_counts(self) -> dict[str, int]:
        requests, retries = getattr(self, "_stats_at_start", (0, 0))
        stats = self.client.stats
        return {"api_calls": stats.requests - requests, "retries": stats.retries - retries}

    def _report(self, batch_id: int, force: bool = False) -> None:
        """Progress to the sink, at most a few times a second (it costs a query)."""
        now = time.monotonic()
        if not force and now - self._last_report < REPORT_EVERY:
            return
        self._last_report = now
        counts = self.staging.outcome_counts(batch_id)
        done = counts["succeeded"] + counts["failed"]
        self.progress.progress(batch_id, done, counts["total"], counts["succeeded"], counts["failed"])
