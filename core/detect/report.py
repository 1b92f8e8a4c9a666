"""The dry run as plain data and as text: what a sync would send, line by line and field by field.

Shared by ``sync --dry-run`` and the window's Preview.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.detect.changes import CHANGED, NEW, REMOVED, CustomerChanges
from core.monday.client import IDS_PER_QUERY


def protected_lines(result: CustomerChanges, protected: Mapping[str, str]) -> int:
    """CHANGED lines of an item on the board whose changed columns include a protected one: before they
    are sent, their protected cells are read on the board (``core.push.protect``)."""
    if not protected:
        return 0
    return sum(
        1
        for c in result.changes
        if c.kind == CHANGED and c.monday_item_id and any(label in protected for label in c.changed_fields)
    )


def protected_reads(lines: int) -> int:
    """The board reads for ``lines`` such lines: at most 100 items a request."""
    return -(-lines // IDS_PER_QUERY)


def dry_run_report(result: CustomerChanges, protected: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A customer's changes as plain data: per line its kind, field diffs and size diffs.

    ``protected``: the mapping's protected columns (``Mapping.protected``); the board reads they cost
    are counted (``board_reads``), none without them.
    """
    guarded = protected_lines(result, protected or {})
    lines = []
    for change in result.changes:
        entry: dict[str, Any] = {
            "kind": change.kind,
            "sync_key": change.sync_key,
            "order_number": change.order_number,
            "item_name": change.fields.get("name"),
            "fields": {k: {"old": old, "new": new} for k, (old, new) in change.diff().items()},
            "sizes": [
                {"size": sz.label, "kind": sz.kind, "old": sz.old_quantity, "new": sz.quantity} for sz in change.sizes
            ],
        }
        lines.append(entry)
    return {
        "customer": result.customer,
        "unknown_customer": result.unknown_customer,
        "new": sum(1 for c in result.changes if c.kind == NEW),
        "changed": sum(1 for c in result.changes if c.kind == CHANGED),
        "removed": sum(1 for c in result.changes if c.kind == REMOVED),
        "unchanged": result.unchanged,
        "invalid": len(result.invalid),
        "mutations": sum((1 if (c.kind != CHANGED or c.changed_fields) else 0) + len(c.sizes) for c in result.changes),
        "protected_lines": guarded,
        "board_reads": protected_reads(guarded),
        "lines": lines,
        "invalid_lines": [
            {
                "order_number": line.order_number,
                "sync_key": line.sync_key,
                "item_name": line.item_name,
                "errors": line.errors,
            }
            for line in result.invalid
        ],
    }


def render_dry_run(report: list[dict[str, Any]]) -> str:
    out: list[str] = ["Dry run: nothing is sent to monday and nothing is written."]
    for r in report:
        out.append("")
        name = r["customer"] or "(blank customer)"
        note = "  (not in the customer table of the mapping)" if r["unknown_customer"] else ""
        out.append(
            f"{name}: {r['new']} new, {r['changed']} changed, {r['removed']} removed, "
            f"{r['invalid']} invalid, {r['unchanged']} unchanged; about {r['mutations']} mutations{note}"
        )
        if r.get("board_reads"):
            out.append(
                f"  and {r['board_reads']} read{'' if r['board_reads'] == 1 else 's'} of the board first: "
                f"{r['protected_lines']} changed line{'' if r['protected_lines'] == 1 else 's'} in protected columns "
                "(a value a person changed there is kept or asked about)"
            )
        for line in r["lines"]:
            out.append(f"  {line['kind']:<8} {line['sync_key']}")
            if line["kind"] == NEW:
                sizes = ", ".join(f"{sz['size']} {sz['new']}" for sz in line["sizes"])
                n = len(line["sizes"])
                out.append(f"           {line['item_name']}  [{n} size{'' if n == 1 else 's'}: {sizes}]")
                continue
            for field_name, diff in line["fields"].items():
                out.append(f"           {field_name}: {_show(diff['old'])} -> {_show(diff['new'])}")
            for sz in line["sizes"]:
                out.append(
                    f"           size {sz['size']} ({sz['kind'].lower()}): {_show(sz['old'])} -> {_show(sz['new'])}"
                )
        for bad in r["invalid_lines"]:
            out.append(f"  INVALID  order {bad['order_number'] or '(none)'}: {'; '.join(bad['errors'])}")
    if not report:
        out.append("No customers selected.")
    return "\n".join(out)


def _show(value: Any) -> str:
    return "(empty)" if value is None else repr(value) if isinstance(value, str) else str(value)
