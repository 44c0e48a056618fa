"""Watch streams and the read cache under load, from Python, against the real Rust bridge
fixture (loopback only; bounded in count and in time). Prints JSON.

1. ``load``: a Rust writer (the fixture's ``burst`` command: ``ctx.set`` ``--updates``
   times, as fast as it can) on a session nobody watches, then on a session that
   ``--watchers`` Python watchers (asyncio tasks over ``--channels`` channels) watch
   (``flat_out``), then again paced (``--paced-updates`` writes, ``--pause-us`` apart:
   ``paced``); then both again with the watchers sharing a stream per channel (``shared=True``:
   ``flat_out_shared``, ``paced_shared``). Every watcher must end on the final value (a watcher that lagged
   resynchronises to it).
   Delivery latency is the receive time of each update minus the time the bridge published
   it (``timestamp_us``; the same machine clock), over the updates delivered as such (not
   resynchronised values).
2. ``cached_get``: the cost of ``await session.get_variable(name)`` served by the cache
   (``cache=True``), beside the round trip (``bypass_cache=True``).
3. ``visibility``: after a Rust ``set`` returns (the fixture's ``set_at``, which says when),
   how long until a cached ``get_variable`` in Python returns the new value.

    make setup && cargo build --release --example bridge_fixture
    DSPEX_BRIDGE_FIXTURE=target/release/examples/bridge_fixture \\
        .venv/bin/python python/benchmarks/bench_watch.py
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import grpc
import grpc.aio

from dspex_bridge import SessionContext, VariableUpdate, WatchLagged
from dspex_bridge.shared_watch import SharedVariableWatch
from dspex_bridge.testing import BridgeFixture, fixture_path, latency_summary
from dspex_bridge.watch import VariableWatch

# The latencies the cache is held to, printed beside the figures.
TARGETS = {"cached_get_us": 5.0, "visibility_p99_us": 5000.0}


def now_us() -> int:
    return time.time_ns() // 1000


@dataclass
class WatcherResult:
    latencies_ns: list[int] = field(default_factory=list)
    updates: int = 0
    resync_values: int = 0
    lags: int = 0
    missed: int = 0
    final: Any = None


async def watcher(
    session: SessionContext, name: str, final: int, ready: asyncio.Event, result: WatcherResult, shared: bool
) -> None:
    """Reads until the watched variable holds ``final``."""
    watch: VariableWatch | SharedVariableWatch = (
        session.watch_variables([name], include_initial=True, shared=True)
        if shared
        else session.watch_variables([name], include_initial=True)
    )
    async with watch:
        await watch.ready()
        ready.set()
        async for item in watch:
            if isinstance(item, WatchLagged):
                result.lags += 1
                result.missed += item.missed
                continue
            assert isinstance(item, VariableUpdate)
            if item.old_value is None:
                result.resync_values += 1
            else:
                result.updates += 1
                result.latencies_ns.append((now_us() - item.timestamp_us) * 1000)
            result.final = item.value
            if item.value == final:
                return


async def burst(bridge: BridgeFixture, session_id: str, name: str, count: int, pause_us: int = 0) -> dict[str, Any]:
    answer = await asyncio.to_thread(bridge.command, "burst", session_id, name, str(count), str(pause_us))
    if "error" in answer:
        raise RuntimeError(answer["error"])
    return answer


def throughput(answer: dict[str, Any], count: int) -> dict[str, float]:
    elapsed = max(1, int(answer["elapsed_us"]))
    return {"elapsed_ms": round(elapsed / 1000, 2), "updates_per_s": round(count * 1e6 / elapsed)}


async def watched_burst(
    bridge: BridgeFixture,
    channels: list[grpc.aio.Channel],
    n_watchers: int,
    count: int,
    pause_us: int,
    deadline_s: float,
    shared: bool = False,
) -> dict[str, Any]:
    """``n_watchers`` watchers on a new session while the Rust writer sets 1..count (``shared``: sharing a
    stream per channel, `dspex_bridge.shared_watch`)."""
    session_id = bridge.new_session()
    await SessionContext(session_id, channels[0], token=bridge.token).register_variable("n", "integer", 0)
    results = [WatcherResult() for _ in range(n_watchers)]
    readies = [asyncio.Event() for _ in range(n_watchers)]
    sessions = [SessionContext(session_id, channels[i % len(channels)], token=bridge.token) for i in range(n_watchers)]
    tasks = [
        asyncio.ensure_future(watcher(s, "n", count, ready, result, shared))
        for s, ready, result in zip(sessions, readies, results, strict=True)
    ]
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 30)
    registered = bridge.command("watchers", session_id)["count"]

    started = time.perf_counter()
    answer = await burst(bridge, session_id, "n", count, pause_us)
    done, pending = await asyncio.wait(tasks, timeout=deadline_s)
    drain_s = time.perf_counter() - started
    for task in pending:
        task.cancel()
    for task in done:
        task.result()  # re-raises a watcher's failure
    await asyncio.sleep(0.1)

    latencies = [ns for r in results for ns in r.latencies_ns]
    return {
        "pause_between_writes_us": pause_us,
        "writer": throughput(answer, count),
        "watchers_registered_on_the_bridge": registered,
        "watchers_left_on_the_bridge_after": bridge.command("watchers", session_id)["count"],
        "all_watchers_ended_on_the_final_value": not pending and all(r.final == count for r in results),
        "seconds_until_every_watcher_had_the_final_value": round(drain_s, 3),
        "delivery_latency": latency_summary(latencies) if latencies else None,
        "updates_delivered_as_such": len(latencies),
        "share_delivered_as_such": round(len(latencies) / (count * n_watchers), 4),
        "watchers_that_lagged": sum(1 for r in results if r.lags),
        "lag_notices": sum(r.lags for r in results),
        "missed_reported": sum(r.missed for r in results),
    }


async def bench_writer(bridge: BridgeFixture, args: argparse.Namespace) -> dict[str, Any]:
    channels = [grpc.aio.insecure_channel(bridge.address) for _ in range(max(1, args.channels))]
    try:
        # Without watchers: best of three.
        session_id = bridge.new_session()
        await SessionContext(session_id, channels[0], token=bridge.token).register_variable("n", "integer", 0)
        alone = [throughput(await burst(bridge, session_id, "n", args.updates), args.updates) for _ in range(3)]
        return {
            "watchers": args.watchers,
            "channels": len(channels),
            "updates": args.updates,
            "writer_without_watchers": max(alone, key=lambda t: t["updates_per_s"]),
            "flat_out": await watched_burst(bridge, channels, args.watchers, args.updates, 0, args.deadline),
            "paced": await watched_burst(
                bridge, channels, args.watchers, args.paced_updates, args.pause_us, args.deadline
            ),
            "flat_out_shared": await watched_burst(
                bridge, channels, args.watchers, args.updates, 0, args.deadline, shared=True
            ),
            "paced_shared": await watched_burst(
                bridge, channels, args.watchers, args.paced_updates, args.pause_us, args.deadline, shared=True
            ),
        }
    finally:
        for channel in channels:
            await channel.close()


async def bench_cached_get(bridge: BridgeFixture, calls: int) -> dict[str, Any]:
    async with (
        grpc.aio.insecure_channel(bridge.address) as channel,
        SessionContext(bridge.session_id, channel, token=bridge.token, cache=True) as session,
    ):
        assert session.cache is not None and await session.cache.wait_live()
        get = session.get_variable
        for _ in range(1000):
            await get("temperature")
        best = float("inf")
        for _ in range(5):  # best of five batches: the cost, without the machine's noise
            start = time.perf_counter_ns()
            for _ in range(calls):
                await get("temperature")
            best = min(best, (time.perf_counter_ns() - start) / calls)
        round_trips = []
        for _ in range(min(2000, calls)):
            start = time.perf_counter_ns()
            await get("temperature", bypass_cache=True)
            round_trips.append(time.perf_counter_ns() - start)
        assert session.cache.round_trips == 0
        return {
            "cached_get_us": round(best / 1000, 3),
            "calls_per_batch": calls,
            "round_trip_get": latency_summary(round_trips),
        }


async def bench_visibility(bridge: BridgeFixture, trials: int) -> dict[str, Any]:
    session_id = bridge.new_session()
    async with grpc.aio.insecure_channel(bridge.address) as channel:
        await SessionContext(session_id, channel, token=bridge.token).register_variable("v", "integer", 0)
        async with SessionContext(session_id, channel, token=bridge.token, cache=True) as session:
            assert session.cache is not None and await session.cache.wait_live()
            get = session.get_variable
            samples: list[int] = []
            early = 0
            for i in range(1, trials + 1):
                setter = asyncio.ensure_future(asyncio.to_thread(bridge.command, "set_at", session_id, "v", str(i)))
                while await get("v") != i:
                    await asyncio.sleep(0)
                seen = now_us()
                answer = await setter
                lag = seen - int(answer["at_us"])
                early += lag < 0  # seen before `set` had returned (published inside it)
                samples.append(max(0, lag) * 1000)
            return {
                "trials": trials,
                "set_to_cached_read": latency_summary(samples),
                "max_us": round(max(samples) / 1000, 1),
                "seen_before_set_returned": early,
                "round_trips_by_the_cache": session.cache.round_trips,
            }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    with BridgeFixture.start() as bridge:
        return {
            "benchmark": "bench_watch",
            "fixture": str(fixture_path()),
            "python": platform.python_version(),
            "grpcio": grpc.__version__,
            "cpus": os.cpu_count(),
            "targets": TARGETS,
            "cached_get": await bench_cached_get(bridge, args.calls),
            "visibility": await bench_visibility(bridge, args.trials),
            "load": await bench_writer(bridge, args),
        }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--watchers", type=int, default=50, help="Python watchers (default 50)")
    parser.add_argument("--channels", type=int, default=4, help="gRPC channels they share (default 4)")
    parser.add_argument("--updates", type=int, default=10_000, help="writes by the Rust writer (default 10,000)")
    parser.add_argument("--paced-updates", type=int, default=1000, help="writes of the paced run (default 1,000)")
    parser.add_argument("--pause-us", type=int, default=5000, help="pause between paced writes (default 5,000 µs)")
    parser.add_argument("--calls", type=int, default=100_000, help="cached gets per batch (default 100,000)")
    parser.add_argument("--trials", type=int, default=1000, help="visibility trials (default 1,000)")
    parser.add_argument("--deadline", type=float, default=60.0, help="seconds the watchers may take (default 60)")
    args = parser.parse_args(argv)
    if args.watchers > 1000 or max(args.updates, args.paced_updates) > 1_000_000 or args.trials > 100_000:
        sys.exit("bench_watch: counts are bounded (watchers ≤ 1000, updates ≤ 1e6, trials ≤ 1e5)")
    if args.paced_updates * args.pause_us > 60_000_000:
        sys.exit("bench_watch: the paced run is bounded to a minute (paced updates × pause)")
    print(json.dumps(asyncio.run(main_async(args)), indent=2))


if __name__ == "__main__":
    main()
