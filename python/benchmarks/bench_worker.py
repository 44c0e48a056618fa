"""The Python-side baseline for the worker's call overhead, and the worker seen from Python.

Measures, in one run:

- ``in_process_predict``: ``dspy.Predict("question -> answer")`` called in this process with
  the test LM (``EchoLM``), under the worker's DSPy configuration (no cache, no history) —
  the floor the Rust path (Rust → gRPC → worker → the same Predict) is compared with;
- ``in_process_variable_aware``: the same call through ``VariableAwarePredict.call_with_settings``
  with a per-call temperature (what the worker runs);
- ``worker_cold_start``: ``python -m dspex_bridge.worker`` spawn → readiness line (``import dspy``
  included), a few times;
- ``worker_call`` / ``worker_health``: that Predict called through a real worker from a Python
  gRPC client (bound temperature in the call), and a bare Health round trip.

Prints JSON: p50 / p99 / mean in µs (cold start in ms).

    make setup && .venv/bin/python python/benchmarks/bench_worker.py [--calls 500] [--starts 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from dspex_bridge.testing import latency_summary


def measure(op: Callable[[], Any], calls: int, warmup: int = 50) -> dict[str, float]:
    for _ in range(warmup):
        op()
    clock = time.perf_counter_ns
    samples = []
    for _ in range(calls):
        start = clock()
        op()
        samples.append(clock() - start)
    return latency_summary(samples)


def in_process(calls: int) -> dict[str, Any]:
    import dspy

    from dspex_bridge.dspy_integration import VariableAwarePredict
    from dspex_bridge.testing import EchoLM
    from dspex_bridge.worker.dspy_setup import configure_dspy

    configure_dspy()
    lm = EchoLM(max_requests=100)
    predict = dspy.Predict("question -> answer")
    aware = VariableAwarePredict("question -> answer")
    with dspy.context(lm=lm):
        plain = measure(lambda: predict(question="What is 2+2?"), calls)
        bound = measure(lambda: aware.call_with_settings({"temperature": 0.3}, question="What is 2+2?"), calls)
    return {"in_process_predict": plain, "in_process_variable_aware": bound}


def start_worker(token: str) -> tuple[subprocess.Popen[str], dict[str, Any], float]:
    env = dict(os.environ, DSPEX_BRIDGE_TOKEN=token)
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "dspex_bridge.worker", "--worker-id", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    elapsed = time.perf_counter() - started
    if not line.startswith("DSPEX_WORKER_READY "):
        process.kill()
        raise RuntimeError(f"the worker did not start: {line!r}")
    return process, json.loads(line.split(" ", 1)[1]), elapsed


def through_worker(calls: int, starts: int) -> dict[str, Any]:
    import grpc

    from dspex_bridge._proto_loader import pb
    from dspex_bridge._proto_loader import worker_pb as wpb
    from dspex_bridge._proto_loader import worker_pb_grpc as wpb_grpc

    token = secrets.token_hex(16)
    cold: list[float] = []
    for _ in range(starts):
        process, _ready, elapsed = start_worker(token)
        cold.append(elapsed * 1000)
        process.terminate()
        process.wait()

    process, ready, _elapsed = start_worker(token)
    try:
        channel = grpc.insecure_channel(f"127.0.0.1:{ready['port']}")
        stub = wpb_grpc.WorkerStub(channel)
        metadata = (("x-dspex-token", token),)
        stub.ConfigureLm(wpb.ConfigureLmRequest(session_id="bench", lm=wpb.LmSpec(echo=True)), metadata=metadata)
        stub.CreateModule(
            wpb.CreateModuleRequest(
                module_id="predict",
                session_id="bench",
                module_type="Predict",
                signature="question -> answer",
                bindings=[wpb.Binding(setting="temperature", variable="temperature")],
            ),
            metadata=metadata,
        )
        request = wpb.CallModuleRequest(
            module_id="predict",
            inputs={"question": pb.Value(string_value="What is 2+2?")},
            bound_values={"temperature": pb.Value(float_value=0.3)},
        )
        call = measure(lambda: stub.CallModule(request, metadata=metadata), calls)
        health = measure(lambda: stub.Health(wpb.HealthRequest(), metadata=metadata), calls)
        channel.close()
    finally:
        process.terminate()
        process.wait()
    cold.sort()
    return {
        "worker_cold_start_ms": {
            "median": round(cold[len(cold) // 2], 1),
            "min": round(cold[0], 1),
            "max": round(cold[-1], 1),
            "runs": len(cold),
        },
        "worker_call": call,
        "worker_health": health,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--starts", type=int, default=3)
    parser.add_argument("--no-worker", action="store_true", help="only the in-process baseline")
    args = parser.parse_args()
    result: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count()},
        "calls": args.calls,
    }
    result.update(in_process(args.calls))
    if not args.no_worker:
        result.update(through_worker(args.calls, args.starts))
        result["worker_call_overhead_p50_us"] = round(
            result["worker_call"]["p50_us"] - result["in_process_predict"]["p50_us"], 1
        )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
