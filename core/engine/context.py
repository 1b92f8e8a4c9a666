"""The engine's entry point: settings → database → schema check → source and mapping.

The command line and the GUI both open an ``EngineContext`` and call the same operations on it:
the pending-work list, the dry run and (with the monday client) the sync.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core.db.engine import check_connection, create_engine
from core.db.migrate import require_current
from core.detect.changes import ChangeDetector, CustomerChanges, PendingCustomer, SourceReads
from core.engine.sandbox_process import SandboxProcess
from core.foundation.config import Settings
from core.foundation.exceptions import SettingsError
from core.foundation.resources import program_command
from core.source.mapping import Mapping, load_mapping
from core.source.reader import Source
from core.staging.operations import Owner, StagingOperations

if TYPE_CHECKING:
    from core.monday.client import MondayApiClient

log = logging.getLogger(__name__)

SANDBOX_STATE = "sandbox.db"  # the embedded sandbox's board, beside the settings file


@dataclass
class EngineContext:
    settings: Settings
    engine: Engine
    mapping: Mapping
    staging: StagingOperations
    _source: Source | None = None
    _sandbox: SandboxProcess | None = None
    # The engine's worker threads may ask for the source at once: it is reflected once, under this lock.
    _source_lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    # The window reads the board's name while a sync may start: the embedded sandbox is started once.
    _sandbox_lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    # Per thread: the source reads that the detections of this thread's current run share (one_run).
    _run: threading.local = field(default_factory=threading.local, repr=False, compare=False)

    @classmethod
    def open(cls, settings: Settings, *, check_schema: bool = True, owner: Owner | None = None) -> EngineContext:
        """Connect and check everything a run needs, failing with one clear line (exit 2 or 3)."""
        mapping = load_mapping(settings.mapping_path)
        if settings["database.echo"]:  # into the log file, like every other line, not onto stdout
            logging.getLogger("sqlalchemy.engine").setLevel(logging.INFO)
        engine = create_engine(settings.database_url, schema=settings.own_schema)
        check_connection(engine)
        if check_schema:
            with translate_db_errors(engine):
                require_current(engine)
        staging = StagingOperations(engine, owner, settings["sync.heartbeat_stale_seconds"])
        return cls(settings, engine, mapping, staging)

    @property
    def board_id(self) -> str:
        board: str = self.settings["monday.board_id"]
        return board

    @property
    def source(self) -> Source:
        with self._source_lock:
            if self._source is None:
                with translate_db_errors(self.engine):
                    self._source = Source.reflect(
                        self.engine, self.mapping, self.settings["source.table"], self.settings.source_schema
                    )
            return self._source

    def pending(self) -> list[PendingCustomer]:
        with translate_db_errors(self.engine), self.engine.connect() as conn:
            return ChangeDetector(conn, self.source, self.board_id).pending()

    def customers(self) -> list[str]:
        with translate_db_errors(self.engine), self.engine.connect() as conn:
            return sorted(self.source.customer_names(conn))

    def detect(self, customers: Iterable[str]) -> list[CustomerChanges]:
        """Changes of each customer, read-only (the dry run; the sync stages the same).

        Inside ``one_run`` the source is read once for the run (census, customer names, unchanged
        rows); the board's tables are read afresh by every call, a batch of the run changes them.
        """
        customers = list(customers)
        reads = getattr(self._run, "reads", None)
        if reads is None:
            reads = SourceReads(whole_run=len(customers) > 1)
        with translate_db_errors(self.engine), self.engine.connect() as conn:
            detector = ChangeDetector(conn, self.source, self.board_id, reads)
            return [detector.detect(customer) for customer in customers]

    @contextmanager
    def one_run(self) -> Iterator[None]:
        """One sync run of this thread: its ``detect`` calls share one read of the source.

        What was read ends with the run, so the next run sees the source as it is then. Nested
        calls belong to the outer run.
        """
        if getattr(self._run, "reads", None) is not None:
            yield
            return
        self._run.reads = SourceReads(whole_run=True)
        try:
            yield
        finally:
            self._run.reads = None

    def resolve_customers(self, names: Iterable[str], all_customers: bool) -> list[str]:
        """Canonical customer names for ``--customer`` values (aliases allowed) or ``--all``."""
        known = self.customers()
        if all_customers:
            limit = self.settings["sync.customers"]
            return [c for c in known if not limit or c in limit]
        chosen = []
        mapper = self.source.mapper
        for name in names:
            canonical, _ = mapper.canonical_customer(name)
            match = next((c for c in known if c.upper() == canonical.upper()), None)
            if match is None:
                raise SettingsError(f"no orders for customer {name!r}; customers are: {', '.join(known)}")
            if match not in chosen:
                chosen.append(match)
        return chosen

    def monday_client(self, **options: Any) -> MondayApiClient:
        """A client for the configured board; ``api_url = "sandbox"`` starts the embedded sandbox first."""
        from core.foundation.token import TOKEN_ENV, get_token
        from core.monday.client import MondayApiClient

        if not self.board_id:
            raise SettingsError("setting monday.board_id is empty: name the board to sync to")
        url = self.settings["monday.api_url"]
        if url == "sandbox":
            sandbox = self.sandbox()
            url, token = sandbox.url, sandbox.token
        else:
            stored = get_token()
            if not stored:
                raise SettingsError(
                    f"no monday API token: set {TOKEN_ENV} or store one with `{program_command('token set')}`"
                )
            token = stored
        options.setdefault("max_attempts", self.settings["monday.max_attempts"])
        return MondayApiClient(url, token, api_version=self.settings["monday.api_version"], **options)

    def sandbox(self) -> SandboxProcess:
        """The embedded sandbox (demo), started once in a child process, its board kept beside the settings."""
        with self._sandbox_lock:
            if self._sandbox is None:
                self._sandbox = SandboxProcess(
                    self.settings.base_dir / SANDBOX_STATE,
                    time_scale=self.settings["sandbox.time_scale"],
                    latency=self.settings["sandbox.latency"],
                    faults=self.settings["sandbox.faults"],
                )
            return self._sandbox

    def close(self) -> None:
        if self._sandbox is not None:
            self._sandbox.stop()
            self._sandbox = None
        self.engine.dispose()


class translate_db_errors:
    """Turn a lost, busy or refusing database into the user's error (``core.db.errors``); a bug stays one."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Literal[False]:
        if isinstance(exc, sa.exc.DBAPIError):
            from core.db.engine import redact_url
            from core.db.errors import classify

            error = classify(exc, redact_url(str(self.engine.url)))
            if error is not None:
                raise error from None
        return False
