"""The settings file: every setting declared once, with its type, default and description.

The file is TOML (DESIGN.md §4). It is validated on load; an error names the key and the
problem. Relative paths (a SQLite database, the mapping file) are resolved against the folder of
the settings file, so a demo folder can be moved as a whole. The monday token is never a setting:
it comes from the environment or the OS keyring (see ``token``), never from this file.

Longer than 400 lines: every setting is declared here once (type, default, description, check) for
the command line and the window alike; the declarations are most of it.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import platformdirs

from core.foundation.exceptions import SettingsError

APP_NAME = "OrderSync"
CONFIG_ENV = "ORDERSYNC_CONFIG"


@dataclass(frozen=True)
class Setting:
    """One declared setting: ``section.key``, its type, default and what it means."""

    section: str
    key: str
    type: type
    default: Any
    description: str
    check: Callable[[Any], str | None] | None = None  # the problem with a non-empty value, or None
    required: str | None = None  # what to enter, where an empty value cannot work (the settings dialog says it)

    @property
    def name(self) -> str:
        return f"{self.section}.{self.key}"


# How long the monday client may go without a heartbeat: a connection attempt, then a whole answer, then a
# slice of any wait (every wait heartbeats between slices). A batch must not look stale before that.
MONDAY_CONNECT_TIMEOUT = 10.0
MONDAY_READ_TIMEOUT = 60.0
HEARTBEAT_SLICE = 5.0
LONGEST_SILENCE = MONDAY_CONNECT_TIMEOUT + MONDAY_READ_TIMEOUT + HEARTBEAT_SLICE


def _longer_than_silence(value: Any) -> str | None:
    if value > LONGEST_SILENCE:
        return None
    return (
        f"must be more than {LONGEST_SILENCE:.0f} seconds: a batch whose owner is waiting for monday's answer "
        f"(up to {MONDAY_CONNECT_TIMEOUT + MONDAY_READ_TIMEOUT:.0f} s) would look stale, and another "
        "workstation could take it over while the answer is on its way"
    )


def _one_of(*choices: str) -> Callable[[Any], str | None]:
    return lambda value: None if value in choices else f"must be one of {', '.join(repr(c) for c in choices)}"


def _positive(value: Any) -> str | None:
    return None if value > 0 else "must be greater than 0"


def _identifier_list(value: Any) -> str | None:
    return None if all(isinstance(v, str) and v for v in value) else "must be a list of non-empty strings"


SANDBOX_URL = "sandbox"  # monday.api_url that starts the embedded sandbox
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$#@]*$")


def _database_url(value: str) -> str | None:
    if not value:
        return None  # empty: the default, or `required` says what to enter
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(value)
    except (ArgumentError, ValueError, TypeError):
        return "not a database URL: expected dialect+driver://user:password@host/database"
    try:
        parsed.get_dialect()
    except (ArgumentError, ImportError):  # NoSuchModuleError is an ArgumentError
        return f"unknown kind of database {parsed.drivername!r} (e.g. sqlite, mssql+pyodbc, postgresql+psycopg)"
    return None


def _schema_name(value: str) -> str | None:
    if not value:
        return None  # empty: the default, or `required` says what to enter
    if _IDENTIFIER.match(value):
        return None
    return "a schema name: letters, digits and _, not starting with a digit (empty = database default)"


def _table_name(value: str) -> str | None:
    if not value:
        return None  # empty: the default, or `required` says what to enter
    if re.search(r"[\"'\[\];]", value):
        return "the table name alone, without quotes, brackets or semicolons"
    return None


def _source_schema(value: str) -> str | None:
    if not value:
        return None  # empty: the default, or `required` says what to enter
    if all(_IDENTIFIER.match(part) for part in value.split(".")):
        return None
    return "a schema (dbo) or database.schema (ORDERS.dbo); letters, digits and _"


def _api_url(value: str) -> str | None:
    if not value:
        return None  # empty: the default, or `required` says what to enter
    if value == SANDBOX_URL:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return 'expected an http(s) URL such as https://api.monday.com/v2, or "sandbox"'
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        return "the port in the URL is not a number"
    return None


def _board_id(value: str) -> str | None:
    if not value:
        return None  # empty: the default, or `required` says what to enter
    if value.isascii() and value.isdigit():
        return None
    return "the board id must be digits only (the number in the board's address …/boards/<id>)"


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "database",
        "url",
        str,
        "sqlite:///orders.db",
        "SQLAlchemy URL of the database that holds ORDERS_UNIFIED and OrderSync's tables. Production: mssql+pyodbc://…",
        _database_url,
        required="enter the database URL, e.g. sqlite:///orders.db or mssql+pyodbc://…",
    ),
    Setting(
        "database",
        "schema",
        str,
        "",
        "Schema of OrderSync's own tables; empty means the database default (dbo on SQL Server).",
        _schema_name,
    ),
    Setting("database", "echo", bool, False, "Write every SQL statement into the log file (diagnosis only)."),
    Setting(
        "source",
        "table",
        str,
        "ORDERS_UNIFIED",
        "Name of the source table; OrderSync only reads it.",
        _table_name,
        required="enter the source table's name (ORDERS_UNIFIED)",
    ),
    Setting(
        "source",
        "schema",
        str,
        "",
        "Schema of the source table; on SQL Server may name another database, e.g. ORDERS.dbo.",
        _source_schema,
    ),
    Setting(
        "monday",
        "api_url",
        str,
        "https://api.monday.com/v2",
        'monday API endpoint, or "sandbox" to start the embedded sandbox server.',
        _api_url,
        required='enter the API URL (https://api.monday.com/v2) or "sandbox"',
    ),
    Setting(
        "monday",
        "board_id",
        str,
        "",
        "Id of the customer master schedule board.",
        _board_id,
        required="enter the board id: the number in the board's address (…/boards/<id>)",
    ),
    Setting("monday", "api_version", str, "2026-07", "Pinned API-Version header."),
    Setting(
        "monday",
        "idempotency_keys",
        bool,
        True,
        "monday answers a repeated Idempotency-Key from its cache for 30 minutes, so a request whose outcome is "
        "unknown is sent again under the same key. false: the board ignores keys; OrderSync then waits "
        "monday.late_apply_seconds and looks the rows up on the board instead.",
    ),
    Setting(
        "monday",
        "bulk_archive",
        bool,
        True,
        "Archive five or more removed lines of a batch (and the items an undo takes back) with one "
        "bulk_archive_items (API 2026-10) instead of one archive_item each; the items' states on the board "
        "confirm each one. false: always one by one. An API version without it falls back by itself.",
    ),
    Setting(
        "monday",
        "late_apply_seconds",
        int,
        120,
        "How long after a send monday could still apply a request OrderSync gave up on (its own timeout is "
        "60 s); rows are looked up on the board only after that.",
        _positive,
    ),
    Setting(
        "monday",
        "max_attempts",
        int,
        8,
        "How many times one request is tried when monday cannot be reached, answers 5xx or asks to wait, "
        "before the run gives up (exit 3). Fewer tries give up sooner; the README says how long a run "
        "can wait.",
        lambda v: None if 1 <= v <= 20 else "must be between 1 and 20",
    ),
    Setting("mapping", "file", str, "", "Mapping file (TOML); empty means the built-in default mapping."),
    Setting(
        "sandbox",
        "time_scale",
        float,
        20.0,
        'With api_url = "sandbox": how much faster than real time its rate-limit windows run.',
        _positive,
    ),
    Setting(
        "sandbox",
        "latency",
        float,
        0.05,
        'With api_url = "sandbox": seconds added to every request.',
        lambda v: None if v >= 0 else "must be 0 or more",
    ),
    Setting("sandbox", "faults", str, "", 'With api_url = "sandbox": injected faults, e.g. "500=0.05,drop=0.02".'),
    Setting(
        "sync",
        "heartbeat_stale_seconds",
        int,
        120,
        "A batch whose heartbeat is older than this (by the database's clock) may be resumed by another process.",
        _longer_than_silence,
    ),
    Setting(
        "sync",
        "deleted_items",
        str,
        "recreate",
        'An item a person deleted on the board: "recreate" creates it again with all its sizes; "report" '
        "holds the line back with an open error until a planner retries it.",
        _one_of("recreate", "report"),
    ),
    Setting(
        "sync",
        "customers",
        list,
        [],
        "Customers a headless `sync --all` is limited to; empty means every customer.",
        _identifier_list,
    ),
    Setting(
        "audit",
        "retention_days",
        int,
        0,
        "How many days the audit trail (every change OrderSync made on the board, read by `history`) is kept; "
        "older rows are removed when a sync starts. 0 keeps it forever.",
        lambda v: None if v >= 0 else "must be 0 (forever) or a number of days",
    ),
)

_BY_SECTION: dict[str, dict[str, Setting]] = {}
for _s in SETTINGS:
    _BY_SECTION.setdefault(_s.section, {})[_s.key] = _s


@dataclass
class Settings:
    """Validated settings. ``values`` is keyed by ``section.key``; ``path`` is the file read, if any."""

    values: dict[str, Any]
    path: Path | None = None
    base_dir: Path = field(default_factory=Path.cwd)

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    @property
    def database_url(self) -> str:
        return resolve_database_url(self.values["database.url"], self.base_dir)

    @property
    def mapping_path(self) -> Path | None:
        file = self.values["mapping.file"]
        return (self.base_dir / file) if file else None

    @property
    def own_schema(self) -> str | None:
        return self.values["database.schema"] or None

    @property
    def source_schema(self) -> str | None:
        return self.values["source.schema"] or None


def default_config_path() -> Path:
    """The user's settings file: $ORDERSYNC_CONFIG, else the platform's config folder."""
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env)
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)) / "settings.toml"


def resolve_database_url(url: str, base_dir: Path) -> str:
    """Make a relative SQLite file path relative to the settings file's folder."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError, TypeError):  # reported with the key name when the engine is created
        return url
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database.startswith((":memory:", "file:")):
        return url
    if Path(database).is_absolute():
        return url
    return parsed.set(database=(base_dir / database).resolve().as_posix()).render_as_string(hide_password=False)


def _coerce(setting: Setting, value: Any) -> Any:
    if setting.type is int and isinstance(value, bool):
        raise SettingsError(f"setting {setting.name}: expected a whole number, got {value!r}")
    if setting.type is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if setting.type is str and isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # board ids are often written without quotes
    if not isinstance(value, setting.type):
        raise SettingsError(
            f"setting {setting.name}: expected {setting.type.__name__}, got {type(value).__name__} {value!r}"
        )
    problem = _problem(setting, value, empty_ok=True)
    if problem:
        raise SettingsError(f"setting {setting.name}: {problem} (got {value!r})")
    return value


def _problem(setting: Setting, value: Any, *, empty_ok: bool) -> str | None:
    if isinstance(value, str) and not value.strip():
        return None if empty_ok or setting.required is None else setting.required
    return setting.check(value) if setting.check else None


def setting_problem(name: str, value: Any) -> str | None:
    """What is wrong with ``value`` for the setting ``name`` (an empty required one included), or None:
    the one check the settings file, the command line and the settings dialog all use."""
    section, key = name.split(".", 1)
    return _problem(_BY_SECTION[section][key], value, empty_ok=False)


def parse_settings(data: dict[str, Any], path: Path | None = None) -> Settings:
    """Validate a parsed TOML document against the declarations."""
    values = {s.name: s.default for s in SETTINGS}
    where = f" in {path}" if path else ""
    for section, body in data.items():
        if section not in _BY_SECTION:
            known = ", ".join(sorted(_BY_SECTION))
            raise SettingsError(f"unknown section [{section}]{where}; known sections: {known}")
        if not isinstance(body, dict):
            raise SettingsError(f"[{section}]{where} must be a table of settings")
        for key, value in body.items():
            setting = _BY_SECTION[section].get(key)
            if setting is None:
                known = ", ".join(sorted(_BY_SECTION[section]))
                raise SettingsError(f"unknown setting {section}.{key}{where}; known in [{section}]: {known}")
            values[setting.name] = _coerce(setting, value)
    base_dir = path.parent.resolve() if path else Path.cwd()
    return Settings(values=values, path=path, base_dir=base_dir)


def load_settings(path: Path | str | None = None, *, required: bool = True) -> Settings:
    """Read and validate the settings file.

    Without ``path`` the user's default file is used (``default_config_path``). A file that does not
    exist is an error that names every place looked at and how to make one, unless ``required`` is
    False: then the built-in defaults apply. A file named explicitly must always exist.
    """
    explicit = path is not None
    file = Path(path) if path is not None else default_config_path()
    if not file.exists():
        if explicit:
            raise SettingsError(f"settings file not found: {file}")
        if required:
            raise SettingsError(no_settings_message(file))
        return parse_settings({}, None)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"settings file {file} is not valid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"settings file {file} cannot be read: {exc}") from None
    return parse_settings(data, file)


def no_settings_message(file: Path) -> str:
    """One line for a run that found no settings: every place it looked, and the ways to make some."""
    from core.foundation.resources import program_command

    if os.environ.get(CONFIG_ENV):
        looked = f"{CONFIG_ENV} names {file}, which does not exist"
    else:
        looked = f"--config was not given, {CONFIG_ENV} is not set, and the user settings file {file} does not exist"
    return (
        f"no settings file: {looked}. Write one there (the window's Settings dialog does; the README shows one), "
        f"pass --config F, or try the demo: `{program_command('demo init')}` writes a settings file and "
        "prints how to use it"
    )


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)  # a JSON string is a valid TOML basic string


def render_settings(values: dict[str, Any]) -> str:
    """A settings file for ``values`` (keyed ``section.key``), each with its description as a comment."""
    lines: list[str] = []
    for section, settings in _BY_SECTION.items():
        chosen = [s for s in settings.values() if s.name in values]
        if not chosen:
            continue
        lines.append(f"[{section}]")
        for s in chosen:
            lines.append(f"# {s.description}")
            lines.append(f"{s.key} = {_toml_value(values[s.name])}")
        lines.append("")
    return "\n".join(lines)
