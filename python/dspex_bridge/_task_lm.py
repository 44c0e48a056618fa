"""`TaskLM`: an offline, deterministic **test LM** whose answers get better with the right demos, instructions
or settings, for tests and demos of evaluation and optimization only (driven from Rust by
``Lm::custom("dspex_bridge._task_lm:task_lm")``). It is no model: it never touches the network, and the same
request always gets the same answer.

It is `dspex_bridge._echo_lm.EchoLM` with another answer step: a real ``dspy.LM`` over DSPy 3.4's engine
interface, ``cache=False``, answering in the format of the adapter that wrote the request (``ChatAdapter``'s
``[[ ## field ## ]]`` blocks, ``JSONAdapter``'s JSON object), recording every request in ``lm.requests``, and,
with ``request_log=<path>``, appending one JSON line per request to that file.

**The task.** A signature with an input field ``word`` and a ``str`` output field ``answer`` (other fields may
exist, such as ChainOfThought's ``reasoning``). As for the echo LM, the fields and the adapter are the calling
predictor's, matched to the request's system message (`dspex_bridge._echo_call`); the *rule* comes only from what
the request carries — the instructions in its system message (the text after ``your objective is:``, or all of
it), the demos (the user/assistant message pairs before the last user message, read back with the adapter:
``word`` from the user message, ``answer`` from the assistant message, a field DSPy marks "Not supplied" counting
as absent) and its settings — never from the predictor's demos or signature objects. The first of these that
applies decides (``because``):

1. ``"instructions"``: the instructions contain ``reverse`` and/or ``uppercase`` (case-insensitive substrings):
   rule ``reverse`` (``word[::-1]``), ``uppercase`` (``word.upper()``), or both, ``reverse+uppercase``
   (``word[::-1].upper()``).
2. ``"demos"``: there is at least one demo with a word and an answer: the first rule of ``reverse``,
   ``uppercase``, ``reverse+uppercase``, ``echo`` that turns every demo's word into its answer; ``echo`` when
   none does.
3. ``"careful"``: the signature has a ``reasoning`` output and the request's ``temperature`` is at most 0.3 (unset
   counts as 0.7): rule ``uppercase``.
4. ``"default"``: rule ``echo``, the word unchanged.

``reasoning`` reads ``The rule is <rule>, because <why>: the answer is <what the rule does>.``; any other output
field gets the echo LM's value.

**Other signatures** (the LM is also MIPROv2's prompt model and GEPA's reflection LM) get the echo LM's answer
(``Echo: <first input> [settings]`` for ``str`` fields, see `dspex_bridge._echo_lm`), except each ``str`` output
field whose name contains ``instruction`` (MIPROv2's ``proposed_instruction``, GEPA's ``new_instruction``). That
one gets an instruction naming the rule that the (word, answer) pairs shown anywhere in the prompt follow, chosen
as in 2. A ``dspy.Example``'s repr (as in MIPROv2's dataset summary) shows one pair, its ``'word'`` and
``'answer'``; elsewhere each answer goes with the last word shown before it, a word being shown as
``"word": "<w>"`` (JSON, as GEPA's reflective examples), ``'word': '<w>'`` (a Python dict's repr) or a
``Word: <w>`` line (MIPROv2's task demos). An answer is a ``The expected answer
was: <a>`` feedback (the rest of its line or JSON string); when the prompt has none, ``"answer": "<a>"``,
``'answer': '<a>'`` and ``Answer: <a>`` lines are the answers instead. The instruction is:

- ``reverse``: ``Given the word, answer with its letters in reverse order.``
- ``uppercase``: ``Given the word, answer with its letters in uppercase.``
- ``reverse+uppercase``: ``Given the word, answer with its letters in reverse order and in uppercase.``
- ``echo``: ``Given the word, answer with the word itself, unchanged.``
- no pair, or no rule fits them all: the current instruction unchanged when the request shows one (the first
  ``str`` input field whose name contains ``instruction`` but does not end in ``instructions``: GEPA's
  ``current_instruction``, MIPROv2's ``basic_instruction``), else ``Given the inputs, produce the outputs.``

**What it records.** ``lm.requests`` holds the echo LM's record of each request (``model``, ``messages``,
``settings``, ``temperature``, ``max_tokens``) with these keys added, which are also in the request's
``{"kind": "request", "id", "t_us", "text", ...}`` line of the request log:

- ``signature`` (``"word -> answer"``; ``None`` when no predictor called), ``task`` (whether the signature is the
  task), ``instructions`` (the instructions text), ``demos`` (how many demos with a word and an answer a task
  request carried; ``0`` for other requests);
- ``rule`` (``None`` when no rule was applied or inferred) and ``because``: for the task ``"instructions"`` /
  ``"demos"`` / ``"careful"`` / ``"default"``; for an instruction proposal ``"pairs"`` (a rule was inferred),
  ``"current"`` (the current instruction came back) or ``"neutral"``; else ``"generic"``;
- ``word``, ``answer`` and ``temperature_used`` (the task's input, its answer, and the temperature rule 3
  compared; ``None`` for other requests), and for an instruction proposal only, ``pairs`` (how many pairs it
  read) and ``proposed`` (the instruction it answered).

A request no adapter of DSPy's wrote for its predictor's signature fails as it does with the echo LM
(`dspex_bridge._echo_call.EchoCallError`).
"""

from __future__ import annotations

import ast
import itertools
import json
import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from dspy.lm15 import Request
from dspy.utils.exceptions import AdapterParseError

from ._echo_answer import answer_text, answer_values
from ._echo_call import PredictorCall, find_call, read_inputs
from ._echo_lm import EchoEngine, EchoLM, last_user_text, settings_tag

TASK_MODEL: Final = "dspex/task-test-lm"
"""The model name a `TaskLM` reports (never sent anywhere)."""

WORD: Final = "word"
ANSWER: Final = "answer"
REASONING: Final = "reasoning"

RULES: Final = ("reverse", "uppercase", "reverse+uppercase", "echo")
"""The rules, in the order a rule is inferred from pairs."""

CAREFUL_TEMPERATURE: Final = 0.3
UNSET_TEMPERATURE: Final = 0.7

INSTRUCTIONS: Final = {
    "reverse": "Given the word, answer with its letters in reverse order.",
    "uppercase": "Given the word, answer with its letters in uppercase.",
    "reverse+uppercase": "Given the word, answer with its letters in reverse order and in uppercase.",
    "echo": "Given the word, answer with the word itself, unchanged.",
}
"""The instruction proposed for each rule inferred."""

NEUTRAL_INSTRUCTION: Final = "Given the inputs, produce the outputs."

_DOES: Final = {
    "reverse": "the letters of the word in reverse order",
    "uppercase": "the letters of the word in uppercase",
    "reverse+uppercase": "the letters of the word in reverse order and in uppercase",
    "echo": "the word unchanged",
}
_WHY: Final = {
    "instructions": "the instructions ask for it",
    "demos": "the demos follow it",
    "careful": "a careful reasoner at a low temperature answers so",
    "default": "nothing asks for another",
}

_OBJECTIVE: Final = "your objective is:"
"""What precedes the instructions in the system message DSPy's chat and JSON adapters write."""
_INCOMPLETE_DEMO: Final = "This is an example of the task, though some input or output fields are not supplied."
"""The prefix DSPy's adapters write before a demo that lacks a field."""
_NOT_SUPPLIED: Final = "Not supplied for this"


def apply_rule(rule: str, word: str) -> str:
    """The answer rule ``rule`` gives for ``word``."""
    if rule == "reverse":
        return word[::-1]
    if rule == "uppercase":
        return word.upper()
    if rule == "reverse+uppercase":
        return word[::-1].upper()
    return word


def infer_rule(pairs: Sequence[tuple[str, str]]) -> str | None:
    """The first rule (in `RULES` order) turning every word of ``pairs`` into its answer (``None``: none does, or
    no pairs)."""
    if not pairs:
        return None
    return next((rule for rule in RULES if all(apply_rule(rule, word) == answer for word, answer in pairs)), None)


def rule_named(instructions: str) -> str | None:
    """The rule the instructions name by keyword (``None``: none)."""
    lowered = instructions.lower()
    reverse, uppercase = "reverse" in lowered, "uppercase" in lowered
    if reverse and uppercase:
        return "reverse+uppercase"
    if reverse:
        return "reverse"
    if uppercase:
        return "uppercase"
    return None


def instructions_of(system: str) -> str:
    """The instructions in a system message: what follows ``your objective is:`` (the whole message if absent)."""
    _, found, tail = system.rpartition(_OBJECTIVE)
    return textwrap.dedent(tail if found else system).strip()


# ---- what the request carries -------------------------------------------------------------------------------


def is_task(signature: Any) -> bool:
    """Whether the signature is the task: an input ``word`` and a ``str`` output ``answer``."""
    answer = signature.output_fields.get(ANSWER)
    return WORD in signature.input_fields and answer is not None and answer.annotation is str


def demo_pairs(call: PredictorCall, messages: Sequence[Any]) -> list[tuple[str, str]]:
    """The (word, answer) of each demo the request's messages carry, read back with the call's adapter."""
    earlier = list(messages[:-1])  # the last message is the request itself
    pairs = []
    for user, assistant in itertools.pairwise(earlier):
        if user.role != "user" or assistant.role != "assistant":
            continue
        word = _demo_word(call, user.text or "")
        answer = _demo_answer(call, assistant.text or "")
        if word is not None and answer is not None:
            pairs.append((word, answer))
    return pairs


def _demo_word(call: PredictorCall, text: str) -> str | None:
    for prefix in ("", _INCOMPLETE_DEMO):
        inputs = read_inputs(call.adapter, call.signature, text, main_request=False, prefix=prefix)
        if inputs is not None:
            return inputs.get(WORD)
    return None


def _demo_answer(call: PredictorCall, text: str) -> str | None:
    try:
        outputs = call.adapter.parse(call.signature, text)
    except (AdapterParseError, ValueError):
        return None
    answer = outputs.get(ANSWER)
    if not isinstance(answer, str) or answer.startswith(_NOT_SUPPLIED):
        return None
    return answer


def _json_string(body: str) -> str:
    try:
        value = json.loads(f'"{body}"')
    except ValueError:
        return body
    return value if isinstance(value, str) else body


def _python_string(literal: str) -> str:
    try:
        value = ast.literal_eval(literal)
    except (ValueError, SyntaxError):
        return literal.strip("'\"")
    return value if isinstance(value, str) else literal


_JSON_BODY: Final = r'"((?:[^"\\\n]|\\.)*)"'
_PY_LITERAL: Final = r"""('(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*")"""


Shown = list[tuple[re.Pattern[str], Any]]
"""How a value is shown: the patterns capturing it, each with the decoder of what it captures."""


def _in_python(field: str) -> Shown:
    return [(re.compile(rf"'{field}':\s*{_PY_LITERAL}"), _python_string)]


def _shown(field: str, label: str) -> Shown:
    return [
        (re.compile(rf'"{field}":\s*{_JSON_BODY}'), _json_string),
        *_in_python(field),
        (re.compile(rf"^{label}:[ \t]*(.*?)[ \t]*$", re.MULTILINE), str),
    ]


_WORDS_SHOWN: Final = _shown(WORD, "Word")
_ANSWERS_SHOWN: Final = _shown(ANSWER, "Answer")
_EXAMPLE_WORD: Final = _in_python(WORD)
_EXAMPLE_ANSWER: Final = _in_python(ANSWER)
_EXPECTED: Final = [(re.compile(r'The expected answer was:[ \t]*((?:[^"\\\n]|\\.)*)'), _json_string)]


def _found(text: str, patterns: Shown) -> list[tuple[int, str]]:
    return sorted(
        (match.start(), decode(match.group(1)).strip())
        for pattern, decode in patterns
        for match in pattern.finditer(text)
    )


_EXAMPLE: Final = re.compile(r"Example\(\{(.*?)\}\)", re.DOTALL)
"""A ``dspy.Example``'s repr: its fields, in whatever order the example was built with."""


def prompt_pairs(text: str) -> list[tuple[str, str]]:
    """The (word, answer) pairs a prompt shows (see the module docstring), in order, without repeats."""
    pairs: list[tuple[str, str]] = []

    def add(word: str, answer: str) -> None:
        if (word, answer) not in pairs:
            pairs.append((word, answer))

    for example in _EXAMPLE.finditer(text):
        words, answers = _found(example.group(1), _EXAMPLE_WORD), _found(example.group(1), _EXAMPLE_ANSWER)
        if words and answers:
            add(words[0][1], answers[0][1])
    rest = _EXAMPLE.sub(" ", text)
    words = _found(rest, _WORDS_SHOWN)
    for position, answer in _found(rest, _EXPECTED) or _found(rest, _ANSWERS_SHOWN):
        before = [word for at, word in words if at < position]
        if before:
            add(before[-1], answer)
    return pairs


# ---- the answers --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TaskDecision:
    """Which rule answers a task request, and why."""

    rule: str
    because: str
    word: str
    temperature: float

    @property
    def answer(self) -> str:
        return apply_rule(self.rule, self.word)

    @property
    def reasoning(self) -> str:
        return f"The rule is {self.rule}, because {_WHY[self.because]}: the answer is {_DOES[self.rule]}."


def decide(
    word: str, instructions: str, demos: Sequence[tuple[str, str]], reasons: bool, temperature: float | None
) -> TaskDecision:
    """The rule for a task request (see the module docstring)."""
    used = UNSET_TEMPERATURE if temperature is None else float(temperature)
    named = rule_named(instructions)
    if named is not None:
        return TaskDecision(named, "instructions", word, used)
    if demos:
        return TaskDecision(infer_rule(demos) or "echo", "demos", word, used)
    if reasons and used <= CAREFUL_TEMPERATURE:
        return TaskDecision("uppercase", "careful", word, used)
    return TaskDecision("echo", "default", word, used)


def current_instruction(call: PredictorCall) -> str | None:
    """The instruction the request shows as the current one (see the module docstring)."""
    for name, field in call.signature.input_fields.items():
        shown = name in call.inputs and field.annotation is str
        if shown and "instruction" in name and not name.endswith("instructions"):
            return call.inputs[name]
    return None


def _instruction_fields(signature: Any) -> list[str]:
    return [
        name for name, field in signature.output_fields.items() if "instruction" in name and field.annotation is str
    ]


class TaskEngine(EchoEngine):
    """The engine of `TaskLM`: the echo engine with the task's answers (see the module docstring)."""

    def respond(self, request: Request, system: str | None, settings: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        user_text = last_user_text(request)
        tag = settings_tag(settings)
        instructions = instructions_of(system or "")
        call = find_call(system or "", user_text)
        facts: dict[str, Any] = {
            "signature": None,
            "task": False,
            "instructions": instructions,
            "demos": 0,
            "rule": None,
            "because": "generic",
            "word": None,
            "answer": None,
            "temperature_used": None,
        }
        if call is None:
            return answer_text(None, user_text, tag), facts
        signature = call.signature
        demos = demo_pairs(call, request.messages) if is_task(signature) else []
        facts.update(signature=signature.signature, task=is_task(signature), demos=len(demos))
        values = answer_values(call, tag)
        if is_task(signature):
            decision = decide(
                call.inputs.get(WORD, ""),
                instructions,
                demos,
                REASONING in signature.output_fields,
                settings.get("temperature"),
            )
            values[ANSWER] = decision.answer
            if REASONING in signature.output_fields:
                values[REASONING] = decision.reasoning
            facts.update(
                rule=decision.rule,
                because=decision.because,
                word=decision.word,
                answer=decision.answer,
                temperature_used=decision.temperature,
            )
        elif fields := _instruction_fields(signature):
            prompt = "\n".join([system or "", *(message.text or "" for message in request.messages)])
            pairs = prompt_pairs(prompt)
            rule = infer_rule(pairs)
            current = current_instruction(call)
            if rule is not None:
                proposed, because = INSTRUCTIONS[rule], "pairs"
            elif current is not None and current.strip():
                proposed, because = current, "current"
            else:
                proposed, because = NEUTRAL_INSTRUCTION, "neutral"
            values.update(dict.fromkeys(fields, proposed))
            facts.update(rule=rule, because=because, pairs=len(pairs), proposed=proposed)
        text: str = call.adapter.format_assistant_message_content(signature, values)
        return text, facts


class TaskLM(EchoLM):
    """The task test LM: a ``dspy.LM`` over `TaskEngine` (see the module docstring). Takes what `EchoLM`
    takes (``dspy.LM``'s settings, ``request_log``, ``max_requests``, ``chunk_delay``)."""

    engine_class = TaskEngine

    def __init__(self, model: str = TASK_MODEL, **kwargs: Any) -> None:
        super().__init__(model, **kwargs)


FACTORY_MAX_REQUESTS: Final = 1000
"""How many requests an LM made by `task_lm` keeps in ``lm.requests`` unless told otherwise: a worker lives long
(the request log keeps them all)."""


def task_lm(**settings: Any) -> TaskLM:
    """A factory for ``Lm::custom("dspex_bridge._task_lm:task_lm")``: a new task test LM, ``settings`` passed on
    (``temperature=0.2``, ``request_log="/path/requests.jsonl"``, ...); ``max_requests`` defaults to
    `FACTORY_MAX_REQUESTS`."""
    settings.setdefault("max_requests", FACTORY_MAX_REQUESTS)
    return TaskLM(**settings)


__all__ = [
    "FACTORY_MAX_REQUESTS",
    "INSTRUCTIONS",
    "NEUTRAL_INSTRUCTION",
    "RULES",
    "TASK_MODEL",
    "TaskDecision",
    "TaskEngine",
    "TaskLM",
    "apply_rule",
    "decide",
    "demo_pairs",
    "infer_rule",
    "instructions_of",
    "is_task",
    "prompt_pairs",
    "rule_named",
    "task_lm",
]
