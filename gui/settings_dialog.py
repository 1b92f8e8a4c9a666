"""The settings dialog: database, monday board, API token and mapping, checked before they are saved.

Every value is validated as it is typed, with the problem shown under its field; Save (and Enter)
stays disabled until all are valid. "Test connection" and "Test board" run in a worker thread
(never on the GUI thread) and report one line. The file is written with ``render_settings``,
atomically, keeping the settings this dialog does not manage. The token goes to the OS keyring
through ``core.foundation.token`` and nowhere else: the field never shows a stored token, only its hint.
"""

from __future__ import annotations

import functools
import itertools
import logging
import tomllib
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog, QLabel, QLineEdit, QWidget

from core.foundation.config import Settings, load_settings, parse_settings, render_settings, setting_problem
from core.foundation.exceptions import SettingsError
from core.foundation.token import (
    SOURCE_ENV,
    SOURCE_KEYRING,
    TOKEN_ENV,
    delete_token,
    keyring_available,
    keyring_backend_name,
    keyring_has_token,
    set_token,
    token_hint,
    token_source,
)
from core.source.mapping import load_mapping
from gui.settings_form import _ERROR_STYLE, _OK_STYLE, MANAGED, SettingsForm
from gui.settings_probes import _first_line, probe_board, probe_database, write_atomically

log = logging.getLogger(__name__)


class _Relay(QObject):
    """Carries a worker thread's result back to the GUI thread (a queued signal)."""

    finished = Signal(str, int, bool, str)  # which test, its ticket, succeeded, the line to show


class SettingsDialog(SettingsForm):
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
        self._connect_commands()
        self._fill(self._settings)
        self._refresh_token_info()
        self._connect_validation()
        self.validate()

    def _connect_commands(self) -> None:
        """The form's buttons run the dialog's commands."""
        self.save_button.clicked.connect(self.save)
        self.test_db_button.clicked.connect(self.run_database_test)
        self.test_monday_button.clicked.connect(self.run_monday_test)
        self.forget_token_button.clicked.connect(self.forget_token)
        self.browse_mapping_button.clicked.connect(self.browse_mapping)

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

    # == values ======================================================================================

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
        for _name, edit, _label in self._fields():
            edit.textChanged.connect(lambda _text: self.validate())
        self.url_edit.textChanged.connect(lambda: self._clear_status(self.db_status_label))
        for edit in (self.api_url_edit, self.board_edit, self.mapping_edit, self.token_edit):
            edit.textChanged.connect(lambda: self._clear_status(self.monday_status_label))
        self.token_edit.textChanged.connect(lambda: self._show(self.token_status_label, ""))

    def _checks(self) -> list[tuple[QLineEdit, QLabel, Callable[[str], str | None]]]:
        """(field, its error label, its check) of every managed setting. The checks are the settings' own
        declarations (core.foundation.config), as the command line's are; the mapping file is also loaded."""
        return [
            (edit, label, self._check_mapping if name == "mapping.file" else functools.partial(setting_problem, name))
            for name, edit, label in self._fields()
        ]

    def errors(self) -> dict[QLineEdit, str]:
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

    def _check_mapping(self, text: str) -> str | None:
        try:
            mapping = load_mapping(self._mapping_path(text))
        except SettingsError as exc:
            self.mapping_status_label.clear()
            return str(exc)
        which = "built-in default mapping" if not text else "mapping"
        self.mapping_status_label.setText(
            f"{which}: {len(mapping.columns)} item and {len(mapping.subitem_columns)} subitem columns"
        )
        return None

    def _mapping_path(self, text: str) -> Path | None:
        return (self.base_dir / text) if text else None

    @staticmethod
    def _clear_status(label: QLabel) -> None:
        label.clear()
        label.setStyleSheet("")

    # == actions =====================================================================================

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
            info = (
                f"The token in use comes from the environment ({TOKEN_ENV}), which takes precedence "
                "over the OS keyring."
            )
        elif source == SOURCE_KEYRING:
            self.token_edit.setPlaceholderText(f"stored in OS keyring: {hint}")
            info = f"The token in use comes from the OS keyring ({keyring_backend_name()})."
        else:
            self.token_edit.setPlaceholderText("not set")
            info = "No token is set."
        if not keyring_available():
            info += (
                f" No OS keyring is available on this machine: set {TOKEN_ENV} instead; "
                "OrderSync does not store the token in clear text."
            )
        self.token_info_label.setText(info)
        self.forget_token_button.setEnabled(source == SOURCE_KEYRING or (source == SOURCE_ENV and keyring_has_token()))

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
        if "monday" in self._running or any(
            e in errors for e in (self.api_url_edit, self.board_edit, self.mapping_edit)
        ):
            return
        self._start(
            "monday", self.monday_status_label, probe_board, self._settings_now(), self.token_edit.text().strip()
        )

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
