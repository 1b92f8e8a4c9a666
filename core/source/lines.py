"""The line mapper: a mapping bound to the source table's columns turns raw rows into ``MappedLine``.

Cleaned, transformed, typed, validated and hashed; nothing here touches the database or the network.

About 400 lines: ``LineMapper.map_row`` is the hot loop of every run, and its helpers stay beside
it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import marshal
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import compress
from typing import TYPE_CHECKING, Any

from core.source.columns import (
    ITEM_NAME_MAX,
    TEMPLATE_DERIVED,
    UNBOUNDED,
    ColumnMap,
    StorageLimits,
    _compile_template,
    _render,
    render_template,
)
from core.source.hashing import _NULL, _sha1, content_hash, fields_hash
from core.source.values import (
    ValueError_,
    _json_safe,
    _plain_text,
    parse_quantity,
    shorten,
    show,
    to_board_value,
    unstorable,
)

if TYPE_CHECKING:
    from core.source.mapping import Mapping

_NO_MAX = 10**30
_INT_OR_NONE = frozenset((int, type(None)))
_UNTYPED = object()
_TYPED_MAX = 20_000  # typed values kept per board column
_MEMO_TYPES = frozenset((str, int, float, dt.date, dt.datetime))
_MARSHAL_TYPES = frozenset((str, int, float, bool, bytes))  # (None too): what marshal serialises as is
_SOURCE_HASH_FORMAT = "marshal0"  # part of the fingerprint: a new serialisation re-maps every line once


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
        # (not strict: the row goes on with the sizes)
        return {name: _json_safe(value) for name, value in zip(self.source_columns, self.row, strict=False)}


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
        self._key_cleaners = [
            (self._index[name], name in mapping.trim, name in mapping.true_means_zero) for name in mapping.key
        ]
        self._key_only_cleaners = [(j, trim, true_zero) for j, (_, trim, true_zero) in enumerate(self._key_cleaners)]
        self._customer_cache: dict[Any, tuple[str, bool]] = {}
        self._long_customers: dict[str, int] = {}  # shortened name -> the length it had
        self._size_cache: dict[tuple[int, int], MappedSize] = {}
        self._canonical = frozenset(mapping.customers.values())
        # Changing the mapping or the table's columns changes every line's source hash.
        self.fingerprint = hashlib.sha1(
            (mapping.fingerprint + repr(self.select_columns) + _SOURCE_HASH_FORMAT).encode("utf-8")
        ).hexdigest()
        self._fingerprint_bytes = self.fingerprint.encode("ascii")
        self._hash_special: list[int] = []  # row positions that held a value marshal cannot take
        self._dates: dict[dt.date, tuple[str, str, str]] = {}  # a date as source_hash spells it
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
                if type(value) is dt.date:  # equal dates read alike: each distinct one is spelt once
                    spelt = self._dates.get(value)
                    if spelt is None:
                        if len(self._dates) >= _TYPED_MAX:
                            self._dates.clear()
                        spelt = self._dates[value] = (_NULL, "date", repr(value))
                    values[i] = spelt
                else:
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
        self._board_columns: list[tuple[str, str, dict[str, str], ColumnMap, dict[tuple[type, Any], str | None]]] = [
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
            errors.append(
                f"{m.customer_column} {show(shorten(customer))} is {self._long_customers[customer]} "
                f"characters long, over {limits.customer}, the longest OrderSync's tables hold"
            )
        for label, value, limit in (
            (m.order_number_column or "", texts.get(m.order_number_column or ""), limits.order_number),
            (m.po_number_column or "", texts.get(m.po_number_column or ""), limits.po_number),
        ):
            if value and limit and len(value) > limit:
                errors.append(too_long(label, value, limit))
        if limits.group_name and len(group_name) > limits.group_name:
            errors.append(too_long("the group name", group_name, limits.group_name))
        joined = "".join(texts.values())  # one check for the usual line, with nothing unstorable
        if "\x00" in joined or not joined.isascii():
            for name, text in texts.items():
                problem = unstorable(text) if text and name not in TEMPLATE_DERIVED else None
                if problem:
                    errors.append(
                        f"{name} holds {problem}, which no database column can store (value {show(shorten(text))})"
                    )

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
        tail = row[len(self.columns) :]
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
                    errors.append(
                        f"size {self.sizes[position]}: quantity {quantity} is more than {max_quantity}, "
                        "the largest OrderSync's tables hold"
                    )
                    continue
            size = size_cache.get((position, quantity))
            if size is None:
                size = size_cache[(position, quantity)] = self._size(self.sizes[position], position, quantity)
            if limits.subitem_name and len(size.name) > limits.subitem_name:
                errors.append(too_long(f"size {size.label}: the subitem name", size.name, limits.subitem_name))
                continue
            sizes.append(size)

        line = MappedLine(
            sync_key=sync_key,
            customer=customer,
            order_number=texts.get(m.order_number_column or "") or None,
            po_number=texts.get(m.po_number_column or "") or None,
            item_name=item_name,
            group_name=group_name,
            values=values,
            sizes=sizes,
            row=row,
            source_columns=self.columns,
            errors=errors,
            customer_known=known,
        )
        line.content_hash = fields_hash(line.item_fields)
        line.line_hash = _sha1("\x1e".join([line.content_hash, *[sz.hash for sz in sizes]]))
        line.source_hash = self.source_hash(row)
        return line

    @staticmethod
    def _too_long(what: str, value: str, limit: int) -> str:
        return (
            f"{what} {show(shorten(value))} is {len(value)} characters long, over {limit}, "
            "the longest OrderSync's tables hold"
        )

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
