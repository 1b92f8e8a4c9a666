"""Garbage collection kept off a sync's hot path, without freezing anything.

CPython's full collection (generation 2) walks every object the process tracks, holding the GIL
throughout: with the window, the engine and (in the demo) the sandbox in one process, that is
100 to 400 ms during which the window can neither repaint nor take a click. CPython starts one by
itself whenever the objects that survived the young collections have grown by a quarter, which
during a sync happened every few seconds.

``RunCollector`` keeps them out of runs:

- while a run goes, CPython's automatic full collections are off. The young generations are still
  collected as usual (each holds at most a few thousand objects: well under a millisecond), so
  most garbage goes at once, as before;
- when the last run ends, one full collection runs on the GUI thread once the window has had its
  final refresh (``settle_ms`` later), then CPython's own thresholds come back. What the run left
  in reference cycles is freed there, so memory does not grow from run to run.

Nothing is frozen: every object stays collectable. The collector is one per process (``run_collector``),
as the thresholds it changes are: a bridge that goes away with a collection due leaves it to run.
"""

from __future__ import annotations

import gc
import logging
import time

from PySide6.QtCore import QObject, QTimer, Signal

log = logging.getLogger(__name__)

# A generation-2 threshold no run reaches: CPython counts young collections against it (one per
# few thousand allocations), so a full collection never starts by itself.
NO_AUTOMATIC_FULL_COLLECTION = 1 << 30


class RunCollector(QObject):
    """Automatic full collections off while any run goes; one full collection after the last ends."""

    collected = Signal(int)  # unreachable objects the after-run collection found

    def __init__(self, parent: QObject | None = None, settle_ms: int = 1500):
        super().__init__(parent)
        self._runs = 0
        self._saved: tuple[int, int, int] | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(settle_ms)
        self._timer.timeout.connect(self.collect_now)

    @property
    def holding(self) -> bool:
        """Whether automatic full collections are off (a run goes, or its collection is due)."""
        return self._saved is not None

    def hold(self) -> None:
        """A run starts: automatic full collections off until the last run has ended and been collected."""
        self._runs += 1
        self._timer.stop()
        if self._saved is None:
            self._saved = gc.get_threshold()
            young, middle, _ = self._saved
            gc.set_threshold(young, middle, NO_AUTOMATIC_FULL_COLLECTION)

    def release(self) -> None:
        """A run ends: when none is left, its full collection is due once the window has settled."""
        self._runs = max(self._runs - 1, 0)
        if self._runs == 0 and self._saved is not None:
            self._timer.start()

    def collect_now(self) -> int:
        """The full collection after the runs (skipped while one goes); CPython's thresholds come back."""
        if self._runs or self._saved is None:
            return 0
        started = time.perf_counter()
        found = gc.collect()
        gc.set_threshold(*self._saved)
        self._saved = None
        log.debug("full garbage collection after the run: %d unreachable objects in %.0f ms", found, _ms(started))
        self.collected.emit(found)
        return found


_COLLECTOR: RunCollector | None = None


def run_collector() -> RunCollector:
    """The process's collector (made on first use, on the GUI thread: its timer lives there)."""
    global _COLLECTOR
    if _COLLECTOR is None:
        _COLLECTOR = RunCollector()
    return _COLLECTOR


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
