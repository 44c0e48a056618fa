"""Round-trip latency of the bridge from Python, against the real Rust bridge fixture.

Measures, in one run and over one reused ``grpc.aio`` channel, ``calls`` awaited calls each
of ``SessionContext.get_variable``, ``SessionContext.set_variable`` and a bare ``Ping`` (the
floor: the same client path, token included, with no work on the server). The three are
interleaved in rounds so that drift on the machine affects them alike. Prints JSON: p50, p99
and mean in µs per operation, and the get/ping ratio of the medians.

    make setup && cargo build --release --example bridge_fixture
    DSPEX_BRIDGE_FIXTURE=target/release/examples/bridge_fixture \\
        .venv/bin/python python/benchmarks/bench_bridge.py
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import grpc.aio

from dspex_bridge import SessionContext
from dspex_bridge.testing import BridgeFixture, fixture_path, latency_summary

# The latencies the bridge is held to, printed beside the figures (`meets_targets` says whether they hold).
TARGETS = {"get_p50_us": 300.0, "get_p99_us": 1000.0, "set_p50_us": 350.0, "ratio_get_ping": 1.3}


async def timed(op: Callable[[int], Awaitable[Any]], n: int, out: list[int], offset: int) -> None:
    """Runs ``op(i)`` n times, storing each latency (ns) in ``out[offset + i]``."""
    clock = time.perf_counter_ns
    for i in range(n):
        start = clock()
        await op(i)
        out[offset + i] = clock() - start


async def run(address: str, token: str, session_id: str, calls: int, warmup: int, rounds: int) -> dict[str, Any]:
    async with grpc.aio.insecure_channel(address) as channel:
        session = SessionContext(session_id, channel, token=token)
        await session.register_variable("temperature", "float", 0.7, {"min": 0.0, "max": 2.0})

        get_variable = session.get_variable
        set_variable = session.set_variable
        ping = session.ping
        values = (0.7, 0.8)  # alternate, so every set really writes

        def op_get(_i: int) -> Awaitable[Any]:
            return get_variable("temperature")

        def op_set(i: int) -> Awaitable[Any]:
            return set_variable("temperature", values[i & 1])

        def op_ping(_i: int) -> Awaitable[Any]:
            return ping()

        ops = {"ping": op_ping, "get_variable": op_get, "set_variable": op_set}
        samples = {name: [0] * calls for name in ops}
        scratch = [0] * warmup
        for op in ops.values():
            await timed(op, warmup, scratch, 0)

        per_round = calls // rounds
        for r in range(rounds):
            n = per_round if r < rounds - 1 else calls - per_round * (rounds - 1)
            for name, op in ops.items():
                await timed(op, n, samples[name], r * per_round)

    results: dict[str, Any] = {name: latency_summary(s) for name, s in samples.items()}
    get, set_, ping_ = results["get_variable"], results["set_variable"], results["ping"]
    ratio = round(get["p50_us"] / ping_["p50_us"], 3)
    results["ratio_get_ping_p50"] = ratio
    results["ratio_set_ping_p50"] = round(set_["p50_us"] / ping_["p50_us"], 3)
    results["targets"] = TARGETS
    results["meets_targets"] = (
        get["p50_us"] <= TARGETS["get_p50_us"]
        and get["p99_us"] <= TARGETS["get_p99_us"]
        and set_["p50_us"] <= TARGETS["set_p50_us"]
        and ratio <= TARGETS["ratio_get_ping"]
    )
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=2000, help="measured calls per operation (default 2000)")
    parser.add_argument("--warmup", type=int, default=200, help="unmeasured calls per operation first")
    parser.add_argument("--rounds", type=int, default=10, help="interleaved rounds (default 10)")
    parser.add_argument(
        "--fixture", default=None, help="the bridge_fixture binary (default: $DSPEX_BRIDGE_FIXTURE or target/debug)"
    )
    args = parser.parse_args(argv)

    binary = args.fixture or str(fixture_path())
    with BridgeFixture.start(binary) as bridge:
        session_id = bridge.new_session()
        results = asyncio.run(run(bridge.address, bridge.token, session_id, args.calls, args.warmup, args.rounds))

    report = {
        "calls_per_operation": args.calls,
        **results,
        "fixture": os.path.relpath(binary),
        "machine": {
            "python": platform.python_version(),
            "grpcio": grpc.__version__,
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
    }
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
