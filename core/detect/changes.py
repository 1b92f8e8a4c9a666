"""Change detection: source lines against the production tables (what is on the board).

Every order line is NEW, CHANGED, UNCHANGED or REMOVED, and so is every size. The production row
of an item keeps two hashes: ``content_hash`` over the mapped item fields and ``line_hash`` over
those plus every size quantity, so an unchanged line is recognised from one small index without
reading its subitems; only lines whose ``line_hash`` differs are compared field by field.

Longer than 400 lines: detection and the pending-work list share one pass over the source and the
board's index (``SourceReads``); split, that pass would be split too.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from core.db import schema as s
from core.db.bulk import fetch_tuples
from core.detect.results import (
    CHANGED,
    HELD,
    INVALID,
    NEW,
    REMOVED,
    UNCHANGED,
    CustomerChanges,
    LineChange,
    PendingCustomer,
    ProdDetails,
    ProdItem,
    SizeChange,
    SourceReads,
)
from core.foundation.collector import collector_paused
from core.source.keys import KeyCensus
from core.source.mapping import MappedLine, MappedSize, content_hash
from core.source.reader import Source

__all__ = [  # the records live in core.detect.results; importable from here as before
    "CHANGED",
    "HELD",
    "INVALID",
    "NEW",
    "REMOVED",
    "UNCHANGED",
    "ChangeDetector",
    "CustomerChanges",
    "LineChange",
    "PendingCustomer",
    "ProdItem",
    "SizeChange",
    "SourceReads",
    "last_sync_by_customer",
    "open_error_counts",
]

IN_CHUNK = 500  # keys per IN (...) list: well under every dialect's parameter limit


def _still_unchanged(then: ProdItem, now: ProdItem | None) -> bool:
    """A board item counted unchanged when the source was read is still the one confirmed from that row."""
    return now is not None and now.source_hash == then.source_hash and not now.is_removed and now.board_state is None


_T = TypeVar("_T")


def _chunks(values: list[_T], size: int = IN_CHUNK) -> Iterator[list[_T]]:
    for i in range(0, len(values), size):
        yield values[i : i + size]


class ChangeDetector:
    """Compares source lines with the production tables of one board.

    The board's production index (key, hashes, ids) is read once per detector; each
    ``detect(customer)`` then reads only that customer's source rows.
    """

    def __init__(self, conn: Connection, source: Source, board_id: str, reads: SourceReads | None = None):
        self.conn = conn
        self.source = source
        self.board_id = board_id
        self._index: dict[str, ProdItem] | None = None
        self.reads = SourceReads() if reads is None else reads
        self._by_source_hash: dict[str, ProdItem] | None = None
        self._by_customer: dict[str, list[tuple[str, ProdItem]]] | None = None

    # -- production ---------------------------------------------------------------------------

    @property
    def index(self) -> dict[str, ProdItem]:
        if self._index is None:
            t = s.items
            # Only the columns that classify a line (a narrow read of the whole board), as the
            # driver returns them. The rest is read for the lines that need it (_prod_details).
            rows = fetch_tuples(
                self.conn,
                sa.select(
                    t.c.sync_key, t.c.customer, t.c.line_hash, t.c.is_removed, t.c.source_hash, t.c.board_state
                ).where(t.c.board_id == self.board_id),
            )
            self._index = {r[0]: ProdItem(*r) for r in rows}
        return self._index

    @property
    def census(self) -> KeyCensus:
        """The source's key census (every key of the whole table, and the conflicts), read once."""
        reads = self.reads
        if reads.census is None:
            reads.census = self.source.key_census(self.conn)
        return reads.census

    @property
    def duplicates(self) -> dict[str, str]:
        """Keys whose lines are held back (exact duplicates and keys that differ only in case) -> why."""
        return self.census.conflicts

    def _prod_details(
        self, keys: list[str], removed: list[str]
    ) -> tuple[dict[str, ProdDetails], dict[str, dict[str, Any]]]:
        """Item details of ``keys`` and ``removed``, and subitem rows (by size) of ``keys``."""
        details: dict[str, ProdDetails] = {}
        sizes: dict[str, dict[str, Any]] = {}
        t, st = s.items, s.subitems
        for chunk in _chunks(keys + removed):
            for key, item_id, order_number, po_number, values in self.conn.execute(
                sa.select(t.c.sync_key, t.c.monday_item_id, t.c.order_number, t.c.po_number, t.c.values_json).where(
                    t.c.board_id == self.board_id, t.c.sync_key.in_(chunk)
                )
            ):
                details[key] = ProdDetails(item_id, order_number, po_number, json.loads(values))
        for chunk in _chunks(keys):
            for row in self.conn.execute(
                sa.select(
                    st.c.parent_sync_key,
                    st.c.size_label,
                    st.c.subitem_name,
                    st.c.monday_subitem_id,
                    st.c.quantity,
                    st.c.values_json,
                    st.c.content_hash,
                    st.c.is_removed,
                ).where(st.c.board_id == self.board_id, st.c.parent_sync_key.in_(chunk))
            ):
                sizes.setdefault(row.parent_sync_key, {})[row.size_label] = row
        return details, sizes

    # -- detection ----------------------------------------------------------------------------

    def detect(self, customer: str) -> CustomerChanges:
        """All changes of one canonical customer.

        The first call tries one read of the whole source for every customer (``_one_pass_unchanged``):
        the census, the unchanged rows counted, the others kept by customer. Then each customer is
        detected from what was kept, without a scan of the source table of its own.
        """
        with collector_paused():  # a bulk pass (core.foundation.collector)
            return self._detect(customer)

    def _detect(self, customer: str) -> CustomerChanges:
        reads = self.reads
        if reads.prefetched is None and reads.whole_run:
            reads.prefetched = False
            if reads.census is None:
                one_pass = self._one_pass_unchanged()
                if one_pass is not None:
                    unchanged, kept, unknown = one_pass
                    by_customer: dict[str, list[Any]] = {}
                    customer_of = self.source.customer_of
                    for row in kept:
                        by_customer.setdefault(customer_of(row), []).append(row)
                    reads.prefetched = (unchanged, by_customer, unknown)
        if isinstance(reads.prefetched, tuple):
            unchanged, by_customer, unknown = reads.prefetched
            prods = unchanged.get(customer, [])
            index = self.index  # this detector's: a batch of the run may have changed the board since the read
            if all(_still_unchanged(p, index.get(p.sync_key)) for p in prods):
                return self.detect_rows(
                    customer,
                    by_customer.get(customer, []),
                    seen={p.sync_key for p in prods},
                    unchanged=len(prods),
                    unknown=customer in unknown,
                )
        if reads.names is None:  # the raw names of every customer, read once like the census
            reads.names = self.source.customer_names(self.conn)
        return self.detect_rows(customer, self.source.iter_rows(self.conn, [customer], reads.names))

    def _source_hashes(self) -> dict[str, ProdItem]:
        """Board items (not removed) by the source hash they were last confirmed from.

        A raw row with one of these hashes is that item's line (its key is derived from the row),
        unchanged, so its key need not be computed.
        """
        if self._by_source_hash is None:
            self._by_source_hash = {
                p.source_hash: p for p in self.index.values() if p.source_hash is not None and not p.is_removed
            }
        return self._by_source_hash

    def _classify(self, rows: Iterable[Any]) -> Iterator[tuple[str, str | None, MappedLine | None, Any]]:
        """(kind, key, line, row) per source row: the one pass both detection and the pending list make.

        kind is UNCHANGED (line None when the raw row matched, so it was never mapped), INVALID,
        NEW or CHANGED (a candidate: its line hash differs, fields and sizes are compared later).
        """
        index = self.index
        census = self.census
        # _unchanged, inlined: it runs for every row
        by_hash = self._source_hashes()
        conflicts = census.conflicts
        source_hash = self.source.mapper.source_hash
        for row in rows:
            if by_hash:
                prod = by_hash.get(source_hash(row))
                if prod is not None and prod.sync_key not in conflicts:
                    yield UNCHANGED, prod.sync_key, None, row
                    continue
            line = self.source.line(row, census)
            key = line.sync_key
            if line.errors or key is None:  # (a valid line has a key)
                yield INVALID, key, line, row
                continue
            prod = index.get(key)
            if prod is None:
                kind = NEW
            elif prod.board_state is not None:
                kind = HELD
            elif prod.line_hash == line.line_hash and not prod.is_removed:
                kind = UNCHANGED
            else:
                kind = CHANGED
            yield kind, key, line, row

    def detect_rows(
        self,
        customer: str,
        rows: Iterable[Any],
        *,
        seen: set[str] | None = None,
        unchanged: int = 0,
        unknown: bool = False,
    ) -> CustomerChanges:
        """Changes of ``customer`` from its source ``rows``; ``seen``, ``unchanged`` and ``unknown``:
        the keys, count and unknown name of its unchanged rows already classified (not in ``rows``)."""
        index = self.index
        customer_known = self.source.customer_known
        invalid: list[MappedLine] = []
        new: list[tuple[str, MappedLine]] = []
        candidates: list[tuple[str, MappedLine]] = []
        seen = set() if seen is None else seen
        held = 0
        for kind, key, line, row in self._classify(rows):
            if key is not None:
                seen.add(key)
            if line is None:  # unchanged by its raw content, never mapped
                unknown = unknown or not customer_known(row)
                unchanged += 1
                continue
            unknown = unknown or not line.customer_known
            if kind == INVALID or key is None:
                invalid.append(line)
            elif kind == NEW:
                new.append((key, line))
            elif kind == CHANGED:
                candidates.append((key, line))
            elif kind == HELD:
                held += 1
            else:
                unchanged += 1
        # A line that left this customer is removed only if its key is nowhere in the source: if it moved
        # to another customer, that customer's sync moves it on the board (group and customer).
        in_source = self.census.keys
        if self._by_customer is None:  # the board's items by customer, grouped once, not scanned per customer
            self._by_customer = {}
            for k, p in index.items():
                self._by_customer.setdefault(p.customer, []).append((k, p))
        removed_keys = [
            k
            for k, p in self._by_customer.get(customer, ())
            if k not in seen and not p.is_removed and k not in in_source
        ]
        details, sizes = self._prod_details([key for key, _ in candidates], removed_keys)

        changes = [self._new(key, line) for key, line in new]
        # (an item deleted from production since the index was read is what a fresh read finds:
        # its line is new again, and nothing is left to remove)
        for key, line in candidates:
            prod = details.get(key)
            if prod is None:
                changes.append(self._new(key, line))
                continue
            change = self._changed(key, line, prod, sizes.get(key, {}))
            if change.changed_fields or change.sizes:
                changes.append(change)
            else:
                unchanged += 1
        changes.extend(self._removed(index[key], details[key]) for key in removed_keys if key in details)
        return CustomerChanges(customer, changes, invalid, unchanged, unknown, held)

    def _new(self, key: str, line: MappedLine) -> LineChange:
        return LineChange(
            kind=NEW,
            sync_key=key,
            customer=line.customer,
            line=line,
            fields=line.item_fields,
            old_fields=None,
            content_hash=line.content_hash,
            line_hash=line.line_hash,
            sizes=[_new_size(size) for size in line.sizes],
            order_number=line.order_number,
            po_number=line.po_number,
            source_hash=line.source_hash,
        )

    def _changed(self, key: str, line: MappedLine, prod: ProdDetails, old_sizes: dict[str, Any]) -> LineChange:
        size_changes: list[SizeChange] = []
        current = {size.label: size for size in line.sizes}
        for size in line.sizes:
            old = old_sizes.get(size.label)
            if old is None:
                size_changes.append(_new_size(size))
            elif old.content_hash != size.hash or old.is_removed:
                size_changes.append(
                    SizeChange(
                        CHANGED,
                        size.label,
                        size.position,
                        size.name,
                        size.quantity,
                        old.quantity,
                        size.values,
                        json.loads(old.values_json),
                        size.hash,
                        old.monday_subitem_id,
                    )
                )
        for label, old in old_sizes.items():
            if label not in current and not old.is_removed:
                size_changes.append(self._removed_size(old))
        return LineChange(
            kind=CHANGED,
            sync_key=key,
            customer=line.customer,
            line=line,
            fields=line.item_fields,
            old_fields=prod.fields,
            content_hash=line.content_hash,
            line_hash=line.line_hash,
            sizes=size_changes,
            monday_item_id=prod.monday_item_id,
            order_number=line.order_number,
            po_number=line.po_number,
            source_hash=line.source_hash,
        )

    def _removed_size(self, old: Any) -> SizeChange:
        old_values = json.loads(old.values_json)
        values = {**old_values, **self.source.mapping.removal_subitem}
        return SizeChange(
            REMOVED,
            old.size_label,
            0,
            old.subitem_name,
            0,
            old.quantity,
            values,
            old_values,
            content_hash([old.subitem_name, *values.items()]),
            old.monday_subitem_id,
        )

    def _removed(self, prod: ProdItem, details: ProdDetails) -> LineChange:
        """A line gone from the source: the removal policy's values on the item; its subitems are left alone."""
        old_fields = details.fields
        fields = {**old_fields, **self.source.mapping.removal_item}
        fields_hash = content_hash(fields.items())
        return LineChange(
            kind=REMOVED,
            sync_key=prod.sync_key,
            customer=prod.customer,
            line=None,
            fields=fields,
            old_fields=old_fields,
            content_hash=fields_hash,
            line_hash=content_hash([fields_hash]),
            monday_item_id=details.monday_item_id,
            order_number=details.order_number,
            po_number=details.po_number,
        )

    # -- the pending-work list ----------------------------------------------------------------

    def pending(self) -> list[PendingCustomer]:
        """Per customer: new, changed and removed lines, invalid lines and open errors, in one pass."""
        with collector_paused():  # a bulk pass (core.foundation.collector)
            return self._pending()

    def _pending(self) -> list[PendingCustomer]:
        index = self.index
        summary: dict[str, PendingCustomer] = {}
        seen: set[str] = set()
        customer_of = self.source.customer_of
        counter = {NEW: "new", CHANGED: "changed", UNCHANGED: "unchanged", INVALID: "invalid", HELD: "held"}
        # (a census read already, say by a detection of this run: read the census apart)
        unchanged = self._one_pass_unchanged() if self.reads.census is None else None
        if unchanged is None:  # (the census is read on its own, then every row classified)
            rows: Iterable[Any] = self.source.iter_rows(self.conn, None)
        else:
            unchanged_by_customer, rows, _unknown = unchanged
            for customer, prods in unchanged_by_customer.items():
                summary[customer] = PendingCustomer(customer, unchanged=len(prods))
                seen.update(p.sync_key for p in prods)
        for kind, key, line, row in self._classify(rows):
            if key is not None:
                seen.add(key)
            customer = line.customer if line is not None else customer_of(row)
            entry = summary.get(customer) or summary.setdefault(customer, PendingCustomer(customer))
            setattr(entry, counter[kind], getattr(entry, counter[kind]) + 1)
        for key, prod in index.items():
            if key not in seen and not prod.is_removed:
                summary.setdefault(prod.customer, PendingCustomer(prod.customer)).removed += 1
        for customer, count in open_error_counts(self.conn).items():
            summary.setdefault(customer, PendingCustomer(customer)).open_errors = count
        for customer, last in last_sync_by_customer(self.conn).items():
            if customer in summary:
                summary[customer].last_sync = last
        return sorted(summary.values(), key=lambda p: p.customer)

    def _one_pass_unchanged(self) -> tuple[dict[str, list[ProdItem]], list[Any], set[str]] | None:
        """The census and the unchanged rows in one read of the source, for the pending list.

        A row whose raw content is what was last confirmed needs its key and customer only; the
        others (kept, up to ONE_PASS_KEPT) are classified once the census is complete. None when
        too many rows need mapping, or an unchanged-looking key turned out held back: the caller
        then reads the census and the rows apart, as detection does.
        """
        index = self.index
        if not index:
            return None
        mapper = self.source.mapper
        row_key, source_hash, canonical = mapper.row_key, mapper.source_hash, mapper.canonical_customer
        position = self.source.customer_position
        keys: list[str | None] = []
        unchanged: dict[str, list[ProdItem]] = {}
        unknown: set[str] = set()
        kept: list[Any] = []
        by_hash = self._source_hashes()
        rows = self.source.iter_rows(self.conn, None)
        for row in rows:
            prod = by_hash.get(source_hash(row))
            if prod is not None:
                keys.append(prod.sync_key)
                customer, known = canonical(row[position])
                if not known:
                    unknown.add(customer)
                group = unchanged.get(customer)
                if group is None:
                    group = unchanged[customer] = []
                group.append(prod)
                continue
            keys.append(row_key(row))
            if len(kept) >= ONE_PASS_KEPT:
                rows.close()
                return None
            kept.append(row)
        census = self.reads.census = KeyCensus.of(keys, self.source.table.name)
        conflicts = census.conflicts
        if conflicts and any(p.sync_key in conflicts for group in unchanged.values() for p in group):
            return None
        return unchanged, kept, unknown


ONE_PASS_KEPT = 20_000  # rows the one-pass pending list keeps to classify after its census


def _new_size(size: MappedSize) -> SizeChange:
    """The change of a size that is not on the board yet (frozen: nothing downstream can alter one).

    The mapper shares one MappedSize per size and quantity, so lines share their new-size changes
    too: one per MappedSize (kept with it, so that its id stays its own), not one per line and size.
    """
    entry = _NEW_SIZES.get(id(size))
    if entry is None or entry[0] is not size or entry[1].hash != size.hash:
        if len(_NEW_SIZES) >= _NEW_SIZES_MAX:
            _NEW_SIZES.clear()
        entry = _NEW_SIZES[id(size)] = (
            size,
            SizeChange(NEW, size.label, size.position, size.name, size.quantity, None, size.values, None, size.hash),
        )
    return entry[1]


_NEW_SIZES: dict[int, tuple[MappedSize, SizeChange]] = {}
_NEW_SIZES_MAX = 100_000


def open_error_counts(conn: Connection) -> dict[str, int]:
    counts: dict[str, int] = {}
    for table in (s.err_items, s.err_subitems):
        query = (
            sa.select(table.c.customer, sa.func.count()).where(table.c.resolved_at.is_(None)).group_by(table.c.customer)
        )
        for customer, count in conn.execute(query):
            counts[customer] = counts.get(customer, 0) + count
    return counts


def last_sync_by_customer(conn: Connection) -> dict[str, Any]:
    b = s.batches
    query = (
        sa.select(b.c.customer, sa.func.max(b.c.finished_at))
        .where(b.c.status.in_((s.COMPLETED, s.COMPLETED_WITH_ERRORS, s.NO_CHANGES)))
        .group_by(b.c.customer)
    )
    return dict(conn.execute(query).all())
