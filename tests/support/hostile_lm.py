"""An LM that ignores the output format, as real models sometimes do: it answers every
request with ``size`` characters of plain text, so DSPy's adapters raise
``AdapterParseError`` quoting all of it. The Rust hostile-input tests create it with
``Lm::custom("tests.support.hostile_lm:rambling_lm")`` (a worker runs from the repository
root, where ``tests`` is importable).
"""

from __future__ import annotations

from typing import Any

import dspy
from dspex_bridge._echo_lm import AsyncEchoEngine, EchoEngine
from dspy.lm15 import Message, Request, Response, TextPart, Usage


class RamblingEngine(EchoEngine):
    """Answers ``"z" * size``, never the fields asked for."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def complete(self, request: Request) -> Response:
        return Response(
            id=None,
            model=request.model,
            message=Message.assistant([TextPart("z" * self.size)]),
            finish_reason="stop",
            usage=Usage(input_tokens=0, output_tokens=0, total_tokens=0),
        )


def rambling_lm(size: int = 51_200, **_settings: Any) -> Any:
    """The rambling LM, answering ``size`` characters."""
    engine = RamblingEngine(int(size))
    return dspy.LM("dspex/rambling", engine=engine, async_engine=AsyncEchoEngine(engine), cache=False, num_retries=0)
