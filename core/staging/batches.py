"""Batches: claiming (or resuming) a customer's batch, its fence and heartbeat, its status and counts.

A batch is one customer. ``claim`` creates (or resumes) its row in ``MON_BatchProcessing``; the
database's filtered unique index allows one active batch per customer across processes and
workstations. Every claim and takeover raises the batch's owner generation, and ``owned`` checks it
in the same transaction as every write of the owner. ``StagingBatches`` is the base the other parts
of ``core.staging.operations.StagingOperations`` build on: they write only through ``owned``.
"""

from __future__ import annotations

import datetime as dt
import getpass
import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psutil
import sqlalchemy as sa
from sqlalchemy.engine import Connection, CursorResult, Engine

from core import __version__
from core.db import schema as s
from core.db.clock import database_now, db_utcnow
from core.foundation.exceptions import BatchTakenOver, CustomerBusy

# The staging parts log under the name the log file has always shown for them (people and tests filter on it).
log = logging.getLogger("core.staging.operations")

# What a batch's status means, as the log says it when the batch enters it.
STATUS_WORDS = {
    s.STARTED: "started",
    s.STAGED: "lines ready to send",
    s.PUSHING: "sending to monday",
    s.PROMOTING: "recording what monday confirmed",
    s.COMPLETED: "done",
    s.COMPLETED_WITH_ERRORS: "done, with lines that could not be sent (see Failed lines)",
    s.FAILED: "stopped; it resumes on the next sync",
    s.CANCELLED: "cancelled; it resumes on the next sync",
    s.NO_CHANGES: "done, nothing to send",
}

UNFINISHED_ROW_STATES = (s.PENDING, s.WAITING_PARENT, s.SENDING, s.API_SUCCESS)


def utcnow() -> dt.datetime:
    """Naive UTC, the form every timestamp column holds."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class Owner:
    """Who runs a batch: workstation, user and process."""

    host: str
    user: str
    pid: int
    app: str = f"OrderSync {__version__}"

    @classmethod
    def current(cls) -> Owner:
        try:
            user = getpass.getuser()
        except (ImportError, KeyError, OSError):  # no login name (a service account without one; no pwd module)
            user = "unknown"
        return cls(socket.gethostname()[:128], user[:128], os.getpid())

    @property
    def label(self) -> str:
        return f"{self.user}@{self.host}"

    def columns(self) -> dict[str, Any]:
        return {"owner_host": self.host, "owner_user": self.user, "owner_pid": self.pid, "owner_app": self.app}


@dataclass
class Batch:
    batch_id: int
    customer: str
    status: str
    resumed: bool = False
    generation: int = 1


class StagingBatches:
    """The batch rows: who owns a batch, its status, its heartbeat and its counts."""

    def __init__(self, engine: Engine, owner: Owner | None = None, stale_after_seconds: int = 120):
        self.engine = engine
        self.owner = owner or Owner.current()
        self.stale_after = dt.timedelta(seconds=stale_after_seconds)
        self._generations: dict[int, int] = {}  # batch id -> the owner generation this process holds

    # == batches ====================================================================================

    def claim(self, customer: str, board_id: str) -> Batch:
        """Own the customer's batch: resume an unfinished one, or start a new one.

        Raises CustomerBusy when another process holds a live batch (fresh heartbeat, by the
        database's clock). The database's unique index on active batches settles races between
        workstations; every claim and takeover raises the batch's owner generation, the fencing
        token every later write of the owner checks.
        """
        b = s.batches
        unfinished = _unfinished_work()
        with self.engine.begin() as conn:
            rows = conn.execute(
                sa.select(
                    b.c.batch_id,
                    b.c.status,
                    b.c.heartbeat_at,
                    b.c.owner_host,
                    b.c.owner_pid,
                    b.c.owner_user,
                    b.c.owner_generation,
                    # a CASE, not the bare predicate: T-SQL allows no boolean expression in a select list
                    sa.case((unfinished, 1), else_=0).label("unfinished"),
                    db_utcnow().label("now"),
                )
                .where(b.c.customer == customer, b.c.board_id == board_id, _running_or_unfinished(unfinished))
                .order_by(b.c.batch_id.desc())
            ).all()
        for row in rows:
            if row.status in s.ACTIVE_BATCH_STATES:
                mine = row.owner_host == self.owner.host and row.owner_pid == self.owner.pid
                dead = row.owner_host == self.owner.host and not mine and not _process_alive(row.owner_pid)
                if not mine and not dead and row.heartbeat_at > row.now - self.stale_after:
                    raise CustomerBusy(
                        f"{customer} is being synced by {row.owner_user}@{row.owner_host} (batch {row.batch_id}); "
                        "try again when it has finished"
                    )
                why = "resumed" if mine else "its process is gone" if dead else "its heartbeat went stale"
                return self._take_over(row, customer, why)
            if row.unfinished:
                return self._take_over(row, customer, f"it ended {row.status}")
        try:
            with self.engine.begin() as conn:
                now = database_now(conn)
                batch_id = inserted_id(
                    conn.execute(
                        sa.insert(b).values(
                            customer=customer,
                            board_id=board_id,
                            status=s.STARTED,
                            started_at=now,
                            heartbeat_at=now,
                            cancel_requested=False,
                            owner_generation=1,
                            **self.owner.columns(),
                            **_zero_counts(),
                        )
                    )
                )
        except sa.exc.IntegrityError:
            raise CustomerBusy(f"{customer} was claimed by another process a moment ago; try again later") from None
        self._generations[batch_id] = 1
        log.info("batch %s: started for %s", batch_id, customer)
        return Batch(batch_id, customer, s.STARTED, generation=1)

    def _take_over(self, row: Any, customer: str, why: str) -> Batch:
        """Resume a batch row: optimistic on its owner generation, so two resumers cannot both win."""
        b = s.batches
        status = row.status if row.status in s.ACTIVE_BATCH_STATES else s.STAGED
        generation = row.owner_generation + 1
        try:
            with self.engine.begin() as conn:
                result = conn.execute(
                    sa.update(b)
                    .where(
                        b.c.batch_id == row.batch_id,
                        b.c.status == row.status,
                        b.c.owner_generation == row.owner_generation,
                    )
                    .values(
                        status=status,
                        heartbeat_at=db_utcnow(),
                        cancel_requested=False,
                        finished_at=None,
                        owner_generation=generation,
                        **self.owner.columns(),
                    )
                )
        except sa.exc.IntegrityError:
            raise CustomerBusy(f"{customer} already has an active batch in another process") from None
        if result.rowcount != 1:
            raise CustomerBusy(f"{customer}: batch {row.batch_id} was taken over by another process")
        self._generations[row.batch_id] = generation
        log.info("batch %s: picked up again for %s (%s)", row.batch_id, customer, why)
        return Batch(row.batch_id, customer, status, resumed=True, generation=generation)

    @contextmanager
    def owned(self, batch_id: int, **values: Any) -> Iterator[Connection]:
        """A transaction that writes for the batch only while this process still owns it.

        The fence: the batch row's heartbeat (and ``values``) is updated where the owner generation is
        still ours, in the same transaction as the writes that follow, so a process whose batch was
        taken over raises BatchTakenOver before it writes, let alone sends, anything.
        """
        generation = self._generations.get(batch_id)
        with self.engine.begin() as conn:
            fenced = (
                generation is not None
                and conn.execute(
                    sa.update(s.batches)
                    .where(s.batches.c.batch_id == batch_id, s.batches.c.owner_generation == generation)
                    .values(heartbeat_at=db_utcnow(), **values)
                ).rowcount
                == 1
            )
            if not fenced:
                self._generations.pop(batch_id, None)
                raise BatchTakenOver(
                    f"batch {batch_id} is no longer ours: another process resumed it after our heartbeat went stale"
                )
            yield conn

    def owns(self, batch_id: int) -> bool:
        return batch_id in self._generations

    def cancel_requested(self, conn: Connection, batch_id: int) -> bool:
        b = s.batches
        return bool(conn.execute(sa.select(b.c.cancel_requested).where(b.c.batch_id == batch_id)).scalar())

    def heartbeat(self, batch_id: int, **values: Any) -> bool:
        """Refresh the heartbeat (and any counts given). Returns True if a cancel was requested.

        Raises BatchTakenOver when another process has resumed the batch meanwhile.
        """
        with self.owned(batch_id, **values) as conn:
            return self.cancel_requested(conn, batch_id)

    def set_status(self, batch_id: int, status: str, message: str | None = None, **values: Any) -> None:
        phase = {s.STAGED: "staged_at", s.PUSHING: "push_started_at", s.PROMOTING: "promoting_at"}
        if status in phase:
            values.setdefault(phase[status], db_utcnow())
        if status in s.FINAL_BATCH_STATES:
            values.setdefault("finished_at", db_utcnow())
        if message is not None:
            values["message"] = message
        with self.owned(batch_id, status=status, **values):
            pass
        # Plain words: the window's log pane shows this line; the status code stays in the batch row.
        log.info("batch %s: %s%s", batch_id, STATUS_WORDS.get(status, status), f" ({message})" if message else "")

    def request_cancel(self, batch_id: int) -> bool:
        """Ask an active batch, on any workstation, to stop after its request in flight.

        Returns whether the batch was active (a finished batch is left alone).
        """
        b = s.batches
        with self.engine.begin() as conn:
            return (
                conn.execute(
                    sa.update(b)
                    .where(b.c.batch_id == batch_id, b.c.status.in_(s.ACTIVE_BATCH_STATES))
                    .values(cancel_requested=True)
                ).rowcount
                == 1
            )

    def batch(self, batch_id: int) -> dict[str, Any]:
        with self.engine.connect() as conn:
            return dict(conn.execute(sa.select(s.batches).where(s.batches.c.batch_id == batch_id)).mappings().one())

    def outcome_counts(self, batch_id: int) -> dict[str, int]:
        """What the batch's staged rows have come to so far, by kind (before cleanup removes them)."""
        counts = dict.fromkeys(_COUNTED, 0)
        with self.engine.connect() as conn:
            for name, table in (("items", s.stg_items), ("subitems", s.stg_subitems)):
                query = (
                    sa.select(table.c.action, table.c.state, table.c.recreate, sa.func.count())
                    .where(table.c.batch_id == batch_id)
                    .group_by(table.c.action, table.c.state, table.c.recreate)
                )
                for action, state, recreate, n in conn.execute(query):
                    if state == s.INVALID:
                        continue
                    counts["total"] += n
                    if state in (s.SENDING, s.API_SUCCESS, s.API_FAILED, s.PROMOTED):
                        counts["sent"] += n
                    if state in (s.API_SUCCESS, s.PROMOTED):
                        counts["succeeded"] += n
                        if action == s.CREATE and recreate:
                            counts[f"{name}_recreated"] += n
                        elif action == s.CREATE:
                            counts[f"{name}_created"] += n
                        elif action == s.REMOVE:
                            counts["removed"] += n
                        elif action == s.UPDATE:
                            counts[f"{name}_updated"] += n
                    elif state == s.API_FAILED:
                        counts["failed"] += n
        return counts

    def add_counts(self, batch_id: int, counts: dict[str, int], **absolute: Any) -> None:
        """Add a run's outcome counts to the batch row (a resumed batch adds its second run)."""
        b = s.batches
        columns = {
            "sent": "sent_count",
            "succeeded": "succeeded_count",
            "failed": "failed_count",
            "items_created": "items_created",
            "items_updated": "items_updated",
            "subitems_created": "subitems_created",
            "subitems_updated": "subitems_updated",
            "removed": "removed_count",
            "items_recreated": "items_recreated",
            "subitems_recreated": "subitems_recreated",
        }
        values = {column: b.c[column] + counts.get(key, 0) for key, column in columns.items()}
        with self.owned(batch_id, **values, **absolute):
            pass

    def row_counts(self, batch_id: int) -> dict[str, dict[str, int]]:
        """Staged rows of a batch by table and state."""
        counts: dict[str, dict[str, int]] = {}
        with self.engine.connect() as conn:
            for name, table in (("items", s.stg_items), ("subitems", s.stg_subitems)):
                query = (
                    sa.select(table.c.state, sa.func.count())
                    .where(table.c.batch_id == batch_id)
                    .group_by(table.c.state)
                )
                counts[name] = dict(conn.execute(query).all())
        return counts


_COUNTED = (
    "total",
    "sent",
    "succeeded",
    "failed",
    "items_created",
    "items_updated",
    "subitems_created",
    "subitems_updated",
    "removed",
    "items_recreated",
    "subitems_recreated",
)


def _unfinished_work() -> sa.ColumnElement[bool]:
    """A batch row's work not finished: staged rows still under way, or a request not settled."""
    b = s.batches
    return sa.or_(
        *(
            sa.select(t.c.batch_id).where(t.c.batch_id == b.c.batch_id, t.c.state.in_(UNFINISHED_ROW_STATES)).exists()
            for t in (s.stg_items, s.stg_subitems)
        ),
        sa.select(s.requests.c.request_id).where(s.requests.c.batch_id == b.c.batch_id).exists(),
    )


def _running_or_unfinished(unfinished: sa.ColumnElement[bool]) -> sa.ColumnElement[bool]:
    """A batch a sync holds (active), or one that ended cancelled or failed with work left: the next
    sync resumes it (``claim``)."""
    b = s.batches
    return sa.or_(b.c.status.in_(s.ACTIVE_BATCH_STATES), sa.and_(b.c.status.in_((s.CANCELLED, s.FAILED)), unfinished))


def unfinished_batch(conn: Connection, customer: str, board_id: str) -> Any:
    """The customer's newest batch a sync runs or will resume (as ``claim`` finds it), or None.

    What must not change under a sync: a planner's decision waits until it has finished.
    """
    b = s.batches
    return conn.execute(
        sa.select(b.c.batch_id, b.c.status, b.c.owner_user, b.c.owner_host)
        .where(b.c.customer == customer, b.c.board_id == board_id, _running_or_unfinished(_unfinished_work()))
        .order_by(b.c.batch_id.desc())
    ).first()


def inserted_id(result: CursorResult[Any]) -> int:
    """The primary key of the row a single-row INSERT just wrote."""
    key = result.inserted_primary_key
    if key is None:  # never for sa.insert(table).values(...) of one row
        raise RuntimeError("the database reported no key for the row just inserted")
    value: int = key[0]
    return value


def _process_alive(pid: int) -> bool:
    """Whether a process of this workstation still runs, on every OS (psutil; a process of another user
    counts as running). No start time is stored with the pid, so a reused pid reads as alive: then the
    heartbeat decides, as it always does for other workstations."""
    return psutil.pid_exists(pid)


# The counters of a batch (MON_BatchProcessing), as BatchResult reports them: one list for both.
BATCH_COUNTS: tuple[str, ...] = (
    "total_items",
    "total_subitems",
    "invalid_count",
    "sent_count",
    "succeeded_count",
    "failed_count",
    "items_created",
    "items_updated",
    "subitems_created",
    "subitems_updated",
    "removed_count",
    "items_recreated",
    "subitems_recreated",
    "api_calls",
    "retries",
)


def _zero_counts() -> dict[str, int]:
    return dict.fromkeys(BATCH_COUNTS, 0)
