"""The drift check in plain words: the forecast before, then per customer what differs, then what it cost."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core.drift.results import CustomerDrift, DriftReport, Forecast

SHOWN_PER_KIND = 50  # lines listed per kind and customer; `drift --json` lists them all


def forecast_line(forecast: Forecast) -> str:
    budget = f"{forecast.budget:,} points every {forecast.window:g} s"
    what = f"{_count(forecast.items, 'item')} in {_count(forecast.groups, 'group')}"
    if forecast.subitems:
        what += f", {forecast.subitems:,} sizes"
    return (
        f"Forecast: {forecast.reads} read requests, about {forecast.points:,} complexity points, "
        f"{_seconds(forecast.seconds)} at the budget ({budget}); {what}"
        + (
            f" (after {_count(forecast.board_reads, 'read')} of the board's columns and groups)."
            if forecast.board_reads
            else "."
        )
    )


def _seconds(seconds: float) -> str:
    return "under 0.01 s" if seconds < 0.01 else f"{seconds:.2f} s"


def _item(entry: dict[str, Any]) -> str:
    what = entry.get("sync_key") or entry.get("order_number") or "?"
    if entry.get("size"):
        what += f" size {entry['size']}"
    return f"{what} (item {entry['item_id']})"


def _count(n: int, what: str) -> str:
    return f"{n:,} {what}" + ("" if n == 1 else "s")


def _customer(drift: CustomerDrift) -> list[str]:
    checked = _count(drift.items_checked, "item")
    if drift.subitems_checked:
        checked += f" and {_count(drift.subitems_checked, 'size')}"
    if not drift.found and not drift.items_checked:
        return [f"{drift.customer}: nothing of theirs on the board"]
    if not drift.found:
        return [f"{drift.customer}: no drift ({checked} checked)"]
    lines = [
        f"{drift.customer}: {drift.found} {'difference' if drift.found == 1 else 'differences'} ({checked} checked)"
    ]

    def section(title: str, entries: list[dict[str, Any]], say: Callable[[dict[str, Any]], str]) -> None:
        if not entries:
            return
        lines.append(f"  {title} ({len(entries)}):")
        lines.extend(f"    {say(e)}" for e in entries[:SHOWN_PER_KIND])
        if len(entries) > SHOWN_PER_KIND:
            lines.append(f"    … and {len(entries) - SHOWN_PER_KIND} more (drift --json lists them all)")

    section(
        "Changed on the board",
        drift.changed,
        lambda e: f"{_item(e)}: {e['column']} is {e['board']!r} on the board, OrderSync wrote {e['ordersync']!r}",
    )
    section(
        "Deleted or archived on the board",
        drift.gone,
        lambda e: f"{_item(e)}: {e['state']}" + (" (OrderSync noticed it already)" if e["noticed"] else ""),
    )
    section(
        "On the board, not put there by OrderSync",
        drift.unknown,
        lambda e: (
            f"item {e['item_id']} {e['name']!r}"
            + (f" size {e['size']}" if e.get("size") else "")
            + (f" in group {e['group']!r}" if e.get("group") else "")
            + (f", sync key {e['sync_key']!r}" if e.get("sync_key") else ", no sync key")
            + (f" (OrderSync's item for it is {e['known_as']})" if e.get("known_as") else "")
        ),
    )
    section(
        "One sync key on several items",
        drift.duplicates,
        lambda e: (
            f"{e['sync_key']!r}"
            + (f" size {e['size']}" if e.get("size") else "")
            + f": items {', '.join(e['item_ids'])}"
            + (f" (OrderSync's is {e['known_item_id']})" if e.get("known_item_id") else "")
        ),
    )
    return lines


def render(report: DriftReport) -> str:
    lines: list[str] = []
    for drift in report.customers:
        lines += _customer(drift)
    if not report.subitems:
        lines.append("Sizes were not checked.")
    reads = report.reads
    lines.append("")
    lines.append(
        f"Read {_count(reads['requests'], 'request')}, {reads['points']:,} complexity points, in "
        f"{_seconds(reads['seconds'])}"
        + (f" ({_seconds(reads['waited'])} of it waiting for the budget)" if reads["waited"] else "")
        + ". Nothing was changed."
    )
    return "\n".join(lines)
