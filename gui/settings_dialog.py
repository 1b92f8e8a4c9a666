"""The settings dialog: database, monday board, API token and mapping, checked before they are saved.

Every value is validated as it is typed, with the problem shown under its field; Save (and Enter)
stays disabled until all are valid. "Test connection" and "Test board" run in a worker thread
(never on the GUI thread) and report one line. The file is written with ``render_settings``,
atomically, keeping the settings this dialog does not manage. The token goes to the OS keyring
through ``core.token`` and nowhere else: the field never shows a stored token, only its hint.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import tempfile
import tomllib
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout,
                               QGroupBox, QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget)

from core.config import (SANDBOX_URL, Settings, load_settings, parse_settings, render_settings,
                         resolve_database_url, setting_problem)
from core.db.sqlserver import PREFERRED_DRIVER, SqlServerTarget, build_url, parse_url, sqlserver_drivers
from core.exceptions import OrderSyncError, SettingsError
from core.mapping import Mapping, load_mapping
from core.resources import program_command
from core.token import (SOURCE_ENV, SOURCE_KEYRING, TOKEN_ENV, delete_token, get_token, hint_of,
                        keyring_available, keyring_backend_name, keyring_has_token, set_token, token_hint,
                        token_source)

log = logging.getLogger(__name__)

# The settings this dialog edits; every other setting of the loaded file is written back unchanged.
MANAGED = ("database.url", "database.schema", "source.table", "source.schema",
           "monday.api_url", "monday.board_id", "mapping.file")

SANDBOX = SANDBOX_URL
_OK_STYLE = "color: #2e7d32;"
_ERROR_STYLE = "color: #c62828;"


class _Relay(QObject):
    """Carries a worker thread's result back to the GUI thread (a queued signal)."""

    finished = Signal(str, int, bool, str)  # which test, its ticket, succeeded, the line to show


def _error_label() -> QLabel:
    label = QLabel()
    label.setWordWrap(True)
    label.setStyleSheet(_ERROR_STYLE)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.hide()
    return label


def _muted(label: QLabel) -> None:
    """A hint under a field, in the platform's placeholder colour."""
    palette = label.palette()
    palette.setColor(QPalette.ColorRole.WindowText, palette.color(QPalette.ColorRole.PlaceholderText))
    label.setPalette(palette)


def _status_label() -> QLabel:
    label = QLabel()
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def _first_line(text: str) -> str:
    text = text.strip()
    return text.splitlines()[0] if text else ""


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


# --- the probes behind the Test buttons: run in a worker thread, no Qt in them ---------------------


def probe_database(url: str, schema: str, base_dir: Path) -> tuple[bool, str]:
    """Connect once to the URL as typed; (True, "Connected…") or (False, the one-line reason)."""
    from sqlalchemy.engine import make_url

    from core.db.engine import check_connection, create_engine
    from core.db.migrate import require_current

    resolved = resolve_database_url(url, base_dir)
    try:
        parsed = make_url(resolved)
        database = parsed.database or ""
        if parsed.get_backend_name() == "sqlite" and database and not database.startswith((":memory:", "file:")):
            # Connecting would create an empty database in place of a mistyped one.
            if not Path(database).exists():
                return False, f"the SQLite database file does not exist: {database}"
    except Exception:
        pass  # create_engine names the problem
    engine = None
    try:
        engine = create_engine(resolved, schema=schema or None)
        check_connection(engine)
        try:
            require_current(engine)
            note = ""
        except SettingsError as exc:
            note = f" — note: {_first_line(str(exc))}"
        except Exception as exc:  # the connection works; the schema check is only advice
            log.info("schema check after a connection test failed: %s", exc)
            note = ""
        return True, f"Connected{note}"
    except OrderSyncError as exc:
        return False, _first_line(str(exc))
    except Exception as exc:
        log.exception("unexpected error while testing the database connection")
        return False, f"unexpected error: {type(exc).__name__}: {_first_line(str(exc))}"
    finally:
        if engine is not None:
            engine.dispose()


def probe_board(settings: Settings, typed_token: str) -> tuple[bool, str]:
    """Read the board and resolve every mapped column title; (True, summary) or (False, what is wrong)."""
    from core.context import SANDBOX_STATE
    from core.monday.client import MondayApiClient
    from core.monday.errors import MondayError

    server = None
    client = None
    try:
        mapping = load_mapping(settings.mapping_path)
        url = settings["monday.api_url"]
        if url == SANDBOX:
            from sandbox import SandboxServer

            state = settings.base_dir / SANDBOX_STATE
            if not state.exists():
                return False, (f"the embedded sandbox has no board yet ({state} does not exist); "
                               f"`{program_command('demo init')}` creates one")
            server = SandboxServer(state, time_scale=settings["sandbox.time_scale"])
            server.start()
            url, token = server.url, server.token
        else:
            token = typed_token or get_token()
            if not token:
                return False, f"no monday API token: enter one above, or set {TOKEN_ENV}"
        client = MondayApiClient(url, token, api_version=settings["monday.api_version"],
                                 timeout=(5.0, 20.0), max_attempts=2)
        meta = client.board(settings["monday.board_id"])
        return _resolve_all(meta, mapping)
    except MondayError as exc:
        return False, exc.describe()
    except OrderSyncError as exc:
        return False, str(exc)
    except Exception as exc:
        log.exception("unexpected error while testing the monday board")
        return False, f"unexpected error: {type(exc).__name__}: {_first_line(str(exc))}"
    finally:
        if client is not None:
            client.close()
        if server is not None:
            server.stop()


def _resolve_all(meta, mapping: Mapping) -> tuple[bool, str]:
    problems = []
    try:
        meta.resolve(mapping.columns)
    except SettingsError as exc:
        problems.append(str(exc))
    if mapping.subitem_columns:
        if not meta.subitem_board_id:
            problems.append(f"board {meta.board_id} ({meta.name}) has no subitems; the mapping names "
                            f"{len(mapping.subitem_columns)} subitem column(s)")
        else:
            try:
                meta.resolve(mapping.subitem_columns, subitems=True)
            except SettingsError as exc:
                problems.append(str(exc))
    if problems:
        return False, "; ".join(problems)
    items, subitems = len(mapping.columns), len(mapping.subitem_columns)
    return True, f"Board {meta.name}: all {items + subitems} mapped columns found ({items} item, {subitems} subitem)"


# --- the dialog -----------------------------------------------------------------------------------


class SettingsDialog(QDialog):
    """Edit the settings file at ``settings_path`` (created on Save if it does not exist)."""

    saved = Signal(Path)

    def __init__(self, settings_path: Path, parent: QWidget | None = None):
        super().__init__(parent)
        self.settings_path = Path(settings_path)
        self.setWindowTitle("OrderSync settings")
        self.setMinimumWidth(900)
        self._executor: ThreadPoolExecutor | None = None
        self._relay = _Relay(self)
        self._relay.finished.connect(self._test_finished)
        self._running: dict[str, int] = {}  # test → the ticket of the run whose result is awaited
        self._tickets = itertools.count(1)
        self._settings, self._file_keys, load_problem = self._load()
        self._build(load_problem)
        self._fill(self._settings)
        self._refresh_token_info()
        self._connect_validation()
        self.validate()

    # == loading =====================================================================================

    def _load(self) -> tuple[Settings, set[str], str | None]:
        """The settings in the file (defaults when it is missing or unreadable) and the keys it sets."""
        path = self.settings_path
        if not path.exists():
            return self._defaults(), set(), None
        try:
            settings = load_settings(path)
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (SettingsError, OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            return self._defaults(), set(), _first_line(str(exc))
        keys = {f"{section}.{key}" for section, body in data.items() if isinstance(body, dict) for key in body}
        return settings, keys, None

    def _defaults(self) -> Settings:
        settings = parse_settings({}, None)
        settings.base_dir = self.base_dir
        return settings

    @property
    def base_dir(self) -> Path:
        """Relative paths (SQLite file, mapping, sandbox) are relative to the settings file's folder."""
        return self.settings_path.parent.resolve()

    # == building ====================================================================================

    def _build(self, load_problem: str | None) -> None:
        outer = QVBoxLayout(self)
        where = QLabel(f"Settings file: {self.settings_path}")
        where.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        outer.addWidget(where)
        self.load_error_label = _error_label()
        if load_problem:
            self.load_error_label.setText(f"{load_problem}. Showing the defaults; Save replaces the file.")
            self.load_error_label.show()
        outer.addWidget(self.load_error_label)

        columns = QHBoxLayout()
        left, right = QVBoxLayout(), QVBoxLayout()
        left.addWidget(self._database_group())
        left.addStretch(1)
        right.addWidget(self._monday_group())
        right.addWidget(self._token_group())
        right.addWidget(self._mapping_group())
        right.addStretch(1)
        columns.addLayout(left, 1)
        columns.addLayout(right, 1)
        outer.addLayout(columns)

        self.save_error_label = _error_label()
        outer.addWidget(self.save_error_label)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        self.save_button = buttons.button(QDialogButtonBox.StandardButton.Save)
        self.save_button.setText("&Save")
        self.save_button.setDefault(True)
        self.cancel_button = buttons.button(QDialogButtonBox.StandardButton.Cancel)
        self.save_button.clicked.connect(self.save)
        buttons.rejected.connect(self.reject)
        outer.addWidget(buttons)
        self._set_tab_order()

    def _row(self, form: QFormLayout, text: str, field: QWidget, *extra: QWidget) -> QLabel:
        """A labelled row (the label is the field's buddy, so its mnemonic focuses the field)."""
        label = QLabel(text)
        label.setBuddy(field)
        if extra:
            box = QWidget()
            layout = QVBoxLayout(box)
            layout.setContentsMargins(0, 0, 0, 0)
            layout.setSpacing(2)
            layout.addWidget(field)
            for widget in extra:
                layout.addWidget(widget)
            form.addRow(label, box)
        else:
            form.addRow(label, field)
        return label

    def _database_group(self) -> QGroupBox:
        group = QGroupBox("Database")
        form = QFormLayout(group)
        self.url_edit = QLineEdit()
        self.url_edit.setPlaceholderText("sqlite:///orders.db or mssql+pyodbc://…")
        self.url_edit.setToolTip("SQLAlchemy URL of the database holding ORDERS_UNIFIED and OrderSync's tables. "
                                 "A relative SQLite path is relative to the settings file's folder.")
        self.url_error_label = _error_label()
        self._row(form, "Database &URL:", self.url_edit, self.url_error_label)

        self.schema_edit = QLineEdit()
        self.schema_edit.setPlaceholderText("database default (dbo on SQL Server)")
        self.schema_error_label = _error_label()
        self._row(form, "OrderSync sche&ma:", self.schema_edit, self.schema_error_label)

        self.source_table_edit = QLineEdit()
        self.source_table_error_label = _error_label()
        self._row(form, "Source t&able:", self.source_table_edit, self.source_table_error_label)

        self.source_schema_edit = QLineEdit()
        self.source_schema_edit.setPlaceholderText("database default; e.g. ORDERS.dbo for another database")
        self.source_schema_error_label = _error_label()
        self._row(form, "Source sc&hema:", self.source_schema_edit, self.source_schema_error_label)

        self.sqlserver_button = QPushButton("S&QL Server…")
        self.sqlserver_button.setCheckable(True)
        self.sqlserver_button.setAutoDefault(False)
        self.sqlserver_button.setToolTip("Build an mssql+pyodbc URL from the server, database and login.")
        self.sqlserver_group = self._sqlserver_group()
        self.sqlserver_group.hide()
        self.sqlserver_button.toggled.connect(self._show_sqlserver)
        toggle_row = QHBoxLayout()
        toggle_row.addWidget(self.sqlserver_button)
        toggle_row.addStretch(1)
        form.addRow(toggle_row)
        form.addRow(self.sqlserver_group)

        self.test_db_button = QPushButton("&Test connection")
        self.test_db_button.setAutoDefault(False)
        self.test_db_button.clicked.connect(self.run_database_test)
        self.db_status_label = _status_label()
        row = QHBoxLayout()
        row.addWidget(self.test_db_button)
        row.addWidget(self.db_status_label, 1)
        form.addRow(row)
        return group

    def _sqlserver_group(self) -> QGroupBox:
        group = QGroupBox("SQL Server connection")
        group.setToolTip("Fill in the server and database, then Build URL writes the Database URL field.")
        form = QFormLayout(group)
        drivers, note = sqlserver_drivers()
        self.driver_combo = QComboBox()
        self.driver_combo.setEditable(True)  # a URL may be built here for a workstation that has the driver
        self.driver_combo.addItems(drivers or [PREFERRED_DRIVER])
        self.driver_note_label = QLabel(note or "")
        self.driver_note_label.setWordWrap(True)
        self.driver_note_label.setStyleSheet(_ERROR_STYLE)
        self.driver_note_label.setVisible(bool(note))
        self._row(form, "ODBC dri&ver:", self.driver_combo)
        form.addRow(self.driver_note_label)

        self.server_edit = QLineEdit()
        self.server_edit.setPlaceholderText("host, host\\instance or host,port")
        self._row(form, "Se&rver:", self.server_edit)
        self.database_edit = QLineEdit()
        self._row(form, "Data&base:", self.database_edit)

        self.windows_auth_check = QCheckBox("&Windows authentication (Trusted_Connection)")
        self.windows_auth_check.setChecked(True)
        self.windows_auth_check.toggled.connect(self._auth_toggled)
        form.addRow(self.windows_auth_check)
        self.sql_user_edit = QLineEdit()
        self._row(form, "User &name:", self.sql_user_edit)
        self.sql_password_edit = QLineEdit()
        self.sql_password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self._row(form, "Passw&ord:", self.sql_password_edit)
        self.trust_cert_check = QCheckBox("Trust the server &certificate (TrustServerCertificate=yes)")
        self.trust_cert_check.setToolTip("Needed with ODBC Driver 18 when the server's certificate is self-signed.")
        form.addRow(self.trust_cert_check)

        self.build_url_button = QPushButton("Bui&ld URL")
        self.build_url_button.setAutoDefault(False)
        self.build_url_button.clicked.connect(self.build_sqlserver_url)
        self.build_error_label = _error_label()
        form.addRow(self.build_url_button)
        form.addRow(self.build_error_label)
        self._auth_toggled(True)
        return group

    def _monday_group(self) -> QGroupBox:
        group = QGroupBox("monday")
        form = QFormLayout(group)
        self.api_url_edit = QLineEdit()
        hint = QLabel('"sandbox" uses the embedded sandbox (the demo board)')
        _muted(hint)
        self.api_url_error_label = _error_label()
        self._row(form, "A&PI URL:", self.api_url_edit, hint, self.api_url_error_label)

        self.board_edit = QLineEdit()
        self.board_edit.setPlaceholderText("the number in the board's address: …/boards/<id>")
        self.board_error_label = _error_label()
        self._row(form, "Board &id:", self.board_edit, self.board_error_label)

        self.test_monday_button = QPushButton("Test boar&d")
        self.test_monday_button.setAutoDefault(False)
        self.test_monday_button.setToolTip("Reads the board and looks up every column the mapping names.")
        self.test_monday_button.clicked.connect(self.run_monday_test)
        self.monday_status_label = _status_label()
        row = QHBoxLayout()
        row.addWidget(self.test_monday_button)
        row.addWidget(self.monday_status_label, 1)
        form.addRow(row)
        return group

    def _token_group(self) -> QGroupBox:
        group = QGroupBox("API token")
        form = QFormLayout(group)
        self.token_edit = QLineEdit()
        self.token_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.token_edit.setToolTip("Paste a new token to store it in the OS keyring on Save. "
                                   "It is never written to the settings file.")
        self.token_status_label = _error_label()
        self.token_info_label = QLabel()
        self.token_info_label.setWordWrap(True)
        self._row(form, "API to&ken:", self.token_edit, self.token_info_label, self.token_status_label)
        self.forget_token_button = QPushButton("&Forget stored token")
        self.forget_token_button.setAutoDefault(False)
        self.forget_token_button.clicked.connect(self.forget_token)
        form.addRow(self.forget_token_button)
        return group

    def _mapping_group(self) -> QGroupBox:
        group = QGroupBox("Mapping")
        form = QFormLayout(group)
        self.mapping_edit = QLineEdit()
        self.mapping_edit.setPlaceholderText("(empty = built-in default)")
        self.browse_mapping_button = QPushButton("Brows&e…")
        self.browse_mapping_button.setAutoDefault(False)
        self.browse_mapping_button.clicked.connect(self.browse_mapping)
        line = QWidget()
        row = QHBoxLayout(line)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.mapping_edit, 1)
        row.addWidget(self.browse_mapping_button)
        self.mapping_status_label = QLabel()
        self.mapping_status_label.setWordWrap(True)
        _muted(self.mapping_status_label)
        self.mapping_error_label = _error_label()
        label = self._row(form, "Mappin&g file:", line, self.mapping_status_label, self.mapping_error_label)
        label.setBuddy(self.mapping_edit)
        return group

    def _set_tab_order(self) -> None:
        chain = [self.url_edit, self.schema_edit, self.source_table_edit, self.source_schema_edit,
                 self.sqlserver_button, self.driver_combo, self.server_edit, self.database_edit, self.windows_auth_check,
                 self.sql_user_edit, self.sql_password_edit, self.trust_cert_check, self.build_url_button,
                 self.test_db_button, self.api_url_edit, self.board_edit, self.test_monday_button, self.token_edit,
                 self.forget_token_button, self.mapping_edit, self.browse_mapping_button, self.save_button,
                 self.cancel_button]
        for first, second in zip(chain, chain[1:]):
            QWidget.setTabOrder(first, second)

    # == values ======================================================================================

    def _fill(self, settings: Settings) -> None:
        self.url_edit.setText(settings["database.url"])
        self.schema_edit.setText(settings["database.schema"])
        self.source_table_edit.setText(settings["source.table"])
        self.source_schema_edit.setText(settings["source.schema"])
        self.api_url_edit.setText(settings["monday.api_url"])
        self.board_edit.setText(settings["monday.board_id"])
        self.mapping_edit.setText(settings["mapping.file"])
        target = parse_url(settings["database.url"])
        if target is not None:
            if self.driver_combo.findText(target.driver) < 0:
                self.driver_combo.addItem(target.driver)
            self.driver_combo.setCurrentText(target.driver)
            self.server_edit.setText(target.server)
            self.database_edit.setText(target.database)
            self.windows_auth_check.setChecked(target.trusted)
            self.sql_user_edit.setText(target.user)
            self.sql_password_edit.setText(target.password)
            self.trust_cert_check.setChecked(target.trust_certificate)
            self.sqlserver_button.setChecked(True)

    def values(self) -> dict[str, Any]:
        """The managed settings as the fields now hold them (keyed ``section.key``)."""
        return {
            "database.url": self.url_edit.text().strip(),
            "database.schema": self.schema_edit.text().strip(),
            "source.table": self.source_table_edit.text().strip(),
            "source.schema": self.source_schema_edit.text().strip(),
            "monday.api_url": self.api_url_edit.text().strip(),
            "monday.board_id": self.board_edit.text().strip(),
            "mapping.file": self.mapping_edit.text().strip(),
        }

    def _file_values(self) -> dict[str, Any]:
        """What Save writes: the fields, plus every other setting the loaded file had."""
        kept = {name: self._settings[name] for name in self._file_keys if name not in MANAGED}
        return {**kept, **self.values()}

    def _settings_now(self) -> Settings:
        """The settings as they would be after Save (for the tests), relative to the file's folder."""
        settings = parse_settings({}, None)
        settings.values.update(self._file_values())
        settings.base_dir = self.base_dir
        return settings

    # == validation ==================================================================================

    def _connect_validation(self) -> None:
        for edit in (self.url_edit, self.schema_edit, self.source_table_edit, self.source_schema_edit,
                     self.api_url_edit, self.board_edit, self.mapping_edit):
            edit.textChanged.connect(lambda _text: self.validate())
        self.url_edit.textChanged.connect(lambda: self._clear_status(self.db_status_label))
        for edit in (self.api_url_edit, self.board_edit, self.mapping_edit, self.token_edit):
            edit.textChanged.connect(lambda: self._clear_status(self.monday_status_label))
        self.token_edit.textChanged.connect(lambda: self._show(self.token_status_label, ""))

    def _checks(self) -> list[tuple[QWidget, QLabel, Callable[[str], str | None]]]:
        return [
            (self.url_edit, self.url_error_label, self._check_url),
            (self.schema_edit, self.schema_error_label, self._check_schema),
            (self.source_table_edit, self.source_table_error_label, self._check_source_table),
            (self.source_schema_edit, self.source_schema_error_label, self._check_source_schema),
            (self.api_url_edit, self.api_url_error_label, self._check_api_url),
            (self.board_edit, self.board_error_label, self._check_board),
            (self.mapping_edit, self.mapping_error_label, self._check_mapping),
        ]

    def errors(self) -> dict[QWidget, str]:
        """The field → problem of every invalid field (empty when all are valid)."""
        found = {}
        for edit, _label, check in self._checks():
            problem = check(edit.text().strip())
            if problem:
                found[edit] = problem
        return found

    def validate(self) -> bool:
        """Check every field, show the problems under them, and enable Save only when all are valid."""
        errors = self.errors()
        for edit, label, _check in self._checks():
            self._show(label, errors.get(edit, ""), fit=False)
        self.save_button.setEnabled(not errors)
        self.test_db_button.setEnabled("db" not in self._running and self.url_edit not in errors)
        monday_ok = not any(e in errors for e in (self.api_url_edit, self.board_edit, self.mapping_edit))
        self.test_monday_button.setEnabled("monday" not in self._running and monday_ok)
        if self.isVisible():
            self._fit_height(grow_only=True)  # a message under a field must not squeeze the form
        return not errors

    # The fields' checks are the settings' own declarations (core.config), as the command line's are.
    _check_url = staticmethod(lambda text: setting_problem("database.url", text))
    _check_schema = staticmethod(lambda text: setting_problem("database.schema", text))
    _check_source_table = staticmethod(lambda text: setting_problem("source.table", text))
    _check_source_schema = staticmethod(lambda text: setting_problem("source.schema", text))
    _check_api_url = staticmethod(lambda text: setting_problem("monday.api_url", text))
    _check_board = staticmethod(lambda text: setting_problem("monday.board_id", text))

    def _check_mapping(self, text: str) -> str | None:
        try:
            mapping = load_mapping(self._mapping_path(text))
        except SettingsError as exc:
            self.mapping_status_label.clear()
            return str(exc)
        which = "built-in default mapping" if not text else "mapping"
        self.mapping_status_label.setText(
            f"{which}: {len(mapping.columns)} item and {len(mapping.subitem_columns)} subitem columns")
        return None

    def _mapping_path(self, text: str) -> Path | None:
        return (self.base_dir / text) if text else None

    def _show(self, label: QLabel, text: str, *, fit: bool = True) -> None:
        """Show ``text`` in ``label`` (hidden when empty), growing the dialog if it no longer fits."""
        label.setText(text)
        label.setVisible(bool(text))
        if fit and text and self.isVisible():
            self._fit_height(grow_only=True)

    @staticmethod
    def _clear_status(label: QLabel) -> None:
        label.clear()
        label.setStyleSheet("")

    # == actions =====================================================================================

    def _show_sqlserver(self, shown: bool) -> None:
        self.sqlserver_group.setVisible(shown)
        if shown:
            self.driver_combo.setFocus()
        if self.isVisible():
            self._fit_height()

    def _fit_height(self, *, grow_only: bool = False) -> None:
        """Fit the height to the content at the current width (wrapped messages included)."""
        layout = self.layout()
        layout.activate()
        needed = layout.totalHeightForWidth(self.width()) if layout.hasHeightForWidth() else -1
        needed = max(needed, layout.totalMinimumSize().height())
        if needed > self.height() or not grow_only:
            self.resize(self.width(), needed)

    def _auth_toggled(self, trusted: bool) -> None:
        self.sql_user_edit.setEnabled(not trusted)
        self.sql_password_edit.setEnabled(not trusted)

    def build_sqlserver_url(self) -> bool:
        """Fill the Database URL field from the SQL Server fields."""
        target = SqlServerTarget(
            driver=self.driver_combo.currentText(), server=self.server_edit.text(),
            database=self.database_edit.text(), trusted=self.windows_auth_check.isChecked(),
            user=self.sql_user_edit.text(), password=self.sql_password_edit.text(),
            trust_certificate=self.trust_cert_check.isChecked(),
        )
        try:
            url = build_url(target)
        except ValueError as exc:
            self._show(self.build_error_label, str(exc))
            return False
        self._show(self.build_error_label, "")
        self.url_edit.setText(url)
        return True

    def browse_mapping(self) -> None:
        current = self._mapping_path(self.mapping_edit.text().strip())
        start = str(current.parent if current else self.base_dir)
        chosen, _ = QFileDialog.getOpenFileName(self, "Mapping file", start, "Mapping files (*.toml);;All files (*)")
        if chosen:
            path = Path(chosen).resolve()
            try:  # inside the settings folder: keep it relative, so the folder can move as a whole
                shown = path.relative_to(self.base_dir).as_posix()
            except ValueError:
                shown = str(path)
            self.mapping_edit.setText(shown)

    def _refresh_token_info(self) -> None:
        source = token_source()
        hint = token_hint()
        if source == SOURCE_ENV:
            self.token_edit.setPlaceholderText(f"from {TOKEN_ENV}: {hint}")
            info = (f"The token in use comes from the environment ({TOKEN_ENV}), which takes precedence "
                    "over the OS keyring.")
        elif source == SOURCE_KEYRING:
            self.token_edit.setPlaceholderText(f"stored in OS keyring: {hint}")
            info = f"The token in use comes from the OS keyring ({keyring_backend_name()})."
        else:
            self.token_edit.setPlaceholderText("not set")
            info = "No token is set."
        if not keyring_available():
            info += (f" No OS keyring is available on this machine: set {TOKEN_ENV} instead; "
                     "OrderSync does not store the token in clear text.")
        self.token_info_label.setText(info)
        self.forget_token_button.setEnabled(source == SOURCE_KEYRING or (
            source == SOURCE_ENV and keyring_has_token()))

    def forget_token(self) -> None:
        try:
            delete_token()
        except SettingsError as exc:
            self._show(self.token_status_label, str(exc))
            return
        self._show(self.token_status_label, "")
        self._refresh_token_info()

    def run_database_test(self) -> None:
        """Try the URL as typed, in a worker thread."""
        if "db" in self._running or self.url_edit in self.errors():
            return
        url = self.url_edit.text().strip()
        schema = self.schema_edit.text().strip()
        self._start("db", self.db_status_label, probe_database, url, schema, self.base_dir)

    def run_monday_test(self) -> None:
        """Read the board as typed and resolve the mapping's columns on it, in a worker thread."""
        errors = self.errors()
        if "monday" in self._running or any(e in errors for e in (self.api_url_edit, self.board_edit,
                                                                    self.mapping_edit)):
            return
        self._start("monday", self.monday_status_label, probe_board, self._settings_now(),
                    self.token_edit.text().strip())

    def _start(self, which: str, label: QLabel, work: Callable[..., tuple[bool, str]], *args: Any) -> None:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="settings-test")
        label.setStyleSheet("")
        label.setText("Testing…")
        ticket = next(self._tickets)
        self._running[which] = ticket
        relay = self._relay

        def done(finished: Future) -> None:  # runs in the worker thread
            if finished.cancelled():
                return
            try:
                ok, text = finished.result()
            except Exception as exc:  # the probes catch everything; this is a bug, logged with its traceback
                log.error("settings test %s failed", which, exc_info=exc)
                ok, text = False, f"unexpected error: {type(exc).__name__}: {_first_line(str(exc))}"
            try:
                relay.finished.emit(which, ticket, ok, text)
            except RuntimeError:  # the dialog is gone
                pass

        self._executor.submit(work, *args).add_done_callback(done)
        self.validate()

    def _test_finished(self, which: str, ticket: int, ok: bool, text: str) -> None:
        if self._running.get(which) != ticket:
            return  # a test abandoned when the dialog closed, or superseded
        del self._running[which]
        label = self.db_status_label if which == "db" else self.monday_status_label
        label.setStyleSheet(_OK_STYLE if ok else _ERROR_STYLE)
        label.setText(text)
        self.validate()

    def is_testing(self) -> bool:
        return bool(self._running)

    def save(self) -> bool:
        """Store a typed token, write the file atomically, emit ``saved`` and close; False if refused."""
        errors = self.errors()
        if errors:
            self.validate()
            self._show(self.save_error_label, "Fix the fields marked in red first.")
            next(iter(errors)).setFocus()
            return False
        token = self.token_edit.text().strip()
        if token:
            try:
                set_token(token)
            except SettingsError as exc:
                self._show(self.token_status_label, str(exc))
                self.token_edit.setFocus()
                return False
            self.token_edit.clear()
            self._refresh_token_info()
        values = self._file_values()
        text = render_settings(values)
        try:
            parse_settings(tomllib.loads(text), self.settings_path)  # what is written must load again
            write_atomically(self.settings_path, text)
        except (OSError, SettingsError, tomllib.TOMLDecodeError) as exc:
            self._show(self.save_error_label, f"cannot write {self.settings_path}: {_first_line(str(exc))}")
            return False
        self._show(self.save_error_label, "")
        log.info("settings saved to %s", self.settings_path)
        self.saved.emit(self.settings_path)
        self.accept()
        return True

    # == closing =====================================================================================

    def done(self, result: int) -> None:
        self._stop_workers()
        super().done(result)

    def closeEvent(self, event) -> None:
        self._stop_workers()
        super().closeEvent(event)

    def _stop_workers(self) -> None:
        """Let running tests finish on their own; their results are dropped."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
        self._running.clear()
        self.validate()
