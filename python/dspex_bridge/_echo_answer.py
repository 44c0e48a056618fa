"""What the test LM answers to one DSPy call: a typed value per output field, written by the call's own adapter.

Inside ``dspy.ReAct`` each step calls the next tool, in order, once each (arguments from the numbers and text of
the inputs), then ``finish``; inside ``dspy.ProgramOfThought`` its code step writes a program that
sums the numbers of the first input and ``SUBMIT``s the result, and its answer step echoes what the program
computed.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final, Literal, get_args, get_origin

import dspy
from dspy.adapters.utils import parse_value

from ._echo_call import EchoCallError, PredictorCall
from ._echo_values import EchoSource, value_for

_NUMBER: Final = re.compile(r"-?\d+(?:\.\d+)?")
_FINISH: Final = "finish"
_CALL: Final = re.compile(r"tool_name_(\d+)")
_CODE_FIELD: Final = "generated_code"
_CODE_OUTPUT_FIELD: Final = "code_output"


def answer_text(call: PredictorCall | None, user_text: str, tag: str) -> str:
    """The completion for a request: the adapter's rendering of `answer_values`, or (no predictor calling)
    ``Echo: <the last user message> <tag>``."""
    if call is None:
        return f"Echo: {user_text.strip()} {tag}"
    rendered: str = call.adapter.format_assistant_message_content(call.signature, answer_values(call, tag))
    return rendered


def answer_values(call: PredictorCall, tag: str) -> dict[str, Any]:
    """One value per output field of the call's signature."""
    source = EchoSource(text=f"Echo: {first_input(call)} {tag}", numbers=_numbers(caller_inputs(call)))
    values = {name: value_for(field.annotation, source) for name, field in call.signature.output_fields.items()}
    values.update(_module_step(call, source, tag))
    return values


def first_input(call: PredictorCall) -> str:
    """The text of the first input field the request carries (``""``: none)."""
    return next((call.inputs[name] for name in call.signature.input_fields if name in call.inputs), "")


def caller_inputs(call: PredictorCall) -> list[str]:
    """The input texts the caller gave: those of the signature of the ReAct or ProgramOfThought around the
    predictor (not the trajectory or code they add), else all of the request's."""
    program = call.innermost((dspy.ReAct, dspy.ProgramOfThought))
    names = program.signature.input_fields if program is not None else call.signature.input_fields
    return [call.inputs[name] for name in names if name in call.inputs]


def _numbers(texts: list[str]) -> tuple[float, ...]:
    return tuple(float(match) for text in texts for match in _NUMBER.findall(text))


def _module_step(call: PredictorCall, source: EchoSource, tag: str) -> dict[str, Any]:
    react = call.innermost(dspy.ReAct)
    if react is not None and react.react is call.predictor:
        return _react_step(react, call, source)
    pot = call.innermost(dspy.ProgramOfThought)
    if pot is not None and call.predictor in (pot.code_generate.predict, pot.code_regenerate.predict):
        return _code_step(pot, call)
    if pot is not None and call.predictor is pot.generate_output.predict:
        return _program_answer_step(pot, call, tag)
    return {}


# ---- ReAct -------------------------------------------------------------------------------------------------


def _react_step(react: Any, call: PredictorCall, source: EchoSource) -> dict[str, Any]:
    tools: dict[str, Any] = react.tools
    choices = tuple(tools)
    tool_field = next(
        (
            name
            for name, field in call.signature.output_fields.items()
            if get_origin(field.annotation) is Literal and get_args(field.annotation) == choices
        ),
        None,
    )
    args_field = next((n for n, f in call.signature.output_fields.items() if get_origin(f.annotation) is dict), None)
    if tool_field is None or args_field is None:
        raise EchoCallError(
            "the test LM finds no tool-name (a Literal of the tools) or tool-arguments (a dict) output in "
            f"ReAct's step signature `{call.signature.signature}`"
        )
    trajectory = "".join(text for name, text in call.inputs.items() if name not in react.signature.input_fields)
    calls = len(set(_CALL.findall(trajectory)))
    candidates = [name for name in tools if name != _FINISH]
    if calls >= len(candidates):
        return {tool_field: _FINISH, args_field: {}}
    tool = candidates[calls]
    return {tool_field: tool, args_field: _tool_args(tools[tool].args, source, first_input(call))}


def _tool_args(schema: dict[str, Any], source: EchoSource, text: str) -> dict[str, Any]:
    """Arguments for a tool with JSON-schema ``schema`` per argument: numbers take the input's numbers in
    order, booleans ``True``, anything else the first input's text."""
    numbers = iter(source.numbers)
    args: dict[str, Any] = {}
    for name, spec in schema.items():
        kind = spec.get("type") if isinstance(spec, dict) else None
        if kind == "integer":
            args[name] = round(next(numbers, 0.0))
        elif kind == "number":
            args[name] = next(numbers, 0.0)
        elif kind == "boolean":
            args[name] = True
        else:
            args[name] = text
    return args


# ---- ProgramOfThought --------------------------------------------------------------------------------------


def _code_step(pot: Any, call: PredictorCall) -> dict[str, Any]:
    if _CODE_FIELD not in call.signature.output_fields:
        raise EchoCallError(f"ProgramOfThought's code step `{call.signature.signature}` has no `{_CODE_FIELD}`")
    return {_CODE_FIELD: program(first_input(call), list(pot.output_fields) or ["answer"])}


def program(text: str, fields: list[str]) -> str:
    """Python that sums the numbers of ``text`` and ``SUBMIT``s the sum (as text) for every field of ``fields``."""
    submitted = ", ".join(f"{field!r}: result" for field in fields)
    return "\n".join(
        [
            "import re",
            f"text = {text!r}",
            'numbers = [float(x) for x in re.findall(r"-?\\d+(?:\\.\\d+)?", text)]',
            "total = sum(numbers)",
            "result = str(int(total)) if total == int(total) else str(total)",
            f"SUBMIT({{{submitted}}})",
        ]
    )


def _program_answer_step(pot: Any, call: PredictorCall, tag: str) -> dict[str, Any]:
    raw = call.inputs.get(_CODE_OUTPUT_FIELD)
    if raw is None:
        raise EchoCallError(
            f"ProgramOfThought's answer step `{call.signature.signature}` has no `{_CODE_OUTPUT_FIELD}`"
        )
    values: dict[str, Any] = {}
    for name, field in pot.output_fields.items():
        computed = _computed(raw, name)
        if computed is None:
            continue
        if field.annotation is str:
            values[name] = f"Echo: {computed} {tag}"
            continue
        try:
            values[name] = parse_value(computed, field.annotation)
        except ValueError:
            continue  # the field keeps its typed value
    return values


def _computed(code_output: str, field: str) -> str | None:
    """What the program ``SUBMIT``ted for ``field``: ``{"field": v}``, or ``{"output": {"field": v}}``."""
    try:
        data: Any = json.loads(code_output)
    except ValueError:
        return None
    for _ in range(2):
        if isinstance(data, dict) and field in data:
            return str(data[field])
        data = data.get("output") if isinstance(data, dict) else None
    return None


__all__ = ["answer_text", "answer_values", "caller_inputs", "first_input", "program"]
