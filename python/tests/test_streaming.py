"""Streamed module calls and call scopes, with real DSPy and the test LM: the LM streams its answers in pieces,
``dspex_bridge.worker.streaming`` turns ``dspy.streamify``'s output into the worker's events, a cancelled
`CallScope` stops its call; and ``StreamModule`` through a real worker process."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dspy
import pytest
from test_worker import Worker, create, text

from dspex_bridge._proto_loader import worker_pb as wpb
from dspex_bridge.testing import BridgeFixture, EchoLM, add_numbers, word_count
from dspex_bridge.worker import streaming
from dspex_bridge.worker.modules import ModuleEntry
from dspex_bridge.worker.tools import CallCancelled, CallScope, ScopeCallback, in_scope

QUESTION = "What is 2 plus 3?"


def entry(module: Any) -> ModuleEntry:
    return ModuleEntry("m", "s", module, type(module).__name__, None, {})


async def events(module: Any, lm: Any, **inputs: Any) -> list[wpb.StreamModuleEvent]:
    return [event async for event in streaming.stream(entry(module), lm, None, {}, inputs)]


def by_kind(stream: list[wpb.StreamModuleEvent]) -> tuple[list[str], dict[str, list[str]], Any]:
    statuses: list[str] = []
    tokens: dict[str, list[str]] = {}
    done = None
    for event in stream:
        kind = event.WhichOneof("kind")
        if kind == "status":
            statuses.append(event.status)
        elif kind == "token":
            tokens.setdefault(event.token.field, []).append(event.token.text)
        else:
            done = event.done
    return statuses, tokens, done


def string_output(done: Any, name: str) -> str:
    value: str = done.outputs[name].value.string_value
    return value


# ---- the test LM streams -----------------------------------------------------------------------


async def test_the_test_lm_streams_its_answer_in_pieces(tmp_path: Path) -> None:
    log = tmp_path / "requests.jsonl"
    lm = EchoLM(request_log=str(log))
    program = dspy.streamify(dspy.Predict("question -> answer"))
    chunks: list[str] = []
    with dspy.context(lm=lm):
        async for value in program(question=QUESTION):
            if not isinstance(value, dspy.Prediction) and value.choices[0].delta.content is not None:
                chunks.append(value.choices[0].delta.content)
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    request, sent = lines
    assert request["kind"] == "request" and sent["kind"] == "chunks"
    assert len(chunks) > 5
    # The pieces are the answer, in order; the log says where each starts and when it left.
    assert "".join(chunks) == request["text"]
    assert [piece[2] for piece in sent["chunks"]] == chunks
    assert [piece[1] for piece in sent["chunks"]] == [len("".join(chunks[:i])) for i in range(len(chunks))]
    times = [piece[0] for piece in sent["chunks"]]
    assert times == sorted(times)


def test_the_test_lm_refuses_a_negative_chunk_delay() -> None:
    with pytest.raises(ValueError, match="chunk_delay"):
        EchoLM(chunk_delay=-1)


def test_react_calls_each_tool_once_in_turn_then_finishes() -> None:
    with dspy.context(lm=EchoLM()):
        result = dspy.ReAct("question -> answer", tools=[add_numbers, word_count])(question="Add 2 and 3")
    trajectory = result.trajectory
    assert [trajectory[f"tool_name_{i}"] for i in range(3)] == ["add_numbers", "word_count", "finish"]
    assert trajectory["observation_0"] == 5
    assert trajectory["observation_1"] == 4  # the words of "Add 2 and 3"


# ---- what a streamed call yields ----------------------------------------------------------------


async def test_chain_of_thought_streams_reasoning_then_answer() -> None:
    stream = await events(dspy.ChainOfThought("question -> answer"), EchoLM(), question=QUESTION)
    statuses, tokens, done = by_kind(stream)
    assert statuses == ["running `predict`"]
    assert set(tokens) == {"reasoning", "answer"}
    for field, pieces in tokens.items():
        assert len(pieces) > 3
        assert "".join(pieces) == string_output(done, field)
    kinds = [event.WhichOneof("kind") for event in stream]
    assert kinds[-1] == "done" and kinds.count("done") == 1


async def test_react_says_which_tools_it_calls() -> None:
    stream = await events(dspy.ReAct("question -> answer", tools=[add_numbers]), EchoLM(), question=QUESTION)
    statuses, tokens, done = by_kind(stream)
    assert statuses == [
        "running `react`",
        "calling tool `add_numbers`",
        "tool `add_numbers` finished",
        "running `react`",
        "running `extract.predict`",
    ]
    assert json.loads(done.outputs["trajectory"].json)["observation_0"] == 5
    assert "".join(tokens["answer"]) == string_output(done, "answer")


def test_only_fields_one_predictor_writes_are_streamed() -> None:
    fields = {listener.signature_field_name for listener in streaming.listeners(dspy.ProgramOfThought("q -> answer"))}
    # Three of its predictors write a `reasoning`: their pieces would not add up to one value.
    assert fields == {"answer"}
    react = dspy.ReAct("question -> answer", tools=[add_numbers])
    listeners = {listener.signature_field_name: listener.predict_name for listener in streaming.listeners(react)}
    assert listeners == {"reasoning": "extract.predict", "answer": "extract.predict"}


async def test_an_error_in_the_module_ends_the_stream_with_it() -> None:
    class Broken(dspy.Module):  # type: ignore[misc]
        def forward(self, question: str) -> Any:
            raise ValueError("the module is broken")

    with pytest.raises(ValueError, match="the module is broken"):
        await events(Broken(), EchoLM(), question=QUESTION)


# ---- cancellation ------------------------------------------------------------------------------


@pytest.mark.parametrize("callback", ["always", "on_cancel"])
def test_a_cancelled_scope_stops_its_call_at_the_next_step(callback: ScopeCallback) -> None:
    lm = EchoLM()
    scope = CallScope()

    def cancelling_tool(a: int, b: int) -> int:
        """Adds two integers, and cancels the call it is part of."""
        scope.cancel()
        return a + b

    react = dspy.ReAct("question -> answer", tools=[cancelling_tool])
    with dspy.context(lm=lm), in_scope(scope, callback=callback), pytest.raises(CallCancelled):
        react(question=QUESTION)
    # The tool ran in the first step; nothing after it reached the LM.
    assert len(lm.requests) == 1
    # Outside the scope, the same module runs to its end.
    with dspy.context(lm=lm):
        assert react(question=QUESTION).answer.startswith("Echo:")


def test_a_scope_joins_the_callbacks_on_cancel_only_once_cancelled() -> None:
    scope = CallScope()
    with in_scope(scope, callback="on_cancel"):
        # No callback in force until the cancel: DSPy's decorated calls take their fast path.
        assert not any(callback is scope for callback in dspy.settings.callbacks)
        with dspy.context(lm=EchoLM()):  # a nested context (as a call's own settings) shares the list
            scope.cancel()
            assert any(callback is scope for callback in dspy.settings.callbacks)
    assert not any(callback is scope for callback in dspy.settings.callbacks)


def test_a_scope_cancelled_before_its_call_stops_it_at_once() -> None:
    lm = EchoLM()
    scope = CallScope()
    scope.cancel()
    with dspy.context(lm=lm), in_scope(scope, callback="on_cancel"), pytest.raises(CallCancelled):
        dspy.Predict("question -> answer")(question=QUESTION)
    assert lm.requests == []


async def test_closing_a_stream_cancels_its_call() -> None:
    lm = EchoLM(chunk_delay=0.01)
    react = dspy.ReAct("question -> answer", tools=[add_numbers, word_count])
    stream = streaming.stream(entry(react), lm, None, {}, {"question": QUESTION})
    async for event in stream:
        if event.status == "tool `add_numbers` finished":
            break
    await stream.aclose()
    seen = len(lm.requests)
    await asyncio.sleep(1.0)
    # Each step takes ~0.4 s of pieces: a call that went on would have made two more requests by now.
    assert len(lm.requests) == seen <= 2


# ---- through a real worker ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def streaming_worker(bridge: BridgeFixture) -> Iterator[Worker]:
    process = Worker(bridge, worker_id=8)
    process.call("ConfigureLm", wpb.ConfigureLmRequest(session_id=bridge.session_id, lm=wpb.LmSpec(echo=True)))
    yield process
    assert process.stop() == 0


def test_stream_module_rpc(streaming_worker: Worker, bridge: BridgeFixture) -> None:
    module_id = create(streaming_worker, bridge.session_id, "ChainOfThought")
    request = wpb.CallModuleRequest(module_id=module_id, inputs={"question": text(QUESTION)})
    stream = list(streaming_worker.stub.StreamModule(request, metadata=streaming_worker.metadata, timeout=30))
    statuses, tokens, done = by_kind(stream)
    assert statuses == ["running `predict`"]
    unstreamed = streaming_worker.call("CallModule", request)
    assert done == unstreamed
    assert "".join(tokens["answer"]) == string_output(unstreamed, "answer")


def test_stream_module_refusals_are_statuses(streaming_worker: Worker, bridge: BridgeFixture) -> None:
    module_id = create(streaming_worker, bridge.session_id, "Predict")
    bad = wpb.CallModuleRequest(module_id=module_id, inputs={"nope": text("x")})
    with pytest.raises(Exception) as caught:
        list(streaming_worker.stub.StreamModule(bad, metadata=streaming_worker.metadata, timeout=30))
    error: Any = caught.value
    assert error.code().name == "INVALID_ARGUMENT"
    assert "nope" in error.details()
    unknown = wpb.CallModuleRequest(module_id="no-such-module")
    with pytest.raises(Exception) as caught:
        list(streaming_worker.stub.StreamModule(unknown, metadata=streaming_worker.metadata, timeout=30))
    error = caught.value
    assert error.code().name == "NOT_FOUND"
    without_token = streaming_worker.stub.StreamModule(bad, timeout=30)
    with pytest.raises(Exception) as caught:
        list(without_token)
    error = caught.value
    assert error.code().name == "UNAUTHENTICATED"
