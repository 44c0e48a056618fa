"""The variable-aware DSPy modules and ModuleVariableResolver: with an AsyncMock session (the
only double here), with a real SessionContext against the real Rust bridge, and with the real
DSPy classes and the test LM."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from unittest.mock import AsyncMock

import dspy
import grpc.aio
import pytest

from dspex_bridge import ModuleVariableNotFoundError, SessionContext, UnknownModuleTypeError, VariableNotFoundError
from dspex_bridge.dspy_integration import (
    ModuleVariableResolver,
    VariableAwareChainOfThought,
    VariableAwareMixin,
    VariableAwarePredict,
    VariableAwareProgramOfThought,
    VariableAwareReAct,
)
from dspex_bridge.testing import BridgeFixture, EchoLM, add_numbers

pytestmark = pytest.mark.filterwarnings("ignore:ProgramOfThought is deprecated:DeprecationWarning")


def mock_session(values: dict[str, Any]) -> AsyncMock:
    """A session double: ``await get_variable(name)``; unknown names raise KeyError."""
    session = AsyncMock()

    async def get_variable(name: str) -> Any:
        if name not in values:
            raise KeyError(name)
        return values[name]

    session.get_variable.side_effect = get_variable
    return session


@pytest.fixture
def lm() -> Iterator[EchoLM]:
    lm = EchoLM()
    with dspy.context(lm=lm):
        yield lm


# ---- the mixin, with an AsyncMock session ---------------------------------------------------------


async def test_bind_reads_the_variable_into_a_plain_attribute() -> None:
    session = mock_session({"gen_temp": 0.7})
    predictor = VariableAwarePredict("question -> answer", session_context=session)
    await predictor.bind_to_variable("temperature", "gen_temp")
    session.get_variable.assert_awaited_once_with("gen_temp")
    assert predictor.temperature == 0.7
    assert predictor.get_bindings() == {"temperature": "gen_temp"}
    assert predictor._variable_bindings == {"temperature": "gen_temp"}
    assert predictor._last_sync == {"temperature": 0.7}
    assert predictor._session_context is session
    predictor.temperature = 0.8
    assert predictor.temperature == 0.8


async def test_binding_a_missing_variable_is_a_value_error() -> None:
    predictor = VariableAwarePredict("question -> answer", session_context=mock_session({}))
    with pytest.raises(ValueError, match="^variable `nope` not found$") as caught:
        await predictor.bind_to_variable("temperature", "nope")
    # Typed: a caller tells "no such variable" from a refused value without reading the message.
    assert isinstance(caught.value, ModuleVariableNotFoundError)
    assert isinstance(caught.value, VariableNotFoundError) and caught.value.kind == "not_found"
    assert predictor.get_bindings() == {}
    none_session = AsyncMock()
    none_session.get_variable.return_value = None
    predictor = VariableAwarePredict("question -> answer", session_context=none_session)
    with pytest.raises(ModuleVariableNotFoundError, match="^variable `nope` not found$"):
        await predictor.bind_to_variable("temperature", "nope")
    assert predictor.get_bindings() == {}


async def test_get_bindings_is_a_copy_and_get_bound_variable_reads_the_session() -> None:
    values = {"gen_temp": 0.7}
    predictor = VariableAwarePredict("question -> answer", session_context=mock_session(values))
    await predictor.bind_to_variable("temperature", "gen_temp")
    predictor.get_bindings()["max_tokens"] = "x"
    assert predictor.get_bindings() == {"temperature": "gen_temp"}
    values["gen_temp"] = 1.1
    assert await predictor.get_bound_variable("temperature") == 1.1
    with pytest.raises(ValueError):
        await predictor.get_bound_variable("max_tokens")


async def test_sync_variables_calls_get_variable_and_updates_changed_attributes() -> None:
    values: dict[str, Any] = {"gen_temp": 0.7, "tokens": 256}
    session = mock_session(values)
    predictor = VariableAwarePredict("question -> answer", session_context=session)
    await predictor.bind_to_variable("temperature", "gen_temp")
    await predictor.bind_to_variable("max_tokens", "tokens")
    session.get_variable.reset_mock()
    values["gen_temp"] = 0.2
    assert await predictor.sync_variables() == {"temperature": 0.2, "max_tokens": 256}
    assert sorted(call.args for call in session.get_variable.await_args_list) == [("gen_temp",), ("tokens",)]
    assert all(call.kwargs == {} for call in session.get_variable.await_args_list)
    assert (predictor.temperature, predictor.max_tokens) == (0.2, 256)
    assert predictor._last_sync == {"temperature": 0.2, "max_tokens": 256}


def test_sync_twins_outside_an_event_loop() -> None:
    values = {"gen_temp": 0.7}
    predictor = VariableAwarePredict("question -> answer", session_context=mock_session(values))
    predictor.bind_to_variable_sync("temperature", "gen_temp")
    assert predictor.temperature == 0.7
    values["gen_temp"] = 0.9
    assert predictor.sync_variables_sync() == {"temperature": 0.9}
    assert predictor.temperature == 0.9
    with pytest.raises(ValueError, match="not found"):
        predictor.bind_to_variable_sync("max_tokens", "missing")


async def test_sync_twin_inside_the_loop_thread_says_to_await() -> None:
    predictor = VariableAwarePredict("question -> answer", session_context=mock_session({"t": 0.1}))
    with pytest.raises(RuntimeError, match="await"):
        predictor.sync_variables_sync()


async def test_sync_twin_from_a_thread_runs_on_the_sessions_loop() -> None:
    values = {"gen_temp": 0.7}
    predictor = VariableAwarePredict("question -> answer", session_context=mock_session(values))
    await predictor.bind_to_variable("temperature", "gen_temp")
    values["gen_temp"] = 0.4
    assert await asyncio.to_thread(predictor.sync_variables_sync) == {"temperature": 0.4}


# ---- bound settings reach the LM, per call --------------------------------------------------------


async def test_bound_temperature_reaches_the_lm_for_every_module_type(lm: EchoLM) -> None:
    session = mock_session({"gen_temp": 0.7, "tokens": 128})
    modules: list[VariableAwareMixin] = [
        VariableAwarePredict("question -> answer", session_context=session),
        VariableAwareChainOfThought("question -> answer", session_context=session),
        VariableAwareReAct("question -> answer", tools=[add_numbers], session_context=session),
        VariableAwareProgramOfThought("question -> answer", session_context=session),
    ]
    for module in modules:
        await module.bind_to_variable("temperature", "gen_temp")
        await module.bind_to_variable("max_tokens", "tokens")
        lm.clear_requests()
        result = await asyncio.to_thread(module, question="What is 2 plus 3?")
        assert "[temperature=0.7 max_tokens=128]" in result.answer, type(module).__name__
        assert lm.requests, type(module).__name__
        seen = {(r["temperature"], r["max_tokens"]) for r in lm.requests}
        assert seen == {(0.7, 128)}, (type(module).__name__, seen)


async def test_assigned_attribute_and_per_call_settings(lm: EchoLM) -> None:
    predictor = VariableAwarePredict("question -> answer", session_context=mock_session({"t": 0.7}))
    await predictor.bind_to_variable("temperature", "t")
    predictor.temperature = 0.8
    assert "temperature=0.8" in predictor(question="q").answer
    assert "temperature=0.1" in predictor.call_with_settings({"temperature": 0.1}, question="q").answer
    assert predictor.temperature == 0.8  # a per-call setting does not stick
    assert "temperature=0.8" in (await predictor.acall(question="q")).answer


async def test_bound_value_beats_the_predictors_own_config(lm: EchoLM) -> None:
    predictor = VariableAwarePredict("question -> answer", session_context=mock_session({"t": 0.7}), temperature=0.1)
    await predictor.bind_to_variable("temperature", "t")
    assert "temperature=0.7" in predictor(question="q").answer


def test_eight_concurrent_threads_each_carry_their_own_settings(lm: EchoLM) -> None:
    module = VariableAwareChainOfThought("question -> answer", session_context=mock_session({"t": 0.7}))
    module.bind_to_variable_sync("temperature", "t")
    temperatures = [round(0.1 * i, 1) for i in range(1, 9)]

    def call(temperature: float) -> str:
        with dspy.context(lm=lm):
            answer: str = module.call_with_settings({"temperature": temperature}, question=f"q{temperature}").answer
            return answer

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(call, temperatures))
    for temperature, answer in zip(temperatures, answers, strict=True):
        assert answer == f"Echo: q{temperature} [temperature={temperature} max_tokens=none]"


async def test_eight_concurrent_tasks_each_carry_their_own_settings(lm: EchoLM) -> None:
    module = VariableAwarePredict("question -> answer", session_context=mock_session({"t": 0.7}))
    await module.bind_to_variable("temperature", "t")
    temperatures = [round(0.1 * i, 1) for i in range(1, 9)]
    results = await asyncio.gather(
        *(module.acall_with_settings({"temperature": t}, question=f"q{t}") for t in temperatures)
    )
    for temperature, result in zip(temperatures, results, strict=True):
        assert result.answer == f"Echo: q{temperature} [temperature={temperature} max_tokens=none]"


# ---- the resolver ---------------------------------------------------------------------------------


def test_registry_holds_the_real_dspy_classes() -> None:
    registry = ModuleVariableResolver.MODULE_REGISTRY
    assert registry["Predict"] is dspy.Predict
    assert registry["ChainOfThought"] is dspy.ChainOfThought
    assert registry["ReAct"] is dspy.ReAct
    assert registry["ProgramOfThought"] is dspy.ProgramOfThought
    for aware, base in [
        (VariableAwarePredict, dspy.Predict),
        (VariableAwareChainOfThought, dspy.ChainOfThought),
        (VariableAwareReAct, dspy.ReAct),
        (VariableAwareProgramOfThought, dspy.ProgramOfThought),
    ]:
        assert issubclass(aware, base) and issubclass(aware, VariableAwareMixin)


async def test_resolve_and_create_upgrade_to_the_variable_aware_class(lm: EchoLM) -> None:
    session = mock_session({"reasoning": "ChainOfThought", "t": 0.3})
    resolver = ModuleVariableResolver(session)
    assert await resolver.resolve_module("reasoning") is dspy.ChainOfThought
    module = await resolver.create_module("reasoning", "question -> answer")
    assert type(module) is VariableAwareChainOfThought
    assert module._session_context is session
    await module.bind_to_variable("temperature", "t")
    assert module(question="q").answer == "Echo: q [temperature=0.3 max_tokens=none]"


async def test_every_builtin_is_created_for_real(lm: EchoLM) -> None:
    names = {"p": "Predict", "c": "ChainOfThought", "r": "ReAct", "pot": "ProgramOfThought"}
    resolver = ModuleVariableResolver(mock_session(names))
    expected = {
        "p": VariableAwarePredict,
        "c": VariableAwareChainOfThought,
        "r": VariableAwareReAct,
        "pot": VariableAwareProgramOfThought,
    }
    for variable, cls in expected.items():
        kwargs: dict[str, Any] = {"tools": [add_numbers]} if variable == "r" else {}
        module = await resolver.create_module(variable, "question -> answer", **kwargs)
        assert type(module) is cls
        assert module(question="2 plus 3").answer.startswith("Echo: ")


async def test_unknown_module_name_and_missing_variable() -> None:
    resolver = ModuleVariableResolver(mock_session({"m": "NoSuchModule", "n": 3}))
    with pytest.raises(UnknownModuleTypeError, match="unknown module type `NoSuchModule`") as unknown:
        await resolver.resolve_module("m")
    assert isinstance(unknown.value, ValueError)
    with pytest.raises(UnknownModuleTypeError, match="variable `n` holds 3, not a module name"):
        await resolver.resolve_module("n")
    with pytest.raises(ModuleVariableNotFoundError, match="variable `missing` not found") as missing:
        await resolver.resolve_module("missing")
    assert isinstance(missing.value, ValueError)


async def test_register_module(lm: EchoLM) -> None:
    class Summarize(dspy.Module):  # type: ignore[misc]  # DSPy is untyped (Any)
        def __init__(self, signature: str = "text -> summary") -> None:
            super().__init__()
            self.step = dspy.Predict(signature)

        def forward(self, **kwargs: Any) -> Any:
            return self.step(**kwargs)

    ModuleVariableResolver.register_module("Summarize", Summarize)
    try:
        resolver = ModuleVariableResolver(mock_session({"m": "Summarize"}))
        module = await resolver.create_module("m")
        assert type(module) is Summarize
        assert module(text="long").summary == "Echo: long [temperature=none max_tokens=none]"
        with pytest.raises(TypeError):
            ModuleVariableResolver.register_module("Bad", int)
    finally:
        ModuleVariableResolver.MODULE_REGISTRY.pop("Summarize", None)


# ---- with a real SessionContext against the real bridge -------------------------------------------


@pytest.fixture
async def real_session(bridge: BridgeFixture, session_id: str) -> AsyncIterator[SessionContext]:
    channel = grpc.aio.insecure_channel(bridge.address)
    session = SessionContext(session_id, channel, token=bridge.token)
    await session.register_variable("gen_temp", "float", 0.7, {"min": 0.0, "max": 2.0})
    await session.register_variable("tokens", "integer", 256, {"min": 1, "max": 4096})
    await session.register_variable("reasoning", "module", "ChainOfThought", {"choices": ["Predict", "ChainOfThought"]})
    yield session
    await channel.close()


async def test_real_session_bind_sync_and_rust_writes(
    real_session: SessionContext, bridge: BridgeFixture, lm: EchoLM
) -> None:
    module = VariableAwareChainOfThought("question -> answer", session_context=real_session)
    await module.bind_to_variable("temperature", "gen_temp")
    await module.bind_to_variable("max_tokens", "tokens")
    assert (module.temperature, module.max_tokens) == (0.7, 256)
    assert (await asyncio.to_thread(module, question="q")).answer == "Echo: q [temperature=0.7 max_tokens=256]"

    # Rust writes; the next sync sees it, and so does the next call.
    assert "version" in bridge.command("set", real_session.session_id, "gen_temp", "0.3")
    await module.sync_variables()
    assert module.temperature == 0.3
    assert (await asyncio.to_thread(module, question="q")).answer == "Echo: q [temperature=0.3 max_tokens=256]"

    # Python writes; Rust reads it in-process.
    await real_session.set_variable("gen_temp", 1.5)
    assert bridge.rust_get(real_session.session_id, "gen_temp") == 1.5
    assert await module.get_bound_variable("temperature") == 1.5


async def test_real_session_missing_variable(real_session: SessionContext) -> None:
    module = VariableAwarePredict("question -> answer", session_context=real_session)
    with pytest.raises(ValueError, match="not found") as caught:
        await module.bind_to_variable("temperature", "no_such_variable")
    assert isinstance(caught.value.__cause__, VariableNotFoundError)


async def test_real_session_resolver(real_session: SessionContext, lm: EchoLM) -> None:
    resolver = ModuleVariableResolver(real_session)
    module = await resolver.create_module("reasoning", "question -> answer")
    assert type(module) is VariableAwareChainOfThought
    await real_session.set_variable("reasoning", "Predict")
    assert type(await resolver.create_module("reasoning", "question -> answer")) is VariableAwarePredict


async def test_real_session_sync_twin_from_a_worker_thread(real_session: SessionContext) -> None:
    module = VariableAwarePredict("question -> answer", session_context=real_session)
    await module.bind_to_variable("temperature", "gen_temp")
    await real_session.set_variable("gen_temp", 0.9)
    assert await asyncio.to_thread(module.sync_variables_sync) == {"temperature": 0.9}
