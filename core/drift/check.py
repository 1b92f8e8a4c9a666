"""The drift check: what people changed on the board since OrderSync last wrote to it, per customer.

It compares the board with the production tables (what OrderSync last promoted: item and subitem
ids, sync keys, the values written) and changes nothing, on the board or in the database. Per
customer it finds:

- cells a person changed (the board's value against OrderSync's, compared in one normalised form
  per column type, ``core.drift.values``), the item's name and group included; sizes too;
- items (and sizes) deleted or archived on the board: an id OrderSync knows that is not active;
- items carrying a sync key OrderSync does not know (or none), and sizes OrderSync did not create;
- sync keys on two or more items (and one size twice under an item).

Which items belong to a customer: its groups are the ones its lines were put in (production's group
ids) and, when the mapping's group name starts with ``{customer}``, every group whose title starts
with the customer's name. An item OrderSync knows belongs to its line's customer wherever it is; an
item it does not know, to the customer its CUSTOMER column names, else to its group's customer. A
known item a group did not show is looked up by id: moved elsewhere (compared there), archived, or
deleted. Subitems are read from the subitems board, page by page, and kept when their parent is an
item of the customers checked. A line OrderSync removed itself is no drift under any removal
policy: archived or deleted under "archive" and "delete", marked under "mark", and under "report"
compared without the removal values (recorded, never sent).

Before anything is read beyond the board's columns and groups, ``forecast`` says what the check
will cost: requests, complexity points and the time at the board's budget.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy.engine import Engine

from core.drift.board import BOARD_PAGE_POINTS, SUBITEM_POINTS, BoardItem, BoardReader, groups_plan, read_plan
from core.drift.known import Known, read_production
from core.drift.results import CustomerDrift, DriftCancelled, DriftReport, Forecast
from core.drift.values import board_form, ordersync_form, shown
from core.foundation.exceptions import BoardMismatch, OrderSyncError
from core.monday.client import MondayApiClient
from core.monday.columns import BoardMeta, Column
from core.monday.reads import ReadsCancelled, read_board
from core.source.mapping import Mapping

DEFAULT_BUDGET = 10_000_000  # monday's points a minute for a personal token, until the board's answer says
DEFAULT_WINDOW = 60.0


class DriftCheck:
    """Reads the board and the production tables for some customers; ``forecast``, then ``run``."""

    def __init__(
        self,
        engine: Engine,
        mapping: Mapping,
        board_id: str,
        client: MondayApiClient,
        customers: Iterable[str],
        *,
        subitems: bool = True,
        limit: int | None = None,
        cancel: threading.Event | None = None,
        on_read: Callable[[int], None] | None = None,
    ) -> None:
        self.engine = engine
        self.mapping = mapping
        self.board_id = str(board_id)
        self.client = client
        self.customers = list(dict.fromkeys(customers))
        self.with_subitems = subitems
        # Set from any thread (Ctrl+C, the window's Stop checking): the reads stop after the request in
        # flight, and ``run`` raises ``DriftCancelled`` instead of returning a partial report.
        self.cancel = cancel or threading.Event()
        self.reader = BoardReader(client, limit, cancel=self.cancel, on_read=on_read)
        self._meta: BoardMeta | None = None
        self._planned = False
        self._requests_before = client.stats.requests

    # == the plan =================================================================================

    def _board(self) -> BoardMeta:
        if self._meta is None:
            meta = read_board(self.client, self.board_id)
            self.columns = meta.resolve(self.mapping.columns)
            key_label = next((c.label for c in self.mapping.columns if c.source == "$key"), None)
            if key_label is None:
                raise OrderSyncError('the mapping has no column with source = "$key" (the SYNC KEY)')
            self.key_column: Column = self.columns[key_label]
            customer_label = next((c.label for c in self.mapping.columns if c.source == "$customer"), None)
            self.customer_column = self.columns.get(customer_label) if customer_label else None
            if self.with_subitems:
                if not meta.subitem_board_id:
                    raise BoardMismatch(f"board {self.board_id} has no subitems column")
                self.sub_columns = meta.resolve(self.mapping.subitem_columns, subitems=True)
            self._meta = meta
        return self._meta

    def _plan_groups(self, meta: BoardMeta) -> None:
        """The groups to read, each with the customers it belongs to and the items expected in it."""
        on_board = set(meta.groups.values())
        by_prefix = self.mapping.group_name.startswith("{customer}")
        self.groups: dict[str, list[str]] = {}
        self.expected: dict[str, int] = {}
        for line in self.known.values():
            if line.group_id in on_board and not line.expect_gone:
                self.groups.setdefault(line.group_id, [])
                if line.customer not in self.groups[line.group_id]:
                    self.groups[line.group_id].append(line.customer)
                self.expected[line.group_id] = self.expected.get(line.group_id, 0) + 1
        if by_prefix:
            for title, group_id in meta.groups.items():
                for customer in self.customers:
                    if title == customer or title.startswith(customer + " "):
                        owners = self.groups.setdefault(group_id, [])
                        if customer not in owners:
                            owners.append(customer)

    def forecast(self) -> Forecast:
        """What the check will read, from the board's groups and the production tables; reads nothing more."""
        meta = self._board()
        if not self._planned:
            known = read_production(self.engine, self.board_id, self.customers, self.mapping, self.with_subitems)
            self.known, self.keys, self.known_subs = known.items, known.keys, known.subitems
            self.board_subitems = known.board_subitems
            self._plan_groups(meta)
            self._planned = True
        limit = self.reader.limit
        reads, points = groups_plan([(g, self.expected.get(g, 0)) for g in self.groups], limit)
        if self.with_subitems:
            more, cost = read_plan(self.board_subitems, limit, BOARD_PAGE_POINTS, SUBITEM_POINTS)
            reads += more
            points += cost
        governor = self.client.governor
        budget = int(governor.budget_limit or DEFAULT_BUDGET)
        window = float(governor.window or DEFAULT_WINDOW)
        return Forecast(
            reads=reads,
            points=points,
            seconds=round(points / budget * window, 3),
            budget=budget,
            window=window,
            groups=len(self.groups),
            items=sum(1 for k in self.known.values() if not k.expect_gone),
            subitems=self.board_subitems if self.with_subitems else 0,
            board_reads=self.client.stats.requests - self._requests_before,
        )

    # == the check ================================================================================

    def run(self) -> DriftReport:
        """The report of the whole board; ``DriftCancelled`` (how far it got) when ``cancel`` was set meanwhile."""
        if self.cancel.is_set():
            raise DriftCancelled(0, None)
        forecast = self.forecast()
        # While the check runs, the client's waits (the budget, a retry's backoff) end at a cancel too.
        client, governor = self.client, self.client.governor
        sleeps = client.sleep, governor.sleep
        client.sleep = governor.sleep = self.reader.cancellable_sleep
        try:
            return self._run(forecast)
        except ReadsCancelled as stopped:
            raise DriftCancelled(stopped.requests, forecast.reads) from None
        finally:
            client.sleep, governor.sleep = sleeps

    def _run(self, forecast: Forecast) -> DriftReport:
        meta = self._board()
        started = time.monotonic()
        drift = {c: CustomerDrift(c) for c in self.customers}
        item_columns = sorted({c.id for c in self.columns.values()})
        titles = {gid: title for title, gid in meta.groups.items()}

        seen: dict[str, BoardItem] = {}
        expected = [(g, self.expected.get(g, 0)) for g in self.groups]
        for group_id, item in self.reader.group_items(self.board_id, expected, item_columns):
            item.group_title = titles.get(group_id)
            seen[item.id] = item
        missing = [i for i, k in self.known.items() if i not in seen and not k.expect_gone]
        looked_up = self.reader.by_ids(missing, item_columns) if missing else {}
        for item_id in missing:
            answer = looked_up.get(item_id)
            if answer is not None and answer.state == "active":
                seen[item_id] = answer  # moved to a group of another customer, or of nobody's
                continue
            gone = self.known[item_id]
            drift[gone.customer].gone.append(self._gone(gone, answer.state if answer is not None else "deleted"))

        owners = {
            item_id: self._owner(item, self.groups.get(item.group_id or "", [])) for item_id, item in seen.items()
        }
        for item_id, item in seen.items():
            line = self.known.get(item_id)
            if line is not None:
                drift[line.customer].items_checked += 1
                drift[line.customer].changed += self._item_changes(line, item, titles)
        self._census(seen, owners, drift)
        if self.with_subitems:
            self._subitems(meta, seen, drift)
        elapsed = time.monotonic() - started
        counts = self.reader.counts
        reads = {
            "requests": counts.requests,
            "points": counts.points,
            "seconds": round(elapsed, 3),
            "waited": round(counts.waited, 3),
            "answering": round(counts.answering, 3),
            "by_kind": dict(counts.by_kind),
        }
        return DriftReport(self.board_id, forecast, list(drift.values()), reads, self.with_subitems)

    def _gone(self, line: Known, state: str) -> dict[str, Any]:
        entry = {
            "sync_key": line.key,
            "order_number": line.order_number,
            "item_id": line.id,
            "state": state if state in ("archived", "deleted") else "deleted",
            "noticed": line.noticed is not None,
        }
        if line.size is not None:
            entry["size"] = line.size
        return entry

    def _owner(self, item: BoardItem, group_customers: list[str]) -> str | None:
        """The customer checked that an item belongs to, or None (another customer's, or nobody's)."""
        line = self.known.get(item.id)
        if line is not None:
            return line.customer
        key = self._key_of(item)
        if key and key in self.keys:
            customer = self.keys[key][1]
            return customer if customer in self.customers else None
        if self.customer_column is not None:
            named = board_form(self.customer_column.type, *item.cells.get(self.customer_column.id, (None, None)))
            if named in self.customers:
                return named
        return group_customers[0] if group_customers else None

    def _key_of(self, item: BoardItem) -> str:
        text, value = item.cells.get(self.key_column.id, (None, None))
        return board_form(self.key_column.type, text, value)

    def _item_changes(self, line: Known, item: BoardItem, titles: dict[str, str]) -> list[dict[str, Any]]:
        changes = []
        for label, ours in line.values.items():
            if label == "name":
                board, written = item.name, str(ours or "")
            elif label == "group":
                board = item.group_title or titles.get(item.group_id or "", "") or ""
                written = str(ours or "")
            else:
                column = self.columns.get(label)
                if column is None:
                    continue
                board = board_form(column.type, *item.cells.get(column.id, (None, None)))
                written = ordersync_form(column.type, ours)
            if board != written:
                changes.append(
                    {
                        "sync_key": line.key,
                        "order_number": line.order_number,
                        "item_id": line.id,
                        "column": label,
                        "board": shown(board),
                        "ordersync": shown(written),
                    }
                )
        return changes

    def _census(
        self, seen: dict[str, BoardItem], owners: dict[str, str | None], drift: dict[str, CustomerDrift]
    ) -> None:
        """Sync keys on more than one item, and items OrderSync does not know."""
        by_key: dict[str, list[str]] = {}
        for item_id, item in seen.items():
            key = self._key_of(item)
            if key:
                by_key.setdefault(key, []).append(item_id)
        doubled = set()
        for key, ids in by_key.items():
            if len(ids) < 2:
                continue
            doubled.update(ids)
            known_id = self.keys.get(key, (None, None))[0]
            customer = next((owners[i] for i in ids if owners.get(i)), None)
            if customer is None:
                continue
            drift[customer].duplicates.append(
                {"sync_key": key, "item_ids": sorted(ids, key=int), "known_item_id": known_id}
            )
        for item_id, item in seen.items():
            customer = owners.get(item_id)
            if item_id in self.known or item_id in doubled or customer is None:
                continue
            key = self._key_of(item)
            known_as = self.keys.get(key, (None, None))[0] if key else None
            if known_as == item_id:
                continue  # another customer's line, known (its customer is not checked)
            drift[customer].unknown.append(
                {
                    "item_id": item_id,
                    "name": item.name,
                    "sync_key": key or None,
                    "group": item.group_title,
                    "known_as": known_as,
                }
            )

    def _subitems(self, meta: BoardMeta, seen: dict[str, BoardItem], drift: dict[str, CustomerDrift]) -> None:
        """Sizes: changed cells, deleted or archived, sizes OrderSync did not create, a size twice."""
        assert meta.subitem_board_id is not None
        columns = sorted({c.id for c in self.sub_columns.values()})
        size_label = next((c.label for c in self.mapping.subitem_columns if c.source == "$size"), None)
        size_column = self.sub_columns.get(size_label) if size_label else None
        parents = {item_id: self.known[item_id] for item_id in seen if item_id in self.known}
        subs: dict[str, BoardItem] = {}
        for sub in self.reader.subitems(meta.subitem_board_id, columns, self.board_subitems):
            if sub.parent_id in parents:
                subs[sub.id] = sub
        missing = [
            i for i, k in self.known_subs.items() if i not in subs and k.parent_id in parents and not k.expect_gone
        ]
        looked_up = self.reader.by_ids(missing, columns) if missing else {}
        for sub_id in missing:
            found = looked_up.get(sub_id)
            if found is not None and found.state == "active" and found.parent_id in parents:
                subs[sub_id] = found
                continue
            lost = self.known_subs[sub_id]
            drift[lost.customer].gone.append(self._gone(lost, found.state if found is not None else "deleted"))
        by_size: dict[tuple[str, str], list[str]] = {}
        for sub_id, sub in subs.items():
            parent = parents[sub.parent_id or ""]
            report = drift[parent.customer]
            size = board_form(size_column.type, *sub.cells.get(size_column.id, (None, None))) if size_column else ""
            by_size.setdefault((sub.parent_id or "", size or sub.name), []).append(sub_id)
            known = self.known_subs.get(sub_id)
            if known is None:
                continue
            report.subitems_checked += 1
            values = dict(known.values)
            values.setdefault("name", known.name)
            for label, ours in values.items():
                if label == "name":
                    board, written = sub.name, str(ours or "")
                else:
                    column = self.sub_columns.get(label)
                    if column is None:
                        continue
                    board = board_form(column.type, *sub.cells.get(column.id, (None, None)))
                    written = ordersync_form(column.type, ours)
                if board != written:
                    report.changed.append(
                        {
                            "sync_key": known.key,
                            "order_number": parent.order_number,
                            "item_id": sub_id,
                            "size": known.size,
                            "column": label,
                            "board": shown(board),
                            "ordersync": shown(written),
                        }
                    )
        known_sizes = {(k.parent_id, k.size): k.id for k in self.known_subs.values()}
        for (parent_id, size), ids in by_size.items():
            parent = parents[parent_id]
            report = drift[parent.customer]
            if len(ids) > 1:
                report.duplicates.append(
                    {
                        "sync_key": parent.key,
                        "size": size,
                        "item_ids": sorted(ids, key=int),
                        "known_item_id": known_sizes.get((parent_id, size)),
                    }
                )
                continue
            if ids[0] not in self.known_subs:
                report.unknown.append(
                    {
                        "item_id": ids[0],
                        "name": subs[ids[0]].name,
                        "sync_key": parent.key,
                        "size": size or None,
                        "group": None,
                        "known_as": known_sizes.get((parent_id, size)),
                    }
                )
