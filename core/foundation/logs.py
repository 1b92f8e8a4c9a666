"""Logging for the window and the command line: one log file someone can read the morning after.

- A rotating file in the user log folder (``ORDERSYNC_LOG_DIR`` overrides it), shared by the
  window, scheduled headless runs and the embedded sandbox's parent process.
- Every line logged while a batch runs carries that batch's id (``batch_context``), whatever
  module logs it: the monday client's retries, staging, promotion.
- A wait for monday (a retry, a resend) is logged with ``waiting(text)``: the file gets the whole
  line; a console without --verbose gets only ``text``, at most one such line per ``waiting_every``
  seconds, so an outage reads as a few short lines rather than a wall of warnings.
- Secrets are redacted when a record is made, before any handler sees it: the monday token (every
  token OrderSync reads is registered here), passwords in database URLs, ``Authorization`` values
  and anything shaped like monday's JWT tokens. The file, the console and the window's log pane
  all get the redacted text, tracebacks included.

No Qt here: the window routes Qt's own messages into this logging (``gui/app.py``).
"""

from __future__ import annotations

import contextvars
import json
import logging
import logging.handlers
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

import platformdirs

from core.foundation.config import APP_NAME

log = logging.getLogger(__name__)

LOG_DIR_ENV = "ORDERSYNC_LOG_DIR"
LOG_FILE_NAME = "ordersync.log"
MAX_BYTES = 5 * 1024 * 1024
BACKUP_COUNT = 5  # ordersync.log.1 … .5: about a month of nightly runs
FILE_FORMAT = "%(asctime)s %(levelname)-8s %(process)-6d %(batch_tag)s%(name)s: %(message)s"
CONSOLE_FORMAT = "%(asctime)s %(levelname)s %(batch_tag)s%(name)s: %(message)s"
REDACTED = "***"
# ``extra`` for a record whose text the user was shown already (the CLI's one-line errors): it goes
# to the log file, not a second time to the console.
SHOWN = {"shown_to_user": True}
WAITING_ATTRIBUTE = "waiting_line"


def waiting(text: str) -> dict[str, str]:
    """``extra`` for a record about a wait (a retry, a resend): ``text`` is its short console form."""
    return {WAITING_ATTRIBUTE: text}


# Libraries that would flood the file at INFO (SQLAlchemy logs every statement once its logger is
# enabled; urllib3 every connection). Their warnings still come through.
_QUIET = ("sqlalchemy", "urllib3", "alembic")


# --- the batch a line belongs to -------------------------------------------------------------------

_batch: contextvars.ContextVar[int | None] = contextvars.ContextVar("ordersync_batch", default=None)


@contextmanager
def batch_context(batch_id: int | None) -> Iterator[None]:
    """Every record logged inside (in this thread) carries ``batch_id``."""
    token = _batch.set(batch_id)
    try:
        yield
    finally:
        _batch.reset(token)


def current_batch() -> int | None:
    return _batch.get()


# --- secrets -----------------------------------------------------------------------------------------

_secrets: set[str] = set()
_secrets_lock = threading.Lock()
_SECRET_MIN_LENGTH = 6  # shorter values would redact ordinary words
_URL_PASSWORD = re.compile(r"(\b[a-zA-Z][\w+.-]*://[^:/@\s]*:)[^@\s/]+@")
_AUTHORIZATION = re.compile(r"(\bauthorization\b['\"]?\s*[:=]\s*['\"]?(?:bearer\s+)?)[^'\"\s,}]+", re.IGNORECASE)
_JWT = re.compile(r"\beyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]{8,}")
# PWD=… in an ODBC connection string, also URL-encoded inside odbc_connect (%3D for =, %3B for ;).
_ODBC_PASSWORD = re.compile(
    r"((?:(?<![A-Za-z0-9])|(?<=%3B))(?:pwd|password)\s*(?:=|%3D)\s*)(?:\{[^}]*\}|(?:(?!%3B)[^;'\"\s&])+)", re.IGNORECASE
)


def secret_forms(value: str) -> set[str]:
    """``value`` as it can appear in a message: itself, escaped as repr() and JSON escape it, percent-
    encoded, and each of its lines alone (a value with a line break is printed over several lines)."""
    from urllib.parse import quote, quote_plus

    forms = {
        value,
        repr(value)[1:-1],
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
        quote(value, safe=""),
        quote_plus(value),
        value.encode("unicode_escape").decode("ascii"),
    }
    forms |= {part.strip() for part in re.split(r"[\s\x00-\x1f\x7f]+", value)}
    return {form for form in forms if len(form) >= _SECRET_MIN_LENGTH}


def register_secret(value: str | None) -> None:
    """From now on ``value``, in every form it can take in a message, is replaced by *** in every log
    record of this process (and wherever ``redact`` is applied)."""
    if value and len(value.strip()) >= _SECRET_MIN_LENGTH:
        forms = secret_forms(value.strip())
        with _secrets_lock:
            _secrets.update(forms)


def redact(text: str) -> str:
    """``text`` with every registered secret and every secret-shaped value replaced by ***."""
    with _secrets_lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    # Each pattern runs only where its anchor occurs: most lines have none, and every line pays.
    if "@" in text and "://" in text:
        text = _URL_PASSWORD.sub(rf"\1{REDACTED}@", text)
    lower = text.lower()
    if "authorization" in lower:
        text = _AUTHORIZATION.sub(rf"\1{REDACTED}", text)
    if "pwd" in lower or "password" in lower:
        text = _ODBC_PASSWORD.sub(rf"\1{REDACTED}", text)
    if "eyJ" in text:
        text = _JWT.sub(REDACTED, text)
    return text


# --- the record factory: batch id and redaction on every record ---------------------------------------

_base_factory = logging.getLogRecordFactory()


def _record_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
    record = _base_factory(*args, **kwargs)
    batch = _batch.get()
    record.batch_id = batch
    record.batch_tag = f"[batch {batch}] " if batch is not None else ""
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a bad format string: the handler reports it as logging always has
        return record
    record.msg, record.args = redact(message), None
    if record.exc_info and not record.exc_text:
        record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    return record


def install() -> None:
    """Install the record factory (idempotent). ``setup_logging`` calls it; so does importing the client."""
    if logging.getLogRecordFactory() is not _record_factory:
        logging.setLogRecordFactory(_record_factory)


# --- where the file is --------------------------------------------------------------------------------


def log_dir() -> Path:
    """$ORDERSYNC_LOG_DIR, else the platform's user log folder (e.g. %LOCALAPPDATA%\\OrderSync\\Logs)."""
    override = os.environ.get(LOG_DIR_ENV, "").strip()
    if override:
        return Path(override)
    return Path(platformdirs.user_log_dir(APP_NAME, appauthor=False))


def log_file() -> Path:
    return log_dir() / LOG_FILE_NAME


class SharedRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A rotating file several processes append to: the window, a scheduled run, a second window.

    On Windows a rollover fails while another process has the file open; that is not an error
    worth a traceback: this process keeps appending and a later rollover succeeds.
    """

    def shouldRollover(self, record: logging.LogRecord) -> bool:
        """Roll over once the file (whoever wrote it) reached maxBytes.

        The base class formats every record a second time and stats the file for this; the end of
        the file in append mode is its size, including what other processes appended.
        """
        if self.maxBytes <= 0:
            return False
        if self.stream is None:
            self.stream = self._open()
        return self.stream.seek(0, os.SEEK_END) >= self.maxBytes

    def doRollover(self) -> None:
        try:
            super().doRollover()
        except OSError:
            if self.stream is None:
                self.stream = self._open()


class _Formatter(logging.Formatter):
    def __init__(self, fmt: str, datefmt: str | None = None):
        super().__init__(fmt, datefmt, defaults={"batch_tag": ""})


class ConsoleHandler(logging.StreamHandler[TextIO]):
    """stderr for the command line: what the user was shown already is left out, and with
    ``waiting_every`` a wait for monday is one short line (``prefix`` + its text) at most that often.

    ``clock`` is the time source of that limit (time.monotonic; a test passes its own).
    """

    def __init__(
        self,
        stream: TextIO,
        *,
        waiting_every: float | None = None,
        prefix: str = "",
        clock: Callable[[], float] = time.monotonic,
    ):
        super().__init__(stream)
        self.waiting_every = waiting_every
        self.prefix = prefix
        self.clock = clock
        self._last_waiting: float | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "shown_to_user", False) or not super().filter(record):
            return False
        if self.waiting_every is None or not getattr(record, WAITING_ATTRIBUTE, None):
            return True
        self.acquire()  # threads wait for monday side by side; one of them speaks
        try:
            now = self.clock()
            if self._last_waiting is not None and now - self._last_waiting < self.waiting_every:
                return False
            self._last_waiting = now
        finally:
            self.release()
        return True

    def format(self, record: logging.LogRecord) -> str:
        text = getattr(record, WAITING_ATTRIBUTE, None)
        if self.waiting_every is not None and text:
            return f"{self.prefix}{text}"
        return super().format(record)


def formatter(fmt: str = CONSOLE_FORMAT, datefmt: str | None = None) -> logging.Formatter:
    """A formatter that knows ``%(batch_tag)s``, for handlers outside this module (the log pane)."""
    return _Formatter(fmt, datefmt)


def setup_logging(
    *,
    console_level: int | None = None,
    file: bool = True,
    sql: bool = False,
    waiting_every: float | None = None,
    waiting_prefix: str = "ordersync: waiting for monday: ",
) -> Path | None:
    """Configure the root logger for this process; returns the log file, or None without one.

    ``console_level`` adds a stderr handler at that level (the command line: WARNING, or INFO
    with ``--verbose``); the window passes None. ``waiting_every`` makes the console show a wait for
    monday as ``waiting_prefix`` + its short text, at most once per that many seconds (the command
    line without --verbose). ``sql`` lets SQLAlchemy log its statements.
    Calling it again replaces what an earlier call installed.
    """
    install()
    remove_handlers()
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    for name in _QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
    if sql:
        logging.getLogger("sqlalchemy.engine").setLevel(logging.INFO)
    if console_level is not None and sys.stderr is not None:
        console = ConsoleHandler(sys.stderr, waiting_every=waiting_every, prefix=waiting_prefix)
        console.setLevel(console_level)
        console.setFormatter(_Formatter(CONSOLE_FORMAT))
        _own(root, console)
    if not file:
        return None
    path = log_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = SharedRotatingFileHandler(
            path, maxBytes=MAX_BYTES, backupCount=BACKUP_COUNT, encoding="utf-8", delay=True
        )
    except OSError as exc:
        log.warning("no log file: cannot write to %s (%s)", path.parent, exc)
        return None
    handler.setLevel(logging.INFO)
    handler.setFormatter(_Formatter(FILE_FORMAT))
    _own(root, handler)
    return path


def remove_handlers() -> None:
    """Close and remove what ``setup_logging`` installed."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "_ordersync", False)]:
        root.removeHandler(handler)
        handler.close()


def _own(root: logging.Logger, handler: logging.Handler) -> None:
    handler._ordersync = True  # type: ignore[attr-defined]
    root.addHandler(handler)


def log_uncaught_thread_exceptions() -> None:
    """An exception that ends a background thread is logged with its traceback, never lost."""

    def hook(args: threading.ExceptHookArgs) -> None:
        if issubclass(args.exc_type, SystemExit):
            return
        thread = args.thread.name if args.thread else "?"
        logging.getLogger("ordersync").critical("unexpected error in thread %s", thread, exc_info=args.exc_value)

    threading.excepthook = hook
