"""Sync keys: the one definition of key equality, and the census that holds back keys a database could confuse.

**Key equality is exact.** Two sync keys name the same order line when they are the same string,
code point by code point: ``same_key``, which is Python's ``==`` on ``str`` and so also what every
``dict`` and ``set`` keyed by sync key does. Detection (the production index), staging and error
records, reconciliation against monday (whose text search is only a candidate list, matched here)
and promotion all use it. Keys are never compared lower-cased, case-folded, trimmed or normalised.
In SQL the same rule holds through ``=`` on the key columns: SQLite and PostgreSQL compare text
exactly, and on SQL Server the key columns carry a binary collation (``core.db.schema.KEY``).

**Keys that only a case-insensitive database would confuse are duplicates.** ``key_fold`` is not an
equality: it is the form under which SQL Server's default collation (case-insensitive, and, like
every SQL Server collation, blind to trailing spaces in ``=``) can take two different keys for one.
``KeyCensus`` counts the keys of the whole source table once; every key that stands on more than one
row, or shares its folded form with another key, is a conflict, and every line with it is held back
as a ``VALIDATION`` error, never guessed at.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

MAX_NAMED = 5  # other keys named in one conflict message; the rest are counted


def same_key(a: str | None, b: str | None) -> bool:
    """Whether ``a`` and ``b`` are the same sync key (exact, case-sensitive); a missing key matches nothing."""
    return a is not None and a == b


def key_fold(key: str) -> str:
    """The form under which a case-insensitive database could take different keys for one.

    Unicode case folding (so 'ß' meets 'SS', 'ǅ' meets 'ǆ'), after SQL Server's trailing-space rule
    ('A ' = 'A' under any collation). Used only to find such keys, never to compare them.
    """
    return key.rstrip(" ").casefold()


@dataclass(frozen=True)
class KeyCensus:
    """Every sync key of the source table, and the keys whose lines are all held back.

    ``keys``: every key that stands on a row (rows without a key are not counted);
    ``conflicts``: key -> the reason its lines are held back (a line's VALIDATION message).
    """

    keys: frozenset[str] = frozenset()
    conflicts: dict[str, str] = field(default_factory=dict)

    def reason(self, key: str | None) -> str | None:
        """Why the lines with ``key`` are held back, or None when the key is sound (or missing)."""
        return None if key is None else self.conflicts.get(key)

    @classmethod
    def of(cls, keys: Iterable[str | None], table: str = "the source") -> KeyCensus:
        """The census of a stream of row keys (one per row, None for a row without a key), in one pass."""
        counts: dict[str, int] = {key: n for key, n in Counter(keys).items() if key is not None}  # (counted in C)
        folds = [key.rstrip(" ").casefold() for key in counts]  # key_fold, inlined: it runs for every key
        folded: dict[str, str | list[str]] = {}  # fold -> its one key, or every key with it
        if len(set(folds)) < len(folds):  # (else no two keys share a fold: the usual table)
            for key, fold in zip(counts, folds, strict=True):
                seen = folded.setdefault(fold, key)
                if seen is not key:
                    if isinstance(seen, str):
                        folded[fold] = [seen, key]
                    else:
                        seen.append(key)
        conflicts: dict[str, str] = {}
        for key, n in counts.items():
            if n > 1:
                conflicts[key] = _reason(key, True, [], table)
        for group in folded.values():
            if isinstance(group, list):
                for key in group:
                    others = sorted(k for k in group if k != key)
                    conflicts[key] = _reason(key, counts[key] > 1, others, table)
        return cls(frozenset(counts), conflicts)


def _reason(key: str, repeated: bool, others: list[str], table: str) -> str:
    if not others:
        return f"key {key!r} appears more than once in {table}; every line with this key is held back"
    named = ", ".join(repr(k) for k in others[:MAX_NAMED])
    if len(others) > MAX_NAMED:
        named += f" and {len(others) - MAX_NAMED} more"
    how = "letter case" if all(k.casefold() == key.casefold() for k in others) else "letter case or trailing spaces"
    also = f" appears more than once in {table} and" if repeated else ""
    return f"key {key!r}{also} differs only in {how} from {named}; every line with these keys is held back"
