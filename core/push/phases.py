"""PushPhases: the phases that send one staged batch to monday and settle what comes back.

In the order ``BatchProcessor._process`` (``core.push.run``) runs them: what an earlier run left in
flight is settled (``_settle_open``), the items the batch writes to are checked on the board
(``_check_board``), protected cells people changed there are kept or held for a planner
(``_protect``, ``core.push.protect``), its groups exist (``_ensure_groups``), many removals are
archived in bulk (``_archive_in_bulk``, ``core.push.archive``), items and subitems are pushed in one
request stream (``_push``: plan, send, settle each answer), subitems left waiting fail with their
item (``_orphans``), and what monday confirmed is promoted (``_promote``).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from core.db import schema as s
from core.foundation.error_types import ErrorType
from core.foundation.exceptions import OrderSyncError
from core.monday.client import Mutation
from core.monday.columns import BoardMeta
from core.push.base import ProcessorBase, log
from core.push.payloads import Plan
from core.push.reconcile import BoardEdits, apply_board_edits
from core.push.stream import Answer, classify_answer
from core.staging.ledger import GROUP, Settlement, apply_settlement
from core.staging.operations import Failure


class PushPhases(ProcessorBase):
    """Phases 3 to 8 of a batch (see ``core.push.run``)."""

    # == what an earlier run left, and what people did on the board ================================

    def _settle_open(self, batch_id: int) -> None:
        """Requests an earlier run stored and did not settle: replayed under their key, or looked up."""
        for request in self.ledger.open_requests(batch_id):
            log.info(
                "batch %s: request %s of an earlier run (%d mutations) is settled first",
                batch_id,
                request.request_id,
                request.count,
            )
            answer = self.stream.deliver(request) if self.stream.can_replay(request) else None
            if answer is None:
                self.lookup.settle(request, "an earlier run's request is not settled")
                self._report_duplicates(batch_id)
            else:
                self._settle(batch_id, answer)
        items, subs = self.ledger.unrequested_sending(batch_id)
        if items or subs:  # left SENDING by a version without the ledger: the board is the only witness
            settlement = self.lookup.look_up(items, subs, [])
            with self.staging.owned(batch_id) as conn:
                apply_settlement(self.staging, conn, batch_id, settlement, self.ledger.audit)
            self._report_duplicates(batch_id)

    def _check_board(self, batch_id: int) -> None:
        """Items and subitems this batch writes to that a person deleted or archived on the board."""
        edits = self.watch.before_push(batch_id)
        if edits:
            self.watch.apply(batch_id, edits)

    def _protect(self, batch_id: int) -> None:
        """Protected cells of CHANGED lines a person changed on the board: kept, or held for a decision."""
        self.guard.before_push(batch_id)

    def _report_duplicates(self, batch_id: int) -> None:
        if self.lookup.duplicates:
            for key, ids in self.lookup.duplicates:
                log.error(
                    "batch %s: %d items on the board carry the sync key %r (%s); the oldest is kept",
                    batch_id,
                    len(ids),
                    key,
                    ", ".join(ids),
                )
            self.staging.report_duplicates(batch_id, self.lookup.duplicates)
            self.lookup.duplicates = []

    # == groups =====================================================================================

    def _ensure_groups(self, batch_id: int, meta: BoardMeta) -> None:
        """Every group the batch needs exists on the board: read once, created once, never per item."""
        names = self.staging.group_names(batch_id)
        missing = [name for name in names if name not in meta.groups]
        for start in range(0, len(missing), self.max_batch):
            chunk = missing[start : start + self.max_batch]
            mutations = [
                Mutation((GROUP, name, "create_group"), "create_group", {"board_id": self.board_id, "group_name": name})
                for name in chunk
            ]
            request, _ = self.stream.open(batch_id, mutations)  # (the push's own requests read the cancel flag)
            answer = self.stream.deliver(request)
            if answer is None:
                self.lookup.settle(request, "the outcome of a request creating groups is unknown")
            else:
                self._settle(batch_id, answer)
            log.info("batch %s: created groups %s", batch_id, ", ".join(chunk))
        still = [name for name in names if name not in meta.groups]
        if still:
            raise OrderSyncError(f"the groups {', '.join(still)} could not be created on board {self.board_id}")
        self.staging.set_group_ids(batch_id, {name: meta.groups[name] for name in names})

    # == the push ===================================================================================

    def in_bulk(self) -> bool:
        """Whether this processor archives many removals with one mutation (what its forecast counts)."""
        return self.bulk_archive.enabled and self.ctx.mapping.removal_policy == "archive"

    def _archive_in_bulk(self, batch_id: int) -> None:
        """Under the archive policy, many removals go out as one bulk_archive_items (``core.push.archive``)."""
        if self.payloads.removal_policy == "archive":
            self.bulk_archive.run(batch_id, lambda: self._report(batch_id))

    def _push(self, batch_id: int) -> bool:
        """Send everything pending; returns True when cancelled."""
        while True:
            if self.cancel.is_set():
                return True
            room = self.client.governor.allowance(self.max_batch)
            plan = self._plan(batch_id, room)
            if not plan.work:
                if plan.settled_without_request:
                    continue
                self._report(batch_id, force=True)
                self._orphans(batch_id)
                return False
            request, cancel = self.stream.open(batch_id, [m for w in plan.work for m in w.mutations])
            if cancel:
                self.cancel.set()
            answer = self.stream.deliver(request)
            if answer is None:
                self.lookup.settle(request, "the outcome of a request is unknown")
                self._report_duplicates(batch_id)
            else:
                self._settle(batch_id, answer, plan)
            self._report(batch_id)

    def _plan(self, batch_id: int, room: int) -> Plan:
        """Up to ``room`` mutations: subitems whose parent is known first (lines finish early), then items.

        Rows that need no request, or fail before one, are settled on the way in one transaction.
        """
        ops = self.staging
        plan = Plan()
        used = 0
        for table in (s.stg_subitems, s.stg_items):
            if used >= room:
                break
            for row in ops.pending_rows(batch_id, table, limit=room - used):
                mutations_before = len(plan.work)
                work = self.payloads.plan_row(table, row, plan)
                if work is None:
                    continue
                if used + len(work.mutations) > room and mutations_before:
                    plan.work.pop()  # it goes in the next request
                    break
                used += len(work.mutations)
            if plan.work:
                break
        if plan.settled_without_request:
            with ops.owned(batch_id) as conn:
                apply_settlement(
                    ops,
                    conn,
                    batch_id,
                    Settlement(
                        items_ok=plan.items_done,
                        subs_ok=plan.subs_done,
                        item_failures=plan.item_failures,
                        sub_failures=plan.sub_failures,
                    ),
                )
        return plan

    def _settle(self, batch_id: int, answer: Answer, plan: Plan | None = None) -> None:
        """Record an answer; writes that met an item people changed on the board are checked there first."""
        settlement, check, look_up = classify_answer(answer)
        edits = BoardEdits()
        if check:
            edits = self._board_edits_for(check, settlement, answer)
        if look_up:  # answered without a result: the request is over, so the board can tell at once
            found = self._look_up_rows(look_up)
            for name in ("items_ok", "subs_ok", "items_again", "subs_again"):
                getattr(settlement, name).extend(getattr(found, name))
        self.ledger.settle(
            answer.request,
            settlement,
            before=lambda conn: apply_board_edits(self.staging, conn, batch_id, self.board_id, edits),
        )
        if settlement.groups and self._meta is not None:
            self._meta.groups.update(settlement.groups)
        for outcome in answer.outcomes:
            if outcome.error is not None and outcome.error.error_type == ErrorType.RATE_LIMIT:
                self.client.governor.rate_limited(outcome.error.retry_after)
                break
        if plan is not None:
            self.payloads.learn_labels(
                plan.work,
                {m.key: o for m, o in zip([m for w in plan.work for m in w.mutations], answer.outcomes, strict=True)},
            )
        self._report_duplicates(batch_id)
        if edits.recreate_lines:  # re-created lines need their groups
            self._ensure_groups(batch_id, self.board())

    def _board_edits_for(self, check: dict[tuple[str, Any], str], settlement: Settlement, answer: Answer) -> BoardEdits:
        """Rows whose write met "not found" or an archived item: ask the board what happened."""
        t, st = s.stg_items, s.stg_subitems
        item_ids = [ref for (kind, ref) in check if kind != "sub"]
        sub_ids = [ref for (kind, ref) in check if kind == "sub"]
        with self.staging.engine.connect() as conn:
            items = (
                [dict(r) for r in conn.execute(sa.select(t).where(t.c.stg_id.in_(item_ids))).mappings()]
                if item_ids
                else []
            )
            subs = (
                [dict(r) for r in conn.execute(sa.select(st).where(st.c.stg_sub_id.in_(sub_ids))).mappings()]
                if sub_ids
                else []
            )
            # A subitem created under a parent that is gone: the parent's line is what to look at.
            parent_ids = sorted({r["parent_stg_id"] for r in subs if r["action"] == s.CREATE})
            parents = (
                [dict(r) for r in conn.execute(sa.select(t).where(t.c.stg_id.in_(parent_ids))).mappings()]
                if parent_ids
                else []
            )
        item_rows = [r for r in items if r["monday_item_id"]] + parents
        sub_rows = [r for r in subs if r["action"] != s.CREATE and r["monday_subitem_id"]]
        edits = self.watch.decide(item_rows, sub_rows)
        recreated_parents = set(edits.recreate_lines) | set(edits.held)
        handled = (
            {("item", i) for i in edits.recreate_lines}
            | {("item", i) for i in edits.held}
            | {("item", i) for i, _ in edits.items_done}
            | {("sub", i) for i in edits.recreate_subs}
            | {("sub", i) for i in edits.subs_held}
            | {("sub", i) for i, _ in edits.subs_done}
        )
        handled |= {("sub", r["stg_sub_id"]) for r in subs if r["parent_stg_id"] in recreated_parents}
        for (kind, ref), why in check.items():
            if (kind, ref) in handled:
                continue
            if why.startswith("the item it wrote to"):  # archived on the board, yet active now: it landed
                row = next(
                    (r for r in items + subs if (r.get("stg_id") if kind != "sub" else r.get("stg_sub_id")) == ref),
                    None,
                )
                ok = (ref, row["monday_item_id"] if kind != "sub" else row["monday_subitem_id"]) if row else (ref, None)
                (settlement.items_ok if kind != "sub" else settlement.subs_ok).append(ok)
                continue
            failure = Failure(ref, ErrorType.NOT_FOUND, why, False)
            (settlement.item_failures if kind != "sub" else settlement.sub_failures).append(failure)
        return edits

    def _look_up_rows(self, rows: list[tuple[str, int]]) -> Settlement:
        t, st = s.stg_items, s.stg_subitems
        item_ids = [ref for kind, ref in rows if kind != "sub"]
        sub_ids = [ref for kind, ref in rows if kind == "sub"]
        with self.staging.engine.connect() as conn:
            items = (
                [dict(r) for r in conn.execute(sa.select(t).where(t.c.stg_id.in_(item_ids))).mappings()]
                if item_ids
                else []
            )
            subs = (
                [dict(r) for r in conn.execute(sa.select(st).where(st.c.stg_sub_id.in_(sub_ids))).mappings()]
                if sub_ids
                else []
            )
        return self.lookup.look_up(items, subs, [])

    # == the end ====================================================================================

    def _orphans(self, batch_id: int) -> None:
        """Subitems still waiting at the end: their parent failed earlier (already recorded) — mark them."""
        rows = self.staging.pending_rows(batch_id, s.stg_subitems, states=(s.WAITING_PARENT,))
        self.staging.record_failures(
            batch_id,
            s.stg_subitems,
            [
                Failure(r["stg_sub_id"], ErrorType.PARENT_FAILED, "not sent: its item was not created", True)
                for r in rows
            ],
        )

    def _promote(self, batch_id: int) -> None:
        counts = self.staging.outcome_counts(batch_id)
        self.staging.promote(batch_id, self.board_id)
        self.staging.cleanup(batch_id)
        self.staging.add_counts(batch_id, counts, **self._request_counts())
