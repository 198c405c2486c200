"""Wake-ups keyed on the time something is due: one timer for the whole operator.

A certificate that is Ready is not polled: ``wake(namespace, name, when)`` files it under its
renewal time (or its expiry), and one task sleeps until the earliest entry, then hands the
certificate to the callback, with at most ``concurrency`` callbacks at once (the others stay heap
entries, in due order, until a slot is free). Filing a certificate again replaces its entry;
``when=None`` forgets it. The heap holds one live entry per certificate (stale ones are skipped
when popped), so memory grows with the fleet, not with time.

The timer task starts at the first ``wake``, from inside a Kopf handler, so that it (and the
steps it runs) inherit Kopf's context: ``kopf.event`` needs it. A callback that fails with an
unexpected error is tried again after ``retry_after`` seconds.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

logger = logging.getLogger(__name__)

Key = tuple[str, str]
Callback = Callable[[str, str], Awaitable[None]]


class Scheduler:
    """Calls ``callback(namespace, name)`` when a filed certificate is due."""

    def __init__(
        self,
        callback: Callback,
        *,
        concurrency: int = 16,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        retry_after: float = 60.0,
    ) -> None:
        self._retry_after = retry_after
        self._task: asyncio.Task[None] | None = None
        self._callback = callback
        self._clock = clock
        self._due: dict[Key, float] = {}
        self._heap: list[tuple[float, int, Key]] = []
        self._seq = itertools.count()
        self._changed = asyncio.Event()
        self._concurrency = concurrency
        self._running = 0
        self._tasks: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self._due)

    def due(self, namespace: str, name: str) -> datetime | None:
        ts = self._due.get((namespace, name))
        return None if ts is None else datetime.fromtimestamp(ts, UTC)

    def wake(self, namespace: str, name: str, when: datetime | None) -> None:
        """File (or re-file, or with None forget) a certificate."""
        key = (namespace, name)
        if when is None:
            self._due.pop(key, None)
            return
        ts = when.timestamp()
        if self._due.get(key) == ts:
            return
        self._due[key] = ts
        heapq.heappush(self._heap, (ts, next(self._seq), key))
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self.run())
        if self._heap[0][2] == key:
            self._changed.set()

    def wake_now(self, namespace: str, name: str) -> None:
        self.wake(namespace, name, self._clock())

    async def run(self) -> None:
        """Sleep until the earliest entry, fire what is due; forever (cancel to stop).

        An entry is taken off the heap only when a callback slot is free: however many are due
        (a burst, a restart with overdue renewals), they wait as heap entries, in due order,
        not as tasks."""
        while True:
            now = self._clock().timestamp()
            while self._heap and self._heap[0][0] <= now and self._running < self._concurrency:
                ts, _, key = heapq.heappop(self._heap)
                if self._due.get(key) != ts:
                    continue  # re-filed or forgotten since
                del self._due[key]
                self._fire(key)
            self._changed.clear()
            if not self._heap or self._running >= self._concurrency:
                timeout = None  # a wake() or a finished callback sets _changed
            else:
                timeout = max(0.0, self._heap[0][0] - now)
            try:
                await asyncio.wait_for(self._changed.wait(), timeout)
            except TimeoutError:
                pass

    def _fire(self, key: Key) -> None:
        async def call() -> None:
            try:
                await self._callback(*key)
            except Exception:  # one certificate's failure must not stop the timer
                logger.exception("wake-up of %s/%s failed; trying again later", *key)
                if key not in self._due:
                    self.wake(
                        *key,
                        datetime.fromtimestamp(self._clock().timestamp() + self._retry_after, UTC),
                    )
            finally:
                self._running -= 1
                self._changed.set()

        self._running += 1
        task = asyncio.get_running_loop().create_task(call())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
