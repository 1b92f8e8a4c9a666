"""Content hashes of mapped lines and sizes: stable across runs, None distinct from 'None'."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

_NULL = "\x00"


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
    return _sha1("\x1e".join([f"{k}\x1f{_NULL if v is None else v}" for k, v in fields.items()]))


def _sha1(text: str) -> str:
    # surrogatepass: a line holding an unpaired surrogate is invalid, yet still hashed to be recorded.
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()
