"""Garbage collection kept off a sync's hot path, without freezing anything.

CPython's full collection (generation 2) walks every object the process tracks, holding the GIL
throughout: with the window, the engine and (in the demo) the sandbox in one process, that is
100 to 500 ms during which the window can neither repaint nor take a click. CPython starts one by
itself whenever the objects that survived the young collections have grown by a quarter, which
during a sync happened every few seconds.

``RunCollector`` keeps them out of runs:

- while a run goes, CPython's automatic full collections are off. The young generations are still
  collected as usual (they hold a few thousand objects at most: milliseconds), so most garbage
  still goes at once;
- when the last run has ended, one full collection runs on the GUI thread as soon as nobody has
  touched the window (keys, mouse) for ``quiet_ms``, or at the latest ``longest_wait_ms`` after
  the run; then CPython's own thresholds come back. What the runs left in reference cycles is
  freed there, so memory does not grow from run to run.

Nothing is frozen: every object stays collectable. There is one collector per process
(``run_collector``), as the thresholds it changes are process-wide.
"""

from __future__ import annotations

import gc
import logging
import time

from PySide6.QtCore import QCoreApplication, QEvent, QObject, QTimer, Signal

log = logging.getLogger(__name__)

# A generation-2 threshold no run reaches: CPython counts young collections against it (one per
# few thousand allocations), so a full collection never starts by itself.
NO_AUTOMATIC_FULL_COLLECTION = 1 << 30

_INPUT = frozenset(
    {
        QEvent.Type.KeyPress,
        QEvent.Type.KeyRelease,
        QEvent.Type.MouseButtonPress,
        QEvent.Type.MouseButtonRelease,
        QEvent.Type.MouseButtonDblClick,
        QEvent.Type.MouseMove,
        QEvent.Type.Wheel,
    }
)


class RunCollector(QObject):
    """Automatic full collections off while any run goes; one full collection when the window is quiet after."""

    collected = Signal(int)  # unreachable objects the collection after the runs found

    def __init__(self, parent: QObject | None = None, quiet_ms: int = 2000, longest_wait_ms: int = 120_000):
        super().__init__(parent)
        self.quiet_ms = quiet_ms
        self.longest_wait_ms = longest_wait_ms
        self._runs = 0
        self._saved: tuple[int, int, int] | None = None
        self._due_since = 0.0
        self._last_input = 0.0
        self._watching = False
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._when_quiet)

    @property
    def holding(self) -> bool:
        """Whether automatic full collections are off (a run goes, or its collection is due)."""
        return self._saved is not None

    def hold(self) -> None:
        """A run starts: automatic full collections off until the last run has ended and been collected."""
        self._runs += 1
        self._timer.stop()
        self._unwatch()
        if self._saved is None:
            self._saved = gc.get_threshold()
            young, middle, _ = self._saved
            gc.set_threshold(young, middle, NO_AUTOMATIC_FULL_COLLECTION)

    def release(self) -> None:
        """A run ends: when none is left, its full collection waits for a quiet moment."""
        self._runs = max(self._runs - 1, 0)
        if self._runs or self._saved is None:
            return
        self._due_since = self._last_input = time.monotonic()
        app = QCoreApplication.instance()
        if app is not None and not self._watching:
            app.installEventFilter(self)  # only while a collection is due: it sees every event
            self._watching = True
        self._timer.start(self.quiet_ms)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() in _INPUT:
            self._last_input = time.monotonic()
        return False

    def _when_quiet(self) -> None:
        if self._runs or self._saved is None:
            return
        now = time.monotonic()
        quiet = (now - self._last_input) * 1000
        if quiet >= self.quiet_ms or (now - self._due_since) * 1000 >= self.longest_wait_ms:
            self.collect_now()
        else:
            self._timer.start(max(int(self.quiet_ms - quiet), 1))

    def collect_now(self) -> int:
        """The full collection after the runs (none while one goes); CPython's thresholds come back."""
        if self._runs or self._saved is None:
            return 0
        self._timer.stop()
        self._unwatch()
        started = time.perf_counter()
        found = gc.collect()
        gc.set_threshold(*self._saved)
        self._saved = None
        log.debug(
            "full garbage collection after the run: %d unreachable objects in %.0f ms",
            found,
            (time.perf_counter() - started) * 1000,
        )
        self.collected.emit(found)
        return found

    def _unwatch(self) -> None:
        app = QCoreApplication.instance()
        if app is not None and self._watching:
            app.removeEventFilter(self)
        self._watching = False


_COLLECTOR: RunCollector | None = None


def run_collector() -> RunCollector:
    """The process's collector (made on first use, on the GUI thread: its timer lives there)."""
    global _COLLECTOR
    if _COLLECTOR is None:
        _COLLECTOR = RunCollector()
    return _COLLECTOR
