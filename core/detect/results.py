"""What detection finds: the kinds of change, and the records of a line's, a size's and a customer's changes.

Also ``ProdItem`` (a board item as the production index holds it) and ``SourceReads`` (what the
detectors of one run share of the source); ``core.detect.changes`` computes them all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.source.keys import KeyCensus
from core.source.mapping import MappedLine

NEW = "NEW"
CHANGED = "CHANGED"
UNCHANGED = "UNCHANGED"
REMOVED = "REMOVED"
INVALID = "INVALID"
HELD = "HELD"  # its item was deleted or archived on the board: it waits for a planner (an open error says so)


@dataclass(slots=True)  # one per item on the board, built for every detection and pending list
class ProdItem:
    """What the board's index holds of an item: only what classifies a line (the rest is read per line)."""

    sync_key: str
    customer: str
    line_hash: str
    is_removed: bool  # (as the driver returns it: 0/1 on SQLite, only ever tested for truth)
    source_hash: str | None
    board_state: str | None = None


@dataclass(frozen=True, slots=True)
class ProdDetails:
    """The rest of a production item, read for the few lines that changed or left the source."""

    monday_item_id: str
    order_number: str | None
    po_number: str | None
    fields: dict[str, Any]


@dataclass(frozen=True)
class SizeChange:
    kind: str
    label: str
    position: int
    name: str
    quantity: int | None
    old_quantity: int | None
    values: dict[str, Any]
    old_values: dict[str, Any] | None
    hash: str
    monday_subitem_id: str | None = None

    @property
    def changed_fields(self) -> list[str]:
        if self.old_values is None:
            return list(self.values)
        return [k for k, v in self.values.items() if self.old_values.get(k) != v]


@dataclass
class LineChange:
    """One order line's change. ``line`` is None for a REMOVED line (it is gone from the source)."""

    kind: str
    sync_key: str
    customer: str
    line: MappedLine | None
    fields: dict[str, Any]  # what the item should be: name, group and the board columns
    old_fields: dict[str, Any] | None
    content_hash: str
    line_hash: str
    sizes: list[SizeChange] = field(default_factory=list)
    source_hash: str | None = None
    monday_item_id: str | None = None
    order_number: str | None = None
    po_number: str | None = None

    @property
    def changed_fields(self) -> list[str]:
        """The item fields to send: all for a new item, only those that differ otherwise."""
        if self.old_fields is None:
            return list(self.fields)
        return [k for k, v in self.fields.items() if self.old_fields.get(k) != v]

    def diff(self) -> dict[str, tuple[Any, Any]]:
        old = self.old_fields or {}
        return {k: (old.get(k), self.fields.get(k)) for k in self.changed_fields}


@dataclass
class CustomerChanges:
    customer: str
    changes: list[LineChange]
    invalid: list[MappedLine]
    unchanged: int
    unknown_customer: bool = False
    held: int = 0  # lines whose item a person deleted or archived on the board, waiting for a decision

    @property
    def new(self) -> list[LineChange]:
        return [c for c in self.changes if c.kind == NEW]

    @property
    def changed(self) -> list[LineChange]:
        return [c for c in self.changes if c.kind == CHANGED]

    @property
    def removed(self) -> list[LineChange]:
        return [c for c in self.changes if c.kind == REMOVED]

    @property
    def is_empty(self) -> bool:
        return not self.changes and not self.invalid


@dataclass
class PendingCustomer:
    """One row of the customers-with-pending-work list (GUI and ``status``)."""

    customer: str
    new: int = 0
    changed: int = 0
    removed: int = 0
    invalid: int = 0
    open_errors: int = 0
    unchanged: int = 0
    held: int = 0
    last_sync: Any = None

    @property
    def pending(self) -> int:
        return self.new + self.changed + self.removed

    def as_dict(self) -> dict[str, Any]:
        return {
            "customer": self.customer,
            "new": self.new,
            "changed": self.changed,
            "removed": self.removed,
            "invalid": self.invalid,
            "open_errors": self.open_errors,
            "unchanged": self.unchanged,
            "held": self.held,
            "last_sync": self.last_sync.isoformat(sep=" ", timespec="seconds") if self.last_sync else None,
        }


@dataclass
class SourceReads:
    """What detectors read of the source table, shared by the detectors of one run.

    The key census and the customers' raw names; with ``whole_run`` (several customers detected),
    also one read of every row: the unchanged ones (their board items, as read then) and the
    others kept by customer, so that a customer's detection needs no scan of its own. Share one
    only within a run (``EngineContext.one_run``): it is the source as it was when first read.
    """

    whole_run: bool = False
    census: KeyCensus | None = None
    names: dict[str, list[Any]] | None = None
    prefetched: tuple[dict[str, list[ProdItem]], dict[str, list[Any]], set[str]] | bool | None = None
