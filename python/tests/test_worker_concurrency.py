"""Module calls on the worker's event loop: many calls in flight at once on one real worker, each with its own
inputs and settings, holding no thread each; and which calls take the thread pool instead."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import dspy
import grpc.aio
import pytest
from test_worker import Worker, create, output, real, text

from dspex_bridge._proto_loader import worker_pb as wpb
from dspex_bridge._proto_loader import worker_pb_grpc as wpb_grpc
from dspex_bridge.testing import AsyncEchoEngine, BridgeFixture, EchoEngine, EchoLM, slow_echo_lm
from dspex_bridge.worker import modules
from dspex_bridge.worker.service import LOOP_BYTES

CALLS = 1000
DELAY_S = 0.05


@pytest.fixture(scope="module")
def worker(bridge: BridgeFixture) -> Iterator[Worker]:
    process = Worker(bridge, worker_id=11)
    yield process
    assert process.stop() == 0


def threads_of(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("Threads:"))


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


def slow_session(worker: Worker, bridge: BridgeFixture, factory: str = "dspex_bridge.testing:slow_echo_lm") -> str:
    """The bridge's main session (it has a `temperature` variable) with a 50 ms LM, on ``worker``."""
    session = bridge.session_id
    spec = wpb.LmSpec(factory=factory, settings={"delay": real(DELAY_S)})
    worker.call("ConfigureLm", wpb.ConfigureLmRequest(session_id=session, lm=spec))
    return session


async def many_calls(worker: Worker, module: str, count: int, question: str = "q") -> tuple[list[Any], float, int]:
    """``count`` calls at once, each with its own question and bound temperature; their answers, the wall time
    and the most threads the worker had meanwhile."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{worker.ready['port']}") as channel:
        stub: Any = wpb_grpc.WorkerStub(channel)

        async def one(i: int) -> Any:
            request = wpb.CallModuleRequest(
                module_id=module,
                inputs={"question": text(f"{question}{i}")},
                bound_values={"temperature": real(i / 1000)},
            )
            return await stub.CallModule(request, metadata=worker.metadata, timeout=60)

        most_threads = 0
        started = time.perf_counter()
        calls = asyncio.gather(*(one(i) for i in range(count)))
        while True:
            done, _ = await asyncio.wait([calls], timeout=0.01)
            most_threads = max(most_threads, threads_of(worker.process.pid))
            if done:
                break
        return await calls, time.perf_counter() - started, most_threads


def test_a_thousand_calls_in_flight_each_answer_their_own_question(worker: Worker, bridge: BridgeFixture) -> None:
    session = slow_session(worker, bridge)
    module = create(worker, session, "Predict", bindings=[wpb.Binding(setting="temperature", variable="temperature")])
    asyncio.run(many_calls(worker, module, 20))  # warm-up: the first call imports and builds what DSPy needs
    idle_threads = threads_of(worker.process.pid)
    before = rss_kib(worker.process.pid)
    answers, wall, most_threads = asyncio.run(many_calls(worker, module, CALLS))
    for i, answer in enumerate(answers):
        assert output(answer, "answer") == f"Echo: q{i} [temperature={i / 1000!r} max_tokens=none]"
    print(
        f"{CALLS} concurrent calls of {DELAY_S * 1000:.0f} ms: {wall:.2f} s wall; worker threads {idle_threads} idle, "
        f"{most_threads} at most; RSS {before} KiB before"
    )
    assert wall < 30, f"{CALLS} calls of {DELAY_S} s took {wall:.1f} s"
    # A thread per call would be a thousand; the thread pool alone would cap the calls at 16 at once.
    assert most_threads < idle_threads + 20, (idle_threads, most_threads)


def test_a_sync_only_lm_still_answers_concurrent_calls_in_threads(worker: Worker, bridge: BridgeFixture) -> None:
    session = slow_session(worker, bridge, "worker_helpers:sync_only_echo_lm")
    module = create(
        worker, session, "ChainOfThought", bindings=[wpb.Binding(setting="temperature", variable="temperature")]
    )
    answers, wall, _ = asyncio.run(many_calls(worker, module, 32, question="sync"))
    for i, answer in enumerate(answers):
        assert output(answer, "answer") == f"Echo: sync{i} [temperature={i / 1000!r} max_tokens=none]"
    # 16 threads: 32 calls of 50 ms take two rounds at least, never one (they ran in the pool).
    assert wall >= 2 * DELAY_S, wall


def test_a_large_request_is_answered_beside_small_ones(worker: Worker, bridge: BridgeFixture) -> None:
    session = slow_session(worker, bridge)
    module = create(worker, session, "Predict")
    big = "x" * (LOOP_BYTES * 4)

    async def both() -> tuple[Any, list[Any]]:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{worker.ready['port']}") as channel:
            stub: Any = wpb_grpc.WorkerStub(channel)

            def request(question: str) -> Any:
                return wpb.CallModuleRequest(module_id=module, inputs={"question": text(question)})

            large = stub.CallModule(request(big), metadata=worker.metadata, timeout=60)
            small = [stub.CallModule(request(f"s{i}"), metadata=worker.metadata, timeout=60) for i in range(50)]
            return await large, await asyncio.gather(*small)

    large, small = asyncio.run(both())
    assert output(large, "answer") == f"Echo: {big} [temperature=none max_tokens=none]"
    assert [output(answer, "answer") for answer in small] == [
        f"Echo: s{i} [temperature=none max_tokens=none]" for i in range(50)
    ]


def test_a_cancelled_call_on_the_loop_leaves_the_worker_serving(worker: Worker, bridge: BridgeFixture) -> None:
    session = bridge.new_session()
    spec = wpb.LmSpec(factory="dspex_bridge.testing:slow_echo_lm", settings={"delay": real(5.0)})
    worker.call("ConfigureLm", wpb.ConfigureLmRequest(session_id=session, lm=spec))
    module = create(worker, session, "Predict")

    async def cancelled() -> grpc.StatusCode:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{worker.ready['port']}") as channel:
            stub: Any = wpb_grpc.WorkerStub(channel)
            request = wpb.CallModuleRequest(module_id=module, inputs={"question": text("never")})
            try:
                await stub.CallModule(request, metadata=worker.metadata, timeout=0.3)
            except grpc.aio.AioRpcError as error:
                return error.code()
            return grpc.StatusCode.OK

    started = time.perf_counter()
    assert asyncio.run(cancelled()) == grpc.StatusCode.DEADLINE_EXCEEDED
    assert time.perf_counter() - started < 3
    echo = create(worker, session, "Predict")
    worker.call("ConfigureLm", wpb.ConfigureLmRequest(session_id=session, lm=wpb.LmSpec(echo=True)))
    answer = worker.call("CallModule", wpb.CallModuleRequest(module_id=echo, inputs={"question": text("after")}))
    assert output(answer, "answer") == "Echo: after [temperature=none max_tokens=none]"


# ---- which calls run on the loop ------------------------------------------------------------------------


async def _coroutine_tool(x: int) -> int:
    """An async tool."""
    return x


def _sync_tool(x: int) -> int:
    """A sync tool."""
    return x


class _ForwardOnly(dspy.Predict):  # type: ignore[misc]  # dspy ships no type information
    def forward(self, **kwargs: Any) -> Any:
        return super().forward(**kwargs)


class _LegacyLm(dspy.LM):  # type: ignore[misc]  # dspy ships no type information
    def forward(self, prompt: Any = None, messages: Any = None, **kwargs: Any) -> Any:
        raise NotImplementedError


def test_which_modules_have_an_async_path() -> None:
    assert modules.module_is_async(dspy.Predict("question -> answer"))
    assert modules.module_is_async(dspy.ChainOfThought("question -> answer"))
    assert modules.module_is_async(dspy.ReAct("question -> answer", tools=[_coroutine_tool]))
    assert not modules.module_is_async(dspy.ReAct("question -> answer", tools=[_sync_tool]))
    assert not modules.module_is_async(dspy.ProgramOfThought("question -> answer"))
    # Its own forward would be skipped by the inherited aforward.
    assert not modules.module_is_async(_ForwardOnly("question -> answer"))


def test_which_lms_have_an_async_path() -> None:
    engine = EchoEngine()
    assert modules.lm_is_async(EchoLM())
    assert modules.lm_is_async(slow_echo_lm(0.0))
    assert modules.lm_is_async(dspy.LM("openai/gpt-4o-mini", cache=False))
    assert modules.lm_is_async(dspy.LM("m", engine=engine, async_engine=AsyncEchoEngine(engine)))
    assert not modules.lm_is_async(dspy.LM("m", engine=engine))
    assert not modules.lm_is_async(_LegacyLm("openai/gpt-4o-mini"))
