"""Watch streams from Python against the real Rust bridge: writes from both languages,
initial values, heartbeats and liveness, a stalled consumer's lag and recovery, and the
server-side watcher freed when the iterator is closed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
import grpc.aio
import pytest

from dspex_bridge import (
    AuthenticationError,
    BridgeUnavailableError,
    SessionContext,
    SessionNotFoundError,
    SyncSessionContext,
    VariableUpdate,
    WatchItem,
    WatchLagged,
)
from dspex_bridge.testing import BridgeFixture


@pytest.fixture
async def channel(bridge: BridgeFixture) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(bridge.address) as aio_channel:
        yield aio_channel


@pytest.fixture
def sync_channel(bridge: BridgeFixture) -> Iterator[grpc.Channel]:
    channel = grpc.insecure_channel(bridge.address)
    yield channel
    channel.close()


@pytest.fixture
def session(channel: grpc.aio.Channel, bridge: BridgeFixture, session_id: str) -> SessionContext:
    return SessionContext(session_id, channel, token=bridge.token)


def watchers(bridge: BridgeFixture, session_id: str) -> int:
    count: int = bridge.command("watchers", session_id)["count"]
    return count


def wait_until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


async def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    await asyncio.to_thread(wait_until, check, timeout)


async def next_update(watch: Any, timeout: float = 5.0) -> VariableUpdate:
    item = await asyncio.wait_for(watch.__anext__(), timeout)
    assert isinstance(item, VariableUpdate), item
    return item


async def test_a_python_watcher_sees_rust_and_python_writes(session: SessionContext, bridge: BridgeFixture) -> None:
    sid = session.session_id
    await session.register_variable("temperature", "float", 0.5, {"min": 0.0, "max": 2.0})
    async with session.watch_variables(["temperature"], include_initial=True) as watch:
        initial = await next_update(watch)
        assert (initial.name, initial.value, initial.old_value, initial.version) == ("temperature", 0.5, None, 0)

        assert bridge.command("set", sid, "temperature", "0.75") == {"version": 1}
        rust = await next_update(watch)
        assert (rust.value, rust.old_value, rust.version, rust.source) == (0.75, 0.5, 1, "rust")

        await session.set_variable("temperature", 1.25, metadata={"by": "python"})
        python = await next_update(watch)
        assert (python.value, python.old_value, python.version, python.source) == (1.25, 0.75, 2, "python")
        assert python.metadata["by"] == "python"

        # Coerced by the bridge: the update carries the variable's type (1 → 1.0).
        assert bridge.command("set", sid, "temperature", "1") == {"version": 3}
        coerced = await next_update(watch)
        assert coerced.value == 1.0 and isinstance(coerced.value, float)
        assert coerced.timestamp_us > 0 and coerced.timestamp_us >= python.timestamp_us
        # A refused write publishes nothing: the next update is the next successful write.
        assert "error" in bridge.command("set", sid, "temperature", "5.0")
        await session.set_variable("temperature", 0.1)
        assert (await next_update(watch)).version == 4


async def test_only_the_watched_names_and_ids(session: SessionContext, bridge: BridgeFixture) -> None:
    sid = session.session_id
    await session.register_variable("a", "integer", 1)
    b_id = await session.register_variable("b", "string", "x")
    async with session.watch_variables([b_id]) as watch:  # by id
        await watch.ready()
        bridge.command("set", sid, "a", "2")
        bridge.command("set", sid, "b", '"y"')
        update = await next_update(watch)
        assert (update.name, update.value, update.old_value) == ("b", "y", "x")


async def test_watching_everything_includes_variables_registered_later(
    session: SessionContext, bridge: BridgeFixture
) -> None:
    await session.register_variable("first", "boolean", False)
    async with session.watch_variables((), include_initial=True) as watch:
        assert (await next_update(watch)).name == "first"
        await session.register_variable("later", "integer", 0)
        bridge.command("set", session.session_id, "later", "7")
        update = await next_update(watch)
        assert (update.name, update.value, update.version) == ("later", 7, 1)


async def test_heartbeats_keep_a_quiet_stream_visibly_alive(session: SessionContext) -> None:
    await session.register_variable("x", "integer", 0)
    watch = session.watch_variables(["x"], heartbeat_ms=20, stale_after=10)
    reader = asyncio.ensure_future(watch.__anext__())
    await asyncio.sleep(0.3)
    assert not reader.done(), "heartbeats are consumed, not yielded"
    assert watch.heartbeats >= 5
    assert watch.last_heartbeat is not None and time.monotonic() - watch.last_heartbeat < 0.2
    assert not watch.is_stale()
    reader.cancel()
    await watch.aclose()


async def test_stale_after_raises_unavailable_on_a_silent_stream(
    session: SessionContext, bridge: BridgeFixture
) -> None:
    await session.register_variable("x", "integer", 0)
    # Heartbeats every second, but silence is tolerated for 0.05 periods only (50 ms).
    watch = session.watch_variables(["x"], heartbeat_ms=1000, stale_after=0.05)
    await watch.ready()
    with pytest.raises(BridgeUnavailableError, match="silent"):
        await asyncio.wait_for(watch.__anext__(), 5.0)
    assert watch.closed
    await eventually(lambda: watchers(bridge, session.session_id) == 0)


async def test_a_stalled_consumer_is_told_it_lagged_then_resynchronised(
    session: SessionContext, bridge: BridgeFixture
) -> None:
    sid = session.session_id
    await session.register_variable("n", "integer", 0)
    await session.register_variable("other", "string", "unchanged")
    count = 30_000  # far more than the bridge buffers (1,024 per watcher, 64 in the stream)
    async with session.watch_variables(["n", "other"], heartbeat_ms=5000) as watch:
        await watch.ready()
        assert "version" in bridge.command("burst", sid, "n", str(count))  # nobody is reading
        await asyncio.sleep(0.2)
        items: list[WatchItem] = []
        while True:
            item = await asyncio.wait_for(watch.__anext__(), 10.0)
            items.append(item)
            if isinstance(item, VariableUpdate) and item.name == "n" and item.value == count:
                break
        lags = [i for i, item in enumerate(items) if isinstance(item, WatchLagged)]
        assert lags, "a consumer that stalled through 30,000 writes must be told it lagged"
        updates = [item for item in items if isinstance(item, VariableUpdate)]
        missed = sum(item.missed for item in items if isinstance(item, WatchLagged))
        seen = sum(1 for u in updates if u.name == "n" and u.old_value is not None)
        assert missed >= 1 and seen + missed <= count
        # A lag is followed by the current value of what moved since it was last seen (old_value
        # unset); `other` never moved, so it is never repeated.
        after_last_lag = items[lags[-1] + 1]
        assert isinstance(after_last_lag, VariableUpdate) and after_last_lag.old_value is None
        assert after_last_lag.name == "n"
        assert not any(u.name == "other" for u in updates)
        versions = [u.version for u in updates if u.name == "n"]
        assert versions == sorted(set(versions)), "versions strictly increase, lag or not"
        # Recovered: the next write arrives as a plain update. Drops noticed only after the final value was
        # delivered may still be reported first, as lag notices with nothing to resynchronise (nothing moved
        # since it was seen): never as a repeated value.
        bridge.command("set", sid, "n", "-1")
        item = await asyncio.wait_for(watch.__anext__(), 5.0)
        while isinstance(item, WatchLagged):
            item = await asyncio.wait_for(watch.__anext__(), 5.0)
        assert isinstance(item, VariableUpdate), item
        assert (item.name, item.value, item.old_value, item.version) == ("n", -1, count, count + 1)


async def test_a_fast_consumer_ends_on_the_final_value_in_order(session: SessionContext, bridge: BridgeFixture) -> None:
    sid = session.session_id
    await session.register_variable("n", "integer", 0)
    async with session.watch_variables(["n"]) as watch:
        await watch.ready()
        burst = asyncio.ensure_future(asyncio.to_thread(bridge.command, "burst", sid, "n", "2000"))
        last = 0
        while last != 2000:
            item = await asyncio.wait_for(watch.__anext__(), 10.0)
            if isinstance(item, VariableUpdate):
                assert item.version > last
                last = item.version
        assert (await burst)["version"] == 2000


async def test_closing_the_iterator_frees_the_server_watcher(
    session: SessionContext, bridge: BridgeFixture, sync_channel: grpc.Channel
) -> None:
    sid = session.session_id
    await session.register_variable("x", "integer", 0)
    assert watchers(bridge, sid) == 0

    explicit = session.watch_variables(["x"])
    await explicit.ready()
    assert watchers(bridge, sid) == 1
    await explicit.aclose()
    await eventually(lambda: watchers(bridge, sid) == 0)
    assert [item async for item in explicit] == []  # closed: ends at once

    async with session.watch_variables(["x"], include_initial=True) as watch:
        await watch.ready()
        assert watchers(bridge, sid) == 1
    await eventually(lambda: watchers(bridge, sid) == 0)

    seen: list[WatchItem] = []
    async for item in session.watch_variables(["x"], include_initial=True):
        seen.append(item)
        assert watchers(bridge, sid) == 1
        break  # the iterator is dropped: the call is cancelled
    assert len(seen) == 1, "the initial value arrived, so the loop body ran"
    await eventually(lambda: watchers(bridge, sid) == 0)

    sync = SyncSessionContext(sid, sync_channel, token=bridge.token)
    with sync.watch_variables(["x"], include_initial=True) as sync_watch:
        next(sync_watch)
        assert watchers(bridge, sid) == 1
    await eventually(lambda: watchers(bridge, sid) == 0)

    many = [session.watch_variables() for _ in range(20)]
    await asyncio.gather(*(w.ready() for w in many))
    assert watchers(bridge, sid) == 20
    await asyncio.gather(*(w.aclose() for w in many))
    await eventually(lambda: watchers(bridge, sid) == 0)


async def test_errors_map_to_bridge_exceptions(channel: grpc.aio.Channel, bridge: BridgeFixture) -> None:
    unknown = SessionContext("no-such-session", channel, token=bridge.token)
    with pytest.raises(SessionNotFoundError):
        async for _ in unknown.watch_variables():
            pass
    with pytest.raises(SessionNotFoundError):
        await unknown.watch_variables().ready()
    wrong = SessionContext(bridge.session_id, channel, token="wrong")
    with pytest.raises(AuthenticationError):
        async for _ in wrong.watch_variables():
            pass


def test_the_sync_twin_sees_writes_heartbeats_and_goes_stale(
    sync_channel: grpc.Channel, bridge: BridgeFixture, session_id: str
) -> None:
    session = SyncSessionContext(session_id, sync_channel, token=bridge.token)
    session.register_variable("x", "integer", 1)
    with session.watch_variables(["x"], include_initial=True, heartbeat_ms=20) as watch:
        initial = next(watch)
        assert isinstance(initial, VariableUpdate) and initial.value == 1
        bridge.command("set", session_id, "x", "2")
        session.set_variable("x", 3)
        updates = [next(watch), next(watch)]
        assert [(u.value, u.old_value, u.source) for u in updates if isinstance(u, VariableUpdate)] == [
            (2, 1, "rust"),
            (3, 2, "python"),
        ]
        # A quiet period: a reader blocked in `next` consumes the heartbeats (it is not woken by them) and
        # returns with the next write.
        heartbeats_before, quiet_from = watch.heartbeats, time.monotonic()
        with ThreadPoolExecutor(1) as pool:
            reader = pool.submit(next, watch)
            time.sleep(0.3)
            assert not reader.done(), "heartbeats are consumed, not yielded"
            assert watch.heartbeats - heartbeats_before >= 5
            assert watch.last_heartbeat is not None and watch.last_heartbeat > quiet_from
            assert not watch.is_stale()
            session.set_variable("x", 4)
            after_quiet = reader.result(timeout=5)
        assert isinstance(after_quiet, VariableUpdate) and (after_quiet.value, after_quiet.old_value) == (4, 3)
    wait_until(lambda: watchers(bridge, session_id) == 0)

    silent = session.watch_variables(["x"], heartbeat_ms=1000, stale_after=0.05)
    silent.ready()
    assert watchers(bridge, session_id) == 1
    with pytest.raises(BridgeUnavailableError, match="silent"):
        next(silent)
    assert silent.closed
    wait_until(lambda: watchers(bridge, session_id) == 0)
