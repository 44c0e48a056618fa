"""The read cache of a `SessionContext` (``cache=True``), kept coherent by a watch stream.

A background task watches every variable of the session (``names=[]``,
``include_initial=True``) and keeps, per name and per id, the value and version of each
variable it has seen. A cached ``get_variable`` is then a liveness check and a dict lookup
(about a microsecond); a variable the cache does not hold is read with a round trip, which
fills it.

Coherence:

- An update is applied only if its version is newer than the cached one, so a read never
  goes backwards in version.
- Read-your-writes: the session's own ``set_variable`` stores the value it wrote (when the
  bridge cannot have coerced it: same Python type as the cached value) or invalidates the
  entry until an update or a read at least as new as the write arrives;
  ``update_variables`` (whose reply carries no versions) invalidates the entries it wrote
  until a round trip made after it refills them.
- The cache serves only while its stream is live: established, not ended, and a message
  (update or heartbeat, every `HEARTBEAT_MS`) arrived less than `STALE_AFTER` heartbeats ago. Otherwise
  reads are round trips, the entries are dropped, and the task re-establishes the stream
  (with back-off); its initial values refill the cache.
- On `WatchLagged` the resynchronisation that follows brings every entry up to date (by
  the same version rule). A round trip's result is cached when the stream is live, else it
  sets a floor: no cached read afterwards returns an older version than a read returned.

A write from elsewhere (Rust, another process) is seen by a cached read once its update
has arrived: typically well under a millisecond on loopback (see
``python/benchmarks/bench_watch.py``), not at once. ``get_variables`` from the cache returns
values each current, but a batch written by ``update_variables`` elsewhere may be seen half
applied for the instant its updates are arriving.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import math
from collections.abc import Iterable
from typing import Final, Literal, Protocol, TypeAlias

from ._codec import PyValue, VariableInfo
from .errors import BridgeError
from .watch import VariableUpdate, VariableWatch

logger = logging.getLogger("dspex_bridge.cache")

HEARTBEAT_MS: Final = 250
"""The heartbeat period the cache's stream asks for."""
STALE_AFTER: Final = 4
"""Heartbeat periods of silence after which the cache stops serving (1 s)."""
RETRY_MIN_S: Final = 0.05
RETRY_MAX_S: Final = 2.0

_Entry: TypeAlias = tuple[PyValue, int, dict[str, str]]
"""(value, version, metadata)."""


class _Miss(enum.Enum):
    MISS = enum.auto()


MISS: Final = _Miss.MISS
"""What `VariableCache.lookup` answers when the cache cannot serve a read."""

_NEVER: Final = math.inf


class SessionReader(Protocol):
    """What the cache reads its session through (`SessionContext` is one): round trips that
    never consult the cache, and the watch stream that keeps it current."""

    @property
    def session_id(self) -> str: ...

    async def get_variable_info(self, name: str) -> VariableInfo: ...

    async def list_variables(self) -> list[VariableInfo]: ...

    def watch_variables(
        self,
        names: Iterable[str] = ...,
        include_initial: bool = ...,
        heartbeat_ms: int = ...,
        stale_after: float | None = ...,
    ) -> VariableWatch: ...


class VariableCache:
    """The cache of one `SessionContext`. Created by the session (``cache=True``); use the
    session's methods, not this object, except to inspect it (``live``, ``round_trips``,
    ``reconnects``, ``wait_live``)."""

    def __init__(
        self, session: SessionReader, heartbeat_ms: int = HEARTBEAT_MS, stale_after: float = STALE_AFTER
    ) -> None:
        self._session = session
        self.heartbeat_ms = heartbeat_ms
        self.stale_after = stale_after
        self._entries: dict[str, _Entry] = {}  # by name and by id
        self._ids: dict[str, str] = {}  # name -> id
        self._names: dict[str, str] = {}  # id -> name
        # name -> (the least version that may be served, the write's sequence number):
        # set by our own writes until something at least as new arrives.
        self._floors: dict[str, tuple[float, int]] = {}
        self._seq = 0  # our completed writes
        self._generation = 0  # bumped whenever the entries are dropped
        self._watch: VariableWatch | None = None  # the live stream, else None
        self._live = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.round_trips = 0
        """Reads the cache could not serve (each a round trip)."""
        self.reconnects = 0
        """Times the stream was lost (and re-established, or being re-established)."""

    # ---- the hot path ---------------------------------------------------------------------

    def lookup(self, key: str) -> PyValue | Literal[_Miss.MISS]:
        """The cached value of a variable (name or id), or `MISS`."""
        if self.live:
            entry = self._entries.get(key)
            if entry is not None:
                return entry[0]
        return MISS

    def lookup_many(self, keys: list[str]) -> dict[str, PyValue] | None:
        """The cached values of all ``keys``, or ``None`` when one of them is not served."""
        if not self.live:
            return None
        entries = self._entries
        try:
            return {key: entries[key][0] for key in keys}
        except KeyError:
            return None

    @property
    def live(self) -> bool:
        """Whether the cache serves reads now: its watch stream is established and live."""
        watch = self._watch
        return watch is not None and watch.live

    # ---- misses ---------------------------------------------------------------------------

    async def read_through(self, key: str) -> PyValue:
        """A round trip for ``key``; fills the cache when the stream is live."""
        self.start()
        self.round_trips += 1
        seq = self._seq
        info = await self._session.get_variable_info(key)
        if self._watch is not None:
            self._fill(info, seq)
        else:
            # No stream to keep it current: not cached, but never serve older than this.
            self._seq += 1
            self._invalidate(info["name"], info["version"])
        value: PyValue = info["value"]
        return value

    def read_many(self, values: dict[str, PyValue]) -> None:
        """After a ``GetVariables`` round trip (values without versions): an entry that
        differs from what the caller was given waits for a newer round trip, so that no
        later cached read goes back behind it."""
        self._seq += 1
        for key, value in values.items():
            entry = self._entries.get(key)
            if entry is not None and entry[0] != value:
                self._invalidate(self._names.get(key, key), _NEVER)

    def _fill(self, info: VariableInfo, seq: int) -> None:
        name, var_id = info["name"], info["id"]
        if var_id and name not in self._ids:
            self._ids[name] = var_id
            self._names[var_id] = name
        floor = self._floors.get(name)
        if floor is not None:
            # A read that started after our write completed is at least as new as it.
            if info["version"] < floor[0] and seq < floor[1]:
                return
            del self._floors[name]
        self._store(name, info["value"], info["version"], info["metadata"])

    # ---- applying updates -----------------------------------------------------------------

    def _store(self, name: str, value: PyValue, version: int, metadata: dict[str, str]) -> None:
        current = self._entries.get(name)
        if current is not None and current[1] >= version:
            return
        entry = (value, version, metadata)
        self._entries[name] = entry
        var_id = self._ids.get(name)
        if var_id is not None:
            self._entries[var_id] = entry

    def _apply(self, update: VariableUpdate) -> None:
        floor = self._floors.get(update.name)
        if floor is not None:
            if update.version < floor[0]:
                return
            del self._floors[update.name]
        self._store(update.name, update.value, update.version, update.metadata)

    def _drop_entries(self) -> None:
        self._entries.clear()
        self._generation += 1

    def _invalidate(self, name: str, floor: float) -> None:
        self._entries.pop(name, None)
        var_id = self._ids.get(name)
        if var_id is not None:
            self._entries.pop(var_id, None)
        self._floors[name] = (floor, self._seq)

    # ---- our own writes -------------------------------------------------------------------

    def wrote(self, key: str, value: PyValue, version: int, metadata: dict[str, str] | None) -> None:
        """After ``set_variable`` returned ``version``: read-your-writes."""
        self._seq += 1
        name = self._names.get(key, key)
        current = self._entries.get(name)
        if current is not None:
            if current[1] >= version:
                return  # something newer is cached already
            if type(current[0]) is type(value):  # no coercion can have happened
                self._store(name, value, version, {**current[2], **metadata} if metadata else current[2])
                self._floors.pop(name, None)
                return
        self._invalidate(name, version)

    def wrote_unknown(self, keys: list[str]) -> None:
        """After ``update_variables`` (no versions known), or a write that failed midway:
        the entries wait for a round trip made after now."""
        self._seq += 1
        for key in keys:
            self._invalidate(self._names.get(key, key), _NEVER)

    # ---- the background task --------------------------------------------------------------

    def start(self) -> None:
        """Starts the background task (needs a running event loop); idempotent."""
        if self._task is None and not self._closed:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"dspex-cache-{self._session.session_id}"
            )

    async def wait_live(self, timeout: float = 5.0) -> bool:
        """Waits until the cache serves reads (starting it if needed); False on timeout."""
        self.start()
        try:
            async with asyncio.timeout(timeout):
                await self._live.wait()
        except TimeoutError:
            return False
        return True

    async def _run(self) -> None:
        delay = RETRY_MIN_S
        session = self._session
        while not self._closed:
            watch = session.watch_variables(
                (), include_initial=True, heartbeat_ms=self.heartbeat_ms, stale_after=self.stale_after
            )
            try:
                await watch.ready()
                self._drop_entries()
                self._watch = watch
                # Ids (updates carry names only), and every variable, warm.
                seq = self._seq
                for info in await session.list_variables():
                    self._fill(info, seq)
                self._live.set()
                delay = RETRY_MIN_S
                async for item in watch:
                    if type(item) is VariableUpdate:
                        self._apply(item)
                    # On WatchLagged the entries stay: the resynchronisation that follows
                    # brings each up to date (and never behind what a reader has seen).
                logger.warning("session %s: the cache's watch stream ended", session.session_id)
            except BridgeError as error:
                logger.warning("session %s: the cache's watch stream failed: %s", session.session_id, error)
            finally:
                self._watch = None
                self._live.clear()
                self._drop_entries()
                await watch.aclose()
            if self._closed:
                break
            self.reconnects += 1
            await asyncio.sleep(delay)
            delay = min(RETRY_MAX_S, delay * 2)

    async def close(self) -> None:
        """Stops the background task and the stream; reads become round trips."""
        self._closed = True
        self._watch = None
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
