"""The details pane of the failed-rows grid: one error, its payload, and the line's source values.

An error kept no source values when its line was valid (only invalid lines keep theirs): the pane
then reads the line as ORDERS_UNIFIED holds it now, by its key, off the GUI thread.
"""

from __future__ import annotations

import json

from PySide6.QtWidgets import QPlainTextEdit, QWidget

from gui.bridge import EngineBridge


class ErrorDetails(QPlainTextEdit):
    """Read-only text of the error row given to ``show_row`` (the grid's current row)."""

    def __init__(self, bridge: EngineBridge, parent: QWidget | None = None):
        super().__init__(parent, readOnly=True, placeholderText="Select a failed row to see its details.")
        self.bridge = bridge
        self._ref: str | None = None  # the error shown; a late read for another one is dropped

    def show_row(self, row: dict | None) -> None:
        """Show ``row`` (the error's row dict); None clears the pane."""
        if row is None:
            self._ref = None
            self.clear()
            return
        lines = [
            (
                f"{row.get('ref')} · {row.get('level')} · {row.get('error_type')}"
                f"{' · ' + row['error_code'] if row.get('error_code') else ''}"
            ),
            (
                f"Customer: {row.get('customer')}   Order: {row.get('order_number') or '—'}   "
                f"PO: {row.get('po_number') or '—'}   Size: {row.get('size_label') or '—'}"
            ),
            f"Line: {row.get('sync_key') or row.get('parent_sync_key') or '—'}",
            (
                f"Retryable: {'yes' if row.get('retryable') else 'no'}   Retries: {row.get('retry_count')}   "
                f"Last attempt: {row.get('last_failed_at')}"
            ),
            "",
            "Message:",
            row.get("message") or "",
            "",
            "Payload sent:",
            _pretty(row.get("payload_json")),
            "",
            "Source values:",
            _pretty(row.get("source_json")),
        ]
        if row.get("resolved_at"):
            lines[1:1] = [f"Resolved {row['resolved_at']} by {row.get('resolved_by')}: {row.get('resolution')}"]
        ref = self._ref = row.get("ref")
        self.setPlainText("\n".join(lines))
        key = row.get("sync_key") or row.get("parent_sync_key")
        if not row.get("source_json") and key:
            # The line as ORDERS_UNIFIED holds it now, read off the GUI thread.

            async def fetch_source():
                values = await self.bridge.source_values(key, row.get("customer"))
                if self._ref == ref:
                    text = self.toPlainText().replace(
                        "Source values:\n—",
                        "Source values (now, in ORDERS_UNIFIED):\n"
                        + (
                            json.dumps(values, indent=2, ensure_ascii=False, default=str)
                            if values
                            else "the line is no longer in ORDERS_UNIFIED"
                        ),
                    )
                    self.setPlainText(text)

            self.bridge.tasks.start(f"source:{ref}", fetch_source)


def _pretty(text: str | None) -> str:
    if not text:
        return "—"
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text
