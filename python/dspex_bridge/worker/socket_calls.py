"""The calls the call socket (`call_socket`) runs now, by call id: what ``CancelCall`` cancels.

A cancel can arrive before its call is read (the runtime gave up on a call it had just written): the id is kept
then, and the call is cancelled as soon as it starts. Only the latest `EARLY_CANCELS` such ids are kept.
"""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from collections.abc import Iterator
from typing import Final

from .tools import CallScope

EARLY_CANCELS: Final = 1024
"""How many cancels of calls not read yet are remembered."""


class SocketCalls:
    """The scopes of the call socket's calls in flight, by id (thread-safe)."""

    def __init__(self) -> None:
        self._scopes: dict[int, CallScope] = {}
        self._early: OrderedDict[int, None] = OrderedDict()
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def running(self, call_id: int) -> Iterator[CallScope]:
        """The scope of call ``call_id`` while the block runs it (cancelled at once if its cancel came first)."""
        scope = CallScope()
        with self._lock:
            self._scopes[call_id] = scope
            cancelled = call_id in self._early
            if cancelled:
                del self._early[call_id]
        if cancelled:
            scope.cancel()  # nothing of it runs yet: no tool call to cancel on the event loop
        try:
            yield scope
        finally:
            with self._lock:
                self._scopes.pop(call_id, None)

    def cancel(self, call_id: int) -> bool:
        """Cancels call ``call_id`` (on the event loop: its tool calls in flight are cancelled there); whether it
        was running. One not running yet is cancelled when it starts."""
        with self._lock:
            scope = self._scopes.get(call_id)
            if scope is None:
                self._early[call_id] = None
                while len(self._early) > EARLY_CANCELS:
                    self._early.popitem(last=False)
                return False
        scope.cancel()
        return True

    def __len__(self) -> int:
        return len(self._scopes)
