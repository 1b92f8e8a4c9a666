"""The undo of a batch in the window: its preview in plain words, then the undo as a run of the window.

The batches' list (right click or the menu key, "Undo this batch…") opens ``UndoDialog``. It first
asks the database whether the batch may be undone (not an undo itself, not still running, not undone
already); a refused batch shows why and offers no button. Otherwise it reads the undo's plan off the
GUI thread (``bridge.undo_plan``: the board's current values of the changed cells, so it waits for a
sync or a check like another check would) and says what the undo does. "Undo batch N" runs it as a
run of the window (``bridge.undo``): the run header and the batches list follow it, Cancel Sync stops
it after the request in flight, and undoing the batch again resumes it.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget

from core.db import schema as s
from core.foundation.exceptions import OrderSyncError
from core.undo.plan import Cell, UndoPlan
from gui.bridge import EngineBridge, describe


def refusal(engine: sa.Engine, batch_id: int) -> str | None:
    """Why ``batch_id`` cannot be undone, in plain words; None when it can (in a worker thread)."""
    b = s.batches
    with engine.connect() as conn:
        row = conn.execute(sa.select(b.c.status, b.c.undo_of_batch).where(b.c.batch_id == batch_id)).first()
        if row is None:
            return f"There is no batch {batch_id}."
        if row.undo_of_batch is not None:
            return f"Batch {batch_id} is itself the undo of batch {row.undo_of_batch}; it cannot be undone."
        if row.status in s.ACTIVE_BATCH_STATES:
            return f"Batch {batch_id} is still running; undo it when it has finished."
        done = conn.execute(
            sa.select(b.c.batch_id)
            .where(b.c.undo_of_batch == batch_id, b.c.status.in_((s.COMPLETED, s.COMPLETED_WITH_ERRORS, s.NO_CHANGES)))
            .order_by(b.c.batch_id.desc())
        ).first()
    if done is not None:
        return f"Batch {batch_id} was undone already, by batch {done.batch_id}."
    return None


def _count(n: int, one: str, many: str) -> str:
    return f"{n:,} {one if n == 1 else many}"


def _left_alone(conflicts: list[Cell], verbs: tuple[str, str]) -> str:
    """'1 item and 2 cells changed since are left alone': whole items and sizes the batch created, and cells."""
    counts = [
        (sum(1 for c in conflicts if c.whole == "item"), "item", "items"),
        (sum(1 for c in conflicts if c.whole == "size"), "size", "sizes"),
        (sum(1 for c in conflicts if not c.whole), "cell", "cells"),
    ]
    said = [_count(n, one, many) for n, one, many in counts if n]
    verb = verbs[0] if len(conflicts) == 1 else verbs[1]
    listed = said[0] if len(said) == 1 else ", ".join(said[:-1]) + " and " + said[-1]
    return f"{listed} changed since {verb} left alone"


def _line(c: Cell) -> str:
    return f"order {c.order_number or c.sync_key}" + (f", size {c.size}" if c.size else "")


def _value(text: str | None) -> str:
    return "(empty)" if text in (None, "") else str(text)


def plan_words(plan: UndoPlan) -> tuple[str, str]:
    """(a summary, the list line by line) of what undoing the batch does, in a planner's words."""
    parts = [
        _count(len(plan.archive), "item to archive", "items to archive"),
        _count(len(plan.delete), "size to delete", "sizes to delete"),
        _count(len(plan.restore), "cell to set back", "cells to set back"),
        _count(len(plan.move), "move back", "moves back"),
    ]
    summary = f"Undo of batch {plan.batch_id} ({plan.customer}): " + ", ".join(parts) + "."
    if plan.conflicts:
        summary += " " + _left_alone(plan.conflicts, ("is", "are")) + "."
    if plan.empty:
        summary += " There is nothing left to undo."
    out: list[str] = []

    def section(title: str, cells: list[Cell], say: Any) -> None:
        if cells:
            out.append(f"{title} ({len(cells):,}):")
            out.extend(f"  {say(c)}" for c in cells)
            out.append("")

    section("Items to archive", plan.archive, _line)
    section("Sizes to delete", plan.delete, _line)
    section(
        "Cells to set back (now → before the batch)",
        plan.restore,
        lambda c: f"{_line(c)}, {c.title}: {_value(c.sent)} → {_value(c.before)}",
    )
    section("Moves back", plan.move, lambda c: f"{_line(c)}: from {_value(c.sent)} back to {_value(c.before)}")
    section(
        "Left alone (changed since the batch)",
        plan.conflicts,
        lambda c: f"{_line(c)}, {c.title}: {c.why} (the batch wrote {_value(c.sent)})",
    )
    if plan.kept:
        out.append(_count(plan.kept, "removal of the batch is", "removals of the batch are") + " not brought back.")
    return summary, "\n".join(out).strip()


def result_words(batch_id: int, plan: UndoPlan | None, result: Any) -> str:
    """The undo's outcome, plainly."""
    status = getattr(result, "status", None)
    if status == s.CANCELLED:
        return f"The undo of batch {batch_id} was cancelled (undo batch {result.batch_id}). Undo the batch again to finish it."
    if status in (s.FAILED, s.COMPLETED_WITH_ERRORS):
        message = f" ({result.message})" if getattr(result, "message", None) else ""
        return f"The undo of batch {batch_id} did not finish{message}. Undo the batch again to resume it."
    said = f"Batch {batch_id} is undone (undo batch {result.batch_id})."
    if plan is not None and plan.conflicts:
        said += " " + _left_alone(plan.conflicts, ("was", "were")) + "."
    return said


class UndoDialog(QDialog):
    """The preview of the undo of one batch, its Undo button, and the outcome."""

    def __init__(self, bridge: EngineBridge, batch_id: int, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("undo_dialog")
        self.setWindowTitle(f"Undo batch {batch_id}")
        self.resize(820, 480)
        self.bridge = bridge
        self.batch_id = batch_id
        self.plan: UndoPlan | None = None
        self.result: Any = None
        self.error: str | None = None
        self.refused: str | None = None
        self.summary = QLabel(f"Reading what undoing batch {batch_id} would do…")
        self.summary.setWordWrap(True)
        self.summary.setMargin(2)  # room above the first line for the accents of capitals (Ö, É)
        self.details = QPlainTextEdit()
        self.details.setObjectName("undo_plan")
        self.details.setReadOnly(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.undo_button = QPushButton(f"Undo batch {batch_id}")
        self.undo_button.setDefault(True)
        self.undo_button.setEnabled(False)
        self.buttons.addButton(self.undo_button, QDialogButtonBox.ButtonRole.AcceptRole)
        self.undo_button.hide()  # offered once the preview is read and the batch may be undone
        self.buttons.rejected.connect(self.reject)
        self.undo_button.clicked.connect(self.start_undo)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.details, 1)
        layout.addWidget(self.buttons)
        self.bridge.tasks.start(f"undo-preview:{id(self)}", self._read)

    async def _read(self) -> None:
        try:
            self.refused = await self.bridge.call(refusal, self.bridge.ctx.engine, self.batch_id)
            if self.refused is not None:
                self.summary.setText(self.refused)
                return
            self.plan = await self.bridge.undo_plan(self.batch_id)
        except Exception as exc:  # noqa: BLE001 - a planner reads why here; the bridge logs the rest
            self.error = describe(exc)
            self.summary.setText(f"The undo of batch {self.batch_id} cannot be previewed: {self.error}")
            return
        summary, details = plan_words(self.plan)
        self.summary.setText(summary + ("" if self.plan.empty else " Nothing is changed until you press Undo."))
        self.details.setPlainText(details)
        self.undo_button.setVisible(True)
        self.undo_button.setEnabled(not self.plan.empty)
        if not self.plan.empty:
            self.undo_button.setFocus()  # the primary button: Enter undoes, Esc cancels

    def start_undo(self) -> None:
        try:
            task = self.bridge.undo(self.batch_id)
        except OrderSyncError as exc:
            self.error = str(exc)
            self.summary.setText(f"Not now: {exc}.")
            return
        self.undo_button.setEnabled(False)
        self.summary.setText(f"Undoing batch {self.batch_id}… (Cancel Sync stops it after the request in flight.)")
        self.bridge.tasks.start(f"undo-wait:{id(self)}", lambda: self._wait(task))

    async def _wait(self, task: Any) -> None:
        try:
            plan, self.result = await task
        except Exception as exc:  # noqa: BLE001 - said here; the bridge logs it and says it too
            self.error = describe(exc)
            self.summary.setText(f"The undo of batch {self.batch_id} stopped: {self.error}")
            return
        self.summary.setText(result_words(self.batch_id, plan or self.plan, self.result))
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setText("Close")
