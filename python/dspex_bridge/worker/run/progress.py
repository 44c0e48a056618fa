"""A run's progress: `RunProgress` events sent from the run's thread to its stream.

The run works in a thread of its own; each event is handed to the event loop
(``call_soon_threadsafe``) and queued for the stream, which sends them in order and ends with
the result. Every event is logged too: per-example events at debug level, the others at info.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any, Final

from ..._proto_loader import worker_pb
from ..._quote import excerpt

logger = logging.getLogger(__name__)

EXAMPLE_PHASES: Final = frozenset({"evaluate", "before", "after", "bootstrap", "reflect"})
"""The phases that report each example or metric call (many events: logged at debug level)."""


class Progress:
    """Where a run reports what it does (any thread)."""

    def __init__(self, run_id: str, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[Any]) -> None:
        self._run_id = run_id
        self._loop = loop
        self._queue = queue
        self._lock = threading.Lock()

    def report(
        self,
        phase: str,
        done: int,
        total: int | None = None,
        score: float | None = None,
        best: float | None = None,
        message: str = "",
    ) -> None:
        """Sends one `RunProgress` (and logs it)."""
        progress = worker_pb.RunProgress(phase=phase, done=done, message=excerpt(message))
        if total is not None:
            progress.total = total
        if score is not None:
            progress.score = score
        if best is not None:
            progress.best = best
        level = logging.DEBUG if phase in EXAMPLE_PHASES else logging.INFO
        logger.log(level, "run %s: %s %s", excerpt(self._run_id), phase, progress.message or done)
        self.send(worker_pb.RunEvent(progress=progress))

    def send(self, item: Any) -> None:
        """Queues ``item`` for the stream; dropped once the event loop is gone."""
        # One lock: the events of several threads reach the queue in the order they were made.
        with self._lock:
            try:
                self._loop.call_soon_threadsafe(self._queue.put_nowait, item)
            except RuntimeError:  # the loop is closed: nobody is listening any more
                pass


__all__ = ["EXAMPLE_PHASES", "Progress"]
