"""The mapping: how an ORDERS_UNIFIED row becomes a monday item and its size subitems.

It lives in a TOML file (``resources/default_mapping.toml`` is the built-in default, the table of
``reference/orders-unified.md``). ``load_mapping`` checks the file's shape; ``Mapping.bind`` checks
it against the real source columns and returns a ``LineMapper`` that turns rows into
``MappedLine`` objects: cleaned, transformed, typed, validated and hashed. Nothing here touches the
database or the network.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.foundation.exceptions import SettingsError
from core.foundation.resources import resource_path

# The mapping's parts live in rooms of their own; every public name stays importable from here.
from core.source.columns import (
    ASK,
    BOARD_WINS,
    DERIVED,
    EDIT_POLICIES,
    ITEM_NAME_MAX,
    LONG_TEXT_MAX,
    MONDAY_TYPES,
    NUMBER_DIGITS,
    REMOVAL_POLICIES,
    SOURCE_WINS,
    STATUS_LABEL_MAX,
    SUBITEM_DERIVED,
    TEMPLATE_DERIVED,
    UNBOUNDED,
    ColumnMap,
    StorageLimits,
    render_template,
    template_fields,
)
from core.source.hashing import content_hash, fields_hash
from core.source.lines import LineMapper, MappedLine, MappedSize  # (it imports Mapping only to type it)
from core.source.values import ValueError_, parse_quantity, shorten, show, to_board_value, to_json, unstorable


@dataclass(frozen=True)
class Mapping:
    """A validated mapping file."""

    key: tuple[str, ...]
    key_separator: str
    customer_column: str
    order_number_column: str | None
    po_number_column: str | None
    size_after: tuple[str, ...]
    size_before: str | None
    size_columns: tuple[str, ...]
    size_exclude: frozenset[str]
    item_name: str
    group_name: str
    season_columns: tuple[str, ...]
    season_blank: frozenset[str]
    null_strings: frozenset[str]
    trim: frozenset[str]
    true_means_zero: frozenset[str]
    customers: dict[str, str]
    columns: tuple[ColumnMap, ...]
    subitem_name: str
    subitem_columns: tuple[ColumnMap, ...]
    removal_policy: str
    removal_item: dict[str, str]
    removal_subitem: dict[str, str]
    path: Path | None = None
    fingerprint: str = ""  # a hash of the mapping document: a changed mapping re-maps every line

    # -- protected columns -------------------------------------------------------------------------

    def protected(self) -> dict[str, str]:
        """The item columns whose edits on the board are protected: label -> ``board_wins`` or ``ask``."""
        return {c.label: c.policy for c in self.columns if c.policy != SOURCE_WINS}

    # -- source columns ---------------------------------------------------------------------------

    def referenced_columns(self) -> list[str]:
        """Every source column the mapping reads (not the size columns), in a stable order."""
        wanted: list[str] = []

        def add(name: str | None) -> None:
            if name and not name.startswith("$") and name not in wanted:
                wanted.append(name)

        for name in (*self.key, self.customer_column, self.order_number_column, self.po_number_column):
            add(name)
        for name in self.season_columns:
            add(name)
        for template in (self.item_name, self.group_name):
            for name in template_fields(template):
                if name not in TEMPLATE_DERIVED:
                    add(name)
        for column in self.columns:
            add(column.source)
        return wanted

    def discover_sizes(self, source_columns: Sequence[str]) -> list[str]:
        """The size columns of a table whose columns are ``source_columns`` (in table order)."""
        if self.size_columns:
            missing = [c for c in self.size_columns if c not in source_columns]
            if missing:
                raise SettingsError(f"mapping [sizes] columns: not in the source table: {', '.join(missing)}")
            sizes = list(self.size_columns)
        else:
            start = next((source_columns.index(c) for c in self.size_after if c in source_columns), None)
            if start is None:
                raise SettingsError(
                    f"mapping [sizes] after: none of {', '.join(self.size_after)} is a column of the source table"
                )
            if self.size_before not in source_columns:
                raise SettingsError(f"mapping [sizes] before: {self.size_before} is not a column of the source table")
            end = source_columns.index(self.size_before)
            if end <= start:
                raise SettingsError(f"mapping [sizes]: {self.size_before} stands before {source_columns[start]}")
            sizes = list(source_columns[start + 1 : end])
        sizes = [s for s in sizes if s not in self.size_exclude]
        if not sizes:
            raise SettingsError("mapping [sizes]: no size columns found in the source table")
        return sizes

    def bind(self, source_columns: Sequence[str], limits: StorageLimits = UNBOUNDED) -> LineMapper:
        """Check the mapping against the source table's columns and compile it for fast mapping."""
        missing = [c for c in self.referenced_columns() if c not in source_columns]
        if missing:
            where = f" ({self.path})" if self.path else ""
            raise SettingsError(
                f"mapping{where} names source column(s) that ORDERS_UNIFIED does not have: "
                + ", ".join(repr(c) for c in missing)
            )
        sizes = self.discover_sizes(list(source_columns))
        if limits.size_label:
            long = [s for s in sizes if len(s) > limits.size_label]
            if long:
                raise SettingsError(
                    f"size column(s) of the source table have names longer than {limits.size_label} characters, "
                    f"the longest size OrderSync's tables hold: {', '.join(repr(shorten(s)) for s in long)}; "
                    "exclude them in the mapping's [sizes] or rename them"
                )
        return LineMapper(self, self.referenced_columns(), sizes, limits)


# --- loading --------------------------------------------------------------------------------------


def default_mapping_path() -> Path:
    return resource_path("default_mapping.toml")


def load_mapping(path: Path | str | None = None) -> Mapping:
    """Load and check a mapping file; ``None`` loads the built-in default."""
    file = Path(path) if path else default_mapping_path()
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SettingsError(f"mapping file not found: {file}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"mapping file {file} is not valid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"mapping file {file} cannot be read: {exc}") from None
    return parse_mapping(data, file if path else None)


class _Reader:
    """Reads keys of the mapping document, naming the key in every error."""

    def __init__(self, data: dict[str, Any], where: str):
        self.data = data
        self.where = where

    def section(self, name: str) -> dict[str, Any]:
        value = self.data.get(name, {})
        if not isinstance(value, dict):
            raise self.error(name, "must be a table")
        return value

    def error(self, key: str, problem: str) -> SettingsError:
        key = key.lstrip(".")
        return SettingsError(f"mapping{self.where}: {key + ' ' if key else ''}{problem}")

    def get(self, section: dict[str, Any], prefix: str, key: str, kind: type, default: Any = ...) -> Any:
        if key not in section:
            if default is ...:
                raise self.error(f"{prefix}.{key}", "is required")
            return default
        value = section[key]
        if kind is list:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise self.error(f"{prefix}.{key}", f"must be a list of strings, got {value!r}")
        elif kind is dict:
            if not isinstance(value, dict) or not all(isinstance(v, (str, int, float)) for v in value.values()):
                raise self.error(f"{prefix}.{key}", f"must be a table of strings, got {value!r}")
            value = {str(k): str(v) for k, v in value.items()}
        elif not isinstance(value, kind) or (kind in (int, float) and isinstance(value, bool)):
            raise self.error(f"{prefix}.{key}", f"must be a {kind.__name__}, got {value!r}")
        return value


def _parse_columns(reader: _Reader, entries: Any, prefix: str, derived: tuple[str, ...]) -> tuple[ColumnMap, ...]:
    if not isinstance(entries, list) or not entries:
        raise reader.error(prefix, "must be a non-empty array of tables ([[...]])")
    columns = []
    for i, entry in enumerate(entries):
        where = f"{prefix}[{i}]"
        if not isinstance(entry, dict):
            raise reader.error(where, "must be a table")
        allowed = {"source", "title", "id", "type", "map", "whole", "min"}
        if prefix == "columns":  # a protected cell is an item's: sizes follow the ERP
            allowed.add("policy")
        unknown = set(entry) - allowed
        if unknown:
            raise reader.error(where, f"has unknown key(s): {', '.join(sorted(unknown))}")
        source = reader.get(entry, where, "source", str)
        if source.startswith("$") and source not in derived:
            raise reader.error(f"{where}.source", f"{source!r} is not one of {', '.join(derived)}")
        kind = reader.get(entry, where, "type", str)
        if kind not in MONDAY_TYPES:
            raise reader.error(f"{where}.type", f"{kind!r} is not one of {', '.join(MONDAY_TYPES)}")
        title = reader.get(entry, where, "title", str, None)
        column_id = reader.get(entry, where, "id", str, None)
        if bool(title) == bool(column_id):
            raise reader.error(where, "needs exactly one of title or id")
        value_map = {k.upper(): v for k, v in reader.get(entry, where, "map", dict, {}).items()}
        minimum = entry.get("min")
        if minimum is not None and (isinstance(minimum, bool) or not isinstance(minimum, (int, float))):
            raise reader.error(f"{where}.min", f"must be a number, got {minimum!r}")
        policy = reader.get(entry, where, "policy", str, SOURCE_WINS)
        if policy not in EDIT_POLICIES:
            raise reader.error(f"{where}.policy", f"{policy!r} is not one of {', '.join(EDIT_POLICIES)}")
        if policy != SOURCE_WINS and source == "$key":
            raise reader.error(f"{where}.policy", "the SYNC KEY column is OrderSync's own: it cannot be protected")
        columns.append(
            ColumnMap(
                source=source,
                type=kind,
                title=title,
                id=column_id,
                value_map=value_map,
                whole=reader.get(entry, where, "whole", bool, False),
                min=minimum,
                policy=policy,
            )
        )
    labels = [c.label for c in columns]
    duplicates = sorted({label for label in labels if labels.count(label) > 1})
    if duplicates:
        raise reader.error(prefix, f"maps board column(s) twice: {', '.join(duplicates)}")
    return tuple(columns)


def parse_mapping(data: dict[str, Any], path: Path | None = None) -> Mapping:
    reader = _Reader(data, f" {path}" if path else "")
    known = {"source", "sizes", "item", "season", "cleaning", "customers", "columns", "subitems", "removal"}
    unknown = set(data) - known
    if unknown:
        raise reader.error("", f"has unknown section(s): {', '.join(sorted(unknown))}")
    source = reader.section("source")
    sizes = reader.section("sizes")
    item = reader.section("item")
    season = reader.section("season")
    cleaning = reader.section("cleaning")
    customers = reader.get(data, "", "customers", dict, {})
    subitems = reader.section("subitems")
    removal = reader.section("removal")

    key = reader.get(source, "source", "key", list)
    if not key:
        raise reader.error("source.key", "must name at least one column")
    size_columns = reader.get(sizes, "sizes", "columns", list, [])
    size_before = reader.get(sizes, "sizes", "before", str, None)
    size_after = reader.get(sizes, "sizes", "after", list, [])
    if not size_columns and not (size_before and size_after):
        raise reader.error("sizes", "needs either columns or both after and before")
    policy = reader.get(removal, "removal", "policy", str, "mark")
    if policy not in REMOVAL_POLICIES:
        raise reader.error("removal.policy", f"{policy!r} is not one of {', '.join(REMOVAL_POLICIES)}")
    mapping = Mapping(
        key=tuple(key),
        key_separator=reader.get(source, "source", "key_separator", str, " | "),
        customer_column=reader.get(source, "source", "customer", str),
        order_number_column=reader.get(source, "source", "order_number", str, None),
        po_number_column=reader.get(source, "source", "po_number", str, None),
        size_after=tuple(size_after),
        size_before=size_before,
        size_columns=tuple(size_columns),
        size_exclude=frozenset(reader.get(sizes, "sizes", "exclude", list, [])),
        item_name=reader.get(item, "item", "name", str),
        group_name=reader.get(item, "item", "group", str),
        season_columns=tuple(reader.get(season, "season", "columns", list, [])),
        season_blank=frozenset(v.strip().lower() for v in reader.get(season, "season", "blank", list, [""])),
        null_strings=frozenset(v.strip().lower() for v in reader.get(cleaning, "cleaning", "null_strings", list, [])),
        trim=frozenset(reader.get(cleaning, "cleaning", "trim", list, [])),
        true_means_zero=frozenset(reader.get(cleaning, "cleaning", "true_means_zero", list, [])),
        customers={k.strip().upper(): v for k, v in customers.items()},
        columns=_parse_columns(reader, data.get("columns"), "columns", DERIVED),
        subitem_name=reader.get(subitems, "subitems", "name", str, "Size {size}"),
        subitem_columns=_parse_columns(reader, subitems.get("columns"), "subitems.columns", SUBITEM_DERIVED),
        removal_policy=policy,
        removal_item=reader.get(removal, "removal", "item", dict, {}),
        removal_subitem=reader.get(removal, "removal", "subitem", dict, {}),
        path=path,
        fingerprint=hashlib.sha1(json.dumps(data, sort_keys=True, default=str).encode("utf-8")).hexdigest(),
    )
    labels = {c.label for c in mapping.columns}
    for name in mapping.removal_item:
        if name not in labels:
            raise reader.error("removal.item", f"names {name!r}, which is not a mapped board column")
    sub_labels = {c.label for c in mapping.subitem_columns}
    for name in mapping.removal_subitem:
        if name not in sub_labels:
            raise reader.error("removal.subitem", f"names {name!r}, which is not a mapped subitem column")
    return mapping


__all__ = [
    "ASK",
    "BOARD_WINS",
    "DERIVED",
    "EDIT_POLICIES",
    "ITEM_NAME_MAX",
    "LONG_TEXT_MAX",
    "MONDAY_TYPES",
    "NUMBER_DIGITS",
    "REMOVAL_POLICIES",
    "SOURCE_WINS",
    "STATUS_LABEL_MAX",
    "SUBITEM_DERIVED",
    "TEMPLATE_DERIVED",
    "UNBOUNDED",
    "ColumnMap",
    "LineMapper",
    "MappedLine",
    "MappedSize",
    "Mapping",
    "StorageLimits",
    "ValueError_",
    "content_hash",
    "default_mapping_path",
    "fields_hash",
    "load_mapping",
    "parse_mapping",
    "parse_quantity",
    "render_template",
    "shorten",
    "show",
    "template_fields",
    "to_board_value",
    "to_json",
    "unstorable",
]
