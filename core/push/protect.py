"""Protection of edits made on the board: a protected cell a person changed is kept, or asked about.

A column of the mapping with ``policy = "board_wins"`` or ``"ask"`` is protected. Before a batch's
CHANGED lines are sent, the ones whose changed columns include a protected one have their board
values read in bulk (``items(ids:)`` with ``column_values(ids:)`` of the protected columns only, at
most 100 items a request, each with an explicit limit, paced by the governor:
``core.monday.reads``), and each such cell is compared with what OrderSync last wrote there
(``core.monday.values``). A cell that differs was changed by a person:

- ``board_wins``: the cell is not sent; the line's other columns are. Production takes the board's
  value and ``MON_Decisions`` records it as KEPT, with the ERP's value beside it; the audit trail gets
  one KEPT row for it (``core.staging.audit.record_kept``: ``history`` shows it);
- ``ask``: the cell is not sent and waits in the decision list (OPEN) with both values; production
  keeps what OrderSync last wrote, so the line is not sent again until a planner decides
  (``core.staging.decisions``).

A cell whose board value is the ERP's already, a cell a planner chose the ERP for, and a cell nobody
touched are sent as today. A batch without protected columns, or without CHANGED lines in them,
reads nothing. The staged rows, the decisions and the KEPT audit rows change in one fenced
transaction, so a resumed batch never reads again (nor audits twice) what it already decided.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from core.db import schema as s
from core.monday.client import MondayApiClient
from core.monday.columns import Column
from core.monday.reads import BoardReader
from core.monday.values import board_form, ordersync_form
from core.source.columns import ASK, BOARD_WINS
from core.staging.audit import KeptCell, record_kept
from core.staging.decisions import Cell, forget, known_cells, record
from core.staging.operations import StagingOperations

log = logging.getLogger("core.push.run")

BOARD_WINS_BY = "the board_wins policy"  # who "decided" a cell kept by its column's policy


@dataclass
class Protected:
    """What the protection did in one batch: the reads it made and the cells it kept or held."""

    reads: int = 0
    kept: int = 0
    asked: int = 0


def protected_changes(changed: list[str] | None, protected: dict[str, str]) -> list[str]:
    """The protected columns among a line's changed ones."""
    return [label for label in changed or [] if label in protected]


class EditGuard:
    """Reads the board's protected cells of a batch's CHANGED lines and decides each one."""

    def __init__(
        self,
        client: MondayApiClient,
        staging: StagingOperations,
        board_id: str,
        protected: dict[str, str],
        item_columns: dict[str, Column],
    ) -> None:
        self.client = client
        self.staging = staging
        self.board_id = board_id
        self.protected = protected
        self.item_columns = item_columns
        self.done = Protected()

    def _rows(self, batch_id: int) -> list[dict[str, Any]]:
        t = s.stg_items
        with self.staging.engine.connect() as conn:
            rows = conn.execute(
                sa.select(
                    t.c.stg_id,
                    t.c.customer,
                    t.c.sync_key,
                    t.c.order_number,
                    t.c.monday_item_id,
                    t.c.values_json,
                    t.c.old_values_json,
                    t.c.changed_columns,
                ).where(
                    t.c.batch_id == batch_id,
                    t.c.state == s.PENDING,
                    t.c.action == s.UPDATE,
                    t.c.monday_item_id.is_not(None),
                    t.c.changed_columns.is_not(None),
                )
            ).mappings()
            return [
                dict(r) for r in rows if protected_changes(json.loads(r["changed_columns"] or "[]"), self.protected)
            ]

    def before_push(self, batch_id: int) -> Protected:
        """Read and decide the batch's protected cells (nothing is read without any)."""
        if not self.protected:
            return self.done
        rows = self._rows(batch_id)
        if not rows:
            return self.done
        columns = sorted({self.item_columns[label].id for label in self.protected if label in self.item_columns})
        reader = BoardReader(self.client)
        board = reader.by_ids([r["monday_item_id"] for r in rows], columns)
        self.done.reads += reader.counts.requests
        with self.staging.engine.connect() as conn:
            known = known_cells(conn, self.board_id, [r["sync_key"] for r in rows])
        staged: list[dict[str, Any]] = []
        cells: list[Cell] = []
        kept: list[KeptCell] = []
        sent_again: list[tuple[str, str]] = []
        for row in rows:
            item = board.get(str(row["monday_item_id"]))
            if item is None or item.state != "active":
                continue  # deleted or archived on the board: the board check before this handles it
            values = json.loads(row["values_json"])
            old = json.loads(row["old_values_json"] or "{}")
            changed = json.loads(row["changed_columns"])
            keep = list(changed)
            for label in protected_changes(changed, self.protected):
                column = self.item_columns.get(label)
                if column is None:
                    continue
                text, value = item.cells.get(column.id, (None, None))
                on_board = board_form(column.type, text, value)
                written = ordersync_form(column.type, old.get(label))
                erp = ordersync_form(column.type, values.get(label))
                prior = known.get((row["sync_key"], label))
                person = on_board != written or (
                    prior is not None and prior["status"] == s.DECISION_KEPT and on_board == prior["board_value"]
                )
                chosen_erp = prior is not None and prior["status"] == s.DECISION_USE_ERP
                if on_board == erp or chosen_erp or not person:
                    if prior is not None:
                        sent_again.append((row["sync_key"], label))
                    continue
                policy = self.protected[label]
                keep.remove(label)
                if policy == BOARD_WINS:
                    kept.append(
                        KeptCell(
                            batch_id,
                            row["customer"],
                            row["sync_key"],
                            row["order_number"],
                            row["monday_item_id"],
                            column.id,
                            column.title,
                            written=old.get(label),
                            board=on_board or None,
                            erp=values.get(label),
                        )
                    )
                    values[label] = on_board or None  # production follows the board
                    status = s.DECISION_KEPT
                    self.done.kept += 1
                    log.info(
                        "batch %s: %s, %s: kept the board's value %r, the ERP says %r",
                        batch_id,
                        row["order_number"] or row["sync_key"],
                        label,
                        on_board,
                        erp,
                    )
                else:  # ASK: production keeps what OrderSync last wrote until a planner decides
                    values[label] = old.get(label)
                    status = s.DECISION_OPEN
                    self.done.asked += 1
                cells.append(
                    Cell(
                        customer=row["customer"],
                        sync_key=row["sync_key"],
                        order_number=row["order_number"],
                        monday_item_id=row["monday_item_id"],
                        column_label=label,
                        column_id=column.id,
                        policy=policy if policy in (BOARD_WINS, ASK) else ASK,
                        board_value=on_board,
                        erp_value=erp,
                        written_value=written,
                        status=status,
                    )
                )
            if keep != changed:
                staged.append(
                    {
                        "b_id": row["stg_id"],
                        "values_json": json.dumps(values, ensure_ascii=False),
                        "changed_columns": json.dumps(keep, ensure_ascii=False),
                    }
                )
        with self.staging.owned(batch_id) as conn:
            if staged:
                t = s.stg_items
                conn.execute(
                    sa.update(t)
                    .where(t.c.stg_id == sa.bindparam("b_id"))
                    .values(values_json=sa.bindparam("values_json"), changed_columns=sa.bindparam("changed_columns")),
                    staged,
                )
            forget(conn, self.board_id, sent_again)
            record(conn, self.board_id, cells, known, BOARD_WINS_BY)
            record_kept(conn, kept, self.staging.owner.user, self.staging.owner.host)
        if self.done.kept or self.done.asked:
            log.info(
                "batch %s: %d cell(s) people changed on the board kept, %d wait for a planner's decision",
                batch_id,
                self.done.kept,
                self.done.asked,
            )
        return self.done
