"""The fields of the settings dialog: their layout, and the values they hold.

``SettingsForm`` builds the widgets of ``SettingsDialog`` (which inherits it). The settings the
dialog edits are listed once, in ``FIELDS``; their help text and their checks are the settings'
own declarations in ``core.foundation.config`` (description, default, check), the ones the command line uses.
"""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from core.db.sqlserver import PREFERRED_DRIVER, SqlServerTarget, build_url, parse_url, sqlserver_drivers
from core.foundation.config import SETTINGS, Settings

# The settings this dialog edits, each with the attribute of its line edit (whose problem shows in the label
# named like it, with _error_label for _edit); every other setting of the loaded file is written back unchanged.
FIELDS = {
    "database.url": "url_edit",
    "database.schema": "schema_edit",
    "source.table": "source_table_edit",
    "source.schema": "source_schema_edit",
    "monday.api_url": "api_url_edit",
    "monday.board_id": "board_edit",
    "mapping.file": "mapping_edit",
}
MANAGED = tuple(FIELDS)
DECLARED = {s.name: s for s in SETTINGS}
assert all(DECLARED[name].type is str for name in FIELDS), "a line edit holds text"

_OK_STYLE = "color: #2e7d32;"
_ERROR_STYLE = "color: #c62828;"


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


def declared_help(name: str) -> str:
    """The tooltip of a setting's field: its declared description, and its default when there is one."""
    setting = DECLARED[name]
    if setting.default in ("", None):
        return setting.description
    return f"{setting.description}\nDefault: {setting.default}"


class SettingsForm(QDialog):
    """The widgets of ``SettingsDialog`` (which inherits it, sets ``settings_path`` and connects its commands to
    the buttons), and how a message shows under a field as the dialog's height follows."""

    settings_path: Path

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
        buttons.rejected.connect(self.reject)
        outer.addWidget(buttons)
        self._declare_help()
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
        self.token_edit.setToolTip(
            "Paste a new token to store it in the OS keyring on Save. It is never written to the settings file."
        )
        self.token_status_label = _error_label()
        self.token_info_label = QLabel()
        self.token_info_label.setWordWrap(True)
        self._row(form, "API to&ken:", self.token_edit, self.token_info_label, self.token_status_label)
        self.forget_token_button = QPushButton("&Forget stored token")
        self.forget_token_button.setAutoDefault(False)
        form.addRow(self.forget_token_button)
        return group

    def _mapping_group(self) -> QGroupBox:
        group = QGroupBox("Mapping")
        form = QFormLayout(group)
        self.mapping_edit = QLineEdit()
        self.mapping_edit.setPlaceholderText("(empty = built-in default)")
        self.browse_mapping_button = QPushButton("Brows&e…")
        self.browse_mapping_button.setAutoDefault(False)
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
        chain = [
            self.url_edit,
            self.schema_edit,
            self.source_table_edit,
            self.source_schema_edit,
            self.sqlserver_button,
            self.driver_combo,
            self.server_edit,
            self.database_edit,
            self.windows_auth_check,
            self.sql_user_edit,
            self.sql_password_edit,
            self.trust_cert_check,
            self.build_url_button,
            self.test_db_button,
            self.api_url_edit,
            self.board_edit,
            self.test_monday_button,
            self.token_edit,
            self.forget_token_button,
            self.mapping_edit,
            self.browse_mapping_button,
            self.save_button,
            self.cancel_button,
        ]
        for first, second in pairwise(chain):
            QWidget.setTabOrder(first, second)

    def _declare_help(self) -> None:
        """Every managed field says what the setting's declaration says."""
        for name, attr in FIELDS.items():
            tip = declared_help(name)
            if name == "database.url":
                tip += "\nA relative SQLite path is relative to the settings file's folder."
            getattr(self, attr).setToolTip(tip)

    # == showing =====================================================================================

    def _show(self, label: QLabel, text: str, *, fit: bool = True) -> None:
        """Show ``text`` in ``label`` (hidden when empty), growing the dialog if it no longer fits."""
        label.setText(text)
        label.setVisible(bool(text))
        if fit and text and self.isVisible():
            self._fit_height(grow_only=True)

    def _fit_height(self, *, grow_only: bool = False) -> None:
        """Fit the height to the content at the current width (wrapped messages included)."""
        layout = self.layout()
        if layout is None:  # not built yet: nothing to fit
            return
        layout.activate()
        needed = layout.totalHeightForWidth(self.width()) if layout.hasHeightForWidth() else -1
        needed = max(needed, layout.totalMinimumSize().height())
        if needed > self.height() or not grow_only:
            self.resize(self.width(), needed)

    # == values ======================================================================================

    def _fill(self, settings: Settings) -> None:
        for name, attr in FIELDS.items():
            getattr(self, attr).setText(settings[name])
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
        return {name: getattr(self, attr).text().strip() for name, attr in FIELDS.items()}

    def _fields(self) -> list[tuple[str, QLineEdit, QLabel]]:
        """(setting, its field, the label under the field that shows its problem), for every managed setting."""
        return [
            (name, getattr(self, attr), getattr(self, attr.replace("_edit", "_error_label")))
            for name, attr in FIELDS.items()
        ]

    # == the SQL Server URL builder ==================================================================

    def _show_sqlserver(self, shown: bool) -> None:
        self.sqlserver_group.setVisible(shown)
        if shown:
            self.driver_combo.setFocus()
        if self.isVisible():
            self._fit_height()

    def _auth_toggled(self, trusted: bool) -> None:
        self.sql_user_edit.setEnabled(not trusted)
        self.sql_password_edit.setEnabled(not trusted)

    def build_sqlserver_url(self) -> bool:
        """Fill the Database URL field from the SQL Server fields."""
        target = SqlServerTarget(
            driver=self.driver_combo.currentText(),
            server=self.server_edit.text(),
            database=self.database_edit.text(),
            trusted=self.windows_auth_check.isChecked(),
            user=self.sql_user_edit.text(),
            password=self.sql_password_edit.text(),
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
