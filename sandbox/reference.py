"""monday's published schema as a second judge of every request the sandbox receives.

The sandbox validates each document against its own SDL (``schema.SDL``), the subset it serves. With a
reference schema (monday's SDL file, e.g. ``2026-10.graphql``) every document is also validated
against it, and its variables coerced against it: what monday would refuse, the sandbox refuses, in
monday's error shape, before anything runs. So a test that passes against the sandbox cannot hide a
document the real API turns down.

The file comes from ``SandboxServer(reference_schema=PATH)``, ``sandbox --reference-schema FILE``, or
the environment variable ``ORDERSYNC_MONDAY_SDL`` (read when no path is given, so sandboxes started
in child processes use it too). The file is never copied into this repository. Building the schema
(about a second for 385 KB) happens once per process and file; the verdict on a document's text is
cached; the variables are coerced on every request.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from pathlib import Path

from graphql import GraphQLError, GraphQLSchema, build_schema, parse, validate
from graphql.utilities import get_operation_ast

ENV = "ORDERSYNC_MONDAY_SDL"

_schemas: dict[Path, GraphQLSchema] = {}
_checks: dict[Path, ReferenceCheck] = {}
_lock = threading.Lock()


def resolve(reference_schema: str | Path | bool | None) -> Path | None:
    """The reference file to use: an explicit path, else ``$ORDERSYNC_MONDAY_SDL``; ``False`` means none.

    A file that is named but missing is an error (``FileNotFoundError``), never silently skipped.
    """
    if reference_schema is False or reference_schema == "":
        return None
    if reference_schema is None or reference_schema is True:
        named = os.environ.get(ENV, "").strip()
        if not named:
            if reference_schema is True:
                raise FileNotFoundError(f"no reference schema: set {ENV} to monday's SDL file")
            return None
        path, origin = Path(named), f"{ENV}"
    else:
        path, origin = Path(reference_schema), "reference_schema"
    if not path.is_file():
        raise FileNotFoundError(f"the reference schema {path} (from {origin}) does not exist")
    return path.resolve()


def check_for(path: Path) -> ReferenceCheck:
    """The process-wide check for one SDL file (built on first use, then shared)."""
    with _lock:
        check = _checks.get(path)
        if check is None:
            check = _checks[path] = ReferenceCheck(path)
        return check


def load(path: Path) -> GraphQLSchema:
    with _lock:
        schema = _schemas.get(path)
    if schema is None:
        built = build_schema(path.read_text(encoding="utf-8"))
        with _lock:
            schema = _schemas.setdefault(path, built)
    return schema


class ReferenceCheck:
    """Validation of request documents (cached per text) and their variables against one SDL file."""

    def __init__(self, path: Path, cache_size: int = 1024) -> None:
        self.path = path
        self._schema: GraphQLSchema | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._cache: OrderedDict[tuple[str, str | None], list[dict]] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._size = cache_size
        # Build in the background: the server can start serving meanwhile; requests wait for it.
        threading.Thread(target=self._build, name="sandbox-reference-schema", daemon=True).start()

    def _build(self) -> None:
        try:
            self._schema = load(self.path)
        except BaseException as exc:  # noqa: BLE001 - kept and raised again by every request, never swallowed
            self._failure = exc
        finally:
            self._ready.set()

    @property
    def schema(self) -> GraphQLSchema:
        self._ready.wait()
        if self._failure is not None:
            raise RuntimeError(f"monday's reference schema {self.path} could not be built: {self._failure}")
        assert self._schema is not None
        return self._schema

    def document_errors(self, query: str, operation_name: str | None) -> list[dict]:
        """monday-shaped errors for a document monday's schema refuses (``[]`` when it accepts it)."""
        from .schema import _parse_error, _validation_error

        key = (query, operation_name)
        with self._cache_lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        try:
            document = parse(query)
        except GraphQLError as exc:
            errors = [_parse_error(query, exc)]
        else:
            errors = [_validation_error(e) for e in validate(self.schema, document)]
        for error in errors:
            error.setdefault("extensions", {}).setdefault("error_data", {})["reference_schema"] = self.path.name
        with self._cache_lock:
            self._cache[key] = errors
            if len(self._cache) > self._size:
                self._cache.popitem(last=False)
        return errors

    def variable_errors(self, document, operation_name: str | None, variables: dict) -> list[dict]:
        """The variables coerced against monday's schema; monday-shaped errors when they do not coerce."""
        from .schema import variable_errors

        operation = get_operation_ast(document, operation_name)
        if operation is None:
            return []
        return variable_errors(self.schema, operation, variables)
