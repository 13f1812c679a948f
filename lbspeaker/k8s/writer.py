"""API writes off the decision loop: per-object order kept, objects written in parallel."""

from __future__ import annotations

import logging
import queue
import threading
import zlib
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class KeyedWriter:
    """Runs write calls on a few threads; calls for one key always run on the same thread.

    The decision loop then never waits on the apiserver's round trips, while two writes for
    one Service (assign, then release) still land in the order they were decided.
    """

    def __init__(self, workers: int = 4) -> None:
        self.queues: list[queue.Queue[Callable[[], None] | None]] = [
            queue.Queue() for _ in range(workers)
        ]
        self.threads = [
            threading.Thread(target=self._work, args=(q,), name=f"writer-{i}", daemon=True)
            for i, q in enumerate(self.queues)
        ]
        for thread in self.threads:
            thread.start()

    def submit(self, key: str, write: Callable[[], None]) -> None:
        # crc32, not hash(): stable, so one key maps to one worker for the process lifetime.
        self.queues[zlib.crc32(key.encode()) % len(self.queues)].put(write)

    def pending(self) -> int:
        """Writes submitted and not yet started (approximate, as Queue.qsize is)."""
        return sum(jobs.qsize() for jobs in self.queues)

    def _work(self, jobs: queue.Queue[Callable[[], None] | None]) -> None:
        while (job := jobs.get()) is not None:
            try:
                job()
            except Exception:
                log.exception("write failed")
            finally:
                jobs.task_done()

    def drain(self) -> None:
        """Waits until every submitted write has run (for shutdown and tests)."""
        for jobs in self.queues:
            jobs.join()


def discard(response: Any) -> None:
    """Reads and releases an undecoded response (`_preload_content=False`).

    Decoding a whole object costs milliseconds in the Python client, and a response left
    unread keeps its pooled connection busy; this does neither.
    """
    response.read()
    response.release_conn()
