"""`EchoLM`: the offline, deterministic **test LM** of dspex (exported by `dspex_bridge.testing`).

It is a real ``dspy.LM`` whose engine is DSPy 3.4's canonical engine interface
(``complete(Request) -> Response``, plus the async twin), so every DSPy module drives it the
way it drives a real model: Predict, ChainOfThought, ReAct (it calls a tool, then
``finish``), ProgramOfThought (it writes Python that runs in ``dspy.LocalInterpreter``).
It never touches the network and answers the same request the same way every time.

How it answers (under DSPy's default ``ChatAdapter``): it reads the input and output fields
from the system prompt, the input values from the last user message, and writes one value per
output field, typed as the signature asks:

- ``str`` fields: ``Echo: <source> [temperature=<t> max_tokens=<m>]``, where ``<source>`` is
  the value of the first input field (for ProgramOfThought's last step, the value the program
  computed for that field), and the bracket lists the settings the request carried:
  ``temperature`` and ``max_tokens`` always (``none`` when unset), then any other setting that
  is set (``top_p``, ``seed``, ``stop``, ...) in alphabetical order, ``key=value`` separated
  by single spaces. ``<t>`` is Python's ``repr`` of the float (``0.3``, ``1.0``).
  Example: ``Echo: What is 2+2? [temperature=0.3 max_tokens=256]``.
- ``int`` / ``float``: the sum of the numbers found in the inputs (``0`` if none).
- ``bool``: ``true``. ``Literal[...]``: its first choice. ``list``: a one-element list.
  ``dict``: ``{}``.
- ReAct: when the trajectory is empty it calls the first tool, with arguments built from the
  input (integers/numbers: the numbers found in the input, in order; strings: the first input);
  after one observation it calls ``finish``.
- ProgramOfThought: ``generated_code`` is a program that sums the numbers found in the first
  input and ``SUBMIT``s the result for every output field.

Every request is recorded in ``lm.requests`` (shared by ``lm.copy(...)`` copies):
``{"model", "messages": [{"role", "content"}, ...] (system first), "settings": {...set
config fields...}, "temperature", "max_tokens"}``.
"""

from __future__ import annotations

import ast
import json
import os
import re
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any, Final

import dspy
from dspy.lm15 import Message, Request, Response, TextPart, Usage, response_to_events

ECHO_MODEL: Final = "dspex/echo-test-lm"
"""The model name an `EchoLM` reports (never sent anywhere)."""

_FIELD_LINE: Final = re.compile(r"^\s*\d+\. `([^`]+)` \((.+?)\)(?::|\s*$)")
_MARKER: Final = re.compile(r"\[\[ ## (\w+) ## \]\]")
_NUMBER: Final = re.compile(r"-?\d+(?:\.\d+)?")
_TOOL_LINE: Final = re.compile(r"^\(\d+\) (\w+)(?:, whose description is .*?)?\. It takes arguments (\{.*\})\.\s*$")
_RESPOND_TAIL: Final = re.compile(r"\n\s*\nRespond with the corresponding output fields.*\Z", re.DOTALL)
_SETTING_ORDER: Final = ("temperature", "max_tokens")


# ---- reading the prompt ----------------------------------------------------------------------


def _section(system: str, start: str, end: str) -> list[tuple[str, str]]:
    """The (name, type) pairs of one "Your ... fields are:" list of the system prompt."""
    begin = system.find(start)
    if begin < 0:
        return []
    stop = system.find(end, begin + len(start))
    body = system[begin + len(start) : stop if stop >= 0 else len(system)]
    fields = []
    for line in body.splitlines():
        match = _FIELD_LINE.match(line)
        if match:
            fields.append((match.group(1), match.group(2).strip()))
    return fields


def _input_values(user_text: str, names: list[str]) -> dict[str, str]:
    """The input values of the last user message, by field name."""
    text = _RESPOND_TAIL.sub("", user_text)
    values: dict[str, str] = {}
    # Only the markers of the signature's inputs split the text: a value may itself hold
    # markers (ReAct's trajectory does).
    markers = [m for m in _MARKER.finditer(text) if not names or m.group(1) in names]
    for index, marker in enumerate(markers):
        end = markers[index + 1].start() if index + 1 < len(markers) else len(text)
        values.setdefault(marker.group(1), text[marker.end() : end].strip())
    return values


def _numbers(texts: list[str]) -> list[float]:
    return [float(match) for text in texts for match in _NUMBER.findall(text)]


def _number_text(value: float, integer: bool) -> str:
    if integer:
        return str(int(round(value)))
    return repr(float(value))


def _settings_of(request: Request) -> dict[str, Any]:
    """The generation settings the request carries (non-default config fields)."""
    config = request.config
    settings: dict[str, Any] = {}
    for name in type(config).__dataclass_fields__:
        value = getattr(config, name)
        if value is None or value == () or name == "extensions":
            continue
        settings[name] = list(value) if isinstance(value, tuple) else value
    if config.extensions:
        settings.update(dict(config.extensions))
    return settings


def settings_tag(settings: dict[str, Any]) -> str:
    """``[temperature=0.3 max_tokens=256 ...]``: see the module docstring for the format."""
    parts = [f"{name}={_format_setting(settings.get(name))}" for name in _SETTING_ORDER]
    parts += [
        f"{name}={_format_setting(value)}"
        for name, value in sorted(settings.items())
        if name not in _SETTING_ORDER
    ]
    return "[" + " ".join(parts) + "]"


def _format_setting(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)
    return str(value)


def _message_text(message: Message) -> str:
    return message.text or ""


# ---- writing the answer ----------------------------------------------------------------------


class _Turn:
    """One request, read: system text, input fields and values, output fields, settings."""

    def __init__(self, request: Request) -> None:
        system = request.system
        if system is None:
            self.system = ""
        elif isinstance(system, str):
            self.system = system
        else:
            self.system = "".join(getattr(part, "text", "") or "" for part in system)
        user_messages = [m for m in request.messages if m.role == "user"]
        self.user_text = _message_text(user_messages[-1]) if user_messages else ""
        self.inputs_spec = _section(self.system, "Your input fields are:", "Your output fields are:")
        self.outputs_spec = _section(self.system, "Your output fields are:", "All interactions will be")
        names = [name for name, _ in self.inputs_spec]
        self.inputs = _input_values(self.user_text, names)
        self.settings = _settings_of(request)
        self.tag = settings_tag(self.settings)

    @property
    def first_input(self) -> str:
        for name, _ in self.inputs_spec:
            if name in self.inputs:
                return self.inputs[name]
        return next(iter(self.inputs.values()), self.user_text.strip())

    def plain_inputs(self) -> list[str]:
        """Input values that are the caller's (not ReAct's trajectory, not PoT's code)."""
        skip = {"trajectory", "previous_code", "error", "final_generated_code", "code_output"}
        return [value for name, value in self.inputs.items() if name not in skip]

    def program_output(self, field: str) -> str | None:
        """ProgramOfThought's final step: what the program computed for ``field``."""
        raw = self.inputs.get("code_output")
        if raw is None:
            return None
        try:
            data: Any = json.loads(raw)
        except ValueError:
            return None
        for _ in range(2):  # {"field": v} or {"output": {"field": v}} (SUBMIT without typed fields)
            if isinstance(data, dict) and field in data:
                return str(data[field])
            data = data.get("output") if isinstance(data, dict) else None
        return None

    # -- per field --

    def value(self, name: str, type_name: str) -> str:
        if name == "next_tool_name":
            return self._react_tool()
        if name == "next_tool_args":
            return json.dumps(self._react_args())
        if name == "generated_code":
            return self._program()
        base = type_name.split("[", 1)[0].strip()
        if base == "str":
            source = self.program_output(name)
            return f"Echo: {source if source is not None else self.first_input} {self.tag}"
        if base in ("int", "float"):
            total = sum(_numbers(self.plain_inputs()))
            return _number_text(total, base == "int")
        if base == "bool":
            return "true"
        if base == "Literal":
            choices = self._literal_choices(type_name)
            return choices[0] if choices else ""
        if base in ("list", "List", "tuple", "set"):
            inner = type_name[len(base) + 1 : -1] if "[" in type_name else "str"
            return json.dumps([self._json_value(name, inner)])
        if base in ("dict", "Dict"):
            return "{}"
        return f"Echo: {self.first_input} {self.tag}"

    def _json_value(self, name: str, type_name: str) -> Any:
        text = self.value(name, type_name)
        try:
            return json.loads(text)
        except ValueError:
            return text

    @staticmethod
    def _literal_choices(type_name: str) -> list[str]:
        inside = type_name[type_name.find("[") + 1 : type_name.rfind("]")]
        try:
            parsed = ast.literal_eval(f"[{inside}]")
        except (ValueError, SyntaxError):
            return [part.strip().strip("'\"") for part in inside.split(",") if part.strip()]
        return [str(choice) for choice in parsed]

    # -- ReAct --

    def _tools(self) -> dict[str, dict[str, Any]]:
        tools: dict[str, dict[str, Any]] = {}
        for line in self.system.splitlines():
            match = _TOOL_LINE.match(line.strip())
            if match:
                try:
                    args = ast.literal_eval(match.group(2))
                except (ValueError, SyntaxError):
                    args = {}
                tools[match.group(1)] = args if isinstance(args, dict) else {}
        return tools

    def _react_step_done(self) -> bool:
        return "tool_name_0" in self.inputs.get("trajectory", "")

    def _react_tool(self) -> str:
        if self._react_step_done():
            return "finish"
        choices = []
        for name, type_name in self.outputs_spec:
            if name == "next_tool_name":
                choices = self._literal_choices(type_name)
        tools = [choice for choice in choices if choice != "finish"]
        return tools[0] if tools else "finish"

    def _react_args(self) -> dict[str, Any]:
        tool = self._react_tool()
        if tool == "finish":
            return {}
        spec = self._tools().get(tool, {})
        numbers = iter(_numbers(self.plain_inputs()))
        args: dict[str, Any] = {}
        for arg, schema in spec.items():
            kind = schema.get("type") if isinstance(schema, dict) else None
            if kind == "integer":
                args[arg] = int(round(next(numbers, 0.0)))
            elif kind == "number":
                args[arg] = next(numbers, 0.0)
            elif kind == "boolean":
                args[arg] = True
            else:
                args[arg] = self.first_input
        return args

    # -- ProgramOfThought --

    def _program(self) -> str:
        fields = [name for name, _ in _section(self.system, "Your output fields are:", "All interactions")]
        final = re.search(r"with the correct value mapping for the field\(s\): (.*?)\.\s*$", self.system, re.M)
        targets = re.findall(r"`(\w+)`", final.group(1)) if final else [f for f in fields if f != "reasoning"]
        submitted = ", ".join(f"{target!r}: result" for target in targets or ["answer"])
        return "\n".join(
            [
                "import re",
                f"text = {self.first_input!r}",
                'numbers = [float(x) for x in re.findall(r"-?\\d+(?:\\.\\d+)?", text)]',
                "total = sum(numbers)",
                "result = str(int(total)) if total == int(total) else str(total)",
                f"SUBMIT({{{submitted}}})",
            ]
        )

    def answer(self) -> str:
        outputs = self.outputs_spec or [("answer", "str")]
        blocks = [f"[[ ## {name} ## ]]\n{self.value(name, type_name)}" for name, type_name in outputs]
        blocks.append("[[ ## completed ## ]]")
        return "\n\n".join(blocks)


def _request_record(request: Request, turn: _Turn) -> dict[str, Any]:
    messages = [{"role": "system", "content": turn.system}] if request.system is not None else []
    messages += [{"role": m.role, "content": _message_text(m)} for m in request.messages]
    return {
        "model": request.model,
        "messages": messages,
        "settings": dict(turn.settings),
        "temperature": turn.settings.get("temperature"),
        "max_tokens": turn.settings.get("max_tokens"),
    }


# ---- the engines and the LM ------------------------------------------------------------------


class EchoEngine:
    """The synchronous engine of the test LM (DSPy 3.4 canonical interface)."""

    def __init__(self, max_requests: int | None = None) -> None:
        self.requests: list[dict[str, Any]] = []
        self.max_requests = max_requests
        self._lock = threading.Lock()

    def complete(self, request: Request) -> Response:
        turn = _Turn(request)
        text = turn.answer()
        with self._lock:
            self.requests.append(_request_record(request, turn))
            if self.max_requests is not None and len(self.requests) > self.max_requests:
                del self.requests[: len(self.requests) - self.max_requests]
        return Response(
            id=None,
            model=request.model,
            message=Message.assistant([TextPart(text)]),
            finish_reason="stop",
            usage=Usage(input_tokens=0, output_tokens=0, total_tokens=0),
        )

    def stream(self, request: Request) -> Iterator[Any]:
        return response_to_events(self.complete(request))

    def close(self) -> None:
        return None


class AsyncEchoEngine:
    """The async twin of `EchoEngine` (same recorder)."""

    def __init__(self, sync: EchoEngine) -> None:
        self.sync = sync

    async def complete(self, request: Request) -> Response:
        return self.sync.complete(request)

    async def stream(self, request: Request) -> AsyncIterator[Any]:
        for event in self.sync.stream(request):
            yield event

    async def aclose(self) -> None:
        return None


class EchoLM(dspy.LM):
    """The offline, deterministic test LM: a ``dspy.LM`` over `EchoEngine`.

    ``EchoLM(temperature=0.3, max_tokens=256)`` takes ``dspy.LM``'s settings. Its answers and
    the exact ``Echo: ... [temperature=... max_tokens=...]`` format are described in the
    module docstring of ``dspex_bridge._echo_lm``. ``.requests`` lists every request it
    received (copies made with ``.copy(...)`` share it); ``max_requests`` bounds that list
    (oldest dropped) for long-running processes.
    """

    def __init__(self, model: str = ECHO_MODEL, *, max_requests: int | None = None, **kwargs: Any) -> None:
        engine = EchoEngine(max_requests=max_requests)
        kwargs.setdefault("cache", False)
        kwargs.setdefault("num_retries", 0)
        super().__init__(model, engine=engine, async_engine=AsyncEchoEngine(engine), **kwargs)

    @property
    def echo_engine(self) -> EchoEngine:
        engine: EchoEngine = self._engine_spec
        return engine

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Every request received, oldest first (see the module docstring for the keys)."""
        return self.echo_engine.requests

    def clear_requests(self) -> None:
        with self.echo_engine._lock:
            self.echo_engine.requests.clear()


def echo_lm(**settings: Any) -> EchoLM:
    """A factory for ``Lm::custom("dspex_bridge.testing:echo_lm")``: a new test LM."""
    return EchoLM(**settings)


class SlowEchoEngine(EchoEngine):
    """The test LM's engine, sleeping ``delay`` seconds before each answer."""

    def __init__(self, delay: float, max_requests: int | None = None) -> None:
        super().__init__(max_requests=max_requests)
        self.delay = delay

    def complete(self, request: Request) -> Response:
        time.sleep(self.delay)
        return super().complete(request)


def slow_echo_lm() -> dspy.LM:
    """A factory for ``Lm::custom("dspex_bridge.testing:slow_echo_lm")``: the test LM, taking
    ``$DSPEX_ECHO_DELAY`` seconds (default 1.0) per request — for tests that need a call in
    flight (crash and timeout tests)."""
    delay = float(os.environ.get("DSPEX_ECHO_DELAY", "1.0"))
    engine = SlowEchoEngine(delay, max_requests=100)
    return dspy.LM(
        "dspex/slow-echo-test-lm",
        engine=engine,
        async_engine=AsyncEchoEngine(engine),
        cache=False,
        num_retries=0,
    )


# ---- tools for ReAct tests -------------------------------------------------------------------


def add_numbers(a: int, b: int) -> int:
    """Adds two integers and returns the sum."""
    return a + b


def word_count(text: str) -> int:
    """Counts the words (whitespace-separated) in a text."""
    return len(text.split())


__all__ = [
    "ECHO_MODEL",
    "AsyncEchoEngine",
    "EchoEngine",
    "EchoLM",
    "add_numbers",
    "slow_echo_lm",
    "echo_lm",
    "settings_tag",
    "word_count",
]
