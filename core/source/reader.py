"""Reading ORDERS_UNIFIED: reflection, size columns, customers, and mapped order lines.

OrderSync only ever SELECTs from the source table. Column names contain spaces and slashes; they
are always used through SQLAlchemy column objects, so every dialect quotes them. Rows are read in
chunks and mapped one customer set at a time, so memory follows the largest batch, not the table.
"""

from __future__ import annotations

import logging
from collections.abc import Generator, Iterable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from core.foundation.exceptions import SettingsError
from core.source.keys import KeyCensus, same_key
from core.source.limits import storage_limits
from core.source.mapping import LineMapper, MappedLine, Mapping

log = logging.getLogger(__name__)

BLANK_CUSTOMER = ""
READ_CHUNK = 5_000


class Source:
    """The source table bound to a mapping. Build it with ``Source.reflect``."""

    def __init__(self, table: sa.Table, mapping: Mapping):
        self.table = table
        self.mapping = mapping
        # Plain str names: a reflected name is SQLAlchemy's quoted_name, a str subclass the sqlite3
        # driver adapts through a slow path for every size label it stores.
        self.mapper: LineMapper = mapping.bind([str(c.name) for c in table.columns], storage_limits())
        self._select_columns = [table.c[name] for name in self.mapper.select_columns]
        self.customer_position = self.mapper.columns.index(mapping.customer_column)

    @classmethod
    def reflect(
        cls, bind: Engine | Connection, mapping: Mapping, table: str = "ORDERS_UNIFIED", schema: str | None = None
    ) -> Source:
        """Reflect the table's columns (and nothing else: the source's own constraints are not ours)."""
        metadata = sa.MetaData()
        engine = bind.engine if isinstance(bind, Connection) else bind
        if schema is None and engine.get_execution_options().get("schema_translate_map"):
            # OrderSync's own tables are moved to their configured schema by a translate map on
            # the engine; the source table must stay in the database's default schema.
            schema = sa.inspect(engine).default_schema_name
        try:
            reflected = sa.Table(table, metadata, autoload_with=bind, schema=schema, resolve_fks=False)
        except sa.exc.NoSuchTableError:
            where = f"{schema}.{table}" if schema else table
            raise SettingsError(
                f"the source table {where} does not exist in {_url(bind)}; check [source] table and schema"
            ) from None
        return cls(reflected, mapping)

    def customer_of(self, row: Sequence[Any]) -> str:
        """The canonical customer of a raw row."""
        return self.mapper.canonical_customer(row[self.customer_position])[0]

    def customer_known(self, row: Sequence[Any]) -> bool:
        return self.mapper.canonical_customer(row[self.customer_position])[1]

    @property
    def size_columns(self) -> list[str]:
        return self.mapper.sizes

    # -- customers --------------------------------------------------------------------------------

    def customer_names(self, conn: Connection) -> dict[str, list[Any]]:
        """Canonical customer -> the raw CUSTOMER NAME values (None for NULL) that map to it."""
        column = self.table.c[self.mapping.customer_column]
        by_customer: dict[str, list[Any]] = {}
        for (raw,) in conn.execute(sa.select(column).distinct()):
            canonical, _known = self.mapper.canonical_customer(raw)
            by_customer.setdefault(canonical, []).append(raw)
        return by_customer

    def unknown_customers(self, conn: Connection) -> list[str]:
        """Customer names that are neither aliases nor canonical names of the mapping (reported, not guessed)."""
        return sorted(
            name
            for name, raws in self.customer_names(conn).items()
            if name and not any(self.mapper.canonical_customer(r)[1] for r in raws)
        )

    def _customer_filter(
        self, conn: Connection, customers: Iterable[str] | None, names: dict[str, list[Any]] | None = None
    ) -> sa.ColumnElement[bool] | None:
        if customers is None:
            return None
        wanted = set(customers)
        if names is None:
            names = self.customer_names(conn)
        raws = [raw for name, values in names.items() if name in wanted for raw in values]
        column = self.table.c[self.mapping.customer_column]
        conditions: list[sa.ColumnElement[bool]] = []
        texts = [r for r in raws if r is not None]
        if texts:
            conditions.append(column.in_(texts))
        if None in raws:
            conditions.append(column.is_(None))
        return sa.or_(*conditions) if conditions else sa.false()

    # -- lines ------------------------------------------------------------------------------------

    def key_census(self, conn: Connection) -> KeyCensus:
        """Every sync key of the whole table and the keys whose lines are held back (core.source.keys).

        One streaming pass over the key columns only, whatever the customers of the run: a key is
        a duplicate across customers too, and the set of all keys tells a line that moved to
        another customer from a line that left the source.
        """
        key_columns = [self.table.c[name] for name in self.mapping.key]
        key_of = self.mapper.key_of  # the key from the key columns' values alone

        def keys() -> Iterator[str | None]:
            with conn.execution_options(yield_per=READ_CHUNK).execute(sa.select(*key_columns)) as result:
                for values in result:
                    yield key_of(values)

        return KeyCensus.of(keys(), self.table.name)

    def select_statement(self, where: sa.ColumnElement[bool] | None = None) -> sa.Select[Any]:
        statement = sa.select(*self._select_columns)
        return statement.where(where) if where is not None else statement

    def iter_rows(
        self, conn: Connection, customers: Iterable[str] | None = None, names: dict[str, list[Any]] | None = None
    ) -> Generator[Sequence[Any], None, None]:
        """Raw rows (the mapper's columns, then the sizes) of the given canonical customers (all when None).

        ``names``: ``customer_names`` when the caller has read it already (a scan of the table).
        """
        where = self._customer_filter(conn, customers, names)
        # Closed with the generator: a caller that stops early leaves no cursor open.
        with conn.execution_options(yield_per=READ_CHUNK).execute(self.select_statement(where)) as result:
            yield from result

    def read_line(self, conn: Connection, sync_key: str, customer: str | None = None) -> MappedLine | None:
        """The line with ``sync_key`` as the table holds it now, mapped as a sync maps it; None if gone.

        One SELECT narrowed by the key's parts in SQL (a trimmed column by containment, another by
        equality; the database may match more loosely, e.g. ignoring case), then the exact key
        comparison (``core.source.keys.same_key``) on the few rows it returns. If the key repeats, the line
        of ``customer`` is preferred.
        """
        mapping = self.mapping
        parts = sync_key.split(mapping.key_separator)
        conditions = []
        if len(parts) == len(mapping.key):  # else a value holds the separator: compare every row
            for name, part in zip(mapping.key, parts, strict=True):
                column = self.table.c[name]
                if not isinstance(column.type, sa.String):
                    continue  # the key holds its text form (123.0 as "123"): not comparable in SQL
                conditions.append(column.contains(part, autoescape=True) if name in mapping.trim else column == part)
        found = None
        result = conn.execution_options(yield_per=READ_CHUNK).execute(
            self.select_statement(sa.and_(*conditions) if conditions else None)
        )
        with result:
            for row in result:
                if same_key(self.mapper.row_key(row), sync_key):
                    if customer is None or self.customer_of(row) == customer:
                        found = row
                        break
                    if found is None:
                        found = row
        return None if found is None else self.mapper.map_row(found)

    def line(self, row: Sequence[Any], census: KeyCensus) -> MappedLine:
        """Map and validate one row; a key in conflict (``census``) makes every line with it invalid."""
        line = self.mapper.map_row(row)
        reason = census.reason(line.sync_key)
        if reason is not None:
            line.errors.append(reason)
        return line

    def iter_lines(
        self, conn: Connection, customers: Iterable[str] | None = None, census: KeyCensus | None = None
    ) -> Iterator[MappedLine]:
        """Mapped and validated lines of the given canonical customers (all when None)."""
        if census is None:
            census = self.key_census(conn)
        for row in self.iter_rows(conn, customers):
            yield self.line(row, census)


def _url(bind: Engine | Connection) -> str:
    from core.db.engine import redact_url

    engine = bind.engine if isinstance(bind, Connection) else bind
    return redact_url(str(engine.url))
