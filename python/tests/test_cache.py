"""The read cache of `SessionContext(cache=True)` against the real Rust bridge: served from
memory, coherent with Rust and Python writes, read-your-writes, bypass, fallback when its
stream is down, and the variable-aware modules' sync before a call."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import grpc.aio
import pytest

from dspex_bridge import BridgeUnavailableError, SessionContext, VariableNotFoundError
from dspex_bridge.dspy_integration import VariableAwarePredict
from dspex_bridge.testing import BridgeFixture
from dspex_bridge.worker.config import CACHE_ENV, read_config
from dspex_bridge.worker.service import WorkerService


class CountingInterceptor(grpc.aio.UnaryUnaryClientInterceptor):
    """Counts the unary calls made on a channel, by method name (GetVariable, ...)."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    async def intercept_unary_unary(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        method = client_call_details.method
        self.calls[(method.decode() if isinstance(method, bytes) else method).rsplit("/", 1)[-1]] += 1
        return await continuation(client_call_details, request)


@pytest.fixture
def rpcs() -> CountingInterceptor:
    return CountingInterceptor()


@pytest.fixture
async def channel(bridge: BridgeFixture, rpcs: CountingInterceptor) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(bridge.address, interceptors=[rpcs]) as aio_channel:
        yield aio_channel


@pytest.fixture
async def cached(channel: grpc.aio.Channel, bridge: BridgeFixture, session_id: str) -> AsyncIterator[SessionContext]:
    """A cached session on a new session holding `x` (integer 0) and `t` (float 0.5)."""
    setup = SessionContext(session_id, channel, token=bridge.token)
    await setup.register_variable("x", "integer", 0)
    await setup.register_variable("t", "float", 0.5, {"min": 0.0, "max": 2.0})
    async with SessionContext(session_id, channel, token=bridge.token, cache=True) as session:
        assert session.cache is not None
        assert await session.cache.wait_live()
        yield session


async def eventually(check: Callable[[], Any], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.002)


async def test_reads_are_served_from_memory_and_follow_rust_writes(
    cached: SessionContext, bridge: BridgeFixture, rpcs: CountingInterceptor
) -> None:
    before = rpcs.calls["GetVariable"]
    assert await cached.get_variable("x") == 0
    assert await cached.get_variable("t") == 0.5
    bridge.command("set", cached.session_id, "x", "41")

    async def seen() -> bool:
        return await cached.get_variable("x") == 41

    await eventually(seen)
    assert rpcs.calls["GetVariable"] == before, "no round trip: every read came from the cache"
    assert cached.cache is not None and cached.cache.round_trips == 0


async def test_bypass_cache_forces_a_round_trip(cached: SessionContext, rpcs: CountingInterceptor) -> None:
    before = rpcs.calls["GetVariable"]
    assert await cached.get_variable("x", bypass_cache=True) == 0
    assert rpcs.calls["GetVariable"] == before + 1
    assert await cached.get_variable("x") == 0
    assert rpcs.calls["GetVariable"] == before + 1


async def test_a_miss_is_a_round_trip_that_fills_the_cache(
    cached: SessionContext, channel: grpc.aio.Channel, bridge: BridgeFixture, rpcs: CountingInterceptor
) -> None:
    # Registered after the cache's stream started: no update until its first write.
    other = SessionContext(cached.session_id, channel, token=bridge.token)
    var_id = await other.register_variable("late", "string", "a")
    before = rpcs.calls["GetVariable"]
    assert await cached.get_variable("late") == "a"
    assert await cached.get_variable("late") == "a"
    assert await cached.get_variable(var_id) == "a"  # by id, from the same entry
    assert rpcs.calls["GetVariable"] == before + 1
    with pytest.raises(VariableNotFoundError):
        await cached.get_variable("missing")


async def test_read_your_writes(cached: SessionContext, bridge: BridgeFixture) -> None:
    sid = cached.session_id
    for value in range(1, 50):
        await cached.set_variable("x", value)
        assert await cached.get_variable("x") == value
    # Coerced by the bridge (an int written to a float): the next read is the coerced value.
    await cached.set_variable("t", 1)
    read = await cached.get_variable("t")
    assert read == 1.0 and isinstance(read, float)
    await cached.update_variables({"x": 500, "t": 0.25})
    assert await cached.get_variables(["x", "t"]) == {"x": 500, "t": 0.25}
    assert await cached.get_variable("x") == 500
    # Interleaved with Rust writes: never an older value than our own last write.
    for value in range(600, 640):
        bridge.command("set", sid, "x", str(value))
        await cached.set_variable("x", value + 1000)
        assert await cached.get_variable("x") == value + 1000
    # A refused write changes nothing, in the cache either.
    with pytest.raises(ValueError):
        await cached.set_variable("t", 9.0)
    assert await cached.get_variable("t") == 0.25


async def test_coherent_under_a_concurrent_rust_burst(cached: SessionContext, bridge: BridgeFixture) -> None:
    # `x` takes the values 1..count, and value == version: a read must never go backwards, from
    # the burst's start until the cache holds its last write. (The burst may end before its first
    # update reaches the cache: how many values the reads see in between is timing, not behaviour.)
    count = 20_000
    burst = asyncio.ensure_future(asyncio.to_thread(bridge.command, "burst", cached.session_id, "x", str(count)))
    reads: list[int] = []
    deadline = time.monotonic() + 10.0
    while not burst.done() or reads[-1] != count:
        reads.append(int(await cached.get_variable("x")))
        assert time.monotonic() < deadline, f"the cache did not reach the burst's last write: {reads[-1]}"
        await asyncio.sleep(0)
    assert (await burst)["version"] == count
    assert reads == sorted(reads), "a cached read went backwards"
    assert cached.cache is not None
    assert await cached.get_variable("x", bypass_cache=True) == count


async def test_get_variables_from_the_cache(cached: SessionContext, rpcs: CountingInterceptor) -> None:
    before = rpcs.calls["GetVariables"]
    assert await cached.get_variables(["x", "t"]) == {"x": 0, "t": 0.5}
    assert rpcs.calls["GetVariables"] == before
    # An unknown name: a round trip, which omits it.
    assert await cached.get_variables(["x", "nope"]) == {"x": 0}
    assert rpcs.calls["GetVariables"] == before + 1


async def test_a_dead_stream_stops_the_cache_which_reconnects(
    cached: SessionContext, bridge: BridgeFixture, rpcs: CountingInterceptor
) -> None:
    cache = cached.cache
    assert cache is not None and cache.live
    watch = cache._watch
    assert watch is not None
    watch._call.cancel()  # the stream dies under the cache (as on a broken connection)
    await asyncio.sleep(0)
    before = rpcs.calls["GetVariable"]
    bridge.command("set", cached.session_id, "x", "5")
    assert await cached.get_variable("x") == 5  # not the stale cached 0: a round trip
    assert rpcs.calls["GetVariable"] == before + 1

    async def back() -> bool:
        return cache.live and cache.reconnects == 1

    await eventually(back)
    bridge.command("set", cached.session_id, "x", "6")

    async def seen() -> bool:
        return await cached.get_variable("x") == 6

    await eventually(seen)


async def test_a_bridge_gone_means_errors_not_stale_values() -> None:
    with BridgeFixture.start() as doomed:
        channel = grpc.aio.insecure_channel(doomed.address)
        async with SessionContext(doomed.session_id, channel, token=doomed.token, cache=True) as session:
            assert session.cache is not None and await session.cache.wait_live()
            assert await session.get_variable("temperature") == 0.7
            doomed.close()

            async def refused() -> bool:
                try:
                    await session.get_variable("temperature")
                except BridgeUnavailableError:
                    return True
                return False

            await eventually(refused)
            assert not session.cache.live
        await channel.close()


async def test_close_stops_the_cache_and_its_watcher(
    channel: grpc.aio.Channel, bridge: BridgeFixture, session_id: str, rpcs: CountingInterceptor
) -> None:
    session = SessionContext(session_id, channel, token=bridge.token, cache=True)
    assert session.cache is not None and await session.cache.wait_live()
    assert bridge.command("watchers", session_id) == {"count": 1}
    await session.close()
    assert not session.cache.live
    assert await _watchers_drop_to_zero(bridge, session_id), "the bridge still has the closed cache's watcher"
    await session.register_variable("y", "integer", 3)
    before = rpcs.calls["GetVariable"]
    assert await session.get_variable("y") == 3
    assert rpcs.calls["GetVariable"] == before + 1, "a closed cache serves nothing"


async def _watchers_drop_to_zero(bridge: BridgeFixture, session_id: str) -> bool:
    """Whether the session's watcher count reaches 0 within 5 s (the bridge drops a cancelled
    watcher when it sees the cancellation, not at once)."""
    for _ in range(500):
        if bridge.command("watchers", session_id) == {"count": 0}:
            return True
        await asyncio.sleep(0.01)
    return False


# dspy is imported at collection: an import inside a test blocks the event loop for longer
# than the cache trusts a silent stream (it then reads through until the next heartbeat).
async def test_the_module_sync_before_a_call_reads_the_cache(
    cached: SessionContext, bridge: BridgeFixture, rpcs: CountingInterceptor
) -> None:
    module = VariableAwarePredict("question -> answer", session_context=cached)
    await module.bind_to_variable("temperature", "t")
    await module.bind_to_variable("max_tokens", "x")
    before = rpcs.calls["GetVariable"]
    assert await module.sync_variables() == {"temperature": 0.5, "max_tokens": 0}
    bridge.command("set", cached.session_id, "t", "0.9")

    async def synced() -> bool:
        temperature: float = (await module.sync_variables())["temperature"]
        return temperature == 0.9

    await eventually(synced)
    assert module.temperature == 0.9
    assert rpcs.calls["GetVariable"] == before, "the sync was served by the cache"


async def test_workers_cache_by_default(bridge: BridgeFixture) -> None:
    environ = {"DSPEX_BRIDGE_ADDRESS": bridge.address, "DSPEX_BRIDGE_TOKEN": bridge.token}
    for value, expected in ((None, True), ("1", True), ("0", False)):
        env = environ if value is None else {**environ, CACHE_ENV: value}
        service = WorkerService.from_config(read_config(["--worker-id", "0"], env))
        context = service.sessions.context(bridge.session_id)
        assert context is not None
        assert (context.cache is not None) is expected, (value, context.cache)
        if expected:
            # A real cache: it goes live on the session's watch stream and serves reads.
            assert context.cache is not None and await context.cache.wait_live()
            assert await context.get_variable("temperature") == 0.7
        await service.close()
