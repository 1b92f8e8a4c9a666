"""Screenshots of the operator window's states, for the docs and the README.

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots]

Writes one PNG per state (the main window at 1400x860 unless said, the dialogs at their own size)
from a fresh demo in a temporary folder: the demo database (600 order lines) and its embedded
sandbox board, opened the way ``main.py --demo`` opens them. Nothing of the user's is read or
written: the demo lives in a temporary folder and the window's saved geometry (QSettings) goes
there too. Other PNGs in the folder (older states) are removed.

- idle.png: the window on the demo, customers with pending work, nothing ticked, no batch yet;
- forecast.png: two customers ticked, the forecast under Sync ("about 250 changes, …");
- preview.png: the Preview dialog of those two, every line expanded, the forecast on top;
- failed-groups.png: after the board owner deleted two status labels and two customers synced,
  the failed lines grouped by cause, each with its fix and one retry;
- group-lines.png: the second group shown, one row per order line;
- details.png: one line selected, its details with the field table;
- syncing.png: three big customers syncing, the run header with the overall bar and time left;
- small-window.png: the same moment at 1024x700;
- log.png: the log pane open under the window after those syncs;
- drift.png and history.png: Check the board after a planner's edits on the board, and a line's history
  (``shoot_drift_and_history``);
- undo.png: the preview of the undo of a batch (``shoot_undo``);
- settings.png: the settings dialog on the demo's settings file;
- decisions.png: the "Needs a decision" list, after planners retyped the ALT PO of two lines on the board
  that the ERP changed too, the column asking (``shoot_decisions``).

Needs a real X display (the offscreen platform draws no native style). Without ``DISPLAY`` the
script re-runs itself under ``xvfb-run``; on Debian/Ubuntu install it with ``apt-get install xvfb``
(Qt's xcb plugin also needs ``libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0
libxcb-render-util0 libxcb-shape0 libxkbcommon-x11-0``; ``fonts-dejavu-core`` gives readable text).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

XVFB_SCREEN = "-screen 0 1600x1000x24"
WINDOW_SIZE = (1400, 860)
SMALL_SIZE = (1024, 700)
SHOTS = (
    "idle",
    "forecast",
    "preview",
    "failed-groups",
    "group-lines",
    "details",
    "syncing",
    "small-window",
    "log",
    "drift",
    "history",
    "undo",
    "settings",
    "decisions",
)


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots", help="folder for the PNGs")
    parser.add_argument("--keep", action="store_true", help="keep the temporary demo folder (its path is printed)")
    return parser.parse_args()


def ensure_display() -> None:
    """Re-run under xvfb-run when there is no X display; say what to install when that is missing too."""
    if os.environ.get("DISPLAY"):
        if os.environ.get("QT_QPA_PLATFORM", "xcb") != "xcb":
            os.environ["QT_QPA_PLATFORM"] = "xcb"  # a real display, not offscreen rendering
        return
    if os.environ.get("ORDERSYNC_SCREENSHOTS_XVFB"):
        sys.exit("screenshots: xvfb-run started no X display (DISPLAY is still unset)")
    xvfb_run = shutil.which("xvfb-run")
    if xvfb_run is None:
        sys.exit(
            "screenshots: no X display and no xvfb-run; install Debian's xvfb (apt-get install xvfb) "
            "or run on a desktop"
        )
    os.environ["ORDERSYNC_SCREENSHOTS_XVFB"] = "1"
    os.environ.pop("QT_QPA_PLATFORM", None)
    os.execv(xvfb_run, [xvfb_run, "-a", "-s", XVFB_SCREEN, sys.executable, os.path.abspath(__file__), *sys.argv[1:]])


def check_xcb_libraries() -> None:
    if not sys.platform.startswith("linux"):
        return
    import ctypes.util

    if ctypes.util.find_library("xcb-cursor") is None:
        sys.exit("screenshots: Qt's xcb plugin needs libxcb-cursor0 (apt-get install libxcb-cursor0)")


ARGS = _parse() if __name__ == "__main__" else None
if __name__ == "__main__":
    ensure_display()
    check_xcb_libraries()

import asyncio
import logging
import tempfile
import time

import qasync
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QApplication, QDockWidget, QWidget

from core import __version__
from core.demo.setup import DEMO_BOARD_ID, init_demo
from core.foundation.logs import LOG_DIR_ENV, setup_logging
from gui.app import app_icon


async def until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(0.05)


async def settle(seconds: float = 0.4) -> None:
    """Let refreshes land and the screen repaint."""
    await asyncio.sleep(seconds)
    QApplication.processEvents()


def save(widget: QWidget, folder: Path, name: str) -> Path:
    path = folder / f"{name}.png"
    pixmap = widget.grab()
    if not pixmap.save(str(path), "PNG"):
        raise OSError(f"could not write {path}")
    print(
        f"  {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: {pixmap.width()}x{pixmap.height()}",
        flush=True,
    )
    return path


def rows_of(model) -> list[dict]:
    from gui.models import RowRole

    return [model.index(r, 0).data(RowRole) for r in range(model.rowCount())]


def batch_statuses(window) -> list[str]:
    return [row["status"] for row in rows_of(window.batches)]


async def shoot(app: QApplication, folder: Path, out: Path) -> None:
    from gui.app import open_window

    demo = init_demo(folder / "demo")
    print(f"demo in {demo.folder}", flush=True)
    window = await open_window(demo.settings, demo=True)
    window.resize(*WINDOW_SIZE)
    window.move(40, 40)
    window.raise_()
    window.activateWindow()
    bridge = window.bridge
    pane = window.failures
    try:
        # -- idle: the pending customers, nothing ticked, no batch yet -------------------------------
        await until(lambda: window.customers.rowCount() > 0, 60, "the pending customers")
        await until(lambda: not bridge.tasks.running("refresh"), 30, "the first refresh")
        await settle(1.0)
        save(window, out, "idle")

        pending = {row["customer"]: row for row in rows_of(window.customers)}
        by_size = sorted(pending, key=lambda c: pending[c]["new"] + pending[c]["changed"])

        # -- forecast: two customers ticked, the forecast under Sync ---------------------------------
        # one customer with invalid lines (they show with their reasons in Preview) and one without
        chosen = [c for c in by_size if pending[c]["invalid"]][:1]
        chosen += [c for c in by_size if not pending[c]["invalid"]][:1]
        for customer in chosen:
            window.customers.set_checked(customer, True)
        await until(lambda: window.forecast_label.text().startswith("Ticked:"), 60, "the forecast under Sync")
        await settle()
        save(window, out, "forecast")

        # -- preview: the same two customers, every line expanded, the forecast on top ---------------
        window.preview_selected()
        dialog = window.preview_dialog
        await until(lambda: dialog.report is not None, 60, "the preview")
        dialog.tree.expandAll()
        dialog.tree.scrollToTop()
        await settle()
        save(dialog, out, "preview")
        dialog.sync_button.click()  # sends them: their invalid lines stay for the ERP to fix
        await until(lambda: bridge.syncing, 10, "the previewed sync to start")
        await until(lambda: not bridge.syncing, 120, "the previewed sync to end")
        window.customers.set_all_checked(False)

        # -- failed groups: the board owner deleted two status labels; two customers' lines fail ------
        sandbox = bridge.ctx.sandbox()
        small = [c for c in by_size if pending[c]["new"] >= 3 and not pending[c]["invalid"] and c not in chosen][:2]
        for customer, (column, label) in zip(
            small, [("ORDER TYPE", "RECEIVED"), ("UNIT OF MEASURE", "PCE")], strict=True
        ):
            sandbox.set_label(DEMO_BOARD_ID, column, label, present=False)
            window.customers.set_checked(customer, True)
            window.sync_button.click()
            await until(lambda: bridge.syncing, 10, "the sync to start")
            await until(lambda: not bridge.syncing, 120, "the failing sync to end")
            window.customers.set_all_checked(False)
            sandbox.set_label(DEMO_BOARD_ID, column, label, present=True)  # a retry would now work
        await until(lambda: len(pane.groups) >= 2, 30, "the failed lines, grouped")
        await settle(1.5)
        save(window, out, "failed-groups")

        # -- a group expanded: the second cause's lines ----------------------------------------------
        pane.cards[1].show_button.click()
        await settle(0.8)
        save(window, out, "group-lines")

        # -- details: one line selected, its field table ---------------------------------------------
        pane.lines_view.setFocus()
        pane.lines_view.selectRow(0)
        await until(lambda: not bridge.tasks.running("details"), 20, "the details pane")
        await settle(0.8)
        save(window, out, "details")

        # -- syncing: the biggest customers, caught mid-way; then the same at 1024x700 ----------------
        window.customers.set_all_checked(False)
        biggest = [c for c in reversed(by_size) if c not in small and c not in chosen][:3]
        for customer in biggest:
            window.customers.set_checked(customer, True)
        window.sync_button.click()
        await until(lambda: bridge.syncing, 10, "the big sync to start")

        def mid_way() -> bool:
            fraction = window.run_panel.tracker.fraction()
            return 0.3 <= fraction <= 0.6 and len(batch_statuses(window)) >= 4

        try:
            await until(mid_way, 180, "the run a third of the way")
        except TimeoutError as exc:
            print(f"  note: {exc}; taking the picture as it is", flush=True)
        await settle(0.3)
        save(window, out, "syncing")
        window.resize(*SMALL_SIZE)
        await settle(0.6)
        save(window, out, "small-window")
        window.resize(*WINDOW_SIZE)
        window.cancel_button.click()
        await until(lambda: not bridge.syncing, 120, "the cancelled sync to stop")
        await settle(0.5)

        # -- log: the log pane open under the window, every batch's lines tagged ---------------------
        dock = window.findChild(QDockWidget, "log_dock")
        dock.show()
        window.resizeDocks([dock], [230], Qt.Orientation.Vertical)
        window.log_view.verticalScrollBar().setValue(window.log_view.verticalScrollBar().maximum())
        await settle(0.8)
        save(window, out, "log")
        dock.hide()

        await shoot_drift_and_history(window, out)

        await shoot_undo(window, out)
        await shoot_decisions(window, out)

        # -- settings --------------------------------------------------------------------------------
        from gui.settings_dialog import SettingsDialog

        settings_dialog = SettingsDialog(demo.settings)
        settings_dialog.show()
        await settle(1.0)
        save(settings_dialog, out, "settings")
        settings_dialog.reject()
        await settle(0.2)
    finally:
        bridge.cancel()
        await until(lambda: not bridge.syncing, 60, "the sync to stop")
        window.close()
        bridge.close()


async def shoot_drift_and_history(window, out: Path) -> None:
    """drift: Check the board after a planner retyped a cell and deleted an item on the board, the
    first finding selected (its line and history below); history: a line's history as the details
    of a line show it (the same table, on the edited line)."""
    import sqlalchemy as sa

    from core.db import schema as s
    from gui.history_view import HistoryTable

    bridge = window.bridge
    ctx = bridge.ctx
    with ctx.engine.connect() as conn:
        lines = conn.execute(
            sa.select(s.items.c.sync_key, s.items.c.monday_item_id)
            .where(s.items.c.monday_item_id.is_not(None))
            .order_by(s.items.c.sync_key)
            .limit(2)
        ).all()
    if len(lines) < 2:
        print("  note: fewer than two lines on the board; no drift screenshot", flush=True)
        return
    (edited_key, edited), (_deleted_key, deleted) = lines
    sandbox = ctx.sandbox()
    sandbox._control(f"/sandbox/items/{edited}/values", {"column": "CUSTOMER PRICE", "value": "31"})
    sandbox._control(f"/sandbox/items/{deleted}/delete", {})
    await until(lambda: not bridge.busy, 60, "the window to be idle")
    window.check_board()
    dialog = window.drift_dialog
    await until(lambda: dialog.check_button.isEnabled() or dialog.error, 60, "the drift forecast")
    dialog.check_button.click()
    await until(lambda: dialog.report is not None or dialog.error, 180, "the drift check")
    if dialog.findings():
        dialog.select_finding(0)
        await until(lambda: dialog.history.loaded >= 1, 20, "the finding's history")
    await settle(0.5)
    save(dialog, out, "drift")
    dialog.reject()

    table = HistoryTable(bridge)
    table.setWindowTitle("History")
    table.resize(900, 260)
    table.show()
    table.load(edited_key)
    await until(lambda: table.loaded >= 1, 20, "the line's history")
    await settle(0.5)
    save(table, out, "history")
    table.close()


async def shoot_undo(window, out: Path) -> None:
    """undo: the preview of the undo of the first finished batch, as "Undo this batch…" on the batches
    list opens it (nothing is undone: the dialog is closed on its preview)."""
    import sqlalchemy as sa
    from PySide6.QtCore import QItemSelectionModel

    from core.db import schema as s
    from gui.models import KeyRole

    bridge = window.bridge
    b = s.batches
    with bridge.ctx.engine.connect() as conn:
        batch_id = conn.execute(
            sa.select(sa.func.min(b.c.batch_id)).where(
                b.c.undo_of_batch.is_(None), b.c.status.in_((s.COMPLETED, s.COMPLETED_WITH_ERRORS))
            )
        ).scalar()
    model = window.batches
    rows = [r for r in range(model.rowCount()) if model.index(r, 0).data(KeyRole) == batch_id]
    if batch_id is None or not rows:
        print("  note: no finished batch listed; no undo screenshot", flush=True)
        return
    await until(lambda: not bridge.busy, 60, "the window to be idle")
    window.batches_view.selectionModel().select(
        model.index(rows[0], 0),
        QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows,
    )
    window.undo_batch_action.trigger()
    dialog = window.undo_dialog
    await until(lambda: dialog.plan is not None or dialog.refused or dialog.error, 120, "the undo's preview")
    await settle(0.5)
    save(dialog, out, "undo")
    dialog.reject()
    await settle(0.2)


async def shoot_decisions(window, out: Path) -> None:
    """decisions: the column CUSTOMER ALT PO set to ``ask`` (as tests/test_protect.py does, on the
    window's mapping), planners retype it on two lines of one customer on the board, the ERP changes
    those orders too, the customer syncs: both cells wait in the window with both values."""
    import dataclasses

    import sqlalchemy as sa

    from core.db import schema as s

    column = "CUSTOMER ALT PO"
    bridge = window.bridge
    ctx = bridge.ctx
    mapping = ctx.mapping
    ctx.mapping = dataclasses.replace(
        mapping,
        columns=tuple(dataclasses.replace(c, policy="ask") if c.label == column else c for c in mapping.columns),
    )
    items = s.items
    with ctx.engine.connect() as conn:
        customer = conn.execute(
            sa.select(items.c.customer).where(items.c.is_removed.is_(False)).order_by(items.c.customer.desc()).limit(1)
        ).scalar()
        lines = conn.execute(
            sa.select(items.c.order_number, items.c.monday_item_id)
            .where(items.c.customer == customer, items.c.is_removed.is_(False), items.c.order_number.is_not(None))
            .order_by(items.c.sync_key)
        ).all()
    chosen: dict[str, str] = {}
    for order, item in lines:
        chosen.setdefault(order, item)
    if len(chosen) < 2:
        print("  note: fewer than two orders on the board; no decisions screenshot", flush=True)
        return
    source = sa.Table(ctx.settings["source.table"], sa.MetaData(), autoload_with=ctx.engine)
    sandbox = ctx.sandbox()
    for n, (order, item) in enumerate(list(chosen.items())[:2], 1):
        sandbox._control(f"/sandbox/items/{item}/values", {"column": column, "value": f"PLANNER-{n}"})
        with ctx.engine.begin() as conn:
            conn.execute(source.update().where(source.c["AAG ORDER NUMBER"] == order).values({column: f"ERP-ALT-{n}"}))
    await until(lambda: not bridge.busy, 60, "the window to be idle")
    window.refresh_all()
    await until(lambda: customer in {row["customer"] for row in rows_of(window.customers)}, 60, "the customer listed")
    window.customers.set_all_checked(False)
    window.customers.set_checked(customer, True)
    window.sync_button.click()
    await until(lambda: bridge.syncing, 10, "the sync to start")
    await until(lambda: not bridge.syncing, 120, "the sync to end")
    await until(lambda: window.decisions.model.rowCount() >= 1, 30, "the decision list")
    window.decisions.view.selectRow(0)
    await settle(0.8)
    save(window, out, "decisions")
    ctx.mapping = mapping


def main() -> int:
    args = ARGS or _parse()
    args.out.mkdir(parents=True, exist_ok=True)
    for old in args.out.glob("*.png"):
        if old.stem not in SHOTS:
            old.unlink()
            print(f"  removed {old.name} (no longer a state shown)", flush=True)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("OrderSync")
    app.setApplicationVersion(__version__)
    app.setOrganizationName("OrderSync")
    app.setWindowIcon(app_icon())
    print(
        f"Qt platform {app.platformName()}, style {app.style().name()}, font {app.font().family()} "
        f"{app.font().pointSize()} pt, screen {app.primaryScreen().size().width()}x"
        f"{app.primaryScreen().size().height()}",
        flush=True,
    )
    folder = Path(tempfile.mkdtemp(prefix="ordersync-screens-"))
    os.environ[LOG_DIR_ENV] = str(folder / "logs")  # the window's log pane, without touching the user's log
    setup_logging(console_level=logging.WARNING)
    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(fmt, QSettings.Scope.UserScope, str(folder / "qsettings"))
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    try:
        with loop:
            loop.run_until_complete(shoot(app, folder, args.out))
    finally:
        if args.keep:
            print(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
