"""The settings dialog, driven like a user would: real files, a real SQLite and PostgreSQL, the sandbox
over HTTP, and the real keyring library with an in-memory backend standing in for the OS keyring.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import sqlite3
from pathlib import Path

import pytest
from keyring.backends import fail
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractButton, QComboBox, QLabel, QLineEdit
from sqlalchemy.engine import make_url

from core.db.sqlserver import best_first
from core.demo.setup import board_columns
from core.foundation import token as tk
from core.foundation.config import load_settings
from core.source.mapping import default_mapping_path, load_mapping
from gui.settings_dialog import SettingsDialog
from gui.settings_form import _ERROR_STYLE
from tests.helpers import BOARD, SANDBOX_TOKEN, install, start_sandbox

SECRET = "eyJhbGciOiJIUzI1NiJ9.settings-dialog-token-5e6f7a8b"
WAIT_MS = 20_000


@pytest.fixture
def settings_path(tmp_path) -> Path:
    return tmp_path / "config" / "settings.toml"  # the folder does not exist yet


@pytest.fixture
def open_dialog(qtbot):
    def open_(path: Path) -> SettingsDialog:
        dialog = SettingsDialog(path)
        qtbot.addWidget(dialog)
        dialog.show()
        qtbot.waitExposed(dialog)
        return dialog

    return open_


def set_text(edit: QLineEdit, text: str) -> None:
    edit.setFocus()
    edit.selectAll()
    edit.insert(text)  # like typing: emits textChanged once with the whole text


def files_containing(folder: Path, text: str) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and text.encode() in p.read_bytes()]


def shown_texts(dialog: SettingsDialog) -> str:
    """Everything the dialog shows or would show in a tooltip."""
    parts = []
    for widget in dialog.findChildren(QLabel):
        parts += [widget.text(), widget.toolTip()]
    for widget in dialog.findChildren(QLineEdit):
        parts += [widget.placeholderText(), widget.toolTip()]
        if widget.echoMode() == QLineEdit.EchoMode.Normal:
            parts.append(widget.text())
    for widget in dialog.findChildren(QAbstractButton):
        parts += [widget.text(), widget.toolTip()]
    return "\n".join(parts)


def sqlite_file(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE t (x INTEGER)")
    connection.commit()
    connection.close()
    return path


def wait_for_result(qtbot, dialog: SettingsDialog, label: QLabel) -> str:
    qtbot.waitUntil(lambda: not dialog.is_testing() and label.text() not in ("", "Testing…"), timeout=WAIT_MS)
    return label.text()


# --- saving ---------------------------------------------------------------------------------------


def test_round_trip_writes_the_settings_and_the_token_only_to_the_keyring(
    open_dialog, qtbot, settings_path, memory_keyring, tmp_path
):
    dialog = open_dialog(settings_path)
    assert dialog.token_edit.text() == "" and dialog.token_edit.placeholderText() == "not set"

    set_text(dialog.url_edit, "sqlite:///orders.db")
    set_text(dialog.schema_edit, "")
    set_text(dialog.board_edit, "9200517329")
    set_text(dialog.mapping_edit, "")
    set_text(dialog.token_edit, SECRET)
    assert dialog.save_button.isEnabled()

    with qtbot.waitSignal(dialog.saved, timeout=WAIT_MS) as saved:
        qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)

    assert saved.args == [settings_path]
    assert not dialog.isVisible() and dialog.result() == SettingsDialog.DialogCode.Accepted
    settings = load_settings(settings_path)
    assert settings["database.url"] == "sqlite:///orders.db"
    assert settings["database.schema"] == ""
    assert settings["monday.board_id"] == "9200517329"
    assert settings["monday.api_url"] == "https://api.monday.com/v2"
    assert settings["mapping.file"] == "" and settings.mapping_path is None
    assert settings.database_url == f"sqlite:///{(settings_path.parent / 'orders.db').resolve().as_posix()}"

    assert memory_keyring.items == {("OrderSync", "monday-api-token"): SECRET}
    assert SECRET not in settings_path.read_text(encoding="utf-8")
    assert files_containing(tmp_path, SECRET) == [] and files_containing(tmp_path, SECRET[-12:]) == []
    assert [p.name for p in settings_path.parent.iterdir()] == ["settings.toml"]  # no temporary file left

    reopened = open_dialog(settings_path)
    assert reopened.url_edit.text() == "sqlite:///orders.db" and reopened.board_edit.text() == "9200517329"
    assert reopened.token_edit.text() == ""
    assert reopened.token_edit.placeholderText() == f"stored in OS keyring: ••••{SECRET[-4:]}"
    assert "OS keyring" in reopened.token_info_label.text()
    assert SECRET not in shown_texts(reopened) and SECRET[-5:] not in shown_texts(reopened)


def test_saving_keeps_the_settings_the_dialog_does_not_manage(open_dialog, qtbot, settings_path, memory_keyring):
    settings_path.parent.mkdir(parents=True)
    settings_path.write_text(
        '[database]\nurl = "sqlite:///old.db"\necho = true\n\n'
        '[monday]\napi_url = "sandbox"\nboard_id = "42"\n\n'
        '[sandbox]\ntime_scale = 5.0\nfaults = "500=0.1"\n\n'
        '[sync]\ncustomers = ["MACK WELDON", "TOAD&CO"]\nheartbeat_stale_seconds = 300\n',
        encoding="utf-8",
    )
    dialog = open_dialog(settings_path)
    assert dialog.url_edit.text() == "sqlite:///old.db" and dialog.api_url_edit.text() == "sandbox"
    set_text(dialog.board_edit, "777")

    with qtbot.waitSignal(dialog.saved, timeout=WAIT_MS):
        qtbot.keyClick(dialog.board_edit, Qt.Key.Key_Return)  # Enter saves when everything is valid

    settings = load_settings(settings_path)
    assert settings["monday.board_id"] == "777" and settings["monday.api_url"] == "sandbox"
    assert settings["database.echo"] is True
    assert settings["sandbox.time_scale"] == 5.0 and settings["sandbox.faults"] == "500=0.1"
    assert settings["sync.customers"] == ["MACK WELDON", "TOAD&CO"]
    assert settings["sync.heartbeat_stale_seconds"] == 300
    assert memory_keyring.items == {}  # no token typed, none stored


def test_an_invalid_board_id_blocks_save_with_a_message(open_dialog, qtbot, settings_path, memory_keyring):
    dialog = open_dialog(settings_path)
    set_text(dialog.board_edit, "12a4")
    set_text(dialog.token_edit, SECRET)

    assert not dialog.save_button.isEnabled()
    assert dialog.board_error_label.isVisible() and "digits" in dialog.board_error_label.text()
    qtbot.keyClick(dialog.board_edit, Qt.Key.Key_Return)
    assert dialog.isVisible() and dialog.save() is False
    assert not settings_path.exists() and memory_keyring.items == {}

    set_text(dialog.board_edit, "1234")
    assert dialog.save_button.isEnabled() and not dialog.board_error_label.isVisible()


@pytest.mark.parametrize(
    ("edit", "value", "expected"),
    [
        ("url_edit", "not a url", "not a database URL"),
        ("url_edit", "postgress://u@h/db", "unknown kind of database"),
        ("url_edit", "", "enter the database URL"),
        ("api_url_edit", "ftp://api.monday.com", "http(s) URL"),
        ("api_url_edit", "https://", "http(s) URL"),
        ("board_edit", "", "enter the board id"),
        ("schema_edit", "1dbo", "schema name"),
        ("source_table_edit", "[ORDERS_UNIFIED]", "without quotes"),
        ("source_schema_edit", "ORDERS..dbo", "database.schema"),
    ],
)
def test_each_field_names_its_problem(open_dialog, settings_path, memory_keyring, edit, value, expected):
    dialog = open_dialog(settings_path)
    set_text(dialog.board_edit, "1")
    assert dialog.save_button.isEnabled()

    set_text(getattr(dialog, edit), value)

    assert not dialog.save_button.isEnabled()
    assert expected in "\n".join(dialog.errors().values())
    label = getattr(dialog, edit.replace("_edit", "_error_label"))
    assert label.isVisible() and expected in label.text()


def test_each_field_shows_the_declaration_of_its_setting(open_dialog, settings_path, memory_keyring):
    from core.foundation.config import SETTINGS, setting_problem

    declared = {s.name: s for s in SETTINGS}
    dialog = open_dialog(settings_path)
    fields = {
        "database.url": dialog.url_edit,
        "database.schema": dialog.schema_edit,
        "source.table": dialog.source_table_edit,
        "source.schema": dialog.source_schema_edit,
        "monday.api_url": dialog.api_url_edit,
        "monday.board_id": dialog.board_edit,
        "mapping.file": dialog.mapping_edit,
    }
    for name, edit in fields.items():
        tip = edit.toolTip()
        assert tip.startswith(declared[name].description), (name, tip)
        assert (f"Default: {declared[name].default}" in tip) == bool(declared[name].default), (name, tip)
    # The problem shown is the declaration's, word for word (the command line reports the same).
    set_text(dialog.board_edit, "12a")
    assert dialog.errors()[dialog.board_edit] == setting_problem("monday.board_id", "12a")
    assert dialog.board_error_label.text() == setting_problem("monday.board_id", "12a")


def test_escape_cancels_without_writing(open_dialog, qtbot, settings_path, memory_keyring):
    dialog = open_dialog(settings_path)
    set_text(dialog.board_edit, "1234")
    set_text(dialog.token_edit, SECRET)

    qtbot.keyClick(dialog.board_edit, Qt.Key.Key_Escape)

    assert not dialog.isVisible() and dialog.result() == SettingsDialog.DialogCode.Rejected
    assert not settings_path.exists() and memory_keyring.items == {}


def test_without_a_keyring_save_refuses_the_token_and_stays_open(
    open_dialog, qtbot, settings_path, monkeypatch, tmp_path
):
    monkeypatch.delenv(tk.TOKEN_ENV, raising=False)
    install(monkeypatch, fail.Keyring())
    dialog = open_dialog(settings_path)
    assert "No OS keyring is available" in dialog.token_info_label.text()
    set_text(dialog.board_edit, "1234")
    set_text(dialog.token_edit, SECRET)

    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)

    assert dialog.isVisible()
    message = dialog.token_status_label.text()
    assert dialog.token_status_label.isVisible()
    assert "no OS keyring is available" in message and "clear text" in message and "MONDAY_API_TOKEN" in message
    assert not settings_path.exists()
    assert files_containing(tmp_path, SECRET) == []


def test_the_environment_token_is_named_and_never_shown(open_dialog, settings_path, memory_keyring, monkeypatch):
    monkeypatch.setenv(tk.TOKEN_ENV, SECRET)
    dialog = open_dialog(settings_path)

    assert dialog.token_edit.text() == ""
    assert dialog.token_edit.placeholderText() == f"from MONDAY_API_TOKEN: ••••{SECRET[-4:]}"
    assert "environment (MONDAY_API_TOKEN)" in dialog.token_info_label.text()
    assert SECRET not in shown_texts(dialog) and SECRET[-5:] not in shown_texts(dialog)


def test_forget_stored_token(open_dialog, qtbot, settings_path, memory_keyring):
    tk.set_token(SECRET)
    dialog = open_dialog(settings_path)
    assert dialog.forget_token_button.isEnabled()

    qtbot.mouseClick(dialog.forget_token_button, Qt.MouseButton.LeftButton)

    assert memory_keyring.items == {} and dialog.token_edit.placeholderText() == "not set"
    assert not dialog.forget_token_button.isEnabled()


# --- mapping --------------------------------------------------------------------------------------


def test_mapping_file_must_load(open_dialog, qtbot, settings_path, memory_keyring):
    settings_path.parent.mkdir(parents=True)
    (settings_path.parent / "broken.toml").write_text("[key\n", encoding="utf-8")
    (settings_path.parent / "mine.toml").write_text(
        default_mapping_path().read_text(encoding="utf-8"), encoding="utf-8"
    )
    dialog = open_dialog(settings_path)
    set_text(dialog.board_edit, "1234")
    assert "built-in default mapping" in dialog.mapping_status_label.text()

    set_text(dialog.mapping_edit, "broken.toml")
    assert not dialog.save_button.isEnabled()
    assert "is not valid TOML" in dialog.mapping_error_label.text()

    set_text(dialog.mapping_edit, "missing.toml")
    assert "mapping file not found" in dialog.mapping_error_label.text()

    set_text(dialog.mapping_edit, "mine.toml")  # relative to the settings file's folder
    assert dialog.save_button.isEnabled() and not dialog.mapping_error_label.isVisible()
    with qtbot.waitSignal(dialog.saved, timeout=WAIT_MS):
        dialog.save_button.click()
    assert load_settings(settings_path).mapping_path == settings_path.parent.resolve() / "mine.toml"


# --- the database test ----------------------------------------------------------------------------


def test_test_connection_against_a_real_sqlite_file(open_dialog, qtbot, settings_path, memory_keyring):
    sqlite_file(settings_path.parent / "orders.db")
    dialog = open_dialog(settings_path)
    set_text(dialog.url_edit, "sqlite:///orders.db")  # relative to the settings file's folder

    qtbot.mouseClick(dialog.test_db_button, Qt.MouseButton.LeftButton)

    # The test runs in a worker thread: until its result comes back through the event loop, the
    # button is disabled and the label says so.
    assert not dialog.test_db_button.isEnabled() and dialog.db_status_label.text() == "Testing…"
    text = wait_for_result(qtbot, dialog, dialog.db_status_label)
    assert text.startswith("Connected")
    assert "db upgrade" in text  # OrderSync's tables are not there yet: said, not an error
    assert dialog.test_db_button.isEnabled()


def test_test_connection_does_not_create_a_missing_sqlite_file(open_dialog, qtbot, settings_path, memory_keyring):
    dialog = open_dialog(settings_path)
    set_text(dialog.url_edit, "sqlite:///typo.db")

    dialog.test_db_button.click()

    assert "does not exist" in wait_for_result(qtbot, dialog, dialog.db_status_label)
    assert not (settings_path.parent / "typo.db").exists()


def test_test_connection_against_an_unreachable_postgresql_shows_one_line(
    open_dialog, qtbot, settings_path, memory_keyring
):
    dialog = open_dialog(settings_path)
    set_text(dialog.url_edit, "postgresql+psycopg://ordersync:s3cret-pw@127.0.0.1:1/erp")

    dialog.test_db_button.click()

    text = wait_for_result(qtbot, dialog, dialog.db_status_label)
    assert text.startswith("cannot reach the database") and "127.0.0.1:1" in text
    assert "\n" not in text and "s3cret-pw" not in text
    assert dialog.test_db_button.isEnabled()


def test_closing_while_a_test_runs_drops_its_result(open_dialog, qtbot, settings_path, memory_keyring):
    dialog = open_dialog(settings_path)
    set_text(dialog.url_edit, "postgresql+psycopg://u@127.0.0.1:1/erp")
    dialog.test_db_button.click()

    dialog.reject()
    qtbot.wait(300)

    assert not dialog.isVisible() and not dialog.is_testing()


# --- the monday test ------------------------------------------------------------------------------


@pytest.fixture
def sandbox(tmp_path):
    server = start_sandbox(tmp_path / "sandbox-state.db")
    yield server
    server.stop()


def test_board_test_finds_every_mapped_column(open_dialog, qtbot, settings_path, memory_keyring, sandbox):
    memory_keyring.set_password("OrderSync", "monday-api-token", SANDBOX_TOKEN)
    dialog = open_dialog(settings_path)
    set_text(dialog.api_url_edit, sandbox.url)
    set_text(dialog.board_edit, BOARD)

    qtbot.mouseClick(dialog.test_monday_button, Qt.MouseButton.LeftButton)

    assert not dialog.test_monday_button.isEnabled()
    text = wait_for_result(qtbot, dialog, dialog.monday_status_label)
    mapping = load_mapping()
    total = len(mapping.columns) + len(mapping.subitem_columns)
    assert text.startswith(f"Board Customer Master Schedule: all {total} mapped columns found")
    assert dialog.test_monday_button.isEnabled()


def test_board_test_names_the_missing_column(open_dialog, qtbot, settings_path, memory_keyring, sandbox):
    memory_keyring.set_password("OrderSync", "monday-api-token", SANDBOX_TOKEN)
    mapping = load_mapping()
    missing = next(c.title for c in mapping.columns if c.title and c.title != mapping.columns[0].title)
    columns, subitem_columns = board_columns(mapping)
    short_board = sandbox.create_board("Short board", [c for c in columns if c["title"] != missing], subitem_columns)
    dialog = open_dialog(settings_path)
    set_text(dialog.api_url_edit, sandbox.url)
    set_text(dialog.board_edit, short_board)

    dialog.test_monday_button.click()

    text = wait_for_result(qtbot, dialog, dialog.monday_status_label)
    assert "mapping does not fit board" in text and repr(missing) in text
    assert "all" not in text.split(":")[0]


def test_board_test_uses_the_typed_token_and_reports_a_wrong_one(
    open_dialog, qtbot, settings_path, memory_keyring, sandbox
):
    dialog = open_dialog(settings_path)
    set_text(dialog.api_url_edit, sandbox.url)
    set_text(dialog.board_edit, BOARD)

    dialog.test_monday_button.click()
    assert "no monday API token" in wait_for_result(qtbot, dialog, dialog.monday_status_label)

    set_text(dialog.token_edit, "not-the-token")
    dialog.test_monday_button.click()
    text = wait_for_result(qtbot, dialog, dialog.monday_status_label)
    assert "401" in text and "not-the-token" not in text

    set_text(dialog.token_edit, SANDBOX_TOKEN)
    dialog.test_monday_button.click()
    assert "mapped columns found" in wait_for_result(qtbot, dialog, dialog.monday_status_label)
    assert memory_keyring.items == {}  # testing never stores the token


def test_board_test_on_the_embedded_sandbox(open_dialog, qtbot, settings_path, memory_keyring):
    start_sandbox(settings_path.parent / "sandbox.db").stop()  # the board the demo leaves beside its settings
    dialog = open_dialog(settings_path)
    set_text(dialog.api_url_edit, "sandbox")
    set_text(dialog.board_edit, BOARD)

    dialog.test_monday_button.click()

    assert "mapped columns found" in wait_for_result(qtbot, dialog, dialog.monday_status_label)


def test_board_test_on_an_embedded_sandbox_without_a_board(open_dialog, qtbot, settings_path, memory_keyring):
    dialog = open_dialog(settings_path)
    set_text(dialog.api_url_edit, "sandbox")
    set_text(dialog.board_edit, BOARD)

    dialog.test_monday_button.click()

    assert "demo init" in wait_for_result(qtbot, dialog, dialog.monday_status_label)
    assert not (settings_path.parent / "sandbox.db").exists()


def _orders_database(folder: Path) -> str:
    """A real SQLite database with ORDERS_UNIFIED (the demo's customers and labels); its URL as typed."""
    from core.db.engine import create_engine
    from tests.helpers import make_world

    folder.mkdir(parents=True, exist_ok=True)
    engine = create_engine(f"sqlite:///{(folder / 'orders.db').as_posix()}")
    try:
        make_world(engine, n_orders=5, seed=4, hostile=False)
    finally:
        engine.dispose()
    return "sqlite:///orders.db"  # relative to the settings file's folder


def test_board_test_checks_the_labels_the_data_will_write(open_dialog, qtbot, settings_path, memory_keyring, sandbox):
    """The same check as the `check` command: every mapped column is there, but the data needs an ORDER
    TYPE label the board lacks, and the test says so instead of "all mapped columns found"."""
    memory_keyring.set_password("OrderSync", "monday-api-token", SANDBOX_TOKEN)
    url = _orders_database(settings_path.parent)
    dialog = open_dialog(settings_path)
    set_text(dialog.url_edit, url)
    set_text(dialog.api_url_edit, sandbox.url)
    set_text(dialog.board_edit, BOARD)

    dialog.test_monday_button.click()
    text = wait_for_result(qtbot, dialog, dialog.monday_status_label)
    assert "status values the data writes exist on the board" in text, text

    sandbox.remove_label(BOARD, "ORDER TYPE", "RECEIVED")
    dialog.test_monday_button.click()
    text = wait_for_result(qtbot, dialog, dialog.monday_status_label)
    assert text.startswith(
        "Board Customer Master Schedule: the status labels the data needs: ORDER TYPE has no label 'RECEIVED'"
    ), text
    assert "add the status labels on the board" in text
    assert "mapped columns found" not in text
    assert dialog.monday_status_label.styleSheet() == _ERROR_STYLE  # shown as a problem, not as a success


def test_board_test_says_when_the_labels_could_not_be_checked(
    open_dialog, qtbot, settings_path, memory_keyring, sandbox
):
    memory_keyring.set_password("OrderSync", "monday-api-token", SANDBOX_TOKEN)
    dialog = open_dialog(settings_path)
    set_text(dialog.url_edit, "sqlite:///missing.db")
    set_text(dialog.api_url_edit, sandbox.url)
    set_text(dialog.board_edit, BOARD)

    dialog.test_monday_button.click()

    text = wait_for_result(qtbot, dialog, dialog.monday_status_label)
    assert "mapped columns found" in text
    assert "status labels the data needs were not checked" in text and "missing.db" in text
    assert not (settings_path.parent / "missing.db").exists()  # never created by the test


# --- the SQL Server helper ------------------------------------------------------------------------


def _installed_sqlserver_drivers() -> list[str]:
    try:
        import pyodbc
    except ImportError:  # no ODBC driver manager on this machine
        return []
    return [d for d in pyodbc.drivers() if "sql server" in d.lower()]


def test_the_odbc_driver_note(open_dialog, qtbot, settings_path, memory_keyring):
    dialog = open_dialog(settings_path)
    assert not dialog.sqlserver_group.isVisible()  # folded away until asked for
    qtbot.mouseClick(dialog.sqlserver_button, Qt.MouseButton.LeftButton)
    assert dialog.sqlserver_group.isVisible()
    installed = _installed_sqlserver_drivers()
    if installed:
        assert not dialog.driver_note_label.isVisible()
        assert dialog.driver_combo.currentText() in installed
        assert (
            "ODBC Driver 18 for SQL Server" not in installed
            or dialog.driver_combo.currentText() == "ODBC Driver 18 for SQL Server"
        )
    else:
        assert dialog.driver_note_label.isVisible()
        assert dialog.driver_note_label.text().startswith(
            "No SQL Server ODBC driver is installed — install Microsoft ODBC Driver 18 for SQL Server"
        )
        assert dialog.driver_combo.currentText() == "ODBC Driver 18 for SQL Server"


def test_sql_server_drivers_are_offered_newest_first():
    installed = [
        "SQL Server",
        "PostgreSQL Unicode",
        "ODBC Driver 17 for SQL Server",
        "SQL Server Native Client 11.0",
        "ODBC Driver 18 for SQL Server",
        "SQLite3",
    ]
    assert best_first(installed) == [
        "ODBC Driver 18 for SQL Server",
        "ODBC Driver 17 for SQL Server",
        "SQL Server Native Client 11.0",
        "SQL Server",
    ]
    assert best_first(["PostgreSQL Unicode"]) == []


def test_build_url_for_windows_authentication(open_dialog, settings_path, memory_keyring):
    dialog = open_dialog(settings_path)
    dialog.driver_combo.setCurrentText("ODBC Driver 18 for SQL Server")
    set_text(dialog.server_edit, "ERP01\\SQLEXPRESS")
    set_text(dialog.database_edit, "ORDERS")
    dialog.windows_auth_check.setChecked(True)
    dialog.trust_cert_check.setChecked(True)
    assert not dialog.sql_user_edit.isEnabled() and not dialog.sql_password_edit.isEnabled()

    dialog.build_url_button.click()

    url = make_url(dialog.url_edit.text())
    assert url.drivername == "mssql+pyodbc" and url.host == "ERP01\\SQLEXPRESS" and url.database == "ORDERS"
    assert url.username is None and url.password is None
    assert dict(url.query) == {
        "driver": "ODBC Driver 18 for SQL Server",
        "trusted_connection": "yes",
        "TrustServerCertificate": "yes",
    }
    assert not dialog.url_error_label.isVisible()


def test_build_url_for_a_sql_login_and_read_it_back(open_dialog, qtbot, settings_path, memory_keyring):
    dialog = open_dialog(settings_path)
    dialog.driver_combo.setCurrentText("ODBC Driver 17 for SQL Server")
    set_text(dialog.server_edit, "erp.example.local,1433")
    set_text(dialog.database_edit, "ERP")
    dialog.windows_auth_check.setChecked(False)
    dialog.trust_cert_check.setChecked(False)

    dialog.build_url_button.click()
    assert "user name" in dialog.build_error_label.text()

    set_text(dialog.sql_user_edit, "ordersync")
    set_text(dialog.sql_password_edit, "p@ss:w/rd")
    dialog.build_url_button.click()

    url = make_url(dialog.url_edit.text())
    assert (url.host, url.port, url.username, url.password) == ("erp.example.local", 1433, "ordersync", "p@ss:w/rd")
    assert dict(url.query) == {"driver": "ODBC Driver 17 for SQL Server"}
    assert not dialog.build_error_label.isVisible()

    set_text(dialog.board_edit, "1")
    with qtbot.waitSignal(dialog.saved, timeout=WAIT_MS):
        dialog.save_button.click()
    reopened = open_dialog(settings_path)
    assert reopened.server_edit.text() == "erp.example.local,1433"
    assert reopened.database_edit.text() == "ERP" and reopened.sql_user_edit.text() == "ordersync"
    assert not reopened.windows_auth_check.isChecked() and reopened.sqlserver_group.isVisible()
    assert reopened.driver_combo.currentText() == "ODBC Driver 17 for SQL Server"


# --- keyboard -------------------------------------------------------------------------------------


def test_every_field_has_a_label_with_a_mnemonic(open_dialog, settings_path, memory_keyring):
    dialog = open_dialog(settings_path)
    fields = [
        dialog.url_edit,
        dialog.schema_edit,
        dialog.source_table_edit,
        dialog.source_schema_edit,
        dialog.driver_combo,
        dialog.server_edit,
        dialog.database_edit,
        dialog.sql_user_edit,
        dialog.sql_password_edit,
        dialog.api_url_edit,
        dialog.board_edit,
        dialog.token_edit,
        dialog.mapping_edit,
    ]
    buddies = {label.buddy(): label.text() for label in dialog.findChildren(QLabel) if label.buddy()}
    mnemonics = []
    for field in fields:
        text = buddies.get(field)
        assert text and "&" in text, f"{field.objectName() or type(field).__name__} has no label with a mnemonic"
        mnemonics.append(text[text.index("&") + 1].lower())
    for button in dialog.findChildren(QAbstractButton):
        if "&" in button.text():
            mnemonics.append(button.text()[button.text().index("&") + 1].lower())
    assert len(mnemonics) == len(set(mnemonics)), f"mnemonics clash: {sorted(mnemonics)}"
    assert isinstance(dialog.driver_combo, QComboBox)


def test_tab_order_follows_the_form(open_dialog, qtbot, settings_path, memory_keyring):
    dialog = open_dialog(settings_path)
    order = [dialog.url_edit]
    for _ in range(5):
        order.append(order[-1].nextInFocusChain())
    assert order == [
        dialog.url_edit,
        dialog.schema_edit,
        dialog.source_table_edit,
        dialog.source_schema_edit,
        dialog.sqlserver_button,
        dialog.driver_combo,
    ]
    assert dialog.board_edit.nextInFocusChain() is dialog.test_monday_button
    assert dialog.save_button.isDefault()


def test_an_unreadable_settings_file_is_reported_and_the_defaults_shown(open_dialog, settings_path, memory_keyring):
    settings_path.parent.mkdir(parents=True)
    settings_path.write_text("[monday\nboard_id = 1\n", encoding="utf-8")

    dialog = open_dialog(settings_path)

    assert dialog.load_error_label.isVisible() and "is not valid TOML" in dialog.load_error_label.text()
    assert dialog.url_edit.text() == "sqlite:///orders.db" and dialog.board_edit.text() == ""


# --- the first run ----------------------------------------------------------------------------------


def test_the_first_run_without_settings_offers_the_demo(qtbot, user_folders):
    """The commands stop without a settings file; the window's first run still offers the demo."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QMessageBox

    from core.demo.setup import default_demo_dir
    from core.foundation.config import default_config_path
    from gui.app import resolve_settings_path

    assert not default_config_path().exists()
    offered: list[str] = []

    def choose_the_demo() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(20, choose_the_demo)
            return
        offered.append(box.text())
        next(b for b in box.buttons() if "Demo" in b.text()).click()

    QTimer.singleShot(0, choose_the_demo)
    path = resolve_settings_path(None, demo=False)
    assert offered and "There are no settings yet" in offered[0]
    assert path == default_demo_dir() / "settings.toml" and path.is_file()
    assert path.is_relative_to(user_folders)  # the test's own data folder, never the user's
    assert load_settings(path)["monday.api_url"] == "sandbox"
