"""Shared watches (``watch_variables(..., shared=True)``) against the real Rust bridge fixture: the items of an
unshared watch, one stream on the bridge for all of them, and a slow watcher that lags alone."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import grpc
import grpc.aio
import pytest
from test_watch import eventually, next_update, watchers

from dspex_bridge import (
    BridgeUnavailableError,
    SessionContext,
    VariableNotFoundError,
    VariableUpdate,
    WatchItem,
    WatchLagged,
)
from dspex_bridge.shared_watch import QUEUE_LIMIT, SharedVariableWatch
from dspex_bridge.testing import BridgeFixture


@pytest.fixture
async def channel(bridge: BridgeFixture) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(bridge.address) as aio_channel:
        yield aio_channel


@pytest.fixture
def session(channel: grpc.aio.Channel, bridge: BridgeFixture, session_id: str) -> SessionContext:
    return SessionContext(session_id, channel, token=bridge.token)


def on_bridge(bridge: BridgeFixture, session_id: str, count: int) -> Callable[[], bool]:
    return lambda: watchers(bridge, session_id) == count


async def test_shared_watchers_see_their_variables_in_order_on_one_stream(
    session: SessionContext, channel: grpc.aio.Channel, bridge: BridgeFixture
) -> None:
    sid = session.session_id
    a_id = await session.register_variable("a", "integer", 1)
    await session.register_variable("b", "string", "x")
    other_context = SessionContext(sid, channel, token=bridge.token)
    only_a = session.watch_variables([a_id], include_initial=True, shared=True)
    everything = other_context.watch_variables(shared=True)
    assert isinstance(only_a, SharedVariableWatch)
    await only_a.ready()
    await everything.ready()
    await eventually(on_bridge(bridge, sid, 1))  # one stream for both

    initial = await next_update(only_a)
    assert (initial.name, initial.value, initial.old_value, initial.version) == ("a", 1, None, 0)
    assert bridge.command("set", sid, "b", '"y"') == {"version": 1}
    bridge.command("set", sid, "a", "2")
    await session.set_variable("a", 3, metadata={"by": "python"})
    seen = [await next_update(only_a), await next_update(only_a)]
    assert [(u.name, u.value, u.old_value, u.version, u.source) for u in seen] == [
        ("a", 2, 1, 1, "rust"),
        ("a", 3, 2, 2, "python"),
    ]
    assert seen[1].metadata["by"] == "python"
    everyone = [await next_update(everything) for _ in range(3)]
    assert [(u.name, u.value) for u in everyone] == [("b", "y"), ("a", 2), ("a", 3)]

    # The stream stays while one watcher shares it, and goes with the last.
    await only_a.aclose()
    bridge.command("set", sid, "a", "4")
    assert (await next_update(everything)).value == 4
    assert watchers(bridge, sid) == 1
    await everything.aclose()
    await eventually(on_bridge(bridge, sid, 0))
    with pytest.raises(StopAsyncIteration):
        await everything.__anext__()


async def test_a_slow_shared_watcher_lags_alone_and_resynchronises(
    session: SessionContext, bridge: BridgeFixture
) -> None:
    sid = session.session_id
    await session.register_variable("n", "integer", 0)
    await session.register_variable("other", "integer", 0)
    count = 20 * QUEUE_LIMIT
    async with (
        session.watch_variables(["n", "other"], shared=True) as slow,
        session.watch_variables(["n"], shared=True) as fast,
    ):
        await slow.ready()
        await fast.ready()

        async def read_to_the_end() -> list[WatchItem]:
            items: list[WatchItem] = []
            while True:
                item = await asyncio.wait_for(fast.__anext__(), 10.0)
                items.append(item)
                if isinstance(item, VariableUpdate) and item.value == count:
                    return items

        reader = asyncio.ensure_future(read_to_the_end())
        burst = await asyncio.to_thread(bridge.command, "burst", sid, "n", str(count))
        assert burst["version"] == count
        fast_items = await reader
        versions = [i.version for i in fast_items if isinstance(i, VariableUpdate)]
        assert versions == sorted(set(versions)) and versions[-1] == count

        # The slow one never read during the burst: told it lagged, then given the current value of what moved.
        items = [await asyncio.wait_for(slow.__anext__(), 5.0)]
        while not isinstance(items[-1], VariableUpdate) or items[-1].value != count:
            items.append(await asyncio.wait_for(slow.__anext__(), 5.0))
        lags = [i for i in items if isinstance(i, WatchLagged)]
        seen = sum(1 for i in items if isinstance(i, VariableUpdate) and i.old_value is not None)
        assert lags and seen + sum(lag.missed for lag in lags) <= count
        # The final value: resynchronised, or (written while the resync read the values) delivered as such.
        final = items[-1]
        assert isinstance(final, VariableUpdate) and final.version == count
        assert any(isinstance(i, VariableUpdate) and i.old_value is None for i in items), "a resynchronisation"
        assert not any(isinstance(i, VariableUpdate) and i.name == "other" for i in items), "other never moved"
        # Recovered: the next write arrives (drops the shared stream noticed after the final value may be reported
        # first, then followed by the current value: this write).
        bridge.command("set", sid, "n", "-1")
        item = await asyncio.wait_for(slow.__anext__(), 5.0)
        while isinstance(item, WatchLagged):
            item = await asyncio.wait_for(slow.__anext__(), 5.0)
        assert isinstance(item, VariableUpdate), item
        assert (item.value, item.version) == (-1, count + 1) and item.old_value in (count, None)


async def test_a_shared_watch_of_an_unknown_variable_is_refused(session: SessionContext) -> None:
    watch = session.watch_variables(["nope"], shared=True)
    with pytest.raises(VariableNotFoundError, match="nope"):
        await watch.ready()
    await watch.aclose()


async def test_a_silent_shared_watch_goes_stale_and_leaves_the_stream(
    session: SessionContext, bridge: BridgeFixture
) -> None:
    sid = session.session_id
    await session.register_variable("x", "integer", 0)
    # Heartbeats every second, but silence is tolerated for 0.05 periods only (50 ms).
    watch = session.watch_variables(["x"], heartbeat_ms=1000, stale_after=0.05, shared=True)
    await watch.ready()
    assert watch.live
    with pytest.raises(BridgeUnavailableError, match="silent"):
        await asyncio.wait_for(watch.__anext__(), 5.0)
    assert watch.closed and not watch.live
    await eventually(on_bridge(bridge, sid, 0))
