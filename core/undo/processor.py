"""UndoProcessor: the sync's BatchProcessor that plans, stages and runs the undo of a batch."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from core.db import schema as s
from core.db.clock import database_now
from core.detect.changes import _chunks
from core.drift.board import BoardReader
from core.drift.values import shown
from core.foundation.exceptions import OrderSyncError, SettingsError
from core.push.progress import BatchResult
from core.push.run import BatchProcessor
from core.staging.audit import ITEM_GROUP, ITEM_NAME
from core.staging.operations import Batch
from core.undo.parts import UNDONE_HASH, UndoAudit, UndoPayloads, forget_undone
from core.undo.plan import NOTHING_TO_UNDO, Cell, UndoPlan, _cell, _compare, _decode, _later_changes, _quantity


def _keep_whole(plan: UndoPlan, group: list[Cell], cell: Cell, why: str) -> None:
    """An item (or size) the batch created, changed since: left on the board, and in production, as it is."""
    head = group[0]
    whole = "item" if head.size is None else "size"
    cell.whole = whole
    cell.why = f"the batch created this {whole} and {why}; it stays on the board"
    plan.conflicts.append(cell)


class UndoProcessor(BatchProcessor):
    """The sync's processor with the undo's payloads (archive, delete a subitem) and audit kinds."""

    def board(self) -> Any:
        first = self._meta is None
        meta = super().board()
        if first:
            base = self._payloads
            assert base is not None
            self._payloads = UndoPayloads(
                base.board_id, base.subitem_board_id, base.item_columns, base.sub_columns, "archive"
            )
            audit = self.ledger.audit
            assert audit is not None
            undo_audit = UndoAudit(self.board_id, "archive", audit.item_columns, audit.sub_columns)
            self.ledger.audit = undo_audit
            self.lookup.removal_policy = "archive"
        return meta

    def plan(self, batch_id: int) -> UndoPlan:
        """What undoing ``batch_id`` does, with the board's current values read for its changed cells."""
        engine = self.ctx.engine
        with engine.connect() as conn:
            row = conn.execute(sa.select(s.batches).where(s.batches.c.batch_id == batch_id)).mappings().first()
            if row is None:
                raise SettingsError(f"there is no batch {batch_id}")
            if row["board_id"] != self.board_id:
                raise SettingsError(f"batch {batch_id} wrote to board {row['board_id']}, not to {self.board_id}")
            if row["undo_of_batch"] is not None:
                raise SettingsError(f"batch {batch_id} is itself the undo of batch {row['undo_of_batch']}")
            a = s.audit_log
            undoable = sa.select(a).where(a.c.batch_id == batch_id, a.c.kind.not_in(NOTHING_TO_UNDO))
            cells = [_cell(r) for r in conn.execute(undoable.order_by(a.c.audit_id))]
            later = _later_changes(conn, batch_id, cells)
        plan = UndoPlan(batch_id, row["customer"])
        created = {c.item_id for c in cells if c.size is None and c.kind in (s.CREATED, s.RECREATED)}
        # What the batch created, whole: (item, None) for an item with its sizes, (item, subitem) for a size.
        made: dict[tuple[str | None, str | None], list[Cell]] = {}
        candidates: list[Cell] = []
        for c in cells:
            if c.kind in (s.ARCHIVED, s.DELETED):
                plan.kept += 1
            elif c.kind in (s.CREATED, s.RECREATED):
                whole = (c.item_id, None if c.size is None or c.item_id in created else c.subitem_id)
                made.setdefault(whole, []).append(c)
            elif (c.item_id, c.subitem_id, c.column_id) in later:
                c.why = f"batch {later[(c.item_id, c.subitem_id, c.column_id)]} changed it later"
                plan.conflicts.append(c)
            else:
                candidates.append(c)
        later_by_item: dict[str | None, list[tuple[Any, Any, int]]] = {}
        for (item_id, sub_id, column_id), later_batch in later.items():
            later_by_item.setdefault(item_id, []).append((sub_id, column_id, later_batch))
        fresh: list[list[Cell]] = []
        for (item_id, sub_id), group in made.items():
            group.sort(key=lambda c: c.size is not None)  # the item's own cells first: the first names it
            changes = [(sb, col, b) for sb, col, b in later_by_item.get(item_id, []) if sub_id in (None, sb)]
            if not changes:
                fresh.append(group)
                continue
            sb, col, first = min(changes, key=lambda change: change[2])
            cell = next((c for c in group if (c.subitem_id, c.column_id) == (sb, col)), group[0])
            _keep_whole(plan, group, cell, f"batch {first} changed it later")
        self._against_board(candidates, fresh, plan)
        return plan

    def _against_board(self, candidates: list[Cell], fresh: list[list[Cell]], plan: UndoPlan) -> None:
        """Cells that still hold what the batch wrote are undone; the others are conflicts.

        ``fresh`` are the items and sizes the batch created (their cells): archived or deleted when every
        cell still holds what the batch wrote, kept whole as a conflict otherwise. The board is read once
        for all of them, items and sizes together (a request per hundred ids).
        """
        if not candidates and not fresh:
            return
        meta = self.board()
        audit = self.ledger.audit
        assert audit is not None
        items = {cid: self.payloads.item_columns[label] for label, (cid, _) in audit.item_columns.items()}
        subs = {cid: self.payloads.sub_columns[label] for label, (cid, _) in audit.sub_columns.items()}
        reader = BoardReader(self.client)
        every = candidates + [c for group in fresh for c in group]
        # Items and sizes in the same reads: monday answers items(ids:) for both boards at once.
        ids = [str(c.subitem_id if c.size is not None else c.item_id) for c in every]
        found = reader.by_ids(ids, sorted({str(c.column_id) for c in every}))
        titles = {gid: title for title, gid in meta.groups.items()}

        def on_board(c: Cell) -> Any:
            item = found.get(str(c.subitem_id if c.size is not None else c.item_id))
            return None if item is None or item.state not in (None, "active") else item

        for c in candidates:
            item = on_board(c)
            if item is None:
                c.why = "the item is no longer on the board"
                plan.conflicts.append(c)
                continue
            board, wrote = _compare(c, item, items if c.size is None else subs, titles)
            if board != wrote:
                c.why = f"the board holds {shown(board)} now"
                plan.conflicts.append(c)
            elif c.column_id == ITEM_GROUP[0]:
                plan.move.append(c)
            else:
                plan.restore.append(c)
        for group in fresh:
            head = group[0]
            if on_board(head) is None:  # archived or deleted on the board already: production forgets it
                (plan.archive if head.size is None else plan.delete).append(head)
                continue
            why = ""
            for c in group:
                item = on_board(c)
                if item is None:
                    why = f"its size {c.size} is no longer on the board"
                else:
                    board, wrote = _compare(c, item, items if c.size is None else subs, titles)
                    why = f"the board holds {shown(board)} now" if board != wrote else ""
                if why:
                    _keep_whole(plan, group, c, why)
                    break
            else:
                (plan.archive if head.size is None else plan.delete).append(head)

    # == running ======================================================================================

    def undo(self, batch_id: int) -> tuple[UndoPlan | None, BatchResult]:
        """Run (or resume) the undo of ``batch_id``; returns its plan (None when resumed) and result."""
        ops = self.staging
        engine = self.ctx.engine
        b = s.batches
        with engine.connect() as conn:
            undo_row = conn.execute(
                sa.select(b.c.batch_id, b.c.status, b.c.customer)
                .where(b.c.undo_of_batch == batch_id)
                .order_by(b.c.batch_id.desc())
            ).first()
        plan: UndoPlan | None = None
        if undo_row is not None and undo_row.status in (s.COMPLETED, s.COMPLETED_WITH_ERRORS, s.NO_CHANGES):
            raise SettingsError(f"batch {batch_id} was undone already, by batch {undo_row.batch_id}")
        if undo_row is None:
            plan = self.plan(batch_id)
            customer = plan.customer
        else:
            customer = undo_row.customer
            if undo_row.status in (s.FAILED, s.CANCELLED) and self._cut_short_undo(customer) is None:
                # Everything was sent and promoted; it failed bringing production in line: only that is left.
                return None, self._finish_idle(undo_row.batch_id, undo_row.status, customer)
        batch = ops.claim(customer, self.board_id)
        if undo_row is not None and batch.batch_id != undo_row.batch_id:
            raise OrderSyncError(
                f"{customer} has an unfinished batch {batch.batch_id}; let a sync finish it before the undo resumes"
            )
        if batch.status == s.STARTED:
            if plan is None:
                plan = self.plan(batch_id)
            if not self._stage(batch, plan):
                ops.set_status(batch.batch_id, s.NO_CHANGES, message=f"undo of batch {batch_id}: nothing to undo")
                return plan, self._result(batch.batch_id, customer)
        elif ops.batch(batch.batch_id)["undo_of_batch"] != batch_id:
            raise OrderSyncError(
                f"{customer} has an unfinished batch {batch.batch_id}; let a sync finish it before the undo"
            )
        result = self._run_batch(Batch(batch.batch_id, customer, s.STAGED, True, batch.generation), customer, None)
        return plan, result

    def _finish_idle(self, batch_id: int, status: str, customer: str) -> BatchResult:
        """An ended undo with nothing left in flight: production brought in line, and the batch completed.

        Nobody owns a batch that ended; the status it ended with is the guard against a second finisher.
        """
        b = s.batches
        with self.ctx.engine.begin() as conn:
            forget_undone(conn, batch_id, self.board_id)
            conn.execute(
                sa.update(b)
                .where(b.c.batch_id == batch_id, b.c.status == status)
                .values(status=s.COMPLETED, message=None, finished_at=database_now(conn))
            )
        return self._result(batch_id, customer)

    def _promote(self, batch_id: int) -> None:
        super()._promote(batch_id)
        with self.staging.owned(batch_id) as conn:
            forget_undone(conn, batch_id, self.board_id)

    def _stage(self, batch: Batch, plan: UndoPlan) -> bool:
        """The plan's rows in the staging tables of the undo batch, in one fenced transaction."""
        p, ps = s.items, s.subitems
        by_item: dict[str, list[Cell]] = {}
        for c in plan.archive + plan.restore + plan.move:
            by_item.setdefault(c.sync_key, []).append(c)
        for c in plan.delete:
            by_item.setdefault(c.sync_key, [])
        if not by_item:
            with self.staging.owned(batch.batch_id, undo_of_batch=plan.batch_id):
                pass
            return False
        archived = {c.sync_key for c in plan.archive}
        with self.staging.owned(batch.batch_id, undo_of_batch=plan.batch_id) as conn:
            now = database_now(conn)
            lines: dict[str, Any] = {}
            sub_rows: dict[tuple[str, str], Any] = {}
            for chunk in _chunks(list(by_item)):  # (a few hundred keys a statement: SQL Server's limit)
                query = sa.select(p).where(p.c.board_id == self.board_id, p.c.sync_key.in_(chunk))
                lines.update((r.sync_key, r) for r in conn.execute(query))
                query = sa.select(ps).where(ps.c.board_id == self.board_id, ps.c.parent_sync_key.in_(chunk))
                sub_rows.update(((r.parent_sync_key, r.size_label), r) for r in conn.execute(query))
            items_total = subs_total = 0
            for key, cells in by_item.items():
                line = lines.get(key)
                if line is None:  # production no longer knows it: nothing to bring in line
                    continue
                stg_id = self._stage_item(conn, batch.batch_id, plan, line, cells, key in archived, now)
                items_total += 1
                if key in archived:
                    continue
                subs_total += self._stage_subs(conn, batch.batch_id, plan, stg_id, key, sub_rows, now)
            conn.execute(
                sa.update(s.batches)
                .where(s.batches.c.batch_id == batch.batch_id)
                .values(status=s.STAGED, staged_at=now, total_items=items_total, total_subitems=subs_total)
            )
        return items_total > 0

    def _stage_item(
        self, conn: Connection, batch_id: int, plan: UndoPlan, line: Any, cells: list[Cell], archive: bool, now: Any
    ) -> int:
        values = json.loads(line.values_json)
        labels: list[str] = []
        name, group = line.item_name, line.group_name
        if not archive:
            audit = self.ledger.audit
            assert audit is not None
            by_id = {cid: label for label, (cid, _) in audit.item_columns.items()}
            for c in cells:
                if c.column_id == ITEM_NAME[0]:
                    name, label = c.before or "", "name"
                elif c.column_id == ITEM_GROUP[0]:
                    group, label = c.before, "group"
                else:
                    label = by_id.get(str(c.column_id), str(c.column_id))
                values[label] = _decode(c.before, values.get(label))
                labels.append(label)
        subs_only = not archive and not labels
        t = s.stg_items
        result = conn.execute(
            sa.insert(t).values(
                batch_id=batch_id,
                customer=line.customer,
                sync_key=line.sync_key,
                order_number=line.order_number,
                po_number=line.po_number,
                action=s.REMOVE if archive else s.NONE if subs_only else s.UPDATE,
                state=s.PENDING,
                item_name=name,
                group_name=group,
                group_id=None if "group" in labels else line.group_id,
                monday_item_id=line.monday_item_id,
                values_json=json.dumps(values, ensure_ascii=False),
                old_values_json=line.values_json,
                changed_columns=json.dumps(labels),
                content_hash=line.content_hash if subs_only else UNDONE_HASH,
                line_hash=UNDONE_HASH,
                source_hash=None,
                attempts=0,
                created_at=now,
            )
        )
        stg_id: int = result.inserted_primary_key[0]  # type: ignore[index]
        return stg_id

    def _stage_subs(
        self,
        conn: Connection,
        batch_id: int,
        plan: UndoPlan,
        stg_id: int,
        key: str,
        sub_rows: dict[tuple[str, str], Any],
        now: Any,
    ) -> int:
        audit = self.ledger.audit
        assert audit is not None
        by_id = {cid: label for label, (cid, _) in audit.sub_columns.items()}
        restores: dict[str, list[Cell]] = {}
        for c in plan.restore:
            if c.sync_key == key and c.size is not None:
                restores.setdefault(c.size, []).append(c)
        deletes = {c.size for c in plan.delete if c.sync_key == key}
        rows = []
        for size in sorted(set(restores) | {d for d in deletes if d is not None}):
            sub = sub_rows.get((key, size))
            if sub is None:
                continue
            values = json.loads(sub.values_json)
            # A sync never renames a size (its name is the order's and the size's), so no name is set back.
            labels, quantity = [], sub.quantity
            for c in restores.get(size, []):
                if quantity is not None and c.sent == str(quantity):  # the size's quantity column
                    quantity = _quantity(c.before)
                label = by_id.get(str(c.column_id), str(c.column_id))
                values[label] = _decode(c.before, values.get(label))
                labels.append(label)
            rows.append(
                {
                    "batch_id": batch_id,
                    "parent_stg_id": stg_id,
                    "customer": sub.customer,
                    "parent_sync_key": key,
                    "size_label": size,
                    "size_position": 0,
                    "action": s.REMOVE if size in deletes else s.UPDATE,
                    "state": s.PENDING,
                    "subitem_name": sub.subitem_name,
                    "parent_monday_item_id": sub.parent_monday_item_id,
                    "monday_subitem_id": sub.monday_subitem_id,
                    "quantity": quantity,
                    "values_json": json.dumps(values, ensure_ascii=False),
                    "old_values_json": sub.values_json,
                    "changed_columns": json.dumps(labels),
                    "content_hash": UNDONE_HASH,
                    "attempts": 0,
                    "created_at": now,
                }
            )
        if rows:
            conn.execute(sa.insert(s.stg_subitems), rows)
        return len(rows)
