"""The task test LM (`dspex_bridge._task_lm`) in-process, with the real DSPy modules and optimizers: each rule
fires for its reason, read from the request; BootstrapFewShot, MIPROv2 and GEPA each take the dev score from 0
to 1, and the LM's records show why."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dspy
import pytest

from dspex_bridge._task_lm import (
    FACTORY_MAX_REQUESTS,
    INSTRUCTIONS,
    NEUTRAL_INSTRUCTION,
    TASK_MODEL,
    TaskLM,
    infer_rule,
    instructions_of,
    prompt_pairs,
    task_lm,
)

WORDS = ["apple", "river", "stone", "cloud", "tiger", "maple", "piano", "ocean"]


def reversed_examples(words: list[str]) -> list[Any]:
    return [dspy.Example(word=word, answer=word[::-1]).with_inputs("word") for word in words]


TRAIN = reversed_examples(WORDS[:4])
DEV = reversed_examples(WORDS[4:])


def exact_match(example: Any, prediction: Any, trace: Any = None) -> float:
    return float(prediction.answer == example.answer)


def dev_score(program: Any) -> float:
    return sum(exact_match(example, program(**example.inputs())) for example in DEV) / len(DEV)


class Spell(dspy.Signature):  # type: ignore[misc]  # DSPy is untyped (Any)
    word: str = dspy.InputField()
    answer: str = dspy.OutputField()


@pytest.fixture(autouse=True, scope="module")
def no_dspy_cache() -> Iterator[None]:
    """No disk or memory cache (as a worker runs DSPy): every request reaches the LM."""
    previous = vars(dspy).get("cache")
    dspy.configure_cache(enable_disk_cache=False, enable_memory_cache=False)
    yield
    if previous is None:
        vars(dspy).pop("cache", None)
    else:
        dspy.cache = previous


@pytest.fixture
def lm() -> Iterator[TaskLM]:
    lm = task_lm()
    with dspy.context(lm=lm):
        yield lm


def last(lm: TaskLM) -> dict[str, Any]:
    record: dict[str, Any] = lm.requests[-1]
    return record


# ---- the rules, each for its reason -------------------------------------------------------------------------


def test_default_echoes_the_word(lm: TaskLM) -> None:
    assert dspy.Predict("word -> answer")(word="hello").answer == "hello"
    record = last(lm)
    assert (record["rule"], record["because"], record["word"], record["answer"]) == (
        "echo",
        "default",
        "hello",
        "hello",
    )
    assert (record["task"], record["demos"], record["signature"]) == (True, 0, "word -> answer")
    assert record["instructions"] == "Given the fields `word`, produce the fields `answer`."
    assert lm.model == TASK_MODEL and lm.cache is False


@pytest.mark.parametrize(
    ("instructions", "rule", "answer"),
    [
        ("Answer with the word in reverse.", "reverse", "olleh"),
        ("Write the word in UPPERCASE letters.", "uppercase", "HELLO"),
        ("Reverse the word, then uppercase it.", "reverse+uppercase", "OLLEH"),
    ],
)
def test_instructions_name_the_rule(lm: TaskLM, instructions: str, rule: str, answer: str) -> None:
    predict = dspy.Predict(dspy.Signature("word -> answer", instructions))
    assert predict(word="hello").answer == answer
    assert (last(lm)["rule"], last(lm)["because"], last(lm)["instructions"]) == (rule, "instructions", instructions)


@pytest.mark.parametrize(
    ("demos", "rule", "answer"),
    [
        ([("abc", "cba"), ("dog", "god")], "reverse", "olleh"),
        ([("abc", "ABC")], "uppercase", "HELLO"),
        ([("abc", "CBA"), ("dog", "GOD")], "reverse+uppercase", "OLLEH"),
        ([("abc", "abc")], "echo", "hello"),
        ([("abc", "cba"), ("dog", "DOG")], "echo", "hello"),  # no rule fits both
        ([("level", "level")], "reverse", "olleh"),  # a palindrome fits reverse first
    ],
)
def test_demos_choose_the_first_rule_they_all_follow(
    lm: TaskLM, demos: list[tuple[str, str]], rule: str, answer: str
) -> None:
    predict = dspy.Predict("word -> answer")
    predict.demos = [dspy.Example(word=word, answer=said) for word, said in demos]
    assert predict(word="hello").answer == answer
    assert (last(lm)["rule"], last(lm)["because"], last(lm)["demos"]) == (rule, "demos", len(demos))


def test_demos_are_read_from_the_messages_of_either_adapter(lm: TaskLM) -> None:
    demos = [dspy.Example(word="abc", answer="cba")]
    predict = dspy.Predict(Spell)
    # Passed with the call, never stored on the predictor: the LM sees them only in the messages.
    assert predict(word="hello", demos=demos).answer == "olleh"
    assert last(lm)["because"] == "demos"
    assert [m["role"] for m in last(lm)["messages"]] == ["system", "user", "assistant", "user"]
    with dspy.context(adapter=dspy.JSONAdapter()):
        assert predict(word="hello", demos=demos).answer == "olleh"
        assert last(lm)["because"] == "demos"
        assert json.loads(last(lm)["messages"][2]["content"]) == {"answer": "cba"}


def test_instructions_win_over_demos(lm: TaskLM) -> None:
    predict = dspy.Predict(dspy.Signature("word -> answer", "Answer in uppercase."))
    predict.demos = [dspy.Example(word="abc", answer="cba")]
    assert predict(word="hello").answer == "HELLO"
    assert (last(lm)["because"], last(lm)["demos"]) == ("instructions", 1)


def test_chain_of_thought_is_careful_at_a_low_temperature(lm: TaskLM) -> None:
    careful = dspy.ChainOfThought("word -> answer", temperature=0.2)(word="hello")
    assert careful.answer == "HELLO"
    assert careful.reasoning == (
        "The rule is uppercase, because a careful reasoner at a low temperature answers so: "
        "the answer is the letters of the word in uppercase."
    )
    assert (last(lm)["because"], last(lm)["temperature"], last(lm)["temperature_used"]) == ("careful", 0.2, 0.2)
    assert dspy.ChainOfThought("word -> answer", temperature=0.3)(word="hello").answer == "HELLO"

    assert dspy.ChainOfThought("word -> answer", temperature=0.9)(word="hello").answer == "hello"
    assert last(lm)["because"] == "default"
    assert dspy.ChainOfThought("word -> answer")(word="hello").answer == "hello"  # unset counts as 0.7
    assert (last(lm)["temperature"], last(lm)["temperature_used"]) == (None, 0.7)
    # Careful takes reasoning: a plain Predict at the same temperature echoes.
    assert dspy.Predict("word -> answer", temperature=0.2)(word="hello").answer == "hello"
    with dspy.context(lm=task_lm(temperature=0.1)):  # the LM's own setting is the request's too
        assert dspy.ChainOfThought(Spell)(word="hello").answer == "HELLO"


def test_chain_of_thought_reads_labeled_demos_without_reasoning(lm: TaskLM) -> None:
    cot = dspy.ChainOfThought("word -> answer", temperature=0.2)
    cot.predict.demos = [dspy.Example(word="abc", answer="cba"), dspy.Example(word="dog", reasoning="r", answer="god")]
    result = cot(word="hello")
    assert result.answer == "olleh"
    assert result.reasoning.startswith("The rule is reverse, because the demos follow it")
    assert (last(lm)["because"], last(lm)["demos"]) == ("demos", 2)


async def test_async_calls_answer_the_same(lm: TaskLM) -> None:
    predict = dspy.Predict("word -> answer")
    predict.demos = [dspy.Example(word="abc", answer="CBA")]
    assert (await predict.acall(word="hello")).answer == "OLLEH"


def test_other_signatures_get_the_echo_answer(lm: TaskLM) -> None:
    assert dspy.Predict("question -> answer")(question="hi").answer == "Echo: hi [temperature=none max_tokens=none]"
    assert (last(lm)["task"], last(lm)["rule"], last(lm)["because"]) == (False, None, "generic")
    assert lm("hi") == ["Echo: hi [temperature=none max_tokens=none]"]
    assert (last(lm)["signature"], last(lm)["because"]) == (None, "generic")


def test_request_log_says_what_it_received_and_why(tmp_path: Path) -> None:
    log = tmp_path / "requests.jsonl"
    lm = task_lm(request_log=str(log))
    predict = dspy.Predict("word -> answer")
    predict.demos = [dspy.Example(word="abc", answer="cba")]
    with dspy.context(lm=lm):
        predict(word="hello")
        dspy.Predict("word -> answer")(word="hello")
    lines = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    picked = [{k: line[k] for k in ("kind", "rule", "because", "word", "answer", "demos")} for line in lines]
    assert picked == [
        {"kind": "request", "rule": "reverse", "because": "demos", "word": "hello", "answer": "olleh", "demos": 1},
        {"kind": "request", "rule": "echo", "because": "default", "word": "hello", "answer": "hello", "demos": 0},
    ]
    assert all(line["instructions"] == "Given the fields `word`, produce the fields `answer`." for line in lines)
    assert lines[0]["text"] == "[[ ## answer ## ]]\nolleh\n\n[[ ## completed ## ]]\n"
    assert lm.copy(temperature=0.1).requests is lm.requests
    assert lm.echo_engine.max_requests == FACTORY_MAX_REQUESTS and TaskLM().echo_engine.max_requests is None


def test_the_worker_builds_it_from_its_factory_path(tmp_path: Path) -> None:
    # What a worker does for `Lm::custom("dspex_bridge._task_lm:task_lm")`, its settings as keyword arguments.
    from dspex_bridge._proto_loader import worker_pb
    from dspex_bridge.worker.lm import build_lm, lm_kind

    spec = worker_pb.LmSpec(factory="dspex_bridge._task_lm:task_lm")
    log = tmp_path / "requests.jsonl"
    lm = build_lm(spec, lm_kind(spec), {"temperature": 0.2, "request_log": str(log)})
    assert isinstance(lm, TaskLM)
    with dspy.context(lm=lm):
        assert dspy.ChainOfThought(Spell)(word="hello").answer == "HELLO"
    assert json.loads(log.read_text(encoding="utf-8"))["because"] == "careful"


# ---- proposing instructions ---------------------------------------------------------------------------------


def test_prompt_pairs_in_each_format() -> None:
    repr_text = str([dspy.Example(word="abc", answer="cba"), dspy.Example(word="it's", answer="s'ti")])
    assert prompt_pairs(repr_text) == [("abc", "cba"), ("it's", "s'ti")]
    answer_first = str([dspy.Example(answer="cba", word="abc"), dspy.Example(answer="god", word="dog")])
    assert prompt_pairs(answer_first) == [("abc", "cba"), ("dog", "god")]
    assert prompt_pairs("Word: abc\nReasoning: r\nAnswer: cba\n\nWord: dog\nAnswer: god") == [
        ("abc", "cba"),
        ("dog", "god"),
    ]
    feedback = json.dumps(
        [
            {
                "Inputs": {"word": "abc"},
                "Generated Outputs": {"answer": "abc"},
                "Feedback": "The expected answer was: ABC",
            },
            {
                "Inputs": {"word": "dog"},
                "Generated Outputs": {"answer": "dog"},
                "Feedback": "The expected answer was: DOG",
            },
        ]
    )
    # The expected answers, not the generated ones, are the answers.
    assert prompt_pairs(feedback) == [("abc", "ABC"), ("dog", "DOG")]
    assert infer_rule(prompt_pairs(feedback)) == "uppercase"
    assert prompt_pairs("no pairs here") == []
    assert infer_rule([]) is None


def test_instructions_of_a_system_message() -> None:
    system = "Your input fields are: ...\nIn adhering to this structure, your objective is: \n        Line one.\n        Line two."
    assert instructions_of(system) == "Line one.\nLine two."


class Propose(dspy.Signature):  # type: ignore[misc]  # DSPy is untyped (Any)
    """Write a better instruction."""

    current_instruction: str = dspy.InputField()
    previous_instructions: str = dspy.InputField()
    examples: str = dspy.InputField()
    new_instruction: str = dspy.OutputField()
    notes: str = dspy.OutputField()


def test_an_instruction_field_names_the_rule_the_pairs_follow(lm: TaskLM) -> None:
    propose = dspy.Predict(Propose)
    shown = "Word: abc\nAnswer: cba\n\nWord: dog\nAnswer: god"
    result = propose(current_instruction="Do it.", previous_instructions="Be uppercase.", examples=shown)
    assert (
        result.new_instruction == INSTRUCTIONS["reverse"] == "Given the word, answer with its letters in reverse order."
    )
    assert result.notes == "Echo: Do it. [temperature=none max_tokens=none]"
    assert (last(lm)["rule"], last(lm)["because"], last(lm)["pairs"]) == ("reverse", "pairs", 2)
    upper = "Word: abc\nAnswer: CBA"
    assert propose(current_instruction="x", previous_instructions="", examples=upper).new_instruction == (
        "Given the word, answer with its letters in reverse order and in uppercase."
    )

    # No pair, or pairs no rule fits: the current instruction comes back (not the previous ones).
    assert propose(current_instruction="Do it.", previous_instructions="p", examples="none").new_instruction == "Do it."
    assert last(lm)["because"] == "current"
    clash = "Word: abc\nAnswer: cba\nWord: dog\nAnswer: DOG"
    assert propose(current_instruction="Do it.", previous_instructions="p", examples=clash).new_instruction == "Do it."
    bare = dspy.Predict("examples -> proposed_instruction")
    assert bare(examples="none").proposed_instruction == NEUTRAL_INSTRUCTION
    assert last(lm)["because"] == "neutral"
    assert not any(word in NEUTRAL_INSTRUCTION.lower() for word in ("reverse", "uppercase"))


# ---- optimizers ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("signature", ["word -> answer", Spell], ids=["string", "typed"])
def test_bootstrap_few_shot_learns_the_rule_from_demos(lm: TaskLM, signature: Any) -> None:
    student = dspy.Predict(signature)
    assert dev_score(student) == 0.0
    compiled = dspy.BootstrapFewShot(metric=exact_match).compile(student, trainset=TRAIN)
    assert compiled.demos and not student.demos
    lm.clear_requests()
    assert dev_score(compiled) == 1.0
    assert {(r["rule"], r["because"]) for r in lm.requests} == {("reverse", "demos")}
    assert all(r["demos"] == len(compiled.demos) for r in lm.requests)


def test_mipro_v2_light_runs_offline_and_scores_higher(lm: TaskLM) -> None:
    student = dspy.Predict("word -> answer")
    assert dev_score(student) == 0.0
    optimizer = dspy.MIPROv2(metric=exact_match, auto="light", num_threads=1, seed=7, verbose=False)
    compiled = optimizer.compile(student, trainset=TRAIN, valset=DEV, seed=7)
    assert dev_score(compiled) == 1.0
    proposals = [r for r in lm.requests if r.get("proposed") is not None]
    assert proposals and {r["signature"].split(" -> ")[1] for r in proposals} == {"proposed_instruction"}
    assert any(r["proposed"] == INSTRUCTIONS["reverse"] and r["because"] == "pairs" for r in proposals)
    # Every proposer step (dataset summary, program and module descriptions) got a well-formed answer.
    assert {"observations", "summary"} <= {r["signature"].split(" -> ")[1] for r in lm.requests if not r["task"]}


def test_gepa_improves_through_an_instruction_naming_reverse(lm: TaskLM) -> None:
    def metric(gold: Any, pred: Any, trace: Any = None, pred_name: Any = None, pred_trace: Any = None) -> Any:
        return dspy.Prediction(score=exact_match(gold, pred), feedback=f"The expected answer was: {gold.answer}")

    reflection = task_lm()
    student = dspy.Predict("word -> answer")
    assert dev_score(student) == 0.0
    compiled = dspy.GEPA(metric=metric, reflection_lm=reflection, max_metric_calls=24, seed=0).compile(
        student, trainset=TRAIN, valset=DEV
    )
    assert "reverse" in compiled.signature.instructions and not compiled.demos
    assert dev_score(compiled) == 1.0
    assert last(lm)["because"] == "instructions"
    proposal = next(r for r in reflection.requests if r.get("proposed") is not None)
    assert (proposal["rule"], proposal["because"], proposal["pairs"] > 0) == ("reverse", "pairs", True)
