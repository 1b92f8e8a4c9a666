"""Starting the window: QApplication on a qasync event loop, logging, the excepthook, first run.

Opening the engine (connecting to the database, checking the schema) happens off the GUI thread
like every other engine call; a failure is shown as a message with the way out, never a traceback.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

from PySide6.QtCore import QTimer, QtMsgType, qInstallMessageHandler
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QMessageBox

from core import __version__
from core.engine.context import EngineContext
from core.foundation.config import default_config_path, load_settings
from core.foundation.exceptions import EXIT_INTERNAL, OrderSyncError
from core.foundation.logs import log_uncaught_thread_exceptions, setup_logging
from core.foundation.resources import resource_path
from gui.look import apply_look

log = logging.getLogger("ordersync.gui")

_QT_LEVELS = {
    QtMsgType.QtDebugMsg: logging.DEBUG,
    QtMsgType.QtInfoMsg: logging.INFO,
    QtMsgType.QtWarningMsg: logging.WARNING,
    QtMsgType.QtCriticalMsg: logging.ERROR,
    QtMsgType.QtFatalMsg: logging.CRITICAL,
}


def _qt_message(kind, context, message) -> None:
    logging.getLogger("qt").log(_QT_LEVELS.get(kind, logging.INFO), "%s", message)


def excepthook(exc_type, exc, tb) -> None:
    """Unexpected errors are logged with their traceback and shown in a dialog, never lost."""
    if issubclass(exc_type, KeyboardInterrupt):
        sys.__excepthook__(exc_type, exc, tb)
        return
    log.critical("unexpected error", exc_info=(exc_type, exc, tb))
    if QApplication.instance() is not None:
        from gui.diagnostics import show_crash_dialog

        show_crash_dialog(exc_type, exc, tb)


def install_excepthook() -> None:
    sys.excepthook = excepthook
    log_uncaught_thread_exceptions()


def app_icon() -> QIcon:
    """The application icon in every size scripts/make_icons.py drew."""
    icon = QIcon()
    for png in sorted(resource_path("icons").glob("ordersync-*.png")):
        icon.addFile(str(png))
    return icon


def resolve_settings_path(config: Path | None, demo: bool) -> Path | None:
    """The settings file to open; None when the planner chose to quit at the first run."""
    if demo:
        from core.demo.setup import init_demo

        return init_demo(None, keep_existing=True).settings
    path = Path(config) if config else default_config_path()
    if path.exists():
        return path
    box = QMessageBox(
        QMessageBox.Icon.Question,
        "Welcome to OrderSync",
        "There are no settings yet.\n\nOpen the demo (a sample database and a sandbox board), "
        "or set up your SQL Server database and monday board?",
    )
    demo_button = box.addButton("Open the &Demo", QMessageBox.ButtonRole.AcceptRole)
    setup_button = box.addButton("&Set Up…", QMessageBox.ButtonRole.ActionRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.exec()
    if box.clickedButton() is demo_button:
        return resolve_settings_path(None, True)
    if box.clickedButton() is setup_button:
        from gui.settings_dialog import SettingsDialog

        dialog = SettingsDialog(path)
        if dialog.exec():
            return path
    return None


async def open_window(path: Path, *, demo: bool):
    """Open the engine in a worker thread, then build the window on the GUI thread."""
    from gui.bridge import EngineBridge
    from gui.main_window import MainWindow

    loop = asyncio.get_running_loop()
    settings = load_settings(path)
    ctx = await loop.run_in_executor(None, EngineContext.open, settings)
    bridge = EngineBridge(ctx)
    window = MainWindow(bridge, None if demo else path)
    window.show()
    return window


def run(config: Path | None = None, *, demo: bool = False, quit_after_ms: int | None = None) -> int:
    """The GUI's main: returns the exit code."""
    import qasync

    existing = QApplication.instance()  # a QApplication when there is one (the tests' qtbot makes one)
    app = existing if isinstance(existing, QApplication) else QApplication(sys.argv)
    app.setApplicationName("OrderSync")
    app.setApplicationVersion(__version__)
    app.setOrganizationName("OrderSync")
    app.setWindowIcon(app_icon())
    apply_look(app)  # the application style sheet (resources/style.qss): gui/look.py
    log_path = setup_logging(console_level=logging.WARNING)
    log.info("OrderSync %s: the window starts; log file %s", __version__, log_path)
    qInstallMessageHandler(_qt_message)
    install_excepthook()
    path = resolve_settings_path(config, demo)
    if path is None:
        return 0
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    closed = asyncio.Event()
    app.aboutToQuit.connect(closed.set)
    state: dict = {}

    async def main() -> int:
        try:
            state["window"] = await open_window(path, demo=demo)
        except OrderSyncError as exc:
            QMessageBox.critical(None, "OrderSync", f"{exc}\n\nSettings: {path}")
            return exc.exit_code
        except Exception:  # noqa: BLE001 - a bug while opening: logged and shown like any other
            excepthook(*sys.exc_info())
            return EXIT_INTERNAL
        if quit_after_ms is not None:
            QTimer.singleShot(quit_after_ms, app.quit)
        await closed.wait()
        return 0

    with loop:
        code = loop.run_until_complete(main())
    window = state.get("window")
    if window is not None:
        window.bridge.close()
    return code
