"""Settings declared once (core.foundation.config) and the mapping file (core.source.mapping): shape, errors, sizes.

The settings file and the mapping file are the two things an operator edits by hand, so every
mistake must come back as a SettingsError that names the key. Size columns are discovered from the
source table's real column order, never counted in advance.
"""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import pytest
import sqlalchemy as sa

from core.demo.data import ORDER_COLUMNS_AFTER_SIZES, ORDER_COLUMNS_BEFORE_SIZES, SIZE_COLUMNS, create_orders_table
from core.foundation import config
from core.foundation.config import (
    CONFIG_ENV,
    SETTINGS,
    default_config_path,
    load_settings,
    parse_settings,
    render_settings,
    resolve_database_url,
)
from core.foundation.exceptions import SettingsError
from core.source.mapping import MONDAY_TYPES, default_mapping_path, load_mapping, parse_mapping
from core.source.reader import Source

# --- settings -------------------------------------------------------------------------------------

# Values unlike every default, with the characters a hand-written or generated file meets:
# backslashes of Windows paths, quotes, non-ASCII, a board id, an empty and a non-empty list.
UNUSUAL_VALUES = {
    "database.url": 'mssql+pyodbc://planner:p"w\\d@SQL01\\ERP/ORDERS?driver=ODBC+Driver+18+for+SQL+Server',
    "database.schema": "ordersync",
    "database.echo": True,
    "source.table": "ORDERS_UNIFIED_V2",
    "source.schema": "ORDERS.dbo",
    "monday.api_url": "sandbox",
    "monday.board_id": "9200517329",
    "monday.api_version": "2025-10",
    "mapping.file": "C:\\OrderSync\\mapping – copy.toml",
    "sandbox.time_scale": 120.5,
    "sandbox.latency": 0.25,
    "sandbox.faults": "500=0.05,drop=0.02",
    "sync.heartbeat_stale_seconds": 300,
    "sync.deleted_items": "report",
    "monday.idempotency_keys": False,
    "monday.bulk_archive": False,
    "monday.late_apply_seconds": 90,
    "monday.max_attempts": 3,
    "sync.customers": ["MACK WELDON", "O'NEILL", 'THE "QUOTED" CO', "CAFÉ CRÈME ÖSTERREICH"],
    "audit.retention_days": 400,
}


def test_every_setting_is_declared_once_with_a_description_and_a_typed_default():
    names = [s.name for s in SETTINGS]
    assert len(names) == len(set(names))
    assert set(UNUSUAL_VALUES) == set(names), "UNUSUAL_VALUES must cover every declared setting"
    for setting in SETTINGS:
        assert setting.description.strip(), setting.name
        assert len(setting.description) > 15, f"{setting.name}: a description a person can act on"
        # exact type: True is an int to isinstance, but not a default for an int setting
        assert type(setting.default) is setting.type, setting.name
        if setting.check:
            assert setting.check(setting.default) is None, f"{setting.name}: the default fails its own check"
    # The contract of DESIGN.md §4 is among them.
    assert {"database.url", "monday.api_url", "monday.board_id", "mapping.file"} <= set(names)
    # The token is never a setting.
    assert not any("token" in name.lower() for name in names)


def test_defaults_apply_when_no_file_is_given():
    settings = parse_settings({})
    assert settings.values == {s.name: s.default for s in SETTINGS}
    assert settings.mapping_path is None
    assert settings.own_schema is None and settings.source_schema is None


def test_render_settings_round_trips_through_parse_settings(tmp_path: Path):
    text = render_settings(UNUSUAL_VALUES)
    file = tmp_path / "settings.toml"
    file.write_text(text, encoding="utf-8")
    settings = load_settings(file)
    assert settings.values == UNUSUAL_VALUES
    assert settings.path == file
    # every setting carries its description as a comment just above it
    lines = text.splitlines()
    for setting in SETTINGS:
        index = lines.index(
            next(
                line
                for line in lines
                if line.startswith(f"{setting.key} = ") and _section_of(lines, line) == setting.section
            )
        )
        assert lines[index - 1] == f"# {setting.description}"


def _section_of(lines: list[str], wanted: str) -> str:
    section = ""
    for line in lines:
        if line.startswith("["):
            section = line.strip("[]")
        if line is wanted:
            return section
    raise AssertionError(wanted)


def test_render_settings_writes_only_what_it_is_given_and_defaults_round_trip():
    text = render_settings({"monday.board_id": "42"})
    assert tomllib.loads(text) == {"monday": {"board_id": "42"}}
    defaults = {s.name: s.default for s in SETTINGS}
    assert parse_settings(tomllib.loads(render_settings(defaults))).values == defaults


def test_render_settings_round_trips_control_characters():
    values = {"database.url": "sqlite:///orders.db", "sandbox.faults": "line1\nline2\x01"}
    assert parse_settings(tomllib.loads(render_settings(values))).values["sandbox.faults"] == "line1\nline2\x01"


def test_the_dialog_and_the_file_share_one_check_per_setting():
    from core.foundation.config import setting_problem

    assert "digits only" in str(pytest.raises(SettingsError, parse_settings, {"monday": {"board_id": "12a"}}).value)
    assert "digits only" in setting_problem("monday.board_id", "12a")
    assert (
        setting_problem("monday.board_id", "")
        == "enter the board id: the number in the board's address (…/boards/<id>)"
    )
    assert (
        parse_settings({"monday": {"board_id": ""}})["monday.board_id"] == ""
    )  # not configured yet: allowed in a file
    assert setting_problem("database.schema", "") is None and setting_problem("database.schema", "1x") is not None
    assert setting_problem("monday.api_url", "sandbox") is None and setting_problem("monday.api_url", "ftp://x")


def test_a_heartbeat_that_could_go_stale_while_waiting_for_monday_is_refused_with_the_reason():
    with pytest.raises(SettingsError) as caught:
        parse_settings({"sync": {"heartbeat_stale_seconds": 60}})
    message = str(caught.value)
    assert "sync.heartbeat_stale_seconds" in message and "more than 75 seconds" in message
    assert "waiting for monday's answer" in message
    assert parse_settings({"sync": {"heartbeat_stale_seconds": 76}})["sync.heartbeat_stale_seconds"] == 76


def test_a_board_id_written_without_quotes_is_text():
    settings = parse_settings({"monday": {"board_id": 9200517329}})
    assert settings["monday.board_id"] == "9200517329"


@pytest.mark.parametrize("board_id", ["12a", "9200 517329", "boards/9200517329", "٩٢٠٠"])
def test_the_command_line_refuses_a_board_id_that_is_not_digits_as_the_dialog_does(board_id, tmp_path, capsys):
    from core.cli import main

    database = tmp_path / "orders.db"
    file = tmp_path / "settings.toml"
    file.write_text(
        render_settings({"database.url": f"sqlite:///{database.as_posix()}", "monday.board_id": board_id}),
        encoding="utf-8",
    )
    code = main(["status", "--config", str(file)])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "monday.board_id" in err and "digits only" in err
    assert not database.exists()  # refused while reading the settings, before any connection

    file.write_text(
        render_settings({"database.url": f"sqlite:///{database.as_posix()}", "monday.board_id": "42"}), encoding="utf-8"
    )
    main(["status", "--config", str(file)])
    assert "monday.board_id" not in capsys.readouterr().err  # control: digits pass the same loading


@pytest.mark.parametrize(
    ("document", "named"),
    [
        ({"database": {"echo": "yes"}}, "database.echo"),
        ({"database": {"url": True}}, "database.url"),
        ({"sync": {"heartbeat_stale_seconds": "soon"}}, "sync.heartbeat_stale_seconds"),
        ({"sync": {"heartbeat_stale_seconds": True}}, "sync.heartbeat_stale_seconds"),
        ({"sync": {"heartbeat_stale_seconds": 0}}, "sync.heartbeat_stale_seconds"),
        ({"sync": {"heartbeat_stale_seconds": 75}}, "sync.heartbeat_stale_seconds"),
        ({"sync": {"deleted_items": "ignore"}}, "sync.deleted_items"),
        ({"monday": {"late_apply_seconds": 0}}, "monday.late_apply_seconds"),
        ({"sync": {"customers": "MACK WELDON"}}, "sync.customers"),
        ({"sync": {"customers": ["MACK WELDON", ""]}}, "sync.customers"),
    ],
)
def test_a_bad_value_is_an_error_naming_the_setting(document, named, tmp_path: Path):
    with pytest.raises(SettingsError) as caught:
        parse_settings(document, tmp_path / "settings.toml")
    assert str(caught.value).startswith(f"setting {named}: ")
    assert caught.value.exit_code == 2


@pytest.mark.parametrize(
    ("document", "named", "known"),
    [
        (
            {"database": {"urll": "sqlite:///x.db"}},
            "unknown setting database.urll",
            "known in [database]: echo, schema, url",
        ),
        (
            {"databse": {"url": "sqlite:///x.db"}},
            "unknown section [databse]",
            "known sections: audit, database, mapping",
        ),
        ({"database": "sqlite:///x.db"}, "[database]", "must be a table of settings"),
    ],
)
def test_an_unknown_name_is_an_error_naming_it_and_the_file(document, named, known, tmp_path: Path):
    with pytest.raises(SettingsError) as caught:
        parse_settings(document, tmp_path / "settings.toml")
    message = str(caught.value)
    assert message.startswith(named)
    assert str(tmp_path / "settings.toml") in message
    assert known in message
    assert caught.value.exit_code == 2


def test_relative_paths_resolve_against_the_settings_folder_not_the_working_directory(tmp_path, monkeypatch):
    folder = tmp_path / "demo"
    folder.mkdir()
    file = folder / "settings.toml"
    file.write_text(
        render_settings({"database.url": "sqlite:///data/orders.db", "mapping.file": "maps/m.toml"}), encoding="utf-8"
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    settings = load_settings(Path("..") / "demo" / "settings.toml")
    assert settings.database_url == f"sqlite:///{(folder / 'data' / 'orders.db').resolve().as_posix()}"
    assert settings.mapping_path is not None
    assert settings.mapping_path.resolve() == (folder / "maps" / "m.toml").resolve()


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:////var/lib/ordersync/orders.db",
        "sqlite:///:memory:",
        "sqlite://",
        "postgresql+psycopg://postgres@127.0.0.1:5432/test",
        "mssql+pyodbc://user:secret@SQL01/ORDERS?driver=ODBC+Driver+18+for+SQL+Server",
    ],
)
def test_absolute_and_non_file_urls_are_left_alone(url, tmp_path):
    assert resolve_database_url(url, tmp_path) == url


def test_an_absolute_mapping_file_stays_absolute(tmp_path):
    absolute = tmp_path / "shared" / "mapping.toml"
    settings = parse_settings({"mapping": {"file": str(absolute)}}, tmp_path / "other" / "settings.toml")
    assert settings.mapping_path == absolute


def test_relative_path_with_an_explicit_sqlite_driver_resolves_too(tmp_path):
    assert resolve_database_url("sqlite+pysqlite:///orders.db", tmp_path) == (
        f"sqlite+pysqlite:///{(tmp_path / 'orders.db').resolve().as_posix()}"
    )


def test_ordersync_config_environment_variable_is_honoured(tmp_path, monkeypatch):
    file = tmp_path / "from-env.toml"
    file.write_text(render_settings({"monday.board_id": "777"}), encoding="utf-8")
    monkeypatch.setenv(CONFIG_ENV, str(file))
    assert default_config_path() == file
    settings = load_settings()
    assert settings["monday.board_id"] == "777"
    assert settings.path == file


def test_without_the_variable_the_platform_config_folder_is_used(monkeypatch):
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    path = default_config_path()
    assert path.name == "settings.toml"
    assert config.APP_NAME in path.parts


def test_an_explicit_settings_file_must_exist(tmp_path):
    with pytest.raises(SettingsError, match="settings file not found"):
        load_settings(tmp_path / "missing.toml")


def test_invalid_toml_names_the_file(tmp_path):
    file = tmp_path / "broken.toml"
    file.write_text("[database\nurl = 'x'\n", encoding="utf-8")
    with pytest.raises(SettingsError) as caught:
        load_settings(file)
    assert str(file) in str(caught.value) and "not valid TOML" in str(caught.value)


# --- mapping file ---------------------------------------------------------------------------------

# reference/orders-unified.md, "Default mapping": (source, board column title, monday type)
REFERENCE_COLUMNS = [
    ("$key", "SYNC KEY", "text"),
    ("AAG ORDER NUMBER", "AAG ORDER NUMBER", "text"),
    ("$customer", "CUSTOMER", "dropdown"),
    ("CUSTOMER STYLE", "STYLE", "text"),
    ("CUSTOMER COLOUR DESCRIPTION", "COLOR", "text"),
    ("PO NUMBER", "PO NUMBER", "text"),
    ("CUSTOMER ALT PO", "CUSTOMER ALT PO", "text"),
    ("AAG SEASON", "AAG SEASON", "dropdown"),
    ("CUSTOMER SEASON", "CUSTOMER SEASON", "dropdown"),
    ("ORDER TYPE", "ORDER TYPE", "status"),
    ("ORDER DATE PO RECEIVED", "ORDER DATE PO RECEIVED", "date"),
    ("EX FACTORY DATE", "CUSTOMER EX FACTORY DATE", "date"),
    ("ETA CUSTOMER WAREHOUSE DATE", "CUSTOMER REQ IN DC DATE", "date"),
    ("TOTAL QTY", "TOTAL QTY", "numbers"),
    ("CUSTOMER PRICE", "CUSTOMER PRICE", "numbers"),
    ("UNIT OF MEASURE", "UNIT OF MEASURE", "status"),
    ("DESTINATION", "DESTINATION", "text"),
]


def default_document() -> dict:
    return tomllib.loads(default_mapping_path().read_text(encoding="utf-8"))


def test_default_mapping_is_the_reference_table():
    mapping = load_mapping()
    assert mapping.path is None  # the built-in one
    assert [(c.source, c.title, c.type) for c in mapping.columns] == REFERENCE_COLUMNS
    assert all(c.id is None for c in mapping.columns)  # named by title, resolved through the API
    by_title = {c.title: c for c in mapping.columns}
    assert by_title["ORDER TYPE"].value_map == {"ACTIVE": "RECEIVED", "CANCELLED": "CANCELLED"}
    assert by_title["TOTAL QTY"].whole and by_title["TOTAL QTY"].min == 0
    assert mapping.key == ("AAG ORDER NUMBER", "CUSTOMER STYLE", "CUSTOMER COLOUR DESCRIPTION")
    assert mapping.customer_column == "CUSTOMER NAME"
    assert mapping.item_name == "{CUSTOMER STYLE} {CUSTOMER COLOUR DESCRIPTION} {AAG ORDER NUMBER}"
    assert mapping.group_name == "{customer} {season}"
    assert mapping.season_columns == ("CUSTOMER SEASON", "AAG SEASON")
    assert {"nan", "none", "null", ""} <= mapping.season_blank
    assert "US TARIFF RATE" in mapping.true_means_zero and "CUSTOMER STYLE" in mapping.trim
    assert mapping.subitem_name == "Size {size}"
    assert [(c.source, c.title, c.type) for c in mapping.subitem_columns] == [
        ("$size", "Size", "dropdown"),
        ("$quantity", "Order Qty", "numbers"),
    ]
    assert mapping.removal_policy == "mark"  # never delete on the board without an explicit setting
    assert mapping.removal_item == {"ORDER TYPE": "CANCELLED"}
    assert mapping.removal_subitem == {"Order Qty": "0"}


def test_default_mapping_has_the_reference_customer_aliases():
    aliases = load_mapping().customers
    assert aliases["RHYTHM (AU)"] == "RHYTHM"
    assert aliases["TITLE 9"] == "TITLE NINE"
    assert aliases["LORNA JANE (NZ)"] == "LORNA JANE"
    assert aliases["GREYSON"] == "GREYSON CLOTHIERS"
    real_aliases = {k: v for k, v in aliases.items() if k != v}
    assert real_aliases == {
        "RHYTHM (AU)": "RHYTHM",
        "TITLE 9": "TITLE NINE",
        "LORNA JANE (NZ)": "LORNA JANE",
        "GREYSON": "GREYSON CLOTHIERS",
    }


def test_a_copied_mapping_file_loads_and_remembers_its_path(tmp_path):
    copy = tmp_path / "mapping.toml"
    copy.write_text(default_mapping_path().read_text(encoding="utf-8"), encoding="utf-8")
    mapping = load_mapping(copy)
    assert mapping.path == copy
    assert mapping.columns == load_mapping().columns


def _broken(edit) -> dict:
    document = default_document()
    edit(document)
    return document


def _set(path: list, value):
    def edit(document):
        target = document
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value

    return edit


def _drop(path: list):
    def edit(document):
        target = document
        for step in path[:-1]:
            target = target[step]
        del target[path[-1]]

    return edit


def _column(title: str) -> int:
    return next(i for i, c in enumerate(default_document()["columns"]) if c.get("title") == title)


@pytest.mark.parametrize(
    ("edit", "named", "problem"),
    [
        (_set(["board"], {"id": 1}), "", "unknown section(s): board"),
        (_drop(["columns", _column("COLOR"), "title"]), f"columns[{_column('COLOR')}]", "exactly one of title or id"),
        (
            _set(["columns", _column("COLOR"), "id"], "color_mkq"),
            f"columns[{_column('COLOR')}]",
            "exactly one of title or id",
        ),
        (
            _set(["columns", _column("CUSTOMER PRICE"), "type"], "money"),
            f"columns[{_column('CUSTOMER PRICE')}].type",
            "'money' is not one of",
        ),
        (_set(["columns", 0, "source"], "$order"), "columns[0].source", "'$order' is not one of"),
        (
            _set(["subitems", "columns", 0, "source"], "$colour"),
            "subitems.columns[0].source",
            "'$colour' is not one of",
        ),
        (_set(["removal", "item"], {"STATUS": "CANCELLED"}), "removal.item", "'STATUS'"),
        (_set(["removal", "subitem"], {"Cut Qty": "0"}), "removal.subitem", "'Cut Qty'"),
        (_set(["removal", "policy"], "purge"), "removal.policy", "'purge' is not one of"),
        (_set(["columns", 0, "colour"], "red"), "columns[0]", "unknown key(s): colour"),
        (
            _set(["columns", _column("TOTAL QTY"), "min"], "0"),
            f"columns[{_column('TOTAL QTY')}].min",
            "must be a number",
        ),
        (_set(["source", "key"], []), "source.key", "at least one column"),
        (_drop(["source", "customer"]), "source.customer", "is required"),
        (_set(["sizes"], {"exclude": []}), "sizes", "needs either columns or both after and before"),
        (_set(["columns"], []), "columns", "non-empty array"),
        (_set(["customers"], {"TITLE 9": ["TITLE NINE"]}), "customers", "must be a table of strings"),
    ],
)
def test_a_bad_mapping_is_an_error_naming_the_key(edit, named, problem, tmp_path):
    file = tmp_path / "my_mapping.toml"
    with pytest.raises(SettingsError) as caught:
        parse_mapping(_broken(edit), file)
    message = str(caught.value)
    assert message.startswith(f"mapping {file}: "), message
    assert named in message.split(": ", 1)[1]
    assert problem in message
    assert caught.value.exit_code == 2


def test_a_board_column_mapped_twice_is_an_error():
    document = default_document()
    document["columns"].append({"source": "CATEGORY", "title": "STYLE", "type": "text"})
    with pytest.raises(SettingsError, match="maps board column.*twice: STYLE"):
        parse_mapping(document)


def test_a_missing_or_broken_mapping_file_is_a_settings_error(tmp_path):
    with pytest.raises(SettingsError, match="mapping file not found"):
        load_mapping(tmp_path / "nope.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[source\n", encoding="utf-8")
    with pytest.raises(SettingsError, match=f"mapping file {broken} is not valid TOML"):
        load_mapping(broken)


def test_every_column_type_of_the_default_mapping_is_a_monday_type():
    mapping = load_mapping()
    assert {c.type for c in (*mapping.columns, *mapping.subitem_columns)} <= set(MONDAY_TYPES)


# --- size discovery -------------------------------------------------------------------------------

BEFORE = list(ORDER_COLUMNS_BEFORE_SIZES)  # ... INFOR COLOUR CODE, UNIT OF MEASURE
AFTER = list(ORDER_COLUMNS_AFTER_SIZES)  # TOTAL QTY, prices, record_uuid


def labels(n: int) -> list[str]:
    """``n`` size labels: the reference families first (so the demo generator fills them), then extras."""
    extra = [f"EXTRA {i}" for i in range(max(0, n - len(SIZE_COLUMNS)))]
    return (SIZE_COLUMNS + extra)[:n]


def test_sizes_are_the_columns_between_unit_of_measure_and_total_qty():
    assert BEFORE[-2:] == ["INFOR COLOUR CODE", "UNIT OF MEASURE"]
    sizes = ["XS", "S", "M", "L", "XL", "30/32", "ONE SIZE"]
    assert load_mapping().discover_sizes(BEFORE + sizes + AFTER) == sizes


def test_infor_colour_code_is_the_boundary_when_unit_of_measure_is_absent():
    sizes = ["S", "M", "L"]
    without_uom = [c for c in BEFORE if c != "UNIT OF MEASURE"]
    assert load_mapping().discover_sizes(without_uom + sizes + AFTER) == sizes
    # With both present, UNIT OF MEASURE wins even though INFOR COLOUR CODE stands first.
    assert load_mapping().discover_sizes(BEFORE + sizes + AFTER) == sizes


def test_an_explicit_size_list_is_used_as_given():
    mapping = dataclasses.replace(load_mapping(), size_columns=("M", "S"))
    assert mapping.discover_sizes(BEFORE + ["S", "M", "L"] + AFTER) == ["M", "S"]
    missing = dataclasses.replace(load_mapping(), size_columns=("M", "XXL"))
    with pytest.raises(SettingsError, match="not in the source table: XXL"):
        missing.discover_sizes(BEFORE + ["S", "M", "L"] + AFTER)


def test_explicit_sizes_parsed_from_a_mapping_file():
    document = default_document()
    document["sizes"] = {"columns": ["S", "M"], "exclude": ["M"]}
    mapping = parse_mapping(document)
    assert mapping.discover_sizes(BEFORE + ["S", "M", "L"] + AFTER) == ["S"]


def test_excluded_columns_are_not_sizes():
    mapping = dataclasses.replace(load_mapping(), size_exclude=frozenset({"ONE SIZE", "SAMPLE"}))
    assert mapping.discover_sizes(BEFORE + ["S", "SAMPLE", "M", "ONE SIZE"] + AFTER) == ["S", "M"]


@pytest.mark.parametrize("n", [1, 7, 161, 276])
def test_size_count_is_discovered_not_assumed(n):
    sizes = labels(n)
    assert load_mapping().discover_sizes(BEFORE + sizes + AFTER) == sizes


@pytest.mark.parametrize(
    ("columns", "problem"),
    [
        ([c for c in BEFORE if c not in ("UNIT OF MEASURE", "INFOR COLOUR CODE")] + ["S"] + AFTER, "after: none of"),
        (BEFORE + ["S"] + AFTER[1:], "before: TOTAL QTY is not a column"),
        (BEFORE + AFTER, "no size columns"),
        (["TOTAL QTY", "S", *BEFORE], "stands before"),
    ],
)
def test_size_boundaries_that_cannot_be_found_are_errors(columns, problem):
    with pytest.raises(SettingsError, match=problem):
        load_mapping().discover_sizes(columns)


@pytest.mark.parametrize("n", [7, 161])
def test_a_real_table_reflects_its_own_number_of_size_columns(engine, n):
    sizes = labels(n)
    with engine.begin() as conn:
        create_orders_table(conn, 60, seed=1, size_columns=sizes)
    source = Source.reflect(engine, load_mapping())
    assert source.size_columns == sizes
    with engine.connect() as conn:
        lines = list(source.iter_lines(conn))
    assert len(lines) == 60
    assert all(size.label in sizes for line in lines for size in line.sizes)
    assert sum(len(line.sizes) for line in lines) > 0


def test_a_mapping_naming_a_column_the_table_lacks_is_an_error_naming_it(sqlite_engine):
    with sqlite_engine.begin() as conn:
        create_orders_table(conn, 5, seed=1, size_columns=["S", "M"])
    document = default_document()
    document["columns"][_column("DESTINATION")]["source"] = "FINAL DESTINATION"
    with pytest.raises(SettingsError) as caught:
        Source.reflect(sqlite_engine, parse_mapping(document, Path("custom.toml")))
    assert "'FINAL DESTINATION'" in str(caught.value) and "custom.toml" in str(caught.value)


def test_the_source_table_is_only_read(sqlite_engine):
    with sqlite_engine.begin() as conn:
        create_orders_table(conn, 30, seed=2, size_columns=["S", "M", "L"])
    statements: list[str] = []
    sa.event.listen(
        sqlite_engine, "before_cursor_execute", lambda conn, cursor, statement, *args: statements.append(statement)
    )
    source = Source.reflect(sqlite_engine, load_mapping())
    with sqlite_engine.connect() as conn:
        list(source.iter_lines(conn))
        source.customer_names(conn)
    writes = [
        s
        for s in statements
        if s.lstrip().split()[0].upper() in ("INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "ALTER")
    ]
    assert statements and not writes
