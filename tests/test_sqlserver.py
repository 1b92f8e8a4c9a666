"""The SQL Server ODBC driver check in front of ``mssql+pyodbc`` engines (core/db/sqlserver.py).

``resolve_driver`` is fed made-up installed lists; the real machine (the unixODBC driver manager,
no SQL Server driver) is then met through ``create_engine`` and through ``main.py`` as a process.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote_plus

import pytest
from sqlalchemy.engine import make_url

from core.db import sqlserver
from core.db.engine import create_engine, own_schema, redact_url
from core.db.sqlserver import best_first, odbc_drivers, redact_odbc, resolve_driver
from core.foundation.exceptions import SettingsError

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "s3cr3t-Pa55"
V18 = "ODBC Driver 18 for SQL Server"
V17 = "ODBC Driver 17 for SQL Server"
BOTH = ["PostgreSQL Unicode", V17, "SQL Server", V18]
NO_DRIVER = (
    "setting database.url: no SQL Server ODBC driver is installed on this workstation",
    'install "Microsoft ODBC Driver 18 for SQL Server" (or 17)',
)
HAS_SQLSERVER_DRIVER = bool(best_first(odbc_drivers()))


def url(query: str = "", auth: str = f"ordersync:{PASSWORD}@") -> str:
    return f"mssql+pyodbc://{auth}erp01/ORDERS{query}"


def odbc_url(connection_string: str) -> str:
    return f"mssql+pyodbc:///?odbc_connect={quote_plus(connection_string)}"


def settings_error(raw: str, installed: list[str]) -> str:
    with pytest.raises(SettingsError) as caught:
        resolve_driver(make_url(raw), installed)
    message = str(caught.value)
    assert "\n" not in message
    assert PASSWORD not in message and quote_plus(PASSWORD) not in message
    return message


# --- the pure function ---------------------------------------------------------------------------


def test_no_driver_named_takes_the_best_installed_and_says_so(caplog):
    with caplog.at_level(logging.INFO, logger="core.db.sqlserver"):
        resolved = resolve_driver(make_url(url("?TrustServerCertificate=yes")), BOTH)
    assert resolved.query == {"TrustServerCertificate": "yes", "driver": V18}
    assert (resolved.username, resolved.password, resolved.host, resolved.database) == (
        "ordersync",
        PASSWORD,
        "erp01",
        "ORDERS",
    )
    assert [r.getMessage() for r in caplog.records if V18 in r.getMessage()]
    assert PASSWORD not in caplog.text
    assert resolve_driver(make_url(url()), [V17, "SQL Server"]).query["driver"] == V17


def test_a_named_driver_that_is_installed_is_kept_whatever_its_case():
    given = make_url(url("?driver=odbc+driver+17+FOR+sql+server"))
    assert resolve_driver(given, BOTH) is given


def test_a_named_driver_is_tidied_into_the_form_sqlalchemy_reads():
    resolved = resolve_driver(make_url(url("?Driver=%7BODBC+Driver+17+for+SQL+Server%7D")), BOTH)
    assert dict(resolved.query) == {"driver": V17}


def test_a_named_driver_that_is_missing_lists_the_installed_ones_best_first():
    message = settings_error(url("?driver=ODBC+Driver+19+for+SQL+Server"), BOTH)
    assert message == (
        'setting database.url: the ODBC driver "ODBC Driver 19 for SQL Server" is not installed on this '
        f'workstation; installed SQL Server drivers: "{V18}", "{V17}", "SQL Server"; name one of them in '
        'driver= or install "ODBC Driver 19 for SQL Server"'
    )


@pytest.mark.parametrize("installed", [[], ["PostgreSQL Unicode", "SQLite3"]])
@pytest.mark.parametrize("query", ["", "?driver=ODBC+Driver+18+for+SQL+Server"])
def test_no_sql_server_driver_at_all(installed, query):
    message = settings_error(url(query), installed)
    assert message.startswith(NO_DRIVER[0]) and message.endswith(NO_DRIVER[1])
    assert (f'(the URL names "{V18}")' in message) == bool(query)


def test_odbc_connect_is_left_alone_but_its_driver_is_checked():
    raw = f"DRIVER={{odbc driver 18 for sql server}};SERVER=erp01;DATABASE=ORDERS;UID=ordersync;PWD={PASSWORD}"
    given = make_url(odbc_url(raw))
    assert resolve_driver(given, BOTH) is given

    missing = f"Driver={{ODBC Driver 17 for SQL Server}};Server=erp01;UID=ordersync;PWD={{{PASSWORD};x}}}}}}"
    message = settings_error(odbc_url(missing), [V18])
    assert f'"{V17}" is not installed' in message and f'installed SQL Server drivers: "{V18}"' in message
    assert "the DRIVER={...} part of odbc_connect" in message

    message = settings_error(odbc_url(raw), [])
    assert message.startswith(NO_DRIVER[0]) and message.endswith(NO_DRIVER[1])


def test_odbc_connect_or_a_dsn_without_a_driver_brings_its_own():
    for raw in (
        odbc_url(f"DSN=erp;UID=ordersync;PWD={PASSWORD}"),
        f"mssql+pyodbc://ordersync:{PASSWORD}@erp_dsn",
        url("?dsn=erp"),
    ):
        given = make_url(raw)
        assert resolve_driver(given, ["FreeTDS"]) is given
        settings_error(raw, [])


def test_a_repeated_driver_is_refused():
    assert "driver= is given 2 times" in settings_error(url("?driver=a&driver=b"), BOTH)


def test_passwords_are_hidden_in_urls_and_odbc_strings():
    raw = f"DRIVER={{{V18}}};SERVER=erp01;UID=ordersync;PWD={{{PASSWORD};}}}}x}};Encrypt=yes"
    assert redact_odbc(raw) == f"DRIVER={{{V18}}};SERVER=erp01;UID=ordersync;PWD=***;Encrypt=yes"
    assert redact_odbc(f"uid=a;Password={PASSWORD}") == "uid=a;Password=***"
    unparsable = f"mssql+pyodbc://a:{PASSWORD}@erp01:port/ORDERS?odbc_connect=PWD%3D{PASSWORD}"
    for text in (redact_url(odbc_url(raw)), redact_url(url()), redact_url(unparsable)):
        assert PASSWORD not in text and quote_plus(PASSWORD) not in text
    assert "Encrypt" in redact_url(odbc_url(raw))


# --- create_engine --------------------------------------------------------------------------------


def test_create_engine_adds_the_best_driver_and_keeps_the_sql_server_settings(monkeypatch):
    monkeypatch.setattr(sqlserver, "odbc_drivers", lambda: BOTH)
    engine = create_engine(url())
    assert engine.url.query["driver"] == V18
    assert engine.dialect.fast_executemany is True
    assert own_schema(engine) == "dbo"
    assert own_schema(create_engine(url(), schema="ordersync")) == "ordersync"


def test_create_engine_without_a_driver_manager(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyodbc", None)  # import pyodbc now fails, as without libodbc
    with pytest.raises(SettingsError) as caught:
        create_engine(url("?driver=ODBC+Driver+18+for+SQL+Server"))
    assert str(caught.value).startswith(NO_DRIVER[0]) and PASSWORD not in str(caught.value)


def test_other_databases_are_not_checked(tmp_path):
    create_engine(f"sqlite:///{(tmp_path / 'x.db').as_posix()}").dispose()


# --- this workstation: unixODBC, no SQL Server driver ---------------------------------------------

needs_no_driver = pytest.mark.skipif(HAS_SQLSERVER_DRIVER, reason="this workstation has a SQL Server ODBC driver")
MACHINE_URL = "mssql+pyodbc://user:secret@server/db?driver=ODBC+Driver+18+for+SQL+Server"


@needs_no_driver
def test_create_engine_on_this_workstation():
    with pytest.raises(SettingsError) as caught:
        create_engine(MACHINE_URL)
    message = str(caught.value)
    assert message.startswith(NO_DRIVER[0]) and message.endswith(NO_DRIVER[1])
    assert "secret" not in message and "database.url" in message


@needs_no_driver
def test_the_command_line_on_this_workstation(tmp_path):
    config = tmp_path / "settings.toml"
    config.write_text(f'[database]\nurl = "{MACHINE_URL}"\n', encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "ORDERSYNC_CONFIG"}
    proc = subprocess.run(
        [sys.executable, "main.py", "status", "--config", str(config)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "secret" not in proc.stderr
    (line,) = proc.stderr.splitlines()
    assert line.startswith("ordersync: error: ") and NO_DRIVER[0] in line and NO_DRIVER[1] in line
