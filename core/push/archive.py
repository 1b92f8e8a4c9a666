"""The batch's removals archived in bulk, before the request stream sends the rest.

Under the ``archive`` removal policy (and in every undo, which archives the items a batch created),
a batch with ``BULK_FROM`` removals or more archives them with ``bulk_archive_items``
(``core.monday.jobs``): one mutation for up to ``BULK_IDS`` items instead of one each, so an undo of
1,000 created lines costs 2 mutations of the complexity budget instead of 1,000.

Exactly once, and audited once, without a stored request: archiving is idempotent, and the board
is the witness.

1. The rows are committed SENDING (without a request) before the mutation leaves.
2. The job is polled until it ends (or for ``JOB_WAIT_SECONDS``).
3. The items' states are read: an archived (or deleted) item settles its row as done and audited,
   in one fenced transaction; an item still active goes back to PENDING and the stream archives
   it with ``archive_item`` like any removal.
4. After a crash between 1 and 3, the next run finds the rows SENDING without a request; the look-up
   (``core.push.reconcile.Lookup``) reads the same states and settles them the same way.

Where monday refuses the fields (an API version without them), the removals go out one by one
with ``archive_item`` for the rest of the run; ``monday.bulk_archive = false`` does that always.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import sqlalchemy as sa

from core.db import schema as s
from core.monday.client import MondayApiClient
from core.monday.errors import MondayError
from core.monday.jobs import BulkArchiveUnavailable, start_bulk_archive, wait_for_job
from core.staging.ledger import RequestLedger, Settlement, apply_settlement
from core.staging.operations import StagingOperations

log = logging.getLogger("core.push.run")

BULK_FROM = 5  # fewer removals than this go out as archive_item in the stream's aliased requests
BULK_IDS = 500  # items per bulk_archive_items


class BulkArchive:
    """Archives a batch's pending removals in bulk; what it could not confirm is left to the stream."""

    def __init__(
        self,
        client: MondayApiClient,
        staging: StagingOperations,
        ledger: RequestLedger,
        board_id: str,
        wait: Callable[[float, str], None],
        cancel: threading.Event,
        enabled: bool = True,
    ):
        self.client = client
        self.staging = staging
        self.ledger = ledger
        self.board_id = board_id
        self.wait = wait
        self.cancel = cancel
        self.enabled = enabled
        self.poll = True  # job_status answered (or was not tried yet)
        self.archived = 0  # items confirmed archived this run

    def run(self, batch_id: int, report: Callable[[], None] = lambda: None) -> None:
        if not self.enabled:
            return
        rows = self._pending(batch_id)
        if len(rows) < BULK_FROM:
            return
        for start in range(0, len(rows), BULK_IDS):
            if self.cancel.is_set() or not self.enabled:
                return
            self._archive(batch_id, rows[start : start + BULK_IDS])
            report()

    def _pending(self, batch_id: int) -> list[tuple[int, str]]:
        t = s.stg_items
        query = (
            sa.select(t.c.stg_id, t.c.monday_item_id)
            .where(
                t.c.batch_id == batch_id,
                t.c.state == s.PENDING,
                t.c.action == s.REMOVE,
                t.c.monday_item_id.is_not(None),
            )
            .order_by(t.c.stg_id)
        )
        with self.staging.engine.connect() as conn:
            return [(r.stg_id, str(r.monday_item_id)) for r in conn.execute(query)]

    def _archive(self, batch_id: int, rows: list[tuple[int, str]]) -> None:
        ids = [stg_id for stg_id, _ in rows]
        self.staging.mark_sending(batch_id, s.stg_items, ids)
        try:
            job = start_bulk_archive(self.client, self.board_id, [item_id for _, item_id in rows])
        except BulkArchiveUnavailable as exc:
            log.warning("batch %s: %s", batch_id, exc.describe())
            self.enabled = False
            self.staging.reset_to_pending(batch_id, s.stg_items, ids)
            return
        except MondayError as exc:
            if not exc.outcome_unknown:  # certainly not applied: the rows go back, the failure is the run's
                self.staging.reset_to_pending(batch_id, s.stg_items, ids)
                raise
            log.warning("batch %s: bulk archive of %d items: %s; their states decide", batch_id, len(rows), exc)
            job = None
        status = None
        if job is not None and self.poll:
            try:
                status = wait_for_job(self.client, job, self.wait, self.cancel.is_set)
            except BulkArchiveUnavailable as exc:
                log.warning("batch %s: %s", batch_id, exc.describe())
                self.poll = False
        self._confirm(batch_id, rows, status)

    def _confirm(self, batch_id: int, rows: list[tuple[int, str]], status: str | None) -> None:
        """The board's states settle the rows: archived or gone is done, active is sent again one by one."""
        states = self.client.item_states(item_id for _, item_id in rows)
        settlement = Settlement()
        for stg_id, item_id in rows:
            if states.get(item_id, "deleted") in ("archived", "deleted"):
                settlement.items_ok.append((stg_id, item_id))
            else:
                settlement.items_again.append(stg_id)
        with self.staging.owned(batch_id) as conn:
            apply_settlement(self.staging, conn, batch_id, settlement, self.ledger.audit)
        self.archived += len(settlement.items_ok)
        log.info(
            "batch %s: archived %d items in bulk (job %s)%s",
            batch_id,
            len(settlement.items_ok),
            (status or "not ended").lower(),
            f"; {len(settlement.items_again)} still active go one by one" if settlement.items_again else "",
        )
