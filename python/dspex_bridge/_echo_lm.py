"""`EchoLM`: the offline, deterministic **test LM** of dspex, for tests and demos only (exported by
`dspex_bridge.testing`, driven from Rust by ``Lm::echo()``). It is no model: it never touches the network and
answers the same request the same way every time.

It is a real ``dspy.LM`` whose engine is DSPy 3.4's canonical engine interface (``complete(Request) ->
Response``, plus the async twin), so every DSPy module drives it the way it drives a real model: Predict,
ChainOfThought, ReAct (it calls a tool, then ``finish``), ProgramOfThought (it writes Python that runs in
``dspy.LocalInterpreter``).

Like DSPy's own ``DummyLM`` it answers in the format of the adapter DSPy uses, written by that adapter
(``format_assistant_message_content``), and it takes the fields from the calling predictor's signature, never
from the prompt's wording (see `dspex_bridge._echo_call`). Under ``ChatAdapter`` and ``JSONAdapter`` alike, each
output field gets a value of its annotation's type (`dspex_bridge._echo_values`):

- ``str``: ``Echo: <source> [temperature=<t> max_tokens=<m>]``, where ``<source>`` is the text of the first
  input field (for ProgramOfThought's last step, the value the program computed for that field), and the
  bracket lists the settings the request carried: ``temperature`` and ``max_tokens`` always (``none`` when
  unset), then any other setting that is set (``top_p``, ``seed``, ``stop``, ...) in alphabetical order,
  ``key=value`` separated by single spaces. ``<t>`` is Python's ``repr`` of the float (``0.3``, ``1.0``).
  Example: ``Echo: What is 2+2? [temperature=0.3 max_tokens=256]``.
- ``int`` / ``float``: the sum of the numbers found in the caller's inputs (``0`` if none).
- ``bool``: ``True``. ``Literal[...]`` / ``Enum``: the first choice. ``list`` / ``set`` / ``tuple[T, ...]``:
  one element. ``dict[str, V]``: ``{"echo": <V value>}``. A pydantic model: each of its fields, so typed
  (an optional field of a model being built already, as in a recursive model, is ``None``).
- ReAct: each step calls the next of its tools, in order, once each, with arguments built from the input
  (integers/numbers: the numbers found in the input, in order; strings: the first input); once every tool was
  called it calls ``finish``.
- ProgramOfThought: the code is a program that sums the numbers found in the first input and ``SUBMIT``s the
  result for every output field.
- A request no predictor makes (``lm("hi")``): the text ``Echo: <last user message> [settings]``.

Every request is recorded in ``lm.requests`` (shared by ``lm.copy(...)`` copies):
``{"model", "messages": [{"role", "content"}, ...] (system first), "settings": {...set
config fields...}, "temperature", "max_tokens"}``.

Streamed (DSPy streams when a program runs under ``dspy.streamify``), an answer comes in pieces as an LM's tokens
do: each run of whitespace with the word after it, ``chunk_delay`` seconds apart (default 0). With
``request_log=<path>`` every request also appends a JSON line to that file, for observers in other processes:
``{"kind": "request", "id", "t_us", "text"}`` when it arrives (``text``: the whole answer), and once a streamed
answer is sent, ``{"kind": "chunks", "id", "chunks": [[t_us, offset, text], ...]}`` (``t_us``: when each piece left
the LM, microseconds since the epoch; ``offset``: where it starts in ``text``).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any, ClassVar, Final

import dspy
from dspy.lm15 import (
    Message,
    Request,
    Response,
    StreamDeltaEvent,
    TextDelta,
    TextPart,
    Usage,
    response_to_events,
)

from ._echo_answer import answer_text
from ._echo_call import find_call

ECHO_MODEL: Final = "dspex/echo-test-lm"
"""The model name an `EchoLM` reports (never sent anywhere)."""

_SETTING_ORDER: Final = ("temperature", "max_tokens")

_PIECE: Final = re.compile(r"\s*\S+|\s+")


# ---- the settings a request carries ------------------------------------------------------------------------


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
        f"{name}={_format_setting(value)}" for name, value in sorted(settings.items()) if name not in _SETTING_ORDER
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


def _system_text(request: Request) -> str | None:
    system = request.system
    if system is None or isinstance(system, str):
        return system
    return "".join(getattr(part, "text", "") or "" for part in system)


def last_user_text(request: Request) -> str:
    """The text of the request's last user message (``""``: none)."""
    user_messages = [m for m in request.messages if m.role == "user"]
    return (user_messages[-1].text or "") if user_messages else ""


def _request_record(request: Request, system: str | None, settings: dict[str, Any]) -> dict[str, Any]:
    messages = [{"role": "system", "content": system}] if system is not None else []
    messages += [{"role": m.role, "content": m.text or ""} for m in request.messages]
    return {
        "model": request.model,
        "messages": messages,
        "settings": dict(settings),
        "temperature": settings.get("temperature"),
        "max_tokens": settings.get("max_tokens"),
    }


# ---- the engines and the LM ------------------------------------------------------------------


class EchoEngine:
    """The synchronous engine of the test LM (DSPy 3.4 canonical interface)."""

    def __init__(
        self,
        max_requests: int | None = None,
        chunk_delay: float = 0.0,
        request_log: str | None = None,
        delay: float = 0.0,
    ) -> None:
        self.requests: list[dict[str, Any]] = []
        self.max_requests = max_requests
        if chunk_delay < 0:
            raise ValueError(f"chunk_delay is {chunk_delay}: a number of seconds, at least 0")
        if delay < 0:
            raise ValueError(f"delay is {delay}: a number of seconds, at least 0")
        self.chunk_delay = chunk_delay
        self.delay = delay
        """How long each answer takes (sleeping, the sync engine; awaiting, the async one)."""
        self.request_log = request_log
        self._lock = threading.Lock()
        self._count = 0

    def complete(self, request: Request) -> Response:
        if self.delay:
            time.sleep(self.delay)
        return self.answer(request)

    def answer(self, request: Request) -> Response:
        """The answer, at once (`complete` and the async engine wait ``delay`` first): what an engine answering
        with a response of its own overrides."""
        return self._answer(request)[1]

    def respond(self, request: Request, system: str | None, settings: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """The answer's text, and what to add to the request's record and log line (nothing here): the one
        step an engine answering differently overrides."""
        user_text = last_user_text(request)
        return answer_text(find_call(system or "", user_text), user_text, settings_tag(settings)), {}

    def _answer(self, request: Request) -> tuple[int, Response]:
        system = _system_text(request)
        settings = _settings_of(request)
        text, facts = self.respond(request, system, settings)
        with self._lock:
            self._count += 1
            number = self._count
            self.requests.append({**_request_record(request, system, settings), **facts})
            if self.max_requests is not None and len(self.requests) > self.max_requests:
                del self.requests[: len(self.requests) - self.max_requests]
        self._log({"kind": "request", "id": number, "t_us": time.time_ns() // 1000, "text": text, **facts})
        return number, Response(
            id=None,
            model=request.model,
            message=Message.assistant([TextPart(text)]),
            finish_reason="stop",
            usage=Usage(input_tokens=0, output_tokens=0, total_tokens=0),
        )

    def clear(self) -> None:
        """Forgets every recorded request."""
        with self._lock:
            self.requests.clear()

    def _log(self, line: dict[str, Any]) -> None:
        if self.request_log is None:
            return
        with self._lock, open(self.request_log, "a", encoding="utf-8") as log:
            log.write(json.dumps(line) + "\n")

    def events(self, request: Request) -> tuple[int, list[Any]]:
        """The request's number and the stream events of its answer, the text in pieces (see the module
        docstring)."""
        number, response = self._answer(request)
        events: list[Any] = []
        for event in response_to_events(response):
            delta = getattr(event, "delta", None)
            if isinstance(delta, TextDelta) and delta.text:
                events += [
                    StreamDeltaEvent(delta=TextDelta(text=piece, part_index=delta.part_index))
                    for piece in _PIECE.findall(delta.text)
                ]
            else:
                events.append(event)
        return number, events

    def log_chunks(self, number: int, sent: list[tuple[int, int, str]]) -> None:
        """Records when each piece of a streamed answer left (``[t_us, offset, text]``)."""
        if sent:
            self._log({"kind": "chunks", "id": number, "chunks": [list(piece) for piece in sent]})

    def stream(self, request: Request) -> Iterator[Any]:
        if self.delay:
            time.sleep(self.delay)
        number, events = self.events(request)
        sent: list[tuple[int, int, str]] = []
        offset = 0
        try:
            for event in events:
                text = _text_of(event)
                if text and sent and self.chunk_delay:
                    time.sleep(self.chunk_delay)
                if text:
                    sent.append((time.time_ns() // 1000, offset, text))
                    offset += len(text)
                yield event
        finally:
            self.log_chunks(number, sent)

    def close(self) -> None:
        return None


def _text_of(event: Any) -> str:
    delta = getattr(event, "delta", None)
    return delta.text if isinstance(delta, TextDelta) else ""


class AsyncEchoEngine:
    """The async twin of `EchoEngine` (same recorder). Its ``delay`` is awaited, so that many requests wait at
    once on one event loop, as a real LM's network requests do."""

    def __init__(self, sync: EchoEngine) -> None:
        self.sync = sync

    async def complete(self, request: Request) -> Response:
        if type(self.sync).complete is not EchoEngine.complete:
            # An engine answering its own way (a subclass's ``complete``) answers here too.
            return self.sync.complete(request)
        if self.sync.delay:
            await asyncio.sleep(self.sync.delay)
        return self.sync.answer(request)

    async def stream(self, request: Request) -> AsyncIterator[Any]:
        if self.sync.delay:
            await asyncio.sleep(self.sync.delay)
        number, events = self.sync.events(request)
        sent: list[tuple[int, int, str]] = []
        offset = 0
        try:
            for event in events:
                text = _text_of(event)
                if text and sent and self.sync.chunk_delay:
                    await asyncio.sleep(self.sync.chunk_delay)
                if text:
                    sent.append((time.time_ns() // 1000, offset, text))
                    offset += len(text)
                yield event
        finally:
            self.sync.log_chunks(number, sent)

    async def aclose(self) -> None:
        return None


class EchoLM(dspy.LM):  # type: ignore[misc]  # dspy ships no type information: dspy.LM is Any here
    """The offline, deterministic test LM: a ``dspy.LM`` over `EchoEngine`.

    ``EchoLM(temperature=0.3, max_tokens=256)`` takes ``dspy.LM``'s settings, and ``chunk_delay`` /
    ``request_log`` (how it streams, where it logs: see the module docstring). Its answers and
    the exact ``Echo: ... [temperature=... max_tokens=...]`` format are described in the
    module docstring of ``dspex_bridge._echo_lm``. ``.requests`` lists every request it
    received (copies made with ``.copy(...)`` share it); ``max_requests`` bounds that list
    (oldest dropped) for long-running processes.
    """

    engine_class: ClassVar[type[EchoEngine]] = EchoEngine
    """The engine a new LM of this class answers with."""

    def __init__(
        self,
        model: str = ECHO_MODEL,
        *,
        max_requests: int | None = None,
        chunk_delay: float = 0.0,
        request_log: str | None = None,
        **kwargs: Any,
    ) -> None:
        engine = self.engine_class(max_requests=max_requests, chunk_delay=chunk_delay, request_log=request_log)
        kwargs.setdefault("cache", False)
        kwargs.setdefault("num_retries", 0)
        super().__init__(model, engine=engine, async_engine=AsyncEchoEngine(engine), **kwargs)
        # A plain attribute: ``copy`` shares it by reference, so copies record into the same list.
        self._echo_engine = engine

    @property
    def echo_engine(self) -> EchoEngine:
        """The engine answering (and recording) this LM's requests."""
        return self._echo_engine

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Every request received, oldest first (see the module docstring for the keys)."""
        return self.echo_engine.requests

    def clear_requests(self) -> None:
        """Forgets every recorded request (of this LM and its copies)."""
        self.echo_engine.clear()


def echo_lm(**settings: Any) -> EchoLM:
    """A factory for ``Lm::custom("dspex_bridge.testing:echo_lm")``: a new test LM."""
    return EchoLM(**settings)


class SlowEchoEngine(EchoEngine):
    """The test LM's engine, taking ``delay`` seconds before each answer."""

    def __init__(self, delay: float, max_requests: int | None = None) -> None:
        super().__init__(max_requests=max_requests, delay=delay)


def slow_echo_lm(delay: float | None = None) -> dspy.LM:
    """A factory for ``Lm::custom("dspex_bridge.testing:slow_echo_lm")``: the test LM, taking ``delay`` seconds
    (a setting: ``Lm::custom(..).setting("delay", 0.05)``; default ``$DSPEX_ECHO_DELAY``, else 1.0) per request —
    for tests that need a call in flight (crash and timeout tests) or many calls waiting at once. Its async engine
    awaits the delay (``asyncio.sleep``), its sync engine sleeps."""
    if delay is None:
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
    "SlowEchoEngine",
    "add_numbers",
    "echo_lm",
    "last_user_text",
    "settings_tag",
    "slow_echo_lm",
    "word_count",
]
