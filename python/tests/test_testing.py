"""EchoLM, the offline test LM, through real DSPy modules (Predict, ChainOfThought, ReAct with a
real tool, ProgramOfThought with the local interpreter)."""

from __future__ import annotations

import enum
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any, Literal

import dspy
import pydantic
import pytest

from dspex_bridge._echo_call import EchoCallError
from dspex_bridge.testing import EchoLM, add_numbers, echo_lm, settings_tag, word_count


@pytest.fixture
def lm() -> Iterator[EchoLM]:
    lm = EchoLM()
    with dspy.context(lm=lm):
        yield lm


def test_predict_echoes_the_first_input_and_the_settings(lm: EchoLM) -> None:
    result = dspy.Predict("question -> answer")(question="What is 2+2?", config={"temperature": 0.3, "max_tokens": 256})
    assert result.answer == "Echo: What is 2+2? [temperature=0.3 max_tokens=256]"


def test_unset_settings_read_none_and_lm_defaults_apply() -> None:
    assert dspy.Predict("question -> answer")(question="hi", lm=EchoLM()).answer == (
        "Echo: hi [temperature=none max_tokens=none]"
    )
    answer = dspy.Predict("question -> answer")(question="hi", lm=EchoLM(temperature=1.0, max_tokens=64)).answer
    assert answer == "Echo: hi [temperature=1.0 max_tokens=64]"


def test_other_settings_follow_in_alphabetical_order(lm: EchoLM) -> None:
    result = dspy.Predict("question -> answer")(question="q", config={"top_p": 0.5, "seed": 7, "temperature": 0.2})
    assert result.answer == "Echo: q [temperature=0.2 max_tokens=none seed=7 top_p=0.5]"
    assert settings_tag({"temperature": 0.2}) == "[temperature=0.2 max_tokens=none]"


def test_records_every_request(lm: EchoLM) -> None:
    dspy.Predict("question -> answer")(question="first", config={"temperature": 0.1, "max_tokens": 10})
    dspy.Predict("question -> answer")(question="second")
    assert len(lm.requests) == 2
    first = lm.requests[0]
    assert (first["temperature"], first["max_tokens"]) == (0.1, 10)
    assert first["settings"] == {"temperature": 0.1, "max_tokens": 10}
    assert first["messages"][0]["role"] == "system"
    assert "first" in first["messages"][-1]["content"]
    assert lm.requests[1]["temperature"] is None
    # Copies (what per-call settings use) record into the same list.
    dspy.Predict("question -> answer")(question="third", lm=lm.copy(temperature=0.9))
    assert lm.requests[-1]["temperature"] == 0.9
    lm.clear_requests()
    assert lm.requests == []


def test_max_requests_bounds_the_record() -> None:
    lm = EchoLM(max_requests=2)
    for question in ("a", "b", "c"):
        dspy.Predict("question -> answer")(question=question, lm=lm)
    assert [r["messages"][-1]["content"].split("\n")[1] for r in lm.requests] == ["b", "c"]


def test_is_deterministic(lm: EchoLM) -> None:
    predict = dspy.Predict("question, context -> answer, summary")
    first = predict(question="Why?", context="Because.")
    second = predict(question="Why?", context="Because.")
    assert first.toDict() == second.toDict()
    assert first.summary == "Echo: Why? [temperature=none max_tokens=none]"


class Mood(enum.Enum):
    HAPPY = "happy"
    SAD = "sad"


class Point(pydantic.BaseModel):
    x: int
    label: str


class Typed(dspy.Signature):  # type: ignore[misc]  # dspy ships no type information: its classes are Any
    """Answer with values of every kind of type."""

    a: int = dspy.InputField()
    b: int = dspy.InputField()
    total: int = dspy.OutputField()
    mean: float = dspy.OutputField()
    ok: bool = dspy.OutputField()
    tags: list[str] = dspy.OutputField()
    counts: list[int] = dspy.OutputField()
    scores: dict[str, float] = dspy.OutputField()
    label: Literal["positive", "negative"] = dspy.OutputField()
    mood: Mood = dspy.OutputField()
    point: Point = dspy.OutputField()
    maybe: int | None = dspy.OutputField()
    pair: tuple[int, str] = dspy.OutputField()


ADAPTERS = [dspy.ChatAdapter(), dspy.JSONAdapter(), dspy.XMLAdapter()]


@pytest.mark.parametrize("adapter", ADAPTERS, ids=lambda adapter: type(adapter).__name__)
def test_typed_outputs_under_each_adapter(adapter: Any) -> None:
    lm = EchoLM()
    with dspy.context(lm=lm, adapter=adapter):
        result = dspy.Predict(Typed)(a=2, b=5)
    echo = "Echo: 2 [temperature=none max_tokens=none]"
    expected = {
        "total": 7,
        "mean": 7.0,
        "ok": True,
        "tags": [echo],
        "counts": [7],
        "scores": {"echo": 7.0},
        "label": "positive",
        "mood": Mood.HAPPY,
        "point": Point(x=7, label=echo),
        "maybe": 7,
        "pair": (7, echo),
    }
    got = {name: getattr(result, name) for name in expected}
    assert got == expected
    assert {name: type(value) for name, value in got.items()} == {name: type(v) for name, v in expected.items()}
    # Exactly one request: the adapter parsed the answer at once (no retry, no fallback to another adapter).
    assert len(lm.requests) == 1


class Part(pydantic.BaseModel):
    name: str
    replaces: Part | None = None
    children: list[Part] = []


class Assemble(dspy.Signature):
    request: str = dspy.InputField()
    part: Part = dspy.OutputField()


@pytest.mark.parametrize("adapter", ADAPTERS[:2], ids=lambda adapter: type(adapter).__name__)
def test_a_recursive_model_gets_a_finite_value(adapter: Any) -> None:
    lm = EchoLM()
    with dspy.context(lm=lm, adapter=adapter):
        result = dspy.Predict(Assemble)(request="a 3 part")
    assert result.part == Part(name="Echo: a 3 part [temperature=none max_tokens=none]", replaces=None, children=[])


def test_the_answer_is_written_in_the_adapters_own_format() -> None:
    lm = EchoLM()
    with dspy.context(lm=lm, adapter=dspy.JSONAdapter()):
        dspy.Predict("a: int, b: int -> total: int, counts: list[int], ok: bool")(a=1, b=2)
    assert json.loads(lm.history[-1]["outputs"][0]) == {"total": 3, "counts": [3], "ok": True}
    with dspy.context(lm=lm, adapter=dspy.ChatAdapter()):
        dspy.Predict("a: int, b: int -> total: int")(a=1, b=2)
    assert lm.history[-1]["outputs"][0] == "[[ ## total ## ]]\n3\n\n[[ ## completed ## ]]\n"


def test_inputs_are_read_with_demos_history_and_missing_fields(lm: EchoLM) -> None:
    predict = dspy.Predict("question -> answer")
    predict.demos = [dspy.Example(question="a demo question", answer="a demo answer")]
    assert predict(question="the real one").answer == "Echo: the real one [temperature=none max_tokens=none]"

    history = dspy.History(messages=[{"question": "earlier", "answer": "before"}])
    chat = dspy.Predict("question, history: dspy.History -> answer")
    assert chat(question="now", history=history).answer == "Echo: now [temperature=none max_tokens=none]"

    # `question` left out: the request carries `context` only, and the first input present answers.
    partial = dspy.Predict("question, context -> answer, total: int")(context="only 4 and 5")
    assert (partial.answer, partial.total) == ("Echo: only 4 and 5 [temperature=none max_tokens=none]", 9)


def test_a_request_no_predictor_makes_is_echoed(lm: EchoLM) -> None:
    assert lm("hello") == ["Echo: hello [temperature=none max_tokens=none]"]


def test_a_request_its_signature_does_not_render_fails_loudly(lm: EchoLM) -> None:
    # The predictor's own signature does not render this request (DSPy was handed another one for this call):
    # the test LM says so instead of guessing fields.
    predict = dspy.Predict("question -> answer")
    with pytest.raises(dspy.utils.exceptions.LMError) as caught:
        predict(question="x", signature=dspy.Signature("question -> other"))
    assert isinstance(caught.value.__cause__, EchoCallError)
    assert "cannot read a request of the predictor with signature `question -> answer`" in str(caught.value)


def test_chain_of_thought(lm: EchoLM) -> None:
    result = dspy.ChainOfThought("question -> answer")(question="Why?", config={"temperature": 0.4})
    assert result.reasoning == "Echo: Why? [temperature=0.4 max_tokens=none]"
    assert result.answer == "Echo: Why? [temperature=0.4 max_tokens=none]"


def test_react_calls_the_real_tool_then_finishes(lm: EchoLM) -> None:
    react = dspy.ReAct("question -> answer", tools=[add_numbers])
    result = react(question="What is 2 plus 3?")
    trajectory = result.trajectory
    assert trajectory["tool_name_0"] == "add_numbers"
    assert trajectory["tool_args_0"] == {"a": 2, "b": 3}
    assert trajectory["observation_0"] == 5
    assert trajectory["tool_name_1"] == "finish"
    assert "tool_name_2" not in trajectory
    assert result.answer == "Echo: What is 2 plus 3? [temperature=none max_tokens=none]"
    # react step 1, react step 2, extract
    assert len(lm.requests) == 3


def test_react_with_a_string_tool(lm: EchoLM) -> None:
    result = dspy.ReAct("text -> answer", tools=[word_count])(text="one two three")
    assert result.trajectory["tool_args_0"] == {"text": "one two three"}
    assert result.trajectory["observation_0"] == 3


def test_program_of_thought_runs_code_in_the_local_interpreter(lm: EchoLM) -> None:
    with pytest.warns(DeprecationWarning):
        pot = dspy.ProgramOfThought("question -> answer", interpreter_factory=dspy.LocalInterpreter)
    result = pot(question="What is 2 plus 40?")
    assert result.answer == "Echo: 42 [temperature=none max_tokens=none]"
    # The code step's program ran at once (no regeneration): code step, then answer step.
    assert len(lm.requests) == 2


def test_echo_lm_factory() -> None:
    lm = echo_lm(temperature=0.5)
    assert isinstance(lm, EchoLM) and isinstance(lm, dspy.LM)
    assert dspy.Predict("q -> a")(q="x", lm=lm).a == "Echo: x [temperature=0.5 max_tokens=none]"


def test_async_path(lm: EchoLM) -> None:
    import asyncio

    async def run() -> str:
        result = await dspy.Predict("question -> answer").acall(question="async?", config={"temperature": 0.6})
        answer: str = result.answer
        return answer

    assert asyncio.run(run()) == "Echo: async? [temperature=0.6 max_tokens=none]"


def test_answer_format_is_parseable_by_rust_tests(lm: EchoLM) -> None:
    answer = dspy.Predict("question -> answer")(question="x", config={"temperature": 0.25}).answer
    match = re.search(r"temperature=([^ \]]+)", answer)
    assert match is not None and float(match.group(1)) == 0.25


def test_importing_testing_does_not_import_dspy() -> None:
    code = "import sys, dspex_bridge.testing; print('dspy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
