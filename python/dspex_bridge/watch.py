"""Watching variables: the ``WatchVariables`` stream of the bridge, as an iterator.

```python
async for item in session.watch_variables(["temperature"], include_initial=True):
    if isinstance(item, WatchLagged):      # updates were dropped; current values follow
        continue
    item.name, item.value, item.old_value, item.version, item.source, item.metadata
```

Each item is a `VariableUpdate` (one per successful write to a watched variable, from Rust
or Python, in version order per variable), or a `WatchLagged`: the watcher fell behind (the
bridge keeps a session's last 1,024 writes for its watchers and never makes a writer wait), ``missed`` updates
were dropped, and the items that follow carry the current value of every watched variable
(``old_value`` is ``None``) — a resynchronisation, after which the stream goes on as before.
``include_initial=True`` starts the stream the same way: one update per watched variable
with its current value and ``old_value=None``.

Heartbeats (every ``heartbeat_ms`` on the wire) are consumed here, never yielded: they only
move ``last_message`` / ``last_heartbeat`` (``time.monotonic()`` values), so a client can
tell a live quiet stream from a dead one. With ``stale_after=N``, the iterator itself raises
`BridgeUnavailableError` when nothing arrived for N heartbeat periods. Closing the iterator
(``aclose()`` / ``close()``, leaving its ``async with`` / ``with``, or dropping it after
``break``) cancels the call, and the bridge drops its watcher.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final, Literal, Self, TypeAlias, cast

import grpc
import grpc.aio

from ._codec import PyValue, decode_value
from ._proto_loader import pb
from .errors import BridgeUnavailableError, from_rpc_error

DEFAULT_HEARTBEAT_MS: Final = 1000
"""The bridge's heartbeat period when none is asked for (it accepts 10 ms at the least)."""
DEFAULT_STALE_PERIODS: Final = 3.0
"""Silent heartbeat periods after which `is_stale` says so, for a watch without ``stale_after``."""

Source: TypeAlias = Literal["rust", "python"]

_SOURCES: Final[dict[int, Source]] = {pb.UPDATE_SOURCE_RUST: "rust", pb.UPDATE_SOURCE_PYTHON: "python"}


@dataclass(frozen=True, slots=True)
class VariableUpdate:
    """One successful write to a watched variable, or (``old_value is None``) its current
    value: the initial values, and the resynchronisation after a `WatchLagged`."""

    name: str
    value: PyValue
    """The value written: float, int, str or bool per the variable's type."""
    old_value: PyValue | None
    """The value before the write; ``None`` for initial and resynchronised values."""
    version: int
    """The version the write produced (versions of a variable only go up)."""
    source: Source
    """Who wrote: ``"rust"`` or ``"python"`` (initial and resync values say ``"rust"``)."""
    metadata: dict[str, str]
    """The variable's metadata after the write."""
    timestamp_us: int
    """When the bridge published the write, in µs since the Unix epoch (its clock)."""


@dataclass(frozen=True, slots=True)
class WatchLagged:
    """The watcher fell behind and ``missed`` updates were dropped. The items that follow
    are the current values of every watched variable (``old_value is None``)."""

    missed: int


WatchItem: TypeAlias = VariableUpdate | WatchLagged


def decode_event(event: Any) -> WatchItem | None:
    """The item of a wire ``WatchEvent``; ``None`` for a heartbeat."""
    kind = event.WhichOneof("kind")
    if kind == "update":
        u = event.update
        return VariableUpdate(
            name=u.name,
            value=decode_value(u.value),
            old_value=decode_value(u.old_value) if u.HasField("old_value") else None,
            version=u.version,
            source=_SOURCES.get(u.source, "rust"),
            metadata=dict(u.metadata) if len(u.metadata) else {},
            timestamp_us=u.timestamp_us,
        )
    if kind == "lagged":
        return WatchLagged(missed=event.lagged.missed)
    return None


class Liveness:
    """What every watch iterator tracks of its stream (its own, or a shared one): when a message last came, the
    heartbeats, and whether it went silent. ``done()`` says whether the stream has ended."""

    def __init__(self, session_id: str, heartbeat_ms: int, stale_after: float | None) -> None:
        self.session_id = session_id
        self.heartbeat_ms = heartbeat_ms
        self.stale_after = stale_after
        self.started = time.monotonic()
        self.last_message: float = self.started
        """``time.monotonic()`` when the last message (update, lag or heartbeat) arrived."""
        self.last_heartbeat: float | None = None
        """``time.monotonic()`` when the last heartbeat arrived (``None``: none yet)."""
        self.heartbeats = 0
        """How many heartbeats arrived (and were consumed)."""
        self.closed = False
        self._stale = False

    def done(self) -> bool:
        """Whether the stream has ended (cancelled, failed, or finished by the bridge)."""
        raise NotImplementedError

    def _heard(self, now: float, heartbeat: bool) -> None:
        """A message arrived at ``now`` (``time.monotonic()``): a heartbeat, or an item."""
        self.last_message = now
        if heartbeat:
            self.last_heartbeat = now
            self.heartbeats += 1

    @property
    def stale_timeout(self) -> float | None:
        """Seconds of silence after which the stream counts as dead (``stale_after`` heartbeats)."""
        if self.stale_after is None:
            return None
        return self.stale_after * self.heartbeat_ms / 1000.0

    def is_stale(self, periods: float | None = None) -> bool:
        """Whether nothing arrived for ``periods`` heartbeat periods (default: ``stale_after``,
        else `DEFAULT_STALE_PERIODS`): a dead or stuck stream."""
        if periods is None:
            periods = self.stale_after if self.stale_after is not None else DEFAULT_STALE_PERIODS
        return self._remaining(periods * self.heartbeat_ms / 1000.0) == 0.0

    @property
    def live(self) -> bool:
        """Whether what the stream delivered can be trusted as current: the call has not
        ended, nor been closed, and it is not stale (`is_stale`)."""
        return not self.closed and not self.done() and not self.is_stale()

    def _remaining(self, timeout: float) -> float:
        """Seconds until ``timeout`` seconds of silence are reached (0.0: reached)."""
        return max(0.0, timeout - (time.monotonic() - self.last_message))

    def _stale_error(self) -> BridgeUnavailableError:
        return BridgeUnavailableError(
            f"the watch stream of session `{self.session_id}` is silent: nothing for "
            f"{self.stale_after} heartbeat periods of {self.heartbeat_ms} ms",
            "unavailable",
        )


class _WatchState(Liveness):
    """What both iterators of a stream of their own share: the call, decoding, the call's failure."""

    def __init__(self, call: Any, session_id: str, heartbeat_ms: int, stale_after: float | None) -> None:
        super().__init__(session_id, heartbeat_ms, stale_after)
        self._call = call

    def done(self) -> bool:
        done: bool = self._call.done()
        return done

    def _receive(self, message: Any) -> WatchItem | None:
        item = decode_event(message)
        self._heard(time.monotonic(), item is None)
        return item

    def _failure(self, error: grpc.RpcError | None) -> Exception | None:
        """The exception to raise for a failed call (``None``: cancelled without a status);
        ``None`` when we closed it."""
        cancelled_by_us = self.closed
        self.closed = True
        if self._stale:
            return self._stale_error()
        if cancelled_by_us:
            return None
        if error is None:
            return BridgeUnavailableError(
                f"the watch stream of session `{self.session_id}` was cancelled",
                "unavailable",
                grpc.StatusCode.CANCELLED,
            )
        return from_rpc_error(error)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(session_id={self.session_id!r}, closed={self.closed})"


class VariableWatch(_WatchState):
    """The asyncio watch iterator returned by `SessionContext.watch_variables`."""

    async def __anext__(self) -> WatchItem:
        call = self._call
        timeout = self.stale_timeout
        while not self.closed:
            try:
                if timeout is None:
                    message = await call.read()
                else:
                    async with asyncio.timeout(self._remaining(timeout)):
                        message = await call.read()
            except TimeoutError:
                self._stale = True
                await self.aclose()
                raise self._stale_error() from None
            except grpc.RpcError as error:
                failure = self._failure(error)
                if failure is None:
                    break
                raise failure from None
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise  # this task is cancelled, not (only) the call
                # The call was cancelled under a pending read: by `aclose`, or by gRPC.
                failure = self._failure(None)
                if failure is None:
                    break
                raise failure from None
            if message is grpc.aio.EOF:
                self.closed = True
                break
            item = self._receive(message)
            if item is not None:
                return item
        raise StopAsyncIteration

    def __aiter__(self) -> VariableWatch:
        return self

    async def ready(self) -> None:
        """Waits until the bridge has registered the watcher (its response headers came):
        every write after this is delivered. Raises the call's error if it failed."""
        await self._call.initial_metadata()
        if self._call.done():
            code = await self._call.code()
            if code != grpc.StatusCode.OK and not self.closed:
                self.closed = True
                done = _DoneCall(code, await self._call.details(), await self._call.trailing_metadata())
                raise from_rpc_error(cast(grpc.RpcError, done))

    async def aclose(self) -> None:
        """Cancels the call; the bridge drops the watcher. Idempotent."""
        self.closed = True
        self._call.cancel()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def __del__(self) -> None:
        if not self.closed:
            self._call.cancel()


class SyncVariableWatch(_WatchState):
    """The blocking watch iterator returned by `SyncSessionContext.watch_variables`. With
    ``stale_after``, a watchdog thread cancels a silent call (the iterator then raises
    `BridgeUnavailableError`)."""

    def __init__(self, call: Any, session_id: str, heartbeat_ms: int, stale_after: float | None) -> None:
        super().__init__(call, session_id, heartbeat_ms, stale_after)
        self._closing = threading.Event()
        timeout = self.stale_timeout
        if timeout is not None:
            threading.Thread(target=self._watchdog, args=(timeout,), name="dspex-watch-watchdog", daemon=True).start()

    def _watchdog(self, timeout: float) -> None:
        while not self._closing.wait(self._remaining(timeout)):
            if self.is_stale():
                self._stale = True
                self._call.cancel()
                return

    def __next__(self) -> WatchItem:
        while not self.closed:
            try:
                message = next(self._call)
            except StopIteration:
                self.close()
                break
            except grpc.RpcError as error:
                failure = self._failure(error)
                self._closing.set()
                if failure is None:
                    break
                raise failure from None
            item = self._receive(message)
            if item is not None:
                return item
        raise StopIteration

    def __iter__(self) -> SyncVariableWatch:
        return self

    def ready(self) -> None:
        """See `VariableWatch.ready`."""
        self._call.initial_metadata()
        if self._call.done() and self._call.code() != grpc.StatusCode.OK and not self.closed:
            self.closed = True
            raise from_rpc_error(self._call)

    def close(self) -> None:
        """Cancels the call; the bridge drops the watcher. Idempotent."""
        self.closed = True
        self._closing.set()
        self._call.cancel()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __del__(self) -> None:
        if not self.closed:
            self.close()


class _DoneCall:
    """A finished asyncio call's status, in the shape `from_rpc_error` reads."""

    def __init__(self, code: grpc.StatusCode, details: str | None, trailing: Any) -> None:
        self._code, self._details, self._trailing = code, details, trailing

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str | None:
        return self._details

    def trailing_metadata(self) -> Any:
        return self._trailing
