"""`SessionContext` (asyncio) and `SyncSessionContext`: the variables of one Rust Context,
read and written over the bridge.

Both classes are thin: requests are built, responses decoded and errors mapped by shared
code (`_codec`, `errors`); each method here only names the RPC, the request and the
decoder. The session id is the Rust Context's id; the token is the bridge's secret, sent in
the ``x-dspex-token`` metadata entry with every call.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, Final, Literal, Self, TypeVar, overload

import grpc
import grpc.aio

from . import _codec as codec
from ._codec import PyValue, VariableInfo
from ._proto_loader import pb_grpc
from .cache import MISS, VariableCache
from .errors import from_rpc_error
from .shared_watch import SharedVariableWatch, shared_watch
from .watch import DEFAULT_HEARTBEAT_MS, SyncVariableWatch, VariableWatch

TOKEN_ENV: Final = "DSPEX_BRIDGE_TOKEN"
TOKEN_METADATA_KEY: Final = "x-dspex-token"

R = TypeVar("R")


def call_metadata(token: str | None) -> tuple[tuple[str, str], ...]:
    """The metadata sent with every call: the token (``token``, else ``$DSPEX_BRIDGE_TOKEN``).

    Without a token the bridge refuses every call with UNAUTHENTICATED.
    """
    if token is None:
        token = os.environ.get(TOKEN_ENV)
    return ((TOKEN_METADATA_KEY, token),) if token else ()


class _SessionBase:
    """What both twins share: the session id, the stub, the metadata, the request builder."""

    __slots__ = ("_channel", "_metadata", "_requests", "_stub", "session_id")

    def __init__(self, session_id: str, channel: Any, token: str | None) -> None:
        self.session_id: str = session_id
        self._channel = channel
        self._stub: Any = pb_grpc.VariableBridgeStub(channel)
        self._metadata = call_metadata(token)
        self._requests = codec.Requests(session_id)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(session_id={self.session_id!r})"

    def _watch_call(self, names: Iterable[str], include_initial: bool, heartbeat_ms: int) -> Any:
        request = self._requests.watch_variables(names, include_initial, heartbeat_ms)
        return self._stub.WatchVariables(request, metadata=self._metadata)


class SessionContext(_SessionBase):
    """The variables of one session, over a ``grpc.aio`` channel.

    ```python
    # channel_options(): messages as large as the bridge takes ($DSPEX_MAX_MESSAGE_BYTES)
    channel = grpc.aio.insecure_channel(address, options=dspex_bridge.channel_options())
    session = SessionContext(session_id, channel)      # token from $DSPEX_BRIDGE_TOKEN
    temperature = await session.get_variable("temperature")
    await session.set_variable("temperature", 0.95)
    ```

    Errors: `VariableNotFoundError` (a ``KeyError``) for an unknown variable,
    `SessionNotFoundError` for an unknown session, `ValidationError` (a ``ValueError``) whose
    message is the bridge's for a refused value, `VersionConflictError` when
    ``expected_version`` is stale, `AuthenticationError` (a ``PermissionError``) for a bad token,
    and a `ValidationError` of kind ``resource_exhausted`` naming the limit and its setting for
    a message over the channel's size limit.

    With ``cache=True`` a background task watches the session and `get_variable` /
    `get_variables` are served from memory (about a microsecond) while that stream is live;
    see `dspex_bridge.cache` for the coherence rules. ``await session.close()`` (or
    ``async with session:``) stops it; the channel stays the caller's.
    """

    __slots__ = ("cache",)

    def __init__(
        self, session_id: str, channel: grpc.aio.Channel, token: str | None = None, cache: bool = False
    ) -> None:
        super().__init__(session_id, channel, token)
        self.cache: VariableCache | None = VariableCache(self) if cache else None
        """The read cache (``cache=True``), else ``None``."""
        if self.cache is not None and _in_event_loop():
            self.cache.start()

    async def _call(self, rpc: Callable[..., Awaitable[Any]], request: Any, decode: Callable[[Any], R]) -> R:
        try:
            response = await rpc(request, metadata=self._metadata)
        except grpc.RpcError as error:
            raise from_rpc_error(error) from None
        return decode(response)

    async def get_variable(self, name: str, *, bypass_cache: bool = False) -> PyValue:
        """The value of a variable (by name or id): float, int, str or bool per its type.

        With the cache on, served from it when it can; ``bypass_cache=True`` forces a round
        trip (a miss is one too, and fills the cache).
        """
        cache = self.cache
        if cache is not None and not bypass_cache:
            value = cache.lookup(name)
            if value is not MISS:
                return value
            return await cache.read_through(name)
        return await self._call(self._stub.GetVariable, self._requests.get_variable(name), codec.value_of)

    async def set_variable(
        self,
        name: str,
        value: PyValue,
        metadata: Mapping[str, str] | None = None,
        expected_version: int | None = None,
    ) -> int:
        """Writes a variable; returns its new version. ``metadata`` is merged into the
        variable's; with ``expected_version`` the write happens only at that version."""
        request = self._requests.set_variable(name, value, metadata, expected_version)
        cache = self.cache
        if cache is None:
            return await self._call(self._stub.SetVariable, request, codec.version_of)
        try:
            version = await self._call(self._stub.SetVariable, request, codec.version_of)
        except BaseException:
            cache.wrote_unknown([name])  # the write may or may not have happened
            raise
        cache.wrote(name, value, version, dict(metadata) if metadata else None)
        return version

    async def register_variable(
        self,
        name: str,
        var_type: str,
        value: PyValue,
        constraints: Mapping[str, Any] | None = None,
        description: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> str:
        """Defines a variable; returns its id. ``var_type`` is one of float, integer,
        string, boolean, choice, module."""
        request = self._requests.register_variable(name, var_type, value, constraints, description, metadata)
        return await self._call(self._stub.RegisterVariable, request, codec.id_of)

    async def get_variables(self, names: Iterable[str]) -> dict[str, PyValue]:
        """The values of several variables, in one consistent snapshot; unknown names are
        omitted. From the cache when it holds them all (each value current; see
        `dspex_bridge.cache`)."""
        names = list(names)
        cache = self.cache
        if cache is None:
            return await self._call(self._stub.GetVariables, self._requests.get_variables(names), codec.values_of)
        values = cache.lookup_many(names)
        if values is None:
            values = await self._call(self._stub.GetVariables, self._requests.get_variables(names), codec.values_of)
            cache.read_many(values)
        return values

    async def update_variables(self, updates: Mapping[str, PyValue], metadata: Mapping[str, str] | None = None) -> None:
        """Writes several variables, all or nothing: one refused value and none changes."""
        request = self._requests.update_variables(updates, metadata)
        try:
            await self._call(self._stub.SetVariables, request, codec.nothing)
        finally:
            if self.cache is not None:
                self.cache.wrote_unknown(list(updates))

    async def list_variables(self) -> list[VariableInfo]:
        """Every variable of the session, as dicts (see `get_variable_info`)."""
        return await self._call(self._stub.ListVariables, self._requests.list_variables(), codec.list_of)

    async def get_variable_info(self, name: str) -> VariableInfo:
        """One variable as a dict: id, name, type, value, constraints, description,
        metadata, version."""
        return await self._call(self._stub.GetVariable, self._requests.get_variable(name), codec.info_of)

    async def get_session(self) -> dict[str, Any]:
        """The session: session_id, variable_count, created_at_ms, last_access_ms."""
        return await self._call(self._stub.GetSession, self._requests.get_session(), codec.session_of)

    async def ping(self) -> None:
        """A bare round trip to the bridge (token checked, no session needed)."""
        await self._call(self._stub.Ping, codec.PING_REQUEST, codec.nothing)

    @overload
    def watch_variables(
        self,
        names: Iterable[str] = (),
        include_initial: bool = False,
        heartbeat_ms: int = DEFAULT_HEARTBEAT_MS,
        stale_after: float | None = None,
        shared: Literal[False] = False,
    ) -> VariableWatch: ...

    @overload
    def watch_variables(
        self,
        names: Iterable[str] = (),
        include_initial: bool = False,
        heartbeat_ms: int = DEFAULT_HEARTBEAT_MS,
        stale_after: float | None = None,
        *,
        shared: Literal[True],
    ) -> SharedVariableWatch: ...

    def watch_variables(
        self,
        names: Iterable[str] = (),
        include_initial: bool = False,
        heartbeat_ms: int = DEFAULT_HEARTBEAT_MS,
        stale_after: float | None = None,
        shared: bool = False,
    ) -> VariableWatch | SharedVariableWatch:
        """An async iterator of the writes to ``names`` (names or ids; empty: every variable,
        including ones registered later): `VariableUpdate` items, and a `WatchLagged` before
        the resynchronisation when this consumer fell behind. See `dspex_bridge.watch`.

        ``include_initial`` starts with the current values; ``heartbeat_ms`` is the
        bridge's heartbeat period (``last_heartbeat`` / ``last_message`` on the iterator);
        ``stale_after=N`` raises `BridgeUnavailableError` after N silent periods. ``await
        watch.ready()`` waits until the bridge has registered the watcher; ``aclose()``,
        ``async with`` or dropping the iterator cancels it.

        ``shared=True``: the watcher shares one stream with the process's other shared watchers of this session
        on this channel (the bridge sends each write once; see `dspex_bridge.shared_watch`), for many watchers
        in one process.
        """
        if shared:
            return shared_watch(self, self._channel, names, include_initial, heartbeat_ms, stale_after)
        call = self._watch_call(names, include_initial, heartbeat_ms)
        return VariableWatch(call, self.session_id, heartbeat_ms, stale_after)

    async def close(self) -> None:
        """Stops the cache's background task (if any). The channel is left open."""
        if self.cache is not None:
            await self.cache.close()

    async def __aenter__(self) -> Self:
        if self.cache is not None:
            self.cache.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


class SyncSessionContext(_SessionBase):
    """`SessionContext`'s synchronous twin, over a ``grpc`` (sync) channel: same methods,
    same results, same errors, without ``await``. It has no read cache (``bypass_cache``
    is accepted and changes nothing)."""

    __slots__ = ()

    def __init__(self, session_id: str, channel: grpc.Channel, token: str | None = None) -> None:
        super().__init__(session_id, channel, token)

    def _call(self, rpc: Callable[..., Any], request: Any, decode: Callable[[Any], R]) -> R:
        try:
            response = rpc(request, metadata=self._metadata)
        except grpc.RpcError as error:
            raise from_rpc_error(error) from None
        return decode(response)

    def get_variable(self, name: str, *, bypass_cache: bool = False) -> PyValue:
        """See `SessionContext.get_variable`."""
        return self._call(self._stub.GetVariable, self._requests.get_variable(name), codec.value_of)

    def set_variable(
        self,
        name: str,
        value: PyValue,
        metadata: Mapping[str, str] | None = None,
        expected_version: int | None = None,
    ) -> int:
        """See `SessionContext.set_variable`."""
        request = self._requests.set_variable(name, value, metadata, expected_version)
        return self._call(self._stub.SetVariable, request, codec.version_of)

    def register_variable(
        self,
        name: str,
        var_type: str,
        value: PyValue,
        constraints: Mapping[str, Any] | None = None,
        description: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> str:
        """See `SessionContext.register_variable`."""
        request = self._requests.register_variable(name, var_type, value, constraints, description, metadata)
        return self._call(self._stub.RegisterVariable, request, codec.id_of)

    def get_variables(self, names: Iterable[str]) -> dict[str, PyValue]:
        """See `SessionContext.get_variables`."""
        return self._call(self._stub.GetVariables, self._requests.get_variables(names), codec.values_of)

    def update_variables(self, updates: Mapping[str, PyValue], metadata: Mapping[str, str] | None = None) -> None:
        """See `SessionContext.update_variables`."""
        request = self._requests.update_variables(updates, metadata)
        self._call(self._stub.SetVariables, request, codec.nothing)

    def list_variables(self) -> list[VariableInfo]:
        """See `SessionContext.list_variables`."""
        return self._call(self._stub.ListVariables, self._requests.list_variables(), codec.list_of)

    def get_variable_info(self, name: str) -> VariableInfo:
        """See `SessionContext.get_variable_info`."""
        return self._call(self._stub.GetVariable, self._requests.get_variable(name), codec.info_of)

    def get_session(self) -> dict[str, Any]:
        """See `SessionContext.get_session`."""
        return self._call(self._stub.GetSession, self._requests.get_session(), codec.session_of)

    def ping(self) -> None:
        """See `SessionContext.ping`."""
        self._call(self._stub.Ping, codec.PING_REQUEST, codec.nothing)

    def watch_variables(
        self,
        names: Iterable[str] = (),
        include_initial: bool = False,
        heartbeat_ms: int = DEFAULT_HEARTBEAT_MS,
        stale_after: float | None = None,
    ) -> SyncVariableWatch:
        """See `SessionContext.watch_variables`: the same items, from a blocking iterator
        (``close()`` or ``with`` cancels it)."""
        call = self._watch_call(names, include_initial, heartbeat_ms)
        return SyncVariableWatch(call, self.session_id, heartbeat_ms, stale_after)


def _in_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
