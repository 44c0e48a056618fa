"""Watchers of one session that share one ``WatchVariables`` stream: ``watch_variables(..., shared=True)``.

A Python process with many watchers of a session (a worker's modules, a dashboard's panels) pays gRPC's cost per
message once per stream: 50 watchers of a writer at 1,000 writes a second are 50,000 messages a second, more than
one core decodes. Shared, the process receives each write once, and hands it to every watcher in the process
that wants it (`_Hub`): each watcher keeps its own queue, bounded as the bridge's log is, so a slow watcher lags
alone — it is told `WatchLagged` and resynchronised with the current values of its variables, as an unshared
watcher is by the bridge — and never holds the others back.

The items are those of an unshared watch (see `dspex_bridge.watch`), in the same order; what differs is only
what the bridge sees: one watcher per channel, session and heartbeat period, dropped when the last watcher that
shares it closes.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Self, cast

import grpc
import grpc.aio

from .errors import VariableNotFoundError, from_rpc_error
from .watch import Liveness, VariableUpdate, WatchItem, WatchLagged, _DoneCall, decode_event

if TYPE_CHECKING:
    from .session_context import SessionContext

QUEUE_LIMIT: Final = 1024
"""The most updates a watcher may have waiting, as the bridge keeps per watcher: beyond, it lags."""

_HUBS: dict[tuple[Any, ...], _Hub] = {}
"""The shared streams of this process: by channel (its id), session, heartbeat period and call metadata."""


def shared_watch(
    session: SessionContext,
    channel: Any,
    names: Iterable[str],
    include_initial: bool,
    heartbeat_ms: int,
    stale_after: float | None,
) -> SharedVariableWatch:
    """A watcher of ``session`` on the stream it shares with this process's other watchers of it on ``channel``
    (opened now if there is none)."""
    key = (id(channel), session.session_id, heartbeat_ms, session._metadata)
    hub = _HUBS.get(key)
    if hub is None or hub.ended:
        hub = _HUBS[key] = _Hub(key, session, heartbeat_ms)
    watch = SharedVariableWatch(hub, session, tuple(names), include_initial, heartbeat_ms, stale_after)
    hub.members.add(watch)
    return watch


def _now_us() -> int:
    return time.time_ns() // 1000


class _Hub:
    """One stream of every write of a session, read by one task, handed to its members."""

    def __init__(self, key: tuple[Any, ...], session: SessionContext, heartbeat_ms: int) -> None:
        self.key = key
        self.members: set[SharedVariableWatch] = set()
        self.call = session._watch_call((), False, heartbeat_ms)
        self.ended = False
        self.error: Exception | None = None
        self.task = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        try:
            while True:
                message = await self.call.read()
                if message is grpc.aio.EOF:
                    break
                now = time.monotonic()
                item = decode_event(message)
                for member in tuple(self.members):
                    member._heard(now, item is None)
                    if item is not None:
                        member._push(item)
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.CANCELLED:
                self.error = from_rpc_error(error)
        except asyncio.CancelledError:
            pass
        except Exception as error:  # noqa: BLE001 - whatever ended the stream, every member raises it
            self.error = error
        finally:
            self._end()

    def _end(self) -> None:
        self.ended = True
        if _HUBS.get(self.key) is self:
            del _HUBS[self.key]
        for member in tuple(self.members):
            member._wake()

    def leave(self, member: SharedVariableWatch) -> None:
        """``member`` closed: the last one to leave cancels the stream (the bridge drops its watcher)."""
        self.members.discard(member)
        if not self.members and not self.ended:
            self.call.cancel()
            self._end()

    async def ready(self) -> None:
        await self.call.initial_metadata()
        if self.call.done():
            code = await self.call.code()
            if code not in (grpc.StatusCode.OK, grpc.StatusCode.CANCELLED):
                done = _DoneCall(code, await self.call.details(), await self.call.trailing_metadata())
                self.error = from_rpc_error(cast(grpc.RpcError, done))


class SharedVariableWatch(Liveness):
    """An asyncio watch iterator on a shared stream (see the module): the items, methods and attributes of
    `dspex_bridge.watch.VariableWatch`."""

    def __init__(
        self,
        hub: _Hub,
        session: SessionContext,
        names: tuple[str, ...],
        include_initial: bool,
        heartbeat_ms: int,
        stale_after: float | None,
    ) -> None:
        super().__init__(session.session_id, heartbeat_ms, stale_after)
        self._hub = hub
        self._session = session
        self._keys = names
        self._names: frozenset[str] | None = None
        """The watched variables' names (``None``: every variable), once the keys (names or ids) are resolved."""
        self._include_initial = include_initial
        self._started = False
        self._queue: collections.deque[WatchItem] = collections.deque()
        self._missed = 0
        self._lagged = False
        self._last_version: dict[str, int] = {}
        self._waiter: asyncio.Future[None] | None = None

    # ---- what the hub calls -------------------------------------------------------------------

    def _push(self, item: WatchItem) -> None:
        if isinstance(item, WatchLagged):
            # The shared stream itself lagged: everything it dropped may have been this watcher's.
            self._lag(item.missed)
        elif self._names is not None and item.name not in self._names:
            return
        elif self._lagged:
            # A current value (the shared stream's resynchronisation) is no update missed: the resync re-reads it.
            self._missed += item.old_value is not None
        elif len(self._queue) >= QUEUE_LIMIT:
            self._lag(1)
        else:
            self._queue.append(item)
        self._wake()

    def _lag(self, missed: int) -> None:
        """Drops what waits (it is resynchronised), counting the updates among it as missed."""
        self._missed += missed + sum(
            1 for i in self._queue if isinstance(i, VariableUpdate) and i.old_value is not None
        )
        self._queue.clear()
        self._lagged = True

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # ---- the watch ------------------------------------------------------------------------------

    def done(self) -> bool:
        return self._hub.ended

    async def _resolve(self) -> dict[str, Any]:
        """Resolves the keys to names; the current variables of the session, by name."""
        infos = {info["name"]: info for info in await self._session.list_variables()}
        if self._keys:
            by_id = {info["id"]: name for name, info in infos.items()}
            names = set()
            for key in self._keys:
                name = key if key in infos else by_id.get(key)
                if name is None:
                    raise VariableNotFoundError(f"variable `{key}` not found in session `{self.session_id}`")
                names.add(name)
            self._names = frozenset(names)
        return infos

    def _current(self, infos: dict[str, Any]) -> list[VariableUpdate]:
        """The current values of the watched variables (``old_value`` unset)."""
        now = _now_us()
        wanted = infos if self._names is None else {n: infos[n] for n in self._names if n in infos}
        return [
            VariableUpdate(
                name=name,
                value=info["value"],
                old_value=None,
                version=info["version"],
                source="rust",
                metadata=dict(info.get("metadata") or {}),
                timestamp_us=now,
            )
            for name, info in wanted.items()
        ]

    async def _start(self) -> None:
        self._started = True
        infos = await self._resolve()
        if self._names is not None:
            # What arrived before the names were known, of other variables, goes.
            self._queue = collections.deque(
                i for i in self._queue if not isinstance(i, VariableUpdate) or i.name in self._names
            )
        if self._include_initial:
            self._queue.extendleft(reversed(self._current(infos)))

    async def _resync(self) -> None:
        """After a lag: the current value of each watched variable that moved since this watcher last saw it (as
        the bridge resynchronises an unshared watcher: one never seen counts from version 0)."""
        infos = await self._resolve()
        moved = [u for u in self._current(infos) if u.version > self._last_version.get(u.name, 0)]
        self._queue.extend(moved)

    async def ready(self) -> None:
        """Waits until the bridge has registered the shared stream: every write after this is delivered. Raises
        the stream's error if it failed, or `VariableNotFoundError` for a key that names no variable."""
        await self._hub.ready()
        if self._hub.error is not None:
            self.closed = True
            raise self._hub.error
        if not self._started:
            await self._start()

    async def __anext__(self) -> WatchItem:
        if not self._started:
            await self.ready()
        while not self.closed:
            while self._queue:
                item = self._queue.popleft()
                if isinstance(item, VariableUpdate):
                    if item.version <= self._last_version.get(item.name, -1):
                        continue  # covered by an initial or resynchronised value
                    self._last_version[item.name] = item.version
                return item
            if self._lagged:
                missed, self._missed, self._lagged = self._missed, 0, False
                await self._resync()
                return WatchLagged(missed=missed)
            if self._hub.ended:
                self.closed = True
                if self._hub.error is not None:
                    raise self._hub.error
                break
            await self._wait()
        raise StopAsyncIteration

    async def _wait(self) -> None:
        self._waiter = asyncio.get_running_loop().create_future()
        timeout = self.stale_timeout
        try:
            if timeout is None:
                await self._waiter
                return
            try:
                async with asyncio.timeout(self._remaining(timeout)):
                    await self._waiter
            except TimeoutError:
                if self.is_stale():
                    self._stale = True
                    await self.aclose()
                    raise self._stale_error() from None
        finally:
            self._waiter = None

    def __aiter__(self) -> SharedVariableWatch:
        return self

    async def aclose(self) -> None:
        """Leaves the shared stream (the last to leave cancels it). Idempotent."""
        if not self.closed:
            self.closed = True
            self._hub.leave(self)
            self._wake()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def __del__(self) -> None:
        if not self.closed:
            self.closed = True
            self._hub.leave(self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(session_id={self.session_id!r}, closed={self.closed})"
