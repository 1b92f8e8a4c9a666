"""What the user reads of a failure: one line on stderr, the same line in the log file, an exit code.

A user error (``OrderSyncError``) or a refusal by monday is one readable line; a bug is one line that
names the log file, where its traceback is. Used by the command line (``core.cli``) and its commands
(``core.commands``).
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING

from core.foundation.error_types import ErrorType
from core.foundation.exceptions import EXIT_INTERNAL, Bug, OrderSyncError
from core.foundation.logs import SHOWN, log_file
from core.foundation.resources import program_command
from core.monday.errors import AuthError, MondayError

if TYPE_CHECKING:
    from core.push.run import BatchResult

log = logging.getLogger("ordersync")

PROG = "ordersync"


def report_bug(exc: BaseException, argv: list[str]) -> int:
    log.critical(
        "unexpected error in `%s`", " ".join(argv[:2]), exc_info=(type(exc), exc, exc.__traceback__), extra=SHOWN
    )
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    print(
        f"{PROG}: unexpected error: {type(exc).__name__}: {detail[:300]}. This is a bug in OrderSync; the "
        f"details are in {log_file()}. Nothing already recorded is lost, and the next run resumes any batch "
        "this one left open.",
        file=sys.stderr,
    )
    return EXIT_INTERNAL


def user_error(message: str, code: int) -> int:
    """A user error: one line on stderr, and the same line in the log file for whoever reads it later."""
    log.error("%s", message, extra=SHOWN)
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return code


# What each kind of open error asks of the person who reads it.
_TO_DO: dict[str, str] = {
    ErrorType.VALIDATION: "fix them in ORDERS_UNIFIED; the next sync sends them",
    ErrorType.DUPLICATE_ON_BOARD: "delete the extra items on the board, then retry",
    ErrorType.DELETED_ON_BOARD: "retry to create them again, or leave them",
    ErrorType.ARCHIVED_ON_BOARD: "restore them on the board and retry, or leave them",
}


def say_still_open(counts: dict[str, int]) -> None:
    """One stderr line: what stays open for the run's customers, grouped by what to do."""
    if not counts:
        return
    groups: dict[str, int] = {}
    for error_type, n in counts.items():
        todo = _TO_DO.get(
            error_type, f"see `{program_command('status')}`, then retry with `{program_command('retry --all')}`"
        )
        groups[todo] = groups.get(todo, 0) + n
    parts = [f"{n} {'error' if n == 1 else 'errors'} ({todo})" for todo, n in sorted(groups.items())]
    print(f"{PROG}: still open for the customers of this run: {'; '.join(parts)}", file=sys.stderr)


def report_failures(results: list[BatchResult]) -> None:
    """One line per customer that failed on its own, then the run's worst failure as the last line.

    A failure that ended the run (the token, monday or the database, a request monday refused as
    invalid) is said once, in that last line, with the customers it kept from running.
    """
    from core.push.run import BUSY, NOT_RUN, TAKEN_OVER, exit_code_of, is_global

    worst = None
    batch = None  # the batch the worst failure stopped, when it stopped one
    for r in results:
        if r.error is None and r.status not in (BUSY, TAKEN_OVER):
            continue
        if r.error is not None and exit_code_of(r.error) == EXIT_INTERNAL and r.status != NOT_RUN:
            log.critical(
                "batch %s (%s) failed on a bug",
                r.batch_id,
                r.customer,
                exc_info=(type(r.error), r.error, r.error.__traceback__),
                extra=SHOWN,
            )
        if r.status != NOT_RUN and not (r.error is not None and is_global(r.error)):
            log.warning("%s: %s", r.customer, r.message, extra=SHOWN)
            print(f"{PROG}: {r.customer}: {r.message}", file=sys.stderr)
        if (
            r.error is not None
            and (worst is None or is_global(r.error) or exit_code_of(r.error) == EXIT_INTERNAL)
            and (worst is None or not is_global(worst))
        ):
            worst = r.error
            batch = f"Batch {r.batch_id} ({r.customer})" if r.batch_id is not None else None
    not_run = [r.customer for r in results if r.status == NOT_RUN]
    if worst is not None:
        failure_line(worst, f" Not run: {', '.join(not_run)}." if not_run else "", batch)
    elif not_run:
        print(f"{PROG}: not run: {', '.join(not_run)}", file=sys.stderr)


def failure_line(exc: BaseException, suffix: str = "", batch: str | None = None) -> int:
    if isinstance(exc, MondayError):
        return monday_failure(exc, suffix, batch)
    if isinstance(exc, OrderSyncError):
        return user_error(f"{exc}{suffix}", exc.exit_code)
    return user_error(
        f"unexpected error: {type(exc).__name__}: {exc}. The details are in {log_file()}{suffix}", EXIT_INTERNAL
    )


def monday_failure(exc: MondayError, suffix: str = "", batch: str | None = None) -> int:
    kept = f"{batch or 'The batch'} is kept and resumes on the next run."
    if isinstance(exc, Bug):  # a request monday refused as invalid: our bug, not an outage; the client logged it
        log.critical(
            "monday refused a request OrderSync built: %s",
            exc.describe(),
            exc_info=(type(exc), exc, exc.__traceback__),
            extra=SHOWN,
        )
        print(
            f"{PROG}: OrderSync built a request monday refused as invalid ({exc.describe()}). This is a bug "
            f"in OrderSync, not an outage; the details are in {log_file()}. Nothing of that request was "
            f"applied, and the batch resumes on the next run.{suffix}",
            file=sys.stderr,
        )
        return EXIT_INTERNAL
    if isinstance(exc, AuthError):
        return user_error(
            f"monday refused the API token ({exc.describe()}); set a valid one with "
            f"`{program_command('token set')}` or MONDAY_API_TOKEN. {kept}{suffix}",
            3,
        )
    if not exc.retryable:
        return user_error(f"monday refused the run: {exc.describe()}{suffix}", 2)
    tries = f" ({exc.attempts} tries)" if exc.attempts > 1 else ""
    return user_error(f"monday could not be reached: {exc.describe()}{tries}. {kept}{suffix}", 3)


def usage_error(message: str) -> OrderSyncError:
    from core.foundation.exceptions import SettingsError

    return SettingsError(message)
