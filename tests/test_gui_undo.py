"""The undo of a batch in the real window: the real engine, the sandbox over HTTP and SQLite (the
fixtures of tests/test_gui_window.py). The preview must list what the CLI's dry run lists; the undo
runs as a run of the window and archives what the batch created on the board, but leaves an item a person
edited since on the board, listed in the preview as left alone.
"""

from __future__ import annotations

import sqlalchemy as sa
from PySide6.QtCore import QItemSelectionModel

from core.db import schema as s
from core.foundation.exceptions import OrderSyncError
from core.undo import UndoProcessor
from gui.mnemonics import TEXT
from gui.models import KeyRole
from gui.undo_dialog import UndoDialog, plan_words
from tests.helpers import BOARD
from tests.test_gui_drift import _set_price, _sync, _world
from tests.test_gui_window import open_window, qloop, runs_finished, sandbox, until  # noqa: F401 - fixtures


def _select_batch(window, batch_id: int) -> None:
    model = window.batches
    row = next(r for r in range(model.rowCount()) if model.index(r, 0).data(KeyRole) == batch_id)
    window.batches_view.selectionModel().select(
        model.index(row, 0), QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
    )


def _batch_rows(engine) -> list:
    with engine.connect() as conn:
        return conn.execute(sa.select(s.batches.c.batch_id, s.batches.c.undo_of_batch, s.batches.c.status)).all()


def _listed(window) -> set:
    return {window.batches.index(r, 0).data(KeyRole) for r in range(window.batches.rowCount())}


async def _open_undo(window, batch_id: int) -> UndoDialog:
    await until(lambda: batch_id in _listed(window), 30, "the batch in the list")
    _select_batch(window, batch_id)
    assert window.undo_batch_action in window.batches_view.actions()
    window.undo_batch_action.trigger()
    dialog = window.undo_dialog
    assert isinstance(dialog, UndoDialog) and dialog.isVisible()
    await until(lambda: dialog.plan is not None or dialog.refused or dialog.error, 60, "the undo's preview")
    return dialog


def test_undo_a_batch_from_the_window_after_its_preview(qloop, qtbot, open_window, sqlite_engine, sandbox):
    _world(sqlite_engine)
    window = open_window()
    finished = runs_finished(window)
    assert TEXT["undo_batch"] == window.undo_batch_action.text()

    async def scenario():
        await _sync(window, qtbot, finished, 1)
        [(batch_id, _, _)] = _batch_rows(sqlite_engine)
        created = {item["id"] for item in sandbox.board_dump(BOARD)["items"]}
        assert len(created) == 2

        dialog = await _open_undo(window, batch_id)
        assert dialog.error is None and dialog.refused is None, (dialog.error, dialog.refused)
        # The preview says what the CLI's dry run says.
        client = window.bridge.ctx.monday_client()
        try:
            dry_run = UndoProcessor(window.bridge.ctx, client).plan(batch_id)
        finally:
            client.close()
        assert dialog.plan is not None and dialog.plan.as_dict() == dry_run.as_dict()
        assert (dialog.summary.text().split(" Nothing")[0], dialog.details.toPlainText()) == plan_words(dry_run)
        assert "2 items to archive" in dialog.summary.text()
        assert dialog.undo_button.isVisible() and dialog.undo_button.isEnabled()
        assert dialog.undo_button.text() == f"Undo batch {batch_id}"
        assert sandbox.board_dump(BOARD)["items"]  # the preview changed nothing

        dialog.undo_button.click()
        # From the press on, the undo is the window's run: a sync is refused until it has finished.
        assert window.bridge.syncing and not window.sync_action.isEnabled()
        try:
            window.bridge.sync(["MACK WELDON"])
        except OrderSyncError as exc:
            assert "undone" in str(exc)
        else:
            raise AssertionError("a sync started while a batch was being undone")
        await until(lambda: dialog.result is not None or dialog.error, 90, "the undo")
        assert dialog.error is None, dialog.error
        assert dialog.result.status == s.COMPLETED
        assert dialog.summary.text().startswith(f"Batch {batch_id} is undone")
        assert len(finished) == 2
        assert window.run_panel.headline.text().startswith(f"The undo of batch {batch_id} ended at")
        dump = sandbox.board_dump(BOARD)
        assert dump["items"] == [] and set(dump["archived_item_ids"]) == created
        undo_id = next(b for b, of, _ in _batch_rows(sqlite_engine) if of == batch_id)
        await until(lambda: undo_id in _listed(window), 30, "the undo batch in the batches list")
        dialog.reject()

        again = await _open_undo(window, batch_id)  # a second undo of the same batch is refused
        assert again.refused == f"Batch {batch_id} was undone already, by batch {undo_id}."
        assert again.summary.text() == again.refused and not again.undo_button.isVisible()
        again.reject()
        itself = await _open_undo(window, undo_id)  # and the undo batch itself cannot be undone
        assert itself.refused is not None and "itself the undo" in itself.refused
        assert not itself.undo_button.isVisible()
        itself.reject()

    qloop.run_until_complete(scenario())


def test_an_undo_is_refused_while_a_sync_runs(qloop, qtbot, open_window, sqlite_engine, sandbox):
    table = _world(sqlite_engine)
    window = open_window()
    finished = runs_finished(window)

    async def scenario():
        await _sync(window, qtbot, finished, 1)
        [(batch_id, _, _)] = _batch_rows(sqlite_engine)
        dialog = await _open_undo(window, batch_id)
        assert dialog.plan is not None
        _set_price(sqlite_engine, table, "MWE-00001", "40")  # something to send
        window.bridge.sync(["MACK WELDON"])
        assert window.bridge.busy
        try:
            window.bridge.undo(batch_id)
        except OrderSyncError as exc:
            assert "sync" in str(exc)
        else:
            raise AssertionError("an undo started while a sync ran")
        dialog.undo_button.click()
        assert dialog.summary.text().startswith("Not now:") and dialog.result is None
        await until(lambda: len(finished) == 2, 90, "the sync to finish")
        assert not any(of is not None for _, of, _ in _batch_rows(sqlite_engine))
        dialog.reject()

    qloop.run_until_complete(scenario())


def test_cancel_sync_stops_an_undo_and_undoing_again_finishes_it(qloop, qtbot, open_window, sqlite_engine, sandbox):
    _world(sqlite_engine)
    window = open_window()
    finished = runs_finished(window)

    async def scenario():
        await _sync(window, qtbot, finished, 1)
        [(batch_id, _, _)] = _batch_rows(sqlite_engine)
        dialog = await _open_undo(window, batch_id)
        dialog.undo_button.click()
        window.cancel_sync()  # Cancel Sync, pressed at once
        await until(lambda: dialog.result is not None or dialog.error, 90, "the cancelled undo")
        assert dialog.result.status == s.CANCELLED, dialog.result
        assert "cancelled" in dialog.summary.text() and "again" in dialog.summary.text()
        assert "stopped" in window.run_panel.headline.text()
        dialog.reject()

        again = await _open_undo(window, batch_id)  # resumed by undoing it again
        assert again.refused is None and again.plan is not None, (again.refused, again.error)
        again.undo_button.click()
        await until(lambda: again.result is not None or again.error, 90, "the resumed undo")
        assert again.result.status == s.COMPLETED, again.result
        assert sandbox.board_dump(BOARD)["items"] == []
        again.reject()
        await until(lambda: not window.bridge.tasks.running("refresh"), 30, "the lists read after the undo")

    qloop.run_until_complete(scenario())


def test_the_preview_lists_an_item_a_person_edited_since_and_the_undo_leaves_it(
    qloop, qtbot, open_window, sqlite_engine, sandbox
):
    _world(sqlite_engine)
    window = open_window()
    finished = runs_finished(window)

    async def scenario():
        await _sync(window, qtbot, finished, 1)
        [(batch_id, _, _)] = _batch_rows(sqlite_engine)
        items = sorted(sandbox.board_dump(BOARD)["items"], key=lambda item: item["name"])
        assert len(items) == 2
        edited, other = items
        sandbox.set_value(edited["id"], "CUSTOMER PRICE", "31")  # a planner retypes a cell of a new item
        (as_edited,) = [item for item in sandbox.board_dump(BOARD)["items"] if item["id"] == edited["id"]]

        dialog = await _open_undo(window, batch_id)
        assert dialog.error is None and dialog.refused is None, (dialog.error, dialog.refused)
        assert dialog.summary.text().startswith(f"Undo of batch {batch_id} (MACK WELDON): 1 item to archive,")
        assert "1 item changed since is left alone." in dialog.summary.text()
        details = dialog.details.toPlainText()
        assert "Left alone (changed since the batch) (1):" in details
        (left,) = [line.strip() for line in details.splitlines() if "stays on the board" in line]
        assert left.startswith("order MWE-")
        assert ", CUSTOMER PRICE: the batch created this item and the board holds 31 now; it stays on the board" in left

        dialog.undo_button.click()
        await until(lambda: dialog.result is not None or dialog.error, 90, "the undo")
        assert dialog.error is None, dialog.error
        assert dialog.result.status == s.COMPLETED
        assert "1 item changed since was left alone." in dialog.summary.text()
        dump = sandbox.board_dump(BOARD)
        assert dump["items"] == [as_edited]  # still active on the board, as the planner left it
        assert dump["archived_item_ids"] == [other["id"]]
        undo_id = next(b for b, of, _ in _batch_rows(sqlite_engine) if of == batch_id)
        await until(lambda: undo_id in _listed(window), 30, "the undo batch in the batches list")
        dialog.reject()
        await until(lambda: not window.bridge.tasks.running("refresh"), 30, "the lists read after the undo")

    qloop.run_until_complete(scenario())
