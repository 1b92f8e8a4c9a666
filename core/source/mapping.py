"""The mapping: how an ORDERS_UNIFIED row becomes a monday item and its size subitems.

It lives in a TOML file (``resources/default_mapping.toml`` is the built-in default, the table of
``reference/orders-unified.md``). ``load_mapping`` checks the file's shape; ``Mapping.bind`` checks
it against the real source columns and returns a ``LineMapper`` that turns rows into
``MappedLine`` objects: cleaned, transformed, typed, validated and hashed. Nothing here touches the
database or the network.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import marshal
import re
import tomllib
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from itertools import compress
from pathlib import Path
from typing import Any, Iterable, Sequence

from core.foundation.exceptions import SettingsError
from core.foundation.resources import resource_path

MONDAY_TYPES = ("text", "long_text", "numbers", "date", "status", "dropdown", "email", "phone", "link")
REMOVAL_POLICIES = ("mark", "report", "archive", "delete")
DERIVED = ("$key", "$customer", "$season")
SUBITEM_DERIVED = ("$size", "$quantity")
TEMPLATE_DERIVED = ("customer", "season", "key")
ITEM_NAME_MAX = 255
STATUS_LABEL_MAX = 30
LONG_TEXT_MAX = 2000
NUMBER_DIGITS = 20  # a numbers value with more digits is not a quantity or a price, whatever the source says
_TEMPLATE_FIELD = re.compile(r"\{([^{}]+)\}")


@dataclass(frozen=True)
class StorageLimits:
    """The longest text (characters) and the largest quantity OrderSync's tables hold per mapped value.

    ``None`` means unbounded. ``core.source.limits.storage_limits`` reads them off the table definitions.
    """

    key: int | None = None
    customer: int | None = None
    order_number: int | None = None
    po_number: int | None = None
    item_name: int | None = None
    group_name: int | None = None
    size_label: int | None = None
    subitem_name: int | None = None
    quantity: int | None = None


UNBOUNDED = StorageLimits()


@dataclass(frozen=True)
class ColumnMap:
    """One board column: where its value comes from and how it is transformed and typed."""

    source: str
    type: str
    title: str | None = None
    id: str | None = None
    value_map: dict[str, str] = field(default_factory=dict)
    whole: bool = False
    min: float | None = None

    @property
    def label(self) -> str:
        """How the column is named to people and in payloads until its id is resolved."""
        return self.title or self.id or ""


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
            sizes = list(source_columns[start + 1:end])
        sizes = [s for s in sizes if s not in self.size_exclude]
        if not sizes:
            raise SettingsError("mapping [sizes]: no size columns found in the source table")
        return sizes

    def bind(self, source_columns: Sequence[str], limits: StorageLimits = UNBOUNDED) -> "LineMapper":
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
                    "exclude them in the mapping's [sizes] or rename them")
        return LineMapper(self, self.referenced_columns(), sizes, limits)


def template_fields(template: str) -> list[str]:
    return _TEMPLATE_FIELD.findall(template)


def render_template(template: str, values: dict[str, str]) -> str:
    return _render(_compile_template(template), values)


def _compile_template(template: str) -> list[tuple[bool, str]]:
    """[(is_field, text)]: literal text and field names, in order."""
    parts: list[tuple[bool, str]] = []
    position = 0
    for match in _TEMPLATE_FIELD.finditer(template):
        if match.start() > position:
            parts.append((False, template[position:match.start()]))
        parts.append((True, match.group(1)))
        position = match.end()
    if position < len(template):
        parts.append((False, template[position:]))
    return parts


def _render(parts: list[tuple[bool, str]], values: dict[str, str]) -> str:
    return "".join(values.get(text, "") if is_field else text for is_field, text in parts)


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
        unknown = set(entry) - {"source", "title", "id", "type", "map", "whole", "min"}
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
        columns.append(ColumnMap(
            source=source, type=kind, title=title, id=column_id, value_map=value_map,
            whole=reader.get(entry, where, "whole", bool, False), min=minimum,
        ))
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


# --- values ---------------------------------------------------------------------------------------


class ValueError_(Exception):
    """A value that cannot become its board column's type; the message names the value."""


def shorten(text: str, width: int = 40) -> str:
    """``text`` cut to ``width`` characters with an ellipsis, for messages."""
    return text if len(text) <= width else text[: width - 1] + "…"


def unstorable(text: str) -> str | None:
    """What in ``text`` no database column can store (a NUL, an unpaired surrogate), or None."""
    if "\x00" in text:
        return "a NUL character"
    if not text.isascii() and _SURROGATE.search(text):
        return "an unpaired UTF-16 surrogate"
    return None


_SURROGATE = re.compile("[\ud800-\udfff]")


def show(value: Any) -> str:
    """A source value as a message shows it: text quoted, numbers plain."""
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value.is_finite() else str(value)
    return str(value)


def _number_text(value: Any, column: ColumnMap) -> str:
    if isinstance(value, bool):
        raise ValueError_(f"{show(value)} is not a number")
    if isinstance(value, (int, Decimal)):
        number = Decimal(value)
    elif isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError_(f"{show(value)} is not a number")
        number = Decimal(repr(value))
    else:
        text = str(value).strip().replace(",", "")
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise ValueError_(f"{show(value)} is not a number") from None
    if not number.is_finite():
        raise ValueError_(f"{show(value)} is not a number")
    if number and number.adjusted() > NUMBER_DIGITS:
        raise ValueError_(f"{show(value)} has more than {NUMBER_DIGITS} digits before the decimal point")
    if column.whole and number != number.to_integral_value():
        raise ValueError_(f"{show(value)} is not a whole number")
    if column.min is not None and number < Decimal(str(column.min)):
        raise ValueError_(f"{show(value)} is below {column.min:g}")
    if number == number.to_integral_value():
        return str(int(number))
    return format(number.normalize(), "f")


_DATE_FORMATS = ("%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S.%f")


def _date_text(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value).strip()
    for fmt in _DATE_FORMATS:
        try:
            return dt.datetime.strptime(text, fmt).date().isoformat()
        except ValueError:
            continue
    raise ValueError_(f"{show(value)} is not a date (expected YYYY-MM-DD)")


def to_board_value(value: Any, column: ColumnMap) -> str | None:
    """Type a cleaned, transformed value for its board column; None means empty."""
    if value is None:
        return None
    kind = column.type
    if kind == "numbers":
        return _number_text(value, column)
    if kind == "date":
        return _date_text(value)
    text = value if isinstance(value, str) else _plain_text(value)
    if kind == "status" and len(text) > STATUS_LABEL_MAX:
        raise ValueError_(f"{show(text)} is longer than {STATUS_LABEL_MAX} characters, the limit of a status label")
    if kind == "long_text" and len(text) > LONG_TEXT_MAX:
        raise ValueError_(f"is longer than {LONG_TEXT_MAX} characters")
    return text


def _plain_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():  # (False for inf and NaN, which stay as they read)
        return str(int(value))
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return str(value)


def parse_quantity(value: Any) -> int:
    """A size quantity: a whole number of at least 0 (None and '' are 0)."""
    if value is None:
        return 0
    if isinstance(value, bool):
        raise ValueError_(f"{show(value)} is not a quantity")
    if isinstance(value, int):
        quantity = value
    else:
        text = value.strip() if isinstance(value, str) else value
        if text == "":
            return 0
        try:
            number = Decimal(str(text))
        except InvalidOperation:
            raise ValueError_(f"{show(value)} is not a number") from None
        if not number.is_finite() or number != number.to_integral_value():
            raise ValueError_(f"{show(value)} is not a whole number")
        quantity = int(number)
    if quantity < 0:
        raise ValueError_(f"{show(value)} is negative")
    return quantity


_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str).encode
_encode_ascii = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"), default=str).encode
_NO_MAX = 10**30
_INT_OR_NONE = frozenset((int, type(None)))


def to_json(value: Any) -> str:
    """Compact JSON text (non-ASCII kept) for payload columns; one shared encoder, it is hot.

    Text holding an unpaired surrogate (which no UTF-8 column stores) is escaped instead.
    """
    text = _encode(value)
    if not text.isascii() and _SURROGATE.search(text):
        return _encode_ascii(value)
    return text


_NULL = "\x00"
_UNTYPED = object()
_TYPED_MAX = 20_000  # typed values kept per board column
_MEMO_TYPES = frozenset((str, int, float, dt.date, dt.datetime))
_MARSHAL_TYPES = frozenset((str, int, float, bool, bytes))  # (None too): what marshal serialises as is
_SOURCE_HASH_FORMAT = "marshal0"  # part of the fingerprint: a new serialisation re-maps every line once


def content_hash(values: Iterable[Any]) -> str:
    """A stable hash of a sequence of (key, value) pairs or values; None differs from 'None'."""
    parts = []
    for value in values:
        if isinstance(value, tuple):
            parts.append("\x1f".join(_NULL if v is None else str(v) for v in value))
        else:
            parts.append(_NULL if value is None else str(value))
    return hashlib.sha1("\x1e".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


def fields_hash(fields: dict[str, str | None]) -> str:
    """content_hash(fields.items()) for text values, without the general path's type checks (it is hot)."""
    return _sha1("\x1e".join(f"{k}\x1f{_NULL if v is None else v}" for k, v in fields.items()))


def _sha1(text: str) -> str:
    # surrogatepass: a line holding an unpaired surrogate is invalid, yet still hashed to be recorded.
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()


# --- mapping rows ---------------------------------------------------------------------------------


@dataclass
class MappedSize:
    label: str
    position: int
    quantity: int
    name: str
    values: dict[str, str | None]
    hash: str


@dataclass
class MappedLine:
    """One order line, mapped. ``errors`` is empty for a valid line."""

    sync_key: str | None
    customer: str
    order_number: str | None
    po_number: str | None
    item_name: str
    group_name: str
    values: dict[str, str | None]
    sizes: list[MappedSize]
    row: Sequence[Any]
    source_columns: Sequence[str]
    errors: list[str]
    content_hash: str = ""
    line_hash: str = ""
    source_hash: str = ""
    customer_known: bool = True

    @property
    def valid(self) -> bool:
        return not self.errors

    @property
    def item_fields(self) -> dict[str, str | None]:
        """What is compared and sent for the item: the name, the group and every mapped column."""
        return {"name": self.item_name, "group": self.group_name, **self.values}

    @property
    def source(self) -> dict[str, Any]:
        """The mapped source columns as read (for error details), JSON-safe."""
        return {name: _json_safe(value) for name, value in zip(self.source_columns, self.row)}


class LineMapper:
    """A mapping bound to the source table's columns; maps row tuples to ``MappedLine``."""

    def __init__(self, mapping: Mapping, columns: list[str], sizes: list[str], limits: StorageLimits = UNBOUNDED):
        self.mapping = mapping
        self.limits = limits
        self.columns = columns  # the non-size source columns, in the order rows carry them
        self.sizes = sizes
        self.select_columns = columns + sizes
        self._index = {name: i for i, name in enumerate(columns)}
        self._key_index = [(name, self._index[name]) for name in mapping.key]
        self._key_cleaners = [(self._index[name], name in mapping.trim, name in mapping.true_means_zero)
                              for name in mapping.key]
        self._key_only_cleaners = [(j, trim, true_zero) for j, (_, trim, true_zero) in enumerate(self._key_cleaners)]
        self._customer_cache: dict[Any, tuple[str, bool]] = {}
        self._long_customers: dict[str, int] = {}  # shortened name -> the length it had
        self._size_cache: dict[tuple[int, int], MappedSize] = {}
        self._canonical = frozenset(mapping.customers.values())
        # Changing the mapping or the table's columns changes every line's source hash.
        self.fingerprint = hashlib.sha1(
            (mapping.fingerprint + repr(self.select_columns) + _SOURCE_HASH_FORMAT).encode("utf-8")).hexdigest()
        self._fingerprint_bytes = self.fingerprint.encode("ascii")
        self._hash_special: list[int] = []  # row positions that held a value marshal cannot take
        self._compile()

    def canonical_customer(self, raw: Any) -> tuple[str, bool]:
        """(canonical name, whether the alias table or the name itself is known).

        A name longer than OrderSync's tables hold is shortened here, so that every table agrees on
        it; its lines are held back (``map_row`` says why).
        """
        try:
            cached = self._customer_cache.get(raw)
        except TypeError:  # an unhashable value (a signalling NaN, say): not cached
            raw, cached = str(raw), None
        if cached is None:
            name = "" if raw is None else str(raw).strip()
            mapped = self.mapping.customers.get(name.upper())
            if mapped:
                cached = (mapped, True)
            else:
                limit = self.limits.customer
                if limit and len(name) > limit:
                    self._long_customers[name[:limit]] = len(name)
                    name = name[:limit]
                cached = (name, name in self._canonical)
            self._customer_cache[raw] = cached
        return cached

    def _clean(self, name: str, value: Any) -> Any:
        m = self.mapping
        if value is None:
            return None
        if isinstance(value, str):
            if name in m.trim:
                value = value.strip()
            folded = value.strip().lower()
            if folded in m.null_strings or folded == "":
                return None
            if name in m.true_means_zero and folded == "true":
                return "0"
        return value

    def row_key(self, row: Sequence[Any]) -> str | None:
        """The sync key of a row without mapping the rest of it (None when a key column is empty).

        Keys are compared exactly, and only as ``core.source.keys.same_key`` says; keys that differ only in
        letter case are held back by the source's key census (``core.source.keys.KeyCensus``).
        """
        return self._key(row, self._key_cleaners)

    def key_of(self, values: Sequence[Any]) -> str | None:
        """``row_key`` of the key columns' values alone, in the mapping's key order."""
        return self._key(values, self._key_only_cleaners)

    def _key(self, row: Sequence[Any], cleaners: list[tuple[int, bool, bool]]) -> str | None:
        # _clean, inlined with its per-column flags precomputed: it runs for every row of every pass.
        parts = []
        null_strings = self.mapping.null_strings
        for i, trim, true_zero in cleaners:
            value = row[i]
            if value is None:
                return None
            if isinstance(value, str):
                if trim:
                    value = value.strip()
                folded = value.strip().lower()
                if not folded or folded in null_strings:
                    return None
                if true_zero and folded == "true":
                    value = "0"
                parts.append(value)
            else:
                parts.append(_plain_text(value))
        return self.mapping.key_separator.join(parts)

    def source_hash(self, row: Sequence[Any]) -> str:
        """A hash of the raw row and the mapping: equal means the mapped line cannot have changed.

        The row is serialised by ``marshal`` format 0 (no references, no interning: equal rows give
        equal bytes), about twice as fast as ``repr``; a value marshal cannot take (a date, a
        Decimal) goes in as (marker, type name, repr), so it never equals a plain value. Its
        positions are learnt from the rows, and a row with such a value elsewhere is redone.
        """
        values = list(row)
        for i in self._hash_special:
            value = values[i]
            if value is not None and type(value) not in _MARSHAL_TYPES:
                values[i] = (_NULL, type(value).__name__, repr(value))
        try:
            data = marshal.dumps(values, 0)
        except ValueError:
            special = [i for i, value in enumerate(row) if value is not None and type(value) not in _MARSHAL_TYPES]
            self._hash_special = sorted(set(self._hash_special) | set(special))
            return self.source_hash(row)
        return hashlib.sha1(self._fingerprint_bytes + data).hexdigest()

    def _compile(self) -> None:
        """Precompute per-column work so that mapping a row is a few list and dict operations."""
        m = self.mapping
        self._cleaners = [(name, i, name in m.trim, name in m.true_means_zero) for name, i in self._index.items()]
        self._item_template = _compile_template(m.item_name)
        self._group_template = _compile_template(m.group_name)
        self._season = [name for name in m.season_columns]
        # Each column's typed values by source value: order lines repeat customers, seasons,
        # colours, dates and prices, and typing a value (Decimal arithmetic) is the costly part.
        self._board_columns = [
            (column.label, column.source, column.value_map, column, {}) for column in m.columns
        ]

    def map_row(self, row: Sequence[Any]) -> MappedLine:
        m = self.mapping
        errors: list[str] = []
        null_strings = m.null_strings
        cleaned: dict[str, Any] = {}
        texts: dict[str, str] = {}
        for name, i, trim, true_zero in self._cleaners:
            value = row[i]
            if value is None:
                cleaned[name] = None
                texts[name] = ""
                continue
            if isinstance(value, str):
                if trim:
                    value = value.strip()
                folded = value.strip().lower()
                if not folded or folded in null_strings:
                    cleaned[name] = None
                    texts[name] = ""
                    continue
                if true_zero and folded == "true":
                    value = "0"
                cleaned[name] = value
                texts[name] = value
            else:
                cleaned[name] = value
                texts[name] = _plain_text(value)

        key_parts = []
        for name in m.key:
            if cleaned[name] is None:
                errors.append(f"key column {name} is empty (value {show(row[self._index[name]])})")
            key_parts.append(texts[name])
        sync_key = m.key_separator.join(key_parts) if not errors else None

        customer, known = self.canonical_customer(cleaned[m.customer_column])
        if not customer:
            errors.append(f"{m.customer_column} is empty")
        season = ""
        for name in self._season:
            raw = cleaned[name]
            if raw is not None:
                text = texts[name].strip()
                if text.lower() not in m.season_blank:
                    season = text
                    break
        texts["customer"] = customer
        texts["season"] = season
        texts["key"] = sync_key or ""
        item_name = _squeeze(_render(self._item_template, texts))
        if not item_name:
            errors.append("item name is empty")
        elif len(item_name) > ITEM_NAME_MAX:
            errors.append(f"item name is {len(item_name)} characters long, over monday's limit of {ITEM_NAME_MAX}")
        group_name = _squeeze(_render(self._group_template, texts))
        limits = self.limits
        too_long = self._too_long
        if sync_key is not None and limits.key and len(sync_key) > limits.key:
            errors.append(too_long("the key", sync_key, limits.key))
            sync_key = sync_key[: limits.key]
        if customer in self._long_customers:
            errors.append(f"{m.customer_column} {show(shorten(customer))} is {self._long_customers[customer]} "
                          f"characters long, over {limits.customer}, the longest OrderSync's tables hold")
        for label, value, limit in ((m.order_number_column, texts.get(m.order_number_column or ""), limits.order_number),
                                    (m.po_number_column, texts.get(m.po_number_column or ""), limits.po_number)):
            if value and limit and len(value) > limit:
                errors.append(too_long(label, value, limit))
        if limits.group_name and len(group_name) > limits.group_name:
            errors.append(too_long("the group name", group_name, limits.group_name))
        joined = "".join(texts.values())  # one check for the usual line, with nothing unstorable
        if "\x00" in joined or not joined.isascii():
            for name, text in texts.items():
                problem = unstorable(text) if text and name not in TEMPLATE_DERIVED else None
                if problem:
                    errors.append(f"{name} holds {problem}, which no database column can store "
                                  f"(value {show(shorten(text))})")

        values: dict[str, str | None] = {}
        for label, source, value_map, column, typed in self._board_columns:
            if source[0] == "$":
                raw = sync_key if source == "$key" else customer or None if source == "$customer" else season or None
            else:
                raw = cleaned[source]
            if raw is None:
                values[label] = None
                continue
            if value_map:
                raw = value_map.get(str(raw).strip().upper(), raw)
            # Only exact str, int, float, date and datetime are looked up: equal values of those
            # types type alike (Decimal('1') and Decimal('1.0') are equal yet read differently).
            kind = type(raw)
            memo = kind in _MEMO_TYPES
            if memo:
                value = typed.get((kind, raw), _UNTYPED)
                if value is not _UNTYPED:
                    values[label] = value
                    continue
            try:
                value = to_board_value(raw, column)
            except ValueError_ as exc:
                values[label] = None
                errors.append(f"{source}: {exc} (board column {label}, {column.type})")
                continue
            values[label] = value
            if memo:
                if len(typed) >= _TYPED_MAX:
                    typed.clear()
                typed[(kind, raw)] = value

        sizes: list[MappedSize] = []
        size_cache = self._size_cache
        max_quantity = limits.quantity or _NO_MAX
        tail = row[len(self.columns):]
        # Most sizes of a line are empty (None or 0). When every quantity is an int or None, as the
        # drivers return an integer column, the non-empty ones are picked in C; other types go
        # through every position (a bool, a string or a Decimal is parsed, or refused).
        if _INT_OR_NONE.issuperset(map(type, tail)):
            filled: Iterable[tuple[int, Any]] = [(p, tail[p]) for p in compress(range(len(tail)), tail)]
        else:
            filled = enumerate(tail)
        for position, raw in filled:
            if raw is None or (type(raw) is int and raw == 0):  # (other types are parsed: a signalling NaN refuses ==)
                continue
            if type(raw) is int and 0 < raw <= max_quantity:
                quantity = raw
            else:
                try:
                    quantity = parse_quantity(raw)
                except ValueError_ as exc:
                    errors.append(f"size {self.sizes[position]}: quantity {exc}")
                    continue
                if quantity == 0:
                    continue
                if quantity > max_quantity:
                    errors.append(f"size {self.sizes[position]}: quantity {quantity} is more than {max_quantity}, "
                                  "the largest OrderSync's tables hold")
                    continue
            size = size_cache.get((position, quantity))
            if size is None:
                size = size_cache[(position, quantity)] = self._size(self.sizes[position], position, quantity)
            if limits.subitem_name and len(size.name) > limits.subitem_name:
                errors.append(too_long(f"size {size.label}: the subitem name", size.name, limits.subitem_name))
                continue
            sizes.append(size)

        line = MappedLine(
            sync_key=sync_key, customer=customer, order_number=texts.get(m.order_number_column or "") or None,
            po_number=texts.get(m.po_number_column or "") or None, item_name=item_name, group_name=group_name,
            values=values, sizes=sizes, row=row, source_columns=self.columns, errors=errors, customer_known=known,
        )
        line.content_hash = fields_hash(line.item_fields)
        line.line_hash = _sha1("\x1e".join([line.content_hash, *[sz.hash for sz in sizes]]))
        line.source_hash = self.source_hash(row)
        return line

    @staticmethod
    def _too_long(what: str, value: str, limit: int) -> str:
        return (f"{what} {show(shorten(value))} is {len(value)} characters long, over {limit}, "
                "the longest OrderSync's tables hold")

    def _size(self, label: str, position: int, quantity: int) -> MappedSize:
        m = self.mapping
        derived = {"$size": label, "$quantity": quantity}
        values = {}
        for column in m.subitem_columns:
            values[column.label] = to_board_value(derived[column.source], column)
        name = render_template(m.subitem_name, {"size": label, "quantity": str(quantity)})
        return MappedSize(label, position, quantity, name, values, content_hash([name, *values.items()]))


def _squeeze(text: str) -> str:
    """Trim and collapse runs of spaces (a blank template field leaves a double space)."""
    text = text.strip()
    return _SPACES.sub(" ", text) if "  " in text else text


_SPACES = re.compile(r"\s{2,}")


def _json_safe(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return str(value)
