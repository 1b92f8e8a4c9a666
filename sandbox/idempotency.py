"""``Idempotency-Key``: the first answer to a mutation request by its key, replayed while it lasts."""

from __future__ import annotations

import threading
import time

from .transport import Response

# monday replays a key's first answer for 30 minutes. Real seconds, not scaled: the time scale speeds up
# the rate-limit windows, while a client reasons about the replay window by the clock on the wall.
IDEMPOTENCY_TTL = 30 * 60.0
CONFLICT_RETRY_NOMINAL = 1.0


class Idempotency:
    """First answers by ``Idempotency-Key``; a key is ``None`` while its request is in flight."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, Response | None, str]] = {}
        self._sweep_at = 0.0

    def claim(self, key: str, fingerprint: str) -> tuple[str, Response | None, bool]:
        """("replay", answer, same body?) | ("conflict", None, _) | ("claimed", None, _)."""
        now = time.monotonic()
        with self._lock:
            if now >= self._sweep_at:
                self._entries = {k: v for k, v in self._entries.items() if v[0] > now or v[1] is None}
                self._sweep_at = now + min(self.ttl, 60.0)
            entry = self._entries.get(key)
            if entry is not None and entry[1] is not None and entry[0] <= now:
                entry = None
            if entry is None:
                self._entries[key] = (now + self.ttl, None, fingerprint)
                return "claimed", None, True
            if entry[1] is None:
                return "conflict", None, entry[2] == fingerprint
            return "replay", entry[1], entry[2] == fingerprint

    def complete(self, key: str, response: Response) -> None:
        with self._lock:
            fingerprint = self._entries.get(key, (0, None, ""))[2]
            self._entries[key] = (time.monotonic() + self.ttl, response, fingerprint)

    def release(self, key: str) -> None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[1] is None:
                del self._entries[key]
