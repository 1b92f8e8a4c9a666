"""Failed rows folded into order lines, and lines grouped by cause: what the failures pane shows first.

Pure Python, no Qt: ``group_failures`` makes two cheap passes over the open error rows (items, then
their sizes), so it can run on any thread and costs about one dict lookup per row.

* One ``Line`` per order line and cause: an item error with every size that waits for it
  (``PARENT_FAILED`` rows fold into their item's line, never a row per size), or the sizes of a line
  whose item was created but some of whose sizes failed.
* One ``Group`` per ``Cause`` (core.foundation.error_types.cause_of): the sentence, the fix and the
  lines a single action fixes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from core.foundation.error_types import RETRY_NEVER, Cause, ErrorType, cause_of
from gui.models.errors import search_text

_MIN = dt.datetime.min


@dataclass
class Line:
    """One order line that failed for one cause: its item error (if any) and its failed sizes."""

    key: str  # the line's sync key with its cause, unique in one grouping
    sync_key: str | None
    cause: Cause
    customer: str
    po: str
    order: str
    item: dict | None = None
    sizes: list[dict] = field(default_factory=list)
    last: dt.datetime = _MIN
    can_retry: bool = False
    retried: str = ""  # what the last retry of this line did, shown on its row
    _style: tuple[str, str] | None = None
    _hay: str | None = None

    @property
    def rows(self) -> list[dict]:
        return ([self.item] if self.item is not None else []) + self.sizes

    @property
    def refs(self) -> list[str]:
        return [r["ref"] for r in self.rows]

    @property
    def first(self) -> dict:
        return self.item if self.item is not None else self.sizes[0]

    def sizes_text(self) -> str:
        n = len(self.sizes)
        if self.item is not None:
            return "no sizes" if not n else f"{n} size{'s' * (n != 1)} waiting for this line"
        labels = ", ".join(str(r.get("size_label") or "?") for r in self.sizes[:6])
        return f"{n} size{'s' * (n != 1)} failed: {labels}{', …' if n > 6 else ''}"

    def todo(self) -> str:
        """What to do for this line, in the planner's words (the exact value for an ERP fix)."""
        if self.cause.retry == RETRY_NEVER:
            message = " ".join(str(self.first.get("message") or "").split())
            return f"No retry: fix in the ERP: {message}"
        if not self.can_retry:
            return "No retry: already resolved"
        return self.cause.fix

    def style_colour(self) -> tuple[str, str]:
        """The line's style and colour, read once from what it holds (its payload or ERP values)."""
        if self._style is None:
            self._style = _style_colour(self.first, self.item)
        return self._style

    def haystack(self) -> str:
        if self._hay is None:
            style, colour = self.style_colour()
            self._hay = "\x1f".join(
                (
                    self.customer,
                    self.po,
                    self.order,
                    style,
                    colour,
                    self.sync_key or "",
                    self.todo(),
                    self.cause.kind.name,
                    str(self.first.get("message") or ""),
                )
            ).lower()
        return self._hay


@dataclass
class Group:
    """Lines with one cause: one sentence, one fix, one action."""

    cause: Cause
    lines: list[Line] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, ...]:
        return self.cause.key

    @property
    def retryable(self) -> list[Line]:
        return [line for line in self.lines if line.can_retry]

    def sentence(self, shown: int | None = None) -> str:
        n = len(self.lines) if shown is None else shown
        return f"{n} line{'s' * (n != 1)} could not be sent: {self.cause.headline}."


@dataclass
class Grouping:
    """What the failures pane needs of one read of the rows, made off the GUI thread."""

    groups: list[Group]
    customers: list[str]  # for the customer filter
    kinds: list[str]  # error types, for the kind filter
    open_rows: int
    search: dict[str, str]  # ref -> the flat list's search text of the row


def prepare(rows: list[dict]) -> Grouping:
    """The groups of ``rows`` and the facts the pane's filters and counts show: every pass over the
    (possibly 100,000) rows, in one call that runs on a worker thread."""
    return Grouping(
        group_failures(rows),
        sorted({r.get("customer") or "" for r in rows}),
        sorted({r.get("error_type") or "" for r in rows}),
        sum(1 for r in rows if r.get("resolved_at") is None),
        {r["ref"]: search_text(r) for r in rows},
    )


def group_failures(rows: list[dict]) -> list[Group]:
    """Open error rows (``ErrorHandler.open_errors``'s shape) -> groups by cause, largest first.

    Resolved rows are left out: the grouped view is what is still to do."""
    causes: dict[tuple[Any, Any], Cause] = {}
    lines: dict[tuple[Any, ...], Line] = {}
    items: dict[str, Line] = {}
    subitems = []
    for row in rows:
        if row.get("resolved_at") is not None:
            continue
        if row.get("level") == "subitem":
            subitems.append(row)
            continue
        cause = _cause(causes, row)
        key = row.get("sync_key")
        line = Line(
            key=f"{key}\x1f{cause.key}" if key else f"ref:{row['ref']}",
            sync_key=key,
            cause=cause,
            customer=row.get("customer") or "(blank)",
            po=row.get("po_number") or "",
            order=row.get("order_number") or "",
            item=row,
        )
        _touch(line, row)
        lines[(line.key,)] = line
        if key:
            items[key] = line
    for row in subitems:
        parent = row.get("parent_sync_key")
        owner = items.get(parent) if parent else None
        if owner is not None and row.get("error_type") == ErrorType.PARENT_FAILED:
            owner.sizes.append(row)
            _touch(owner, row)
            continue
        cause = _cause(causes, row)
        slot = ("s", parent or f"ref:{row['ref']}", cause.key)
        found = lines.get(slot)
        if found is None:
            line = lines[slot] = Line(
                key=f"s\x1f{parent}\x1f{cause.key}" if parent else f"ref:{row['ref']}",
                sync_key=parent,
                cause=cause,
                customer=row.get("customer") or "(blank)",
                po=row.get("po_number") or "",
                order=row.get("order_number") or "",
            )
        else:
            line = found
        line.sizes.append(row)
        _touch(line, row)
    groups: dict[tuple[str, ...], Group] = {}
    for line in lines.values():
        group = groups.get(line.cause.key)
        if group is None:
            group = groups[line.cause.key] = Group(line.cause)
        group.lines.append(line)
    for group in groups.values():
        group.lines.sort(key=_by_customer_order)
        for line in group.lines:
            line.haystack()  # style, colour and search text made here, off the GUI thread
    return sorted(groups.values(), key=lambda g: (-len(g.lines), g.cause.headline))


def _cause(cache: dict, row: dict) -> Cause:
    probe = (row.get("error_type"), row.get("message"))
    cause = cache.get(probe)
    if cause is None:
        cause = cache[probe] = cause_of(*probe)
    return cause


def _touch(line: Line, row: dict) -> None:
    last = row.get("last_failed_at")
    if last is not None and (line.last is _MIN or last > line.last):
        line.last = last
    if (row.get("retryable") or row.get("fixed")) and line.cause.retry != RETRY_NEVER:
        line.can_retry = True


def _by_customer_order(line: Line) -> tuple:
    return (line.customer, line.order, line.po)


_STYLE = ("STYLE", "CUSTOMER STYLE", "Style")
_COLOUR = ("COLOR", "COLOUR", "CUSTOMER COLOUR DESCRIPTION", "Colour", "Color")


def _style_colour(first: dict, item: dict | None) -> tuple[str, str]:
    import json

    for row in (item, first):
        if row is None:
            continue
        for field_name in ("payload_json", "source_json"):
            text = row.get(field_name)
            if not text:
                continue
            try:
                values = json.loads(text)
            except ValueError:
                continue
            if not isinstance(values, dict):
                continue
            style = next((str(values[k]) for k in _STYLE if values.get(k) not in (None, "")), "")
            colour = next((str(values[k]) for k in _COLOUR if values.get(k) not in (None, "")), "")
            if style or colour:
                return style, colour
    return "", ""
