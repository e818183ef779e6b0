"""The API's rate-limit counts in this process's memory (storage URI `crmkit-memory://`), without a timer thread.

limits' own `memory://` storage starts a `threading.Timer` to expire old entries whenever the
previous one has finished: at under 100 calls a second, nearly every API call started a thread,
which cost about a millisecond a call (more on a busy machine) and a background thread taking
the GIL. Here nothing runs in the background: a key's entries older than its window are
dropped when the key is next used, and every SWEEP_EVERY calls the keys whose entries have all
expired are dropped, so memory stays bounded by the tokens active in the last window.

Moving windows (the API's strategy, limits.py) keep each key's acquisition times in order
(a deque: adding and dropping are O(1), where limits' list inserts at its front); fixed
windows keep a count and the moment it expires. One lock guards all of it (each critical
section is a few operations). Redis (CRMKIT_REDIS_URL) is still what a limit shared by several
workers needs.
"""
from __future__ import annotations

import threading
import time
from collections import deque

from limits.storage.base import MovingWindowSupport, Storage

#: Calls between two sweeps of expired keys.
SWEEP_EVERY = 1000


class ProcessMemoryStorage(Storage, MovingWindowSupport):
    """limits' Storage for moving and fixed windows, in memory, with expiry done on access (the module docstring)."""

    STORAGE_SCHEME = ["crmkit-memory"]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options: float | str | bool) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self._lock = threading.Lock()
        #: key -> acquisition times (time.time(), oldest first) and the window (seconds) they were taken in.
        self._windows: dict[str, tuple[deque[float], float]] = {}
        #: key -> [count, the moment the count expires] (fixed windows).
        self._counters: dict[str, list[float]] = {}
        self._calls = 0
        #: Seconds since the epoch now (a test may set another clock).
        self.clock = time.time

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return ValueError

    # -- moving windows --------------------------------------------------------------

    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        """Take `amount` entries in the window of `expiry` seconds ending now, if at most `limit` are then taken."""
        if amount > limit:
            return False
        now = self.clock()
        with self._lock:
            self._tick(now)
            times = self._pruned(key, now, expiry)
            if len(times) + amount > limit:
                return False
            times.extend([now] * amount)
            return True

    def acquire_entry_with_window(self, key: str, limit: int, expiry: int, amount: int = 1) -> tuple[bool, float, int]:
        """`acquire_entry` and then `get_moving_window` of the same key, under one lock: (whether the entries were
        taken, when the oldest entry in the window was taken, how many are taken now); the oldest is now for none.

        What the answer's X-RateLimit-* headers need, read in the same step as the hit (limits.py).
        """
        now = self.clock()
        with self._lock:
            self._tick(now)
            times = self._pruned(key, now, expiry)
            acquired = amount <= limit and len(times) + amount <= limit
            if acquired:
                times.extend([now] * amount)
            return acquired, (times[0] if times else now), len(times)

    def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        """(when the oldest entry in the window was taken, how many are taken); (now, 0) for none."""
        now = self.clock()
        with self._lock:
            times = self._pruned(key, now, expiry)
            return (times[0], len(times)) if times else (now, 0)

    def _pruned(self, key: str, now: float, expiry: float) -> deque[float]:
        """The key's times still in the window of `expiry` seconds ending `now` (the lock is held)."""
        found = self._windows.get(key)
        if found is None:
            times: deque[float] = deque()
            self._windows[key] = (times, expiry)
            return times
        times = found[0]
        if found[1] != expiry:
            self._windows[key] = (times, expiry)
        oldest = now - expiry
        while times and times[0] < oldest:
            times.popleft()
        return times

    # -- fixed windows ---------------------------------------------------------------

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = self.clock()
        with self._lock:
            self._tick(now)
            counter = self._counter(key, now)
            if counter is None:
                counter = self._counters[key] = [0, now + expiry]
            counter[0] += amount
            return int(counter[0])

    def get(self, key: str) -> int:
        with self._lock:
            counter = self._counter(key, self.clock())
            return int(counter[0]) if counter is not None else 0

    def get_expiry(self, key: str) -> float:
        now = self.clock()
        with self._lock:
            counter = self._counter(key, now)
            return counter[1] if counter is not None else now

    def _counter(self, key: str, now: float) -> list[float] | None:
        counter = self._counters.get(key)
        if counter is not None and counter[1] <= now:
            del self._counters[key]
            return None
        return counter

    # -- housekeeping ----------------------------------------------------------------

    def _tick(self, now: float) -> None:
        """Every SWEEP_EVERY calls, drop the keys with nothing left in their window (the lock is held)."""
        self._calls += 1
        if self._calls < SWEEP_EVERY:
            return
        self._calls = 0
        for key, (times, expiry) in list(self._windows.items()):
            if not times or times[-1] < now - expiry:
                del self._windows[key]
        for key, (_, expires) in list(self._counters.items()):
            if expires <= now:
                del self._counters[key]

    def check(self) -> bool:
        return True

    def reset(self) -> int | None:
        with self._lock:
            count = len(self._windows) + len(self._counters)
            self._windows.clear()
            self._counters.clear()
            return count

    def clear(self, key: str) -> None:
        with self._lock:
            self._windows.pop(key, None)
            self._counters.pop(key, None)
