"""Adaptive batching without a waiting window: idle, a request runs at once; busy, requests gather.

BentoML's own dispatcher learns how long to hold requests from the waits it has seen, so after a burst it
keeps adding that wait to every request at low load, and it answers 503 when its latency estimate exceeds
the budget. Here a batch starts as soon as the model is free, with everything that queued while it was busy
(up to `max_rows` records), so the batch size follows the load and nothing is turned away.

The model runs on the event loop, not in a thread. A forest hands the GIL back and forth with the loop on
every tree, and measured side by side a thread made 100-row requests at concurrency 8 about 30% slower.
Requests that arrive during a batch wait in their sockets and join the next one.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sized
from typing import Any, Generic, TypeVar

Rows = list[dict[str, Any]]
Records = TypeVar("Records", bound=Sized)


class MicroBatcher(Generic[Records]):
    """Merge concurrent requests into one model call, in arrival order; `merge` joins their records."""

    def __init__(
        self,
        predict: Callable[[Records], Rows],
        merge: Callable[[list[Records]], Records],
        max_rows: int,
        window_ms: int = 0,
    ) -> None:
        self.predict = predict
        self.merge = merge
        self.max_rows = max_rows
        self.window = window_ms / 1000
        self.queue: deque[tuple[Records, asyncio.Future[Rows]]] = deque()
        self.running = False
        self.task: asyncio.Task[None] | None = None  # kept so the running drain is not garbage-collected

    async def submit(self, records: Records) -> Rows:
        """Queue one request's records and wait for their predictions."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Rows] = loop.create_future()
        self.queue.append((records, future))
        if not self.running:
            self.running = True
            self.task = loop.create_task(self.drain())
        return await future

    def take(self) -> list[tuple[Records, asyncio.Future[Rows]]]:
        """The next batch: queued requests up to max_rows records (a larger request goes alone)."""
        batch: list[tuple[Records, asyncio.Future[Rows]]] = []
        rows = 0
        while self.queue and (not batch or rows + len(self.queue[0][0]) <= self.max_rows):
            item = self.queue.popleft()
            batch.append(item)
            rows += len(item[0])
        return batch

    async def drain(self) -> None:
        """Run batches while requests are queued, letting the loop read waiting requests before each."""
        try:
            await asyncio.sleep(self.window)  # 0: one turn of the loop, so requests already sent can queue
            while self.queue:
                batch = self.take()
                try:
                    rows = self.predict(self.merge([records for records, _ in batch]))
                except Exception as exc:  # every request of the batch gets the model's error
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                start = 0
                for records, future in batch:
                    if not future.done():  # a client that went away cancels its future
                        future.set_result(rows[start : start + len(records)])
                    start += len(records)
                await asyncio.sleep(0)  # answer this batch's requests and read new ones before the next
        finally:
            self.running = False
