"""`check`: the chain walked link by link, the first thing IT runs on a new workstation.

Each link is a ``Check``: what was looked at, whether it holds, what was found and, when it does
not hold, the one thing to do. A link that needs an earlier one that failed is skipped and says
which. The exit code is the worst of the failures: 2 for what a person must change (settings,
board, mapping, a malformed token), 3 for what could not be reached or refused the login/token.

The monday links (token, board, titles, subitems board, labels) are also what the dry run checks
when a token is available (``monday_checks``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from core.foundation.error_types import ErrorType
from core.foundation.exceptions import OrderSyncError, SettingsError
from core.foundation.resources import program_command

if TYPE_CHECKING:
    from core.engine.context import EngineContext

OK, FAILED, SKIPPED = "ok", "failed", "skipped"


@dataclass
class Check:
    name: str
    state: str
    detail: str = ""
    fix: str = ""
    code: int = 0  # the exit code a failure maps to

    @property
    def ok(self) -> bool:
        return self.state == OK

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}

    def line(self) -> str:
        mark = {OK: "ok  ", FAILED: "FAIL", SKIPPED: "skip"}[self.state]
        text = f"  {mark}  {self.name}: {self.detail}" if self.detail else f"  {mark}  {self.name}"
        return f"{text}\n        → {self.fix}" if self.fix and self.state == FAILED else text


def _code_of(exc: BaseException) -> int:
    from core.push.run import exit_code_of

    return exit_code_of(exc)


def _describe(exc: BaseException) -> str:
    from core.monday.errors import MondayError

    return exc.describe() if isinstance(exc, MondayError) else str(exc)


class Checklist:
    def __init__(self) -> None:
        self.checks: list[Check] = []

    def run(self, name: str, step: Callable[[], str], fix: str = "", needs: str | None = None) -> bool:
        """Run ``step`` (returns what it found); a failure is recorded with ``fix`` and its exit code."""
        if needs is not None:
            self.checks.append(Check(name, SKIPPED, f"needs {needs}"))
            return False
        try:
            self.checks.append(Check(name, OK, step()))
            return True
        except Exception as exc:  # every failure of a link is reported, never raised
            from core.monday.errors import MondayError

            if not isinstance(exc, (OrderSyncError, MondayError)):
                from sqlalchemy.exc import DBAPIError

                from core.db.errors import classify

                translated = classify(exc) if isinstance(exc, DBAPIError) else None
                if translated is None:
                    raise
                exc = translated
            self.checks.append(Check(name, FAILED, _describe(exc), fix, _code_of(exc)))
            return False

    def skip(self, name: str, needs: str) -> None:
        self.checks.append(Check(name, SKIPPED, f"needs {needs}"))

    @property
    def exit_code(self) -> int:
        from core.push.run import worst_code

        return worst_code(c.code for c in self.checks if c.state == FAILED)


def run_checks(config: Any) -> Checklist:
    """Every link, from the settings file to the labels the data will write."""
    from core.db.migrate import require_current
    from core.engine.context import EngineContext
    from core.foundation.config import load_settings

    checks = Checklist()
    settings_box: list[Any] = []

    def settings_step() -> str:
        settings = load_settings(config)
        settings_box.append(settings)
        return str(settings.path) if settings.path else "the defaults (no settings file)"

    if not checks.run(
        "settings", settings_step, f"create one with `{program_command('demo init')}`, or pass --config FILE"
    ):
        for name in ("database", "OrderSync's tables", "ORDERS_UNIFIED"):
            checks.skip(name, "the settings")
        monday_checks(None, checks, needs="the settings")
        return checks
    settings = settings_box[0]
    ctx_box: list[EngineContext] = []

    def database_step() -> str:
        ctx_box.append(EngineContext.open(settings, check_schema=False))
        from core.db.engine import redact_url

        return f"reached {redact_url(str(ctx_box[0].engine.url))}"

    try:
        reached = checks.run("database", database_step, "check database.url and that the server is up")
        if not reached:
            checks.skip("OrderSync's tables", "the database")
            checks.skip("ORDERS_UNIFIED", "the database")
            monday_checks(None, checks, needs="the database")
            return checks
        ctx = ctx_box[0]

        def schema_step() -> str:
            require_current(ctx.engine)
            from core.db.migrate import head_revision

            return f"version {head_revision()}, current"

        checks.run("OrderSync's tables", schema_step, f"run `{program_command('db upgrade')}`")

        def source_step() -> str:
            source = ctx.source
            sizes = source.size_columns
            shown = ", ".join(sizes[:8]) + (f" and {len(sizes) - 8} more" if len(sizes) > 8 else "")
            return f"{source.table.name} readable; {len(sizes)} size columns ({shown})"

        source_ok = checks.run(
            settings["source.table"],
            source_step,
            "check source.table and source.schema, and that the login may read it",
        )
        monday_checks(ctx, checks, with_labels=source_ok)
    finally:
        for ctx in ctx_box:
            ctx.close()
    return checks


def monday_checks(
    ctx: EngineContext | None,
    checks: Checklist,
    *,
    needs: str | None = None,
    with_labels: bool = True,
    client_factory: Callable[[], Any] | None = None,
) -> None:
    """Token, board, titles, subitems board and labels (each skipped when one before it failed).

    ``client_factory`` makes the monday client (the settings dialog's, with the token as typed);
    by default it is the context's own.
    """
    names = ("monday token", "board", "mapped columns", "subitems board", "labels")
    if ctx is None:
        for name in names:
            checks.skip(name, needs or "the database")
        return
    client_box: list[Any] = []
    meta_box: list[Any] = []

    def token_step() -> str:
        client = client_factory() if client_factory else ctx.monday_client(timeout=(5.0, 20.0), max_attempts=2)
        client_box.append(client)
        me = client.me()
        return f"accepted (user {me.get('name') or me.get('id')})"

    try:
        if not checks.run(
            "monday token", token_step, f"set a valid token with `{program_command('token set')}` or MONDAY_API_TOKEN"
        ):
            for name in names[1:]:
                checks.skip(name, "the token")
            return
        client = client_box[0]

        def board_step() -> str:
            from core.monday.errors import MondayError

            try:
                meta_box.append(client.board(ctx.board_id))
            except MondayError as exc:
                if exc.error_type != ErrorType.NOT_FOUND:
                    raise
                raise SettingsError(exc.message) from None
            return f"{meta_box[0].name} ({ctx.board_id})"

        if not checks.run("board", board_step, "check monday.board_id, and that the token's user can see the board"):
            for name in names[2:]:
                checks.skip(name, "the board")
            return
        meta = meta_box[0]
        mapping = ctx.mapping

        def columns_step() -> str:
            meta.resolve(mapping.columns)
            return f"all {len(mapping.columns)} mapped columns found"

        columns_ok = checks.run(
            "mapped columns", columns_step, "add the missing columns on the board, or name them by id in the mapping"
        )

        def subitems_step() -> str:
            if not meta.subitem_board_id:
                raise SettingsError(f"board {ctx.board_id} has no subitems column")
            meta.resolve(mapping.subitem_columns, subitems=True)
            return f"board {meta.subitem_board_id}: all {len(mapping.subitem_columns)} mapped columns found"

        subitems_ok = checks.run(
            "subitems board", subitems_step, "add a subitems column with the mapped subitem columns on the board"
        )
        if not with_labels:
            checks.skip("labels", "ORDERS_UNIFIED")
        elif not (columns_ok and subitems_ok):
            checks.skip("labels", "the mapped columns")
        else:
            checks.run(
                "labels",
                lambda: _labels(ctx, meta),
                "add the status labels on the board (or map the values to existing labels)",
            )
    finally:
        for client in client_box:
            client.close()


def _labels(ctx: EngineContext, meta: Any) -> str:
    """The status labels the current data will write exist; dropdown labels missing will be created."""
    mapping = ctx.mapping
    items = meta.resolve(mapping.columns)
    subs = meta.resolve(mapping.subitem_columns, subitems=True)
    wanted: dict[tuple[str, str], set[str]] = {}
    with ctx.engine.connect() as conn:
        for line in ctx.source.iter_lines(conn):
            if not line.valid:
                continue
            for label, value in line.values.items():
                column = items.get(label)
                if column is not None and column.type in ("status", "color", "dropdown") and value not in (None, ""):
                    wanted.setdefault(("item", label), set()).add(str(value))
            for size in line.sizes:
                for label, value in size.values.items():
                    column = subs.get(label)
                    if (
                        column is not None
                        and column.type in ("status", "color", "dropdown")
                        and value not in (None, "")
                    ):
                        wanted.setdefault(("sub", label), set()).add(str(value))
    missing_status, created = [], 0
    for (where, label), values in sorted(wanted.items()):
        column = (items if where == "item" else subs)[label]
        absent = sorted(v for v in values if v not in column.labels)
        if not absent:
            continue
        if column.type == "dropdown":
            created += len(absent)
        elif column.labels:  # a status column with labels: monday refuses a value it lacks
            missing_status.append(
                f"{label} has no label {', '.join(repr(v) for v in absent[:5])}"
                + (f" and {len(absent) - 5} more" if len(absent) > 5 else "")
            )
    if missing_status:
        raise SettingsError("; ".join(missing_status))
    statuses = sum(
        len(v) for (where, label), v in wanted.items() if (items if where == "item" else subs)[label].type != "dropdown"
    )
    said = f"the {statuses} status values the data writes exist on the board"
    return said + (f"; {created} new dropdown labels will be created as they are sent" if created else "")
