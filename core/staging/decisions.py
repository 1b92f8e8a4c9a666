"""Board edits met in protected columns: the cells kept, and the lines waiting for a planner's decision.

A column of the mapping with ``policy = "board_wins"`` or ``"ask"`` is protected: before the push
updates such a cell it compares the board's value with what OrderSync last wrote
(``core.push.protect``). A cell a person changed is recorded here, one row per line and column:

- ``KEPT``: the board's value was kept (``board_wins``, or a planner chose it). Production holds the
  board's value, and the row marks the cell as the person's: a later ERP change meets the same policy
  again while the board still holds that value. The audit trail gets a KEPT row in the same
  transaction (``core.staging.audit.record_kept``); a planner's choice is audited under the batch
  that met the cell, with the planner as who and the moment of the choice as when.
- ``OPEN``: the column asks; the cell waits in the decision list (``status``, ``decide``) with both
  values. Production keeps what OrderSync last wrote, so the line is not sent again meanwhile.
- ``USE_ERP``: a planner chose the ERP's value; the line is compared again on the next sync, which
  sends it, and the row goes.

Every write here is set-based and runs in the caller's transaction (the push's fenced one) or in one
of its own (a planner's decision). A planner's decision is refused while a sync of the cell's customer
runs or is left unfinished (``refuse_while_syncing``): that sync reads and records these cells itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from core.db import schema as s
from core.db.clock import database_now
from core.detect.changes import _chunks
from core.foundation.exceptions import CustomerBusy, OrderSyncError
from core.staging.audit import KeptCell, record_kept
from core.staging.batches import STATUS_WORDS, Owner, unfinished_batch
from core.staging.promote import STALE_LINE_HASH

KEEP_BOARD, USE_ERP = "keep-board", "use-erp"


class NoSuchDecision(OrderSyncError):
    """A decision asked for a line and column that does not wait for one (a usage error: exit 2)."""

    exit_code = 2


@dataclass(frozen=True)
class Cell:
    """One protected cell a person changed on the board, as the push met it."""

    customer: str
    sync_key: str
    order_number: str | None
    monday_item_id: str | None
    column_label: str
    column_id: str | None
    policy: str
    board_value: str
    erp_value: str
    written_value: str
    status: str


def known_cells(conn: Connection, board_id: str, keys: Iterable[str]) -> dict[tuple[str, str], dict[str, Any]]:
    """The recorded cells of these lines: (sync key, column label) -> row."""
    d = s.decisions
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for chunk in _chunks(sorted(set(keys))):
        for row in conn.execute(sa.select(d).where(d.c.board_id == board_id, d.c.sync_key.in_(chunk))).mappings():
            found[(row["sync_key"], row["column_label"])] = dict(row)
    return found


def forget(conn: Connection, board_id: str, cells: Iterable[tuple[str, str]]) -> None:
    """The cells' rows go (the ERP's value is sent there now): one executemany."""
    params = [{"b_key": key, "b_label": label} for key, label in cells]
    if params:
        d = s.decisions
        conn.execute(
            sa.delete(d).where(
                d.c.board_id == board_id,
                d.c.sync_key == sa.bindparam("b_key"),
                d.c.column_label == sa.bindparam("b_label"),
            ),
            params,
        )


def record(
    conn: Connection, board_id: str, cells: list[Cell], known: dict[tuple[str, str], dict[str, Any]], decided_by: str
) -> None:
    """The cells met by a push, replacing what was recorded for them; an open cell keeps its ``since``."""
    if not cells:
        return
    now = database_now(conn)
    forget(conn, board_id, [(c.sync_key, c.column_label) for c in cells])
    rows = []
    for cell in cells:
        before = known.get((cell.sync_key, cell.column_label))
        since = before["since"] if before is not None and before["status"] == cell.status == s.DECISION_OPEN else now
        kept = cell.status == s.DECISION_KEPT
        rows.append(
            {
                "board_id": board_id,
                "customer": cell.customer,
                "sync_key": cell.sync_key,
                "order_number": cell.order_number,
                "monday_item_id": cell.monday_item_id,
                "column_label": cell.column_label,
                "column_id": cell.column_id,
                "policy": cell.policy,
                "board_value": cell.board_value,
                "erp_value": cell.erp_value,
                "written_value": cell.written_value,
                "status": cell.status,
                "since": since,
                "updated_at": now,
                "decided_by": decided_by if kept else None,
                "decided_at": now if kept else None,
            }
        )
    conn.execute(sa.insert(s.decisions), rows)


def waiting(
    engine: Engine, board_id: str | None = None, customers: Iterable[str] | None = None
) -> list[dict[str, Any]]:
    """The cells that need a planner's decision, oldest first."""
    d = s.decisions
    query = sa.select(d).where(d.c.status == s.DECISION_OPEN)
    if board_id:
        query = query.where(d.c.board_id == board_id)
    if customers is not None:
        query = query.where(d.c.customer.in_(list(customers)))
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(query.order_by(d.c.since, d.c.decision_id)).mappings()]


def key_of_order(engine: Engine, board_id: str, order_number: str, column: str) -> str:
    """The sync key of the one line of an order whose cell in ``column`` waits for a decision."""
    d = s.decisions
    with engine.connect() as conn:
        keys = sorted(
            conn.execute(
                sa.select(d.c.sync_key).where(
                    d.c.board_id == board_id,
                    d.c.order_number == order_number,
                    d.c.status == s.DECISION_OPEN,
                    sa.or_(d.c.column_label == column, d.c.column_id == column),
                )
            ).scalars()
        )
    if not keys:
        raise NoSuchDecision(f"no decision waits for order {order_number!r} in the column {column!r}")
    if len(keys) > 1:
        raise NoSuchDecision(
            f"{len(keys)} lines of order {order_number!r} wait for a decision in the column {column!r}; "
            f"name one with --key: {'; '.join(keys)}"
        )
    key: str = keys[0]
    return key


def refuse_while_syncing(conn: Connection, board_id: str, customers: Iterable[str]) -> None:
    """Raise CustomerBusy, naming the customer and the batch, when a sync of one of them runs or was left
    unfinished: a decision waits until it has finished (nothing is changed)."""
    for customer in sorted(set(customers)):
        batch = unfinished_batch(conn, customer, board_id)
        if batch is None:
            continue
        words = STATUS_WORDS.get(batch.status, batch.status.lower())
        if batch.status in s.ACTIVE_BATCH_STATES:
            raise CustomerBusy(
                f"a sync of {customer} is running (batch {batch.batch_id}: {words}, "
                f"by {batch.owner_user} on {batch.owner_host}); decide when it has finished"
            )
        raise CustomerBusy(
            f"{customer} has an unfinished sync (batch {batch.batch_id}: {words}); decide when a sync has finished it"
        )


def customers_of(engine: Engine, board_id: str, cells: Iterable[tuple[str, str]]) -> list[str]:
    """The customers of these waiting cells ((sync key, column) each)."""
    d = s.decisions
    wanted = set(cells)
    keys = sorted({key for key, _ in wanted})
    found: set[str] = set()
    with engine.connect() as conn:
        for chunk in _chunks(keys):
            for r in conn.execute(
                sa.select(d.c.sync_key, d.c.column_label, d.c.column_id, d.c.customer).where(
                    d.c.board_id == board_id, d.c.sync_key.in_(chunk), d.c.status == s.DECISION_OPEN
                )
            ):
                if (r.sync_key, r.column_label) in wanted or (r.sync_key, r.column_id) in wanted:
                    found.add(r.customer)
    return sorted(found)


def _met_by(conn: Connection, board_id: str, row: Any) -> int | None:
    """The batch that last recorded the cell: the customer's newest batch started before that moment
    (a customer has one active batch at a time, so none started between it and the moment)."""
    b = s.batches
    query = sa.select(sa.func.max(b.c.batch_id)).where(b.c.board_id == board_id, b.c.customer == row["customer"])
    batch_id: int | None = conn.execute(query.where(b.c.started_at <= row["updated_at"])).scalar()
    return batch_id if batch_id is not None else conn.execute(query).scalar()


def _audit_kept(conn: Connection, board_id: str, row: Any, written: Any, owner: Owner) -> None:
    """The planner's keep in the audit trail: one KEPT row under the batch that met the cell."""
    batch_id = _met_by(conn, board_id, row)
    if batch_id is None:  # never: a cell is recorded by a batch of its customer
        return
    cell = KeptCell(
        batch_id,
        row["customer"],
        row["sync_key"],
        row["order_number"],
        row["monday_item_id"],
        row["column_id"],
        row["column_label"],
        written=written,
        board=row["board_value"] or None,
        erp=row["erp_value"],
    )
    record_kept(conn, [cell], owner.user, owner.host)


def decide(
    engine: Engine, board_id: str, sync_key: str, column: str, choice: str, owner: Owner | None = None
) -> dict[str, Any]:
    """A planner's choice for a cell that waits: ``keep-board`` or ``use-erp``; returns the cell's row.

    ``keep-board``: production takes the board's value, so the line is not asked again (the row, now
    KEPT, marks the cell as the person's). ``use-erp``: the line's hashes in production are made stale,
    so the next sync compares it again and sends the ERP's value there.
    """
    if choice not in (KEEP_BOARD, USE_ERP):
        raise ValueError(choice)
    d, p = s.decisions, s.items
    owner = owner or Owner.current()
    who = owner.label
    with engine.begin() as conn:
        row = (
            conn.execute(
                sa.select(d).where(
                    d.c.board_id == board_id,
                    d.c.sync_key == sync_key,
                    d.c.status == s.DECISION_OPEN,
                    sa.or_(d.c.column_label == column, d.c.column_id == column),
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            raise NoSuchDecision(f"no decision waits for the line {sync_key!r} in the column {column!r}")
        refuse_while_syncing(conn, board_id, [row["customer"]])
        now = database_now(conn)
        status = s.DECISION_KEPT if choice == KEEP_BOARD else s.DECISION_USE_ERP
        changed = conn.execute(
            sa.update(d)
            .where(d.c.decision_id == row["decision_id"], d.c.status == s.DECISION_OPEN)
            .values(status=status, decided_by=who, decided_at=now, updated_at=now)
        ).rowcount
        if changed != 1:  # a sync that started meanwhile recorded the cell again: nothing is changed
            raise CustomerBusy(
                f"a sync of {row['customer']} met this cell again a moment ago; decide again when it has finished"
            )
        where = sa.and_(p.c.board_id == board_id, p.c.sync_key == sync_key)
        if choice == KEEP_BOARD:
            values_json = conn.execute(sa.select(p.c.values_json).where(where)).scalar_one_or_none()
            values = json.loads(values_json) if values_json is not None else {}
            written = values.get(row["column_label"])
            if values_json is not None:
                values[row["column_label"]] = row["board_value"] or None
                conn.execute(sa.update(p).where(where).values(values_json=json.dumps(values, ensure_ascii=False)))
            _audit_kept(conn, board_id, row, written, owner)
        else:
            conn.execute(
                sa.update(p)
                .where(where)
                .values(content_hash=STALE_LINE_HASH, line_hash=STALE_LINE_HASH, source_hash=None)
            )
    decided = dict(row)
    decided["status"] = status
    return decided
