"""Promotion and cleanup: what monday confirmed goes into the production tables, the rest is removed.

``promote`` upserts the batch's confirmed rows into the production tables, set-based, resolves their
errors (``core.staging.errors``) and deletes those staging rows (an item stays, PROMOTED, while some
of its subitems are still staged); ``cleanup`` removes the rest of the finished rows (invalid,
failed, and promoted parents whose subitems are gone). ``StagingPromotion`` is a part of
``core.staging.operations.StagingOperations``.
"""

from __future__ import annotations

import sqlalchemy as sa

from core.db import schema as s
from core.db.bulk import refresh_statistics
from core.staging.batches import log, utcnow
from core.staging.errors import StagingErrors

STALE_LINE_HASH = "0" * 40  # stored when some subitem of a line was not confirmed: the line stays pending
STATISTICS_THRESHOLD = 1_000  # staged rows above which the planner's statistics are refreshed
TERMINAL_ROW_STATES = (s.PROMOTED, s.INVALID, s.API_FAILED)


class StagingPromotion(StagingErrors):
    """The end of a batch's rows: promoted into production, or cleaned up."""

    def promote(self, batch_id: int, board_id: str) -> dict[str, int]:
        """Upsert every confirmed row of the batch into the production tables, set-based.

        Portable upsert: UPDATE … FROM the staging rows that exist in production, then INSERT …
        SELECT the rest, in one transaction (one active batch per customer means no other writer
        touches these keys). A line some of whose subitems were not confirmed keeps a stale
        line hash, so the next run compares it again and sends what is still missing.
        """
        now = utcnow()
        t, st, p, ps = s.stg_items, s.stg_subitems, s.items, s.subitems
        with self.owned(batch_id) as conn:
            # The rows' states changed since they were staged: plan with what is there now.
            refresh_statistics(conn, t.c.batch_id, t.c.state, st.c.batch_id, st.c.state)
            ok_items = sa.and_(t.c.batch_id == batch_id, t.c.state == s.API_SUCCESS)
            conn.execute(
                sa.update(p)
                .where(p.c.board_id == board_id, p.c.sync_key == t.c.sync_key, ok_items)
                .values(
                    customer=t.c.customer,
                    monday_item_id=t.c.monday_item_id,
                    group_id=sa.func.coalesce(t.c.group_id, p.c.group_id),
                    group_name=t.c.group_name,
                    item_name=t.c.item_name,
                    order_number=sa.func.coalesce(t.c.order_number, p.c.order_number),
                    po_number=sa.func.coalesce(t.c.po_number, p.c.po_number),
                    values_json=t.c.values_json,
                    content_hash=t.c.content_hash,
                    line_hash=t.c.line_hash,
                    source_hash=t.c.source_hash,
                    is_removed=sa.case((t.c.action == s.REMOVE, sa.true()), else_=sa.false()),
                    last_synced_at=now,
                    last_batch_id=batch_id,
                    board_state=None,
                )
            )
            exists = sa.select(p.c.sync_key).where(p.c.board_id == board_id, p.c.sync_key == t.c.sync_key).exists()
            conn.execute(
                sa.insert(p).from_select(
                    [
                        "board_id",
                        "sync_key",
                        "customer",
                        "monday_item_id",
                        "group_id",
                        "group_name",
                        "item_name",
                        "order_number",
                        "po_number",
                        "values_json",
                        "content_hash",
                        "line_hash",
                        "source_hash",
                        "is_removed",
                        "first_synced_at",
                        "last_synced_at",
                        "last_batch_id",
                    ],
                    sa.select(
                        sa.literal(board_id, s.MONDAY_ID),
                        t.c.sync_key,
                        t.c.customer,
                        t.c.monday_item_id,
                        t.c.group_id,
                        t.c.group_name,
                        t.c.item_name,
                        t.c.order_number,
                        t.c.po_number,
                        t.c.values_json,
                        t.c.content_hash,
                        t.c.line_hash,
                        t.c.source_hash,
                        sa.case((t.c.action == s.REMOVE, sa.true()), else_=sa.false()),
                        sa.literal(now, sa.DateTime),
                        sa.literal(now, sa.DateTime),
                        sa.literal(batch_id, sa.Integer),
                    ).where(ok_items, ~exists),
                )
            )
            ok_subs = sa.and_(st.c.batch_id == batch_id, st.c.state == s.API_SUCCESS)
            conn.execute(
                sa.update(ps)
                .where(
                    ps.c.board_id == board_id,
                    ps.c.parent_sync_key == st.c.parent_sync_key,
                    ps.c.size_label == st.c.size_label,
                    ok_subs,
                )
                .values(
                    monday_subitem_id=st.c.monday_subitem_id,
                    parent_monday_item_id=st.c.parent_monday_item_id,
                    subitem_name=st.c.subitem_name,
                    quantity=st.c.quantity,
                    values_json=st.c.values_json,
                    content_hash=st.c.content_hash,
                    is_removed=sa.case((st.c.action == s.REMOVE, sa.true()), else_=sa.false()),
                    last_synced_at=now,
                    last_batch_id=batch_id,
                )
            )
            sub_exists = (
                sa.select(ps.c.size_label)
                .where(
                    ps.c.board_id == board_id,
                    ps.c.parent_sync_key == st.c.parent_sync_key,
                    ps.c.size_label == st.c.size_label,
                )
                .exists()
            )
            conn.execute(
                sa.insert(ps).from_select(
                    [
                        "board_id",
                        "parent_sync_key",
                        "size_label",
                        "customer",
                        "monday_subitem_id",
                        "parent_monday_item_id",
                        "subitem_name",
                        "quantity",
                        "values_json",
                        "content_hash",
                        "is_removed",
                        "first_synced_at",
                        "last_synced_at",
                        "last_batch_id",
                    ],
                    sa.select(
                        sa.literal(board_id, s.MONDAY_ID),
                        st.c.parent_sync_key,
                        st.c.size_label,
                        st.c.customer,
                        st.c.monday_subitem_id,
                        st.c.parent_monday_item_id,
                        st.c.subitem_name,
                        st.c.quantity,
                        st.c.values_json,
                        st.c.content_hash,
                        sa.case((st.c.action == s.REMOVE, sa.true()), else_=sa.false()),
                        sa.literal(now, sa.DateTime),
                        sa.literal(now, sa.DateTime),
                        sa.literal(batch_id, sa.Integer),
                    ).where(ok_subs, ~sub_exists),
                )
            )
            # Lines with a subitem that was not confirmed stay pending for the next run.
            confirmed = (s.API_SUCCESS, s.PROMOTED)
            unconfirmed = sa.select(st.c.parent_sync_key).where(st.c.batch_id == batch_id, st.c.state.not_in(confirmed))
            conn.execute(
                sa.update(p)
                .where(p.c.board_id == board_id, p.c.sync_key.in_(unconfirmed))
                .values(line_hash=STALE_LINE_HASH, source_hash=None)
            )
            # A line promoted before (a cancelled or failed run of this batch) whose last subitems are
            # confirmed now is complete: it gets its line hash back, so it is not pending any more.
            done_line = sa.and_(
                t.c.batch_id == batch_id,
                t.c.state == s.PROMOTED,
                t.c.sync_key == p.c.sync_key,
                ~sa.select(st.c.stg_sub_id)
                .where(st.c.parent_stg_id == t.c.stg_id, st.c.state.not_in(confirmed))
                .exists(),
            )
            # IN (the batch's promoted keys) first: evaluated once, it spares a scan of the whole board
            # when, as usual, nothing of the batch was promoted before.
            promoted_before = sa.select(t.c.sync_key).where(t.c.batch_id == batch_id, t.c.state == s.PROMOTED)
            conn.execute(
                sa.update(p)
                .where(
                    p.c.board_id == board_id,
                    p.c.sync_key.in_(promoted_before),
                    p.c.line_hash == STALE_LINE_HASH,
                    sa.select(t.c.stg_id).where(done_line).exists(),
                )
                .values(
                    line_hash=sa.select(t.c.line_hash).where(done_line).scalar_subquery(),
                    source_hash=sa.select(t.c.source_hash).where(done_line).scalar_subquery(),
                )
            )
            self._resolve_synced(conn, batch_id, ok_items, ok_subs, now)
            # Promoted rows are finished: deleted here rather than marked PROMOTED for ``cleanup`` to
            # delete (an update of every row and its index entry, then a delete of each). Only an
            # item some of whose subitems are still staged stays, PROMOTED, as their parent.
            promoted_subs = conn.execute(sa.delete(st).where(ok_subs)).rowcount
            still_parent = sa.select(st.c.stg_sub_id).where(st.c.parent_stg_id == t.c.stg_id).exists()
            promoted_items = conn.execute(sa.delete(t).where(ok_items, ~still_parent)).rowcount
            promoted_items += conn.execute(sa.update(t).where(ok_items).values(state=s.PROMOTED)).rowcount
            if promoted_items + promoted_subs > STATISTICS_THRESHOLD:
                refresh_statistics(conn, p.c.board_id, ps.c.board_id)
        log.info("batch %s: recorded %s lines and %s sizes as on the board", batch_id, promoted_items, promoted_subs)
        return {"items": promoted_items, "subitems": promoted_subs}

    def cleanup(self, batch_id: int) -> int:
        """Remove the batch's finished staging rows (promoted, invalid, failed: ERR keeps those)."""
        t, st = s.stg_items, s.stg_subitems
        with self.owned(batch_id) as conn:
            # Subitems first: they reference their parent's staging row.
            removed = conn.execute(
                sa.delete(st).where(st.c.batch_id == batch_id, st.c.state.in_(TERMINAL_ROW_STATES))
            ).rowcount
            # NOT EXISTS, not NOT IN: an anti-join on every dialect, never a subquery per row.
            still_parent = sa.select(st.c.stg_sub_id).where(st.c.parent_stg_id == t.c.stg_id).exists()
            removed += conn.execute(
                sa.delete(t).where(t.c.batch_id == batch_id, t.c.state.in_(TERMINAL_ROW_STATES), ~still_parent)
            ).rowcount
        return removed
