"""The variable-aware modules are drop-in DSPy modules: every operation an optimizer or a user performs on a
module (deep copies, pickles, ``named_predictors``, ``dump_state`` / ``load_state``, ``save`` / ``load``) gives
the same demos, signature, instructions and answers as on the plain DSPy class, side by side, without a session,
with a session-like object and with real sessions (async and sync) against the real bridge. The session is
shared by a copy and left out of a pickle; the bindings survive all of it."""

from __future__ import annotations

import copy
import inspect
import json
import pickle
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cloudpickle  # type: ignore[import-untyped]  # ships no type information
import dspy
import grpc
import grpc.aio
import pytest

from dspex_bridge import SessionContext, SyncSessionContext
from dspex_bridge._task_lm import TaskLM, task_lm
from dspex_bridge.dspy_integration import (
    BINDINGS_KEY,
    VariableAwareChainOfThought,
    VariableAwareMixin,
    VariableAwarePredict,
    VariableAwareProgramOfThought,
    VariableAwareReAct,
)
from dspex_bridge.testing import BridgeFixture, EchoLM, add_numbers

pytestmark = pytest.mark.filterwarnings("ignore:ProgramOfThought is deprecated:DeprecationWarning")

QUESTION = "What is 2 plus 3?"
TEMPERATURE = 0.3
VARIABLE = "gen_temp"
INSTRUCTIONS = "Answer the question in a few words."


class Ask(dspy.Signature):  # type: ignore[misc]  # DSPy is untyped (Any)
    """Answer the question."""

    question: str = dspy.InputField()
    answer: str = dspy.OutputField()


@dataclass(frozen=True)
class Kind:
    """A DSPy module class, its variable-aware twin, and what both are built with."""

    name: str
    plain: type[Any]
    aware: type[Any]
    kwargs: Callable[[], dict[str, Any]]


KINDS = [
    Kind("Predict", dspy.Predict, VariableAwarePredict, dict),
    Kind("ChainOfThought", dspy.ChainOfThought, VariableAwareChainOfThought, dict),
    Kind("ReAct", dspy.ReAct, VariableAwareReAct, lambda: {"tools": [add_numbers]}),
    Kind(
        "ProgramOfThought",
        dspy.ProgramOfThought,
        VariableAwareProgramOfThought,
        lambda: {"interpreter_factory": dspy.LocalInterpreter},
    ),
]


class DictSession:
    """The smallest session: ``await get_variable(name)`` over a dict (picklable, unlike a real one)."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values

    async def get_variable(self, name: str) -> Any:
        return self.values[name]

    async def set_variable(self, name: str, value: Any) -> None:
        self.values[name] = value


async def maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


@pytest.fixture(params=["none", "protocol", "async", "sync"])
async def session(request: pytest.FixtureRequest, bridge: BridgeFixture) -> AsyncIterator[Any]:
    """No session, a session-like object, or a real session of either flavour, holding ``gen_temp`` = 0.3."""
    flavour: str = request.param
    if flavour == "none":
        yield None
    elif flavour == "protocol":
        yield DictSession({VARIABLE: TEMPERATURE})
    elif flavour == "async":
        aio_channel = grpc.aio.insecure_channel(bridge.address)
        real = SessionContext(bridge.new_session(), aio_channel, token=bridge.token)
        await real.register_variable(VARIABLE, "float", TEMPERATURE, {"min": 0.0, "max": 2.0})
        yield real
        await aio_channel.close()
    else:
        channel = grpc.insecure_channel(bridge.address)
        sync = SyncSessionContext(bridge.new_session(), channel, token=bridge.token)
        sync.register_variable(VARIABLE, "float", TEMPERATURE, {"min": 0.0, "max": 2.0})
        yield sync
        channel.close()


@dataclass
class Pair:
    """The same module twice: the plain DSPy class, and the variable-aware one (bound when it has a session)."""

    plain: Any
    aware: Any
    session: Any
    bound: dict[str, Any]
    """The settings the aware module's bindings give (what the plain one's LM is given to match it)."""


async def make_pair(kind: Kind, session: Any, *, instructions: bool = True) -> Pair:
    signature = Ask.with_instructions(INSTRUCTIONS) if instructions else Ask
    plain = kind.plain(signature, **kind.kwargs())
    aware = kind.aware(signature, session_context=session, **kind.kwargs())
    demos = [
        dspy.Example(question="What is 1 plus 1?", answer="2"),
        dspy.Example(question="Name a color.", answer="red"),
    ]
    for module in (plain, aware):
        for _, predictor in module.named_predictors():
            predictor.demos = list(demos)
    bound: dict[str, Any] = {}
    if session is not None:
        await aware.bind_to_variable("temperature", VARIABLE)
        bound = {"temperature": TEMPERATURE}
    return Pair(plain, aware, session, bound)


def describe(module: Any) -> list[tuple[str, str, str, Any, list[dict[str, Any]]]]:
    """What an optimizer learns and sets, per predictor: name, signature, instructions, field texts, demos."""
    return [
        (
            name,
            predictor.signature.signature,
            predictor.signature.instructions,
            predictor.signature.dump_state()["fields"],
            [dict(demo) for demo in predictor.demos],
        )
        for name, predictor in module.named_predictors()
    ]


def answer(module: Any, **settings: Any) -> str:
    """The module's answer with the echo LM (which writes the settings it received into the answer)."""
    with dspy.context(lm=EchoLM(**settings)):
        return str(module(question=QUESTION).answer)


def assert_same(plain: Any, aware: Any, bound: dict[str, Any]) -> None:
    """Same predictors, signatures, instructions, demos; same answer, the aware module's LM settings coming from
    its bindings (the plain module's LM is given them)."""
    assert isinstance(aware, VariableAwareMixin) and isinstance(aware, type(plain))
    assert describe(aware) == describe(plain)
    assert answer(aware) == answer(plain, **bound)


def without_bindings(state: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in state.items() if key != BINDINGS_KEY}


# ---- copies -------------------------------------------------------------------------------------------------

COPIES: dict[str, Callable[[Any], Any]] = {
    "copy.deepcopy": copy.deepcopy,
    "module.deepcopy": lambda module: module.deepcopy(),
    "reset_copy": lambda module: module.reset_copy(),
}


@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.name)
@pytest.mark.parametrize("operation", list(COPIES))
async def test_a_copy_shares_the_session_and_keeps_the_bindings(
    kind: Kind, operation: str, session: Any, caplog: pytest.LogCaptureFixture
) -> None:
    pair = await make_pair(kind, session)
    plain_copy, aware_copy = COPIES[operation](pair.plain), COPIES[operation](pair.aware)
    assert not caplog.records, "DSPy's deepcopy fell back to copying attribute by attribute"
    assert type(aware_copy) is type(pair.aware) and aware_copy is not pair.aware
    assert aware_copy.session_context is session
    assert aware_copy.get_bindings() == pair.aware.get_bindings()
    assert_same(plain_copy, aware_copy, pair.bound)
    if operation == "reset_copy":
        assert all(not predictor.demos for _, predictor in aware_copy.named_predictors())

    # The copy is a copy: its demos and bindings are its own.
    first = aware_copy.named_predictors()[0][1]
    first.demos.append(dspy.Example(question="q", answer="a"))
    aware_copy.unbind_variable("temperature")
    assert describe(pair.aware) == describe(pair.plain)
    assert pair.aware.get_bindings() == ({"temperature": VARIABLE} if session is not None else {})

    if session is not None:  # ... and reads the same session
        await aware_copy.bind_to_variable("temperature", VARIABLE)
        await maybe_await(session.set_variable(VARIABLE, 0.9))
        assert await aware_copy.sync_variables() == {"temperature": 0.9}
        assert await pair.aware.sync_variables() == {"temperature": 0.9}


@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.name)
async def test_a_shallow_copy_is_dspys_on_the_same_session(kind: Kind, session: Any) -> None:
    pair = await make_pair(kind, session)
    plain_copy, aware_copy = copy.copy(pair.plain), copy.copy(pair.aware)
    assert aware_copy.session_context is session and aware_copy.get_bindings() == pair.aware.get_bindings()
    assert_same(plain_copy, aware_copy, pair.bound)
    shared = [
        p.demos is q.demos for (_, p), (_, q) in zip(aware_copy.named_predictors(), pair.aware.named_predictors())
    ]
    assert shared == [
        p.demos is q.demos for (_, p), (_, q) in zip(plain_copy.named_predictors(), pair.plain.named_predictors())
    ]


# ---- pickles ------------------------------------------------------------------------------------------------


def save_and_load_program(module: Any, path: Path) -> Any:
    module.save(str(path), save_program=True)
    return dspy.load(str(path), allow_pickle=True)


@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.name)
@pytest.mark.parametrize("operation", ["pickle", "cloudpickle", "save_program"])
async def test_a_pickle_leaves_the_session_out_and_keeps_the_bindings(
    kind: Kind, operation: str, session: Any, tmp_path: Path
) -> None:
    # Plain pickle stores classes by reference: a signature made by `with_instructions` is no importable
    # class, for DSPy's own modules just as for these.
    pair = await make_pair(kind, session, instructions=operation != "pickle")

    def roundtrip(module: Any, name: str) -> Any:
        if operation == "pickle":
            return pickle.loads(pickle.dumps(module))
        if operation == "cloudpickle":
            return cloudpickle.loads(cloudpickle.dumps(module))
        return save_and_load_program(module, tmp_path / name)

    try:
        plain_loaded = roundtrip(pair.plain, "plain")
    except (pickle.PicklingError, AttributeError) as error:  # plain pickle: what DSPy builds at run time is no class
        assert operation == "pickle" and kind.name != "Predict"
        with pytest.raises(type(error)):
            roundtrip(pair.aware, "aware")
        return
    aware_loaded = roundtrip(pair.aware, "aware")
    assert type(aware_loaded) is type(pair.aware)
    assert aware_loaded.session_context is None
    assert pair.aware.session_context is session  # the original keeps it
    assert aware_loaded.get_bindings() == pair.aware.get_bindings()
    assert_same(plain_loaded, aware_loaded, pair.bound)  # the bound values were pickled with the module

    if session is not None:  # re-attached, it reads the session again
        aware_loaded.session_context = session
        await maybe_await(session.set_variable(VARIABLE, 1.1))
        assert await aware_loaded.sync_variables() == {"temperature": 1.1}
        assert answer(aware_loaded) == answer(plain_loaded, temperature=1.1)


# ---- parameters and state -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.name)
async def test_named_predictors_and_parameters_are_dspys(kind: Kind, session: Any) -> None:
    pair = await make_pair(kind, session)
    names = [name for name, _ in pair.aware.named_predictors()]
    assert names == [name for name, _ in pair.plain.named_predictors()]
    assert [name for name, _ in pair.aware.named_parameters()] == [name for name, _ in pair.plain.named_parameters()]
    assert [n for n, _ in pair.aware.named_sub_modules()] == [n for n, _ in pair.plain.named_sub_modules()]
    assert all(type(p) is dspy.Predict or p is pair.aware for _, p in pair.aware.named_predictors())


@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.name)
async def test_dump_state_is_dspys_with_the_bindings_under_their_own_key(kind: Kind, session: Any) -> None:
    pair = await make_pair(kind, session)
    state = pair.aware.dump_state()
    assert without_bindings(state) == pair.plain.dump_state()
    assert state.get(BINDINGS_KEY) == ({"temperature": VARIABLE} if session is not None else None)
    assert json.loads(json.dumps(state)) == state
    assert without_bindings(pair.aware.dump_state(json_mode=False)).keys() == pair.plain.dump_state(False).keys()


@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.name)
async def test_state_loads_across_plain_and_aware_modules(kind: Kind, session: Any) -> None:
    pair = await make_pair(kind, session)
    aware_state, plain_state = pair.aware.dump_state(), pair.plain.dump_state()

    # The aware state into DSPy's own class: it loads, and is the plain module's.
    plain_loaded = kind.plain(Ask, **kind.kwargs())
    plain_loaded.load_state(aware_state)
    assert describe(plain_loaded) == describe(pair.plain)
    assert plain_loaded.dump_state() == plain_state
    assert answer(plain_loaded) == answer(pair.plain)

    # The aware state into a fresh aware module: the bindings come back, their values at the next sync.
    aware_loaded = kind.aware(Ask, **kind.kwargs())
    aware_loaded.load_state(aware_state)
    assert aware_loaded.get_bindings() == pair.aware.get_bindings()
    assert aware_loaded.dump_state() == aware_state
    assert_same(pair.plain, aware_loaded, {})
    if session is not None:
        aware_loaded.session_context = session
        await aware_loaded.sync_variables()
        assert_same(pair.plain, aware_loaded, pair.bound)

    # A plain state into an aware module: DSPy's state loads, the bindings stay as they are.
    aware_target = (await make_pair(kind, session)).aware
    aware_target.load_state(plain_state)
    assert aware_target.get_bindings() == pair.aware.get_bindings()
    assert_same(pair.plain, aware_target, pair.bound)


@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.name)
@pytest.mark.parametrize("suffix", [".json", ".pkl"])
async def test_saved_files_load_across_plain_and_aware_modules(
    kind: Kind, suffix: str, session: Any, tmp_path: Path
) -> None:
    pair = await make_pair(kind, session)
    aware_file, plain_file = tmp_path / f"aware{suffix}", tmp_path / f"plain{suffix}"
    pair.aware.save(str(aware_file))
    pair.plain.save(str(plain_file))

    by_dspy = kind.plain(Ask, **kind.kwargs())
    by_dspy.load(str(aware_file), allow_pickle=True)
    assert describe(by_dspy) == describe(pair.plain)

    aware_loaded = kind.aware(Ask, **kind.kwargs())
    aware_loaded.load(str(aware_file), allow_pickle=True)
    assert aware_loaded.get_bindings() == pair.aware.get_bindings()
    assert describe(aware_loaded) == describe(pair.plain)

    from_plain = kind.aware(Ask, **kind.kwargs())
    from_plain.load(str(plain_file), allow_pickle=True)
    assert describe(from_plain) == describe(pair.plain) and from_plain.get_bindings() == {}


def test_malformed_bindings_in_a_state_are_refused_before_anything_loads() -> None:
    module = VariableAwareChainOfThought(Ask)
    before = module.dump_state()
    state = {**before, "predict": {**before["predict"], "demos": [{"question": "q", "answer": "a"}]}}
    for bad in (["temperature"], {"temperature": 1}):
        with pytest.raises(ValueError, match=BINDINGS_KEY):
            module.load_state({**state, BINDINGS_KEY: bad})
        assert module.dump_state() == before


def test_loaded_bindings_keep_the_values_of_bindings_that_did_not_change() -> None:
    module = VariableAwarePredict(Ask, session_context=DictSession({"t": 0.2, "m": 64}))
    module.bind_to_variable_sync("temperature", "t")
    module.bind_to_variable_sync("max_tokens", "m")
    module.load_state({**module.dump_state(), BINDINGS_KEY: {"temperature": "t", "max_tokens": "other"}})
    assert module.get_bindings() == {"temperature": "t", "max_tokens": "other"}
    assert module._last_sync == {"temperature": 0.2}


def test_a_composed_program_copies_and_states_its_aware_modules() -> None:
    session = DictSession({VARIABLE: TEMPERATURE})

    class Program(dspy.Module):  # type: ignore[misc]  # DSPy is untyped (Any)
        def __init__(self) -> None:
            super().__init__()
            self.step = VariableAwarePredict(Ask, session_context=session)

        def forward(self, question: str) -> Any:
            return self.step(question=question)

    program = Program()
    program.step.bind_to_variable_sync("temperature", VARIABLE)
    copied = program.deepcopy()
    assert copied.step.session_context is session and copied.step is not program.step
    state = program.dump_state()
    assert state["step"][BINDINGS_KEY] == {"temperature": VARIABLE}
    fresh = Program()
    fresh.load_state(state)
    assert fresh.step.get_bindings() == {"temperature": VARIABLE}


# ---- optimizers, side by side -------------------------------------------------------------------------------

WORDS = ["apple", "river", "stone", "cloud", "tiger", "maple"]
TRAIN = [dspy.Example(word=w, answer=w[::-1]).with_inputs("word") for w in WORDS[:3]]
DEV = [dspy.Example(word=w, answer=w[::-1]).with_inputs("word") for w in WORDS[3:]]


def exact_match(example: Any, prediction: Any, trace: Any = None) -> float:
    return float(prediction.answer == example.answer)


def feedback_metric(gold: Any, pred: Any, trace: Any = None, pred_name: Any = None, pred_trace: Any = None) -> Any:
    return dspy.Prediction(score=exact_match(gold, pred), feedback=f"The expected answer was: {gold.answer}")


OPTIMIZERS: dict[str, Callable[[TaskLM], Any]] = {
    "BootstrapFewShot": lambda lm: dspy.BootstrapFewShot(metric=exact_match),
    "BootstrapFewShotWithRandomSearch": lambda lm: dspy.BootstrapFewShotWithRandomSearch(
        metric=exact_match, num_candidate_programs=2, num_threads=1
    ),
    "MIPROv2": lambda lm: dspy.MIPROv2(metric=exact_match, auto="light", num_threads=1, seed=3),
    "GEPA": lambda lm: dspy.GEPA(metric=feedback_metric, reflection_lm=lm, max_metric_calls=16, seed=0),
}


@pytest.fixture
def no_dspy_cache() -> Iterator[None]:
    previous = vars(dspy).get("cache")
    dspy.configure_cache(enable_disk_cache=False, enable_memory_cache=False)
    yield
    if previous is None:
        vars(dspy).pop("cache", None)
    else:
        dspy.cache = previous


@pytest.mark.usefixtures("no_dspy_cache")
@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
async def test_optimizers_compile_an_aware_module_as_they_compile_dspys(optimizer: str, session: Any) -> None:
    plain = dspy.Predict("word -> answer")
    aware = VariableAwarePredict("word -> answer", session_context=session)
    if session is not None:
        await aware.bind_to_variable("temperature", VARIABLE)
    compiled = {}
    with dspy.context(lm=task_lm()):
        for name, student in (("plain", plain), ("aware", aware)):
            options = {"valset": DEV} if optimizer in ("MIPROv2", "GEPA") else {}
            compiled[name] = OPTIMIZERS[optimizer](task_lm()).compile(student, trainset=TRAIN, **options)
        scores = {name: sum(exact_match(e, p(**e.inputs())) for e in DEV) / len(DEV) for name, p in compiled.items()}
    assert type(compiled["aware"]) is VariableAwarePredict and compiled["aware"] is not aware
    assert compiled["aware"].session_context is session
    assert compiled["aware"].get_bindings() == aware.get_bindings()
    assert describe(compiled["aware"]) == describe(compiled["plain"])
    assert scores == {"plain": 1.0, "aware": 1.0}
