"""An LM the hostile-input tests load in a real worker (``hostile_helpers:fixed_answer_lm``):
it answers every request with the same short, well-formed answer, so that what a test
measures is the worker's own handling of a large request, not an LM's work on it."""

from __future__ import annotations

from typing import Any

import dspy
from dspy.lm15 import Message, Response, TextPart, Usage

from dspex_bridge.testing import AsyncEchoEngine, EchoEngine

FIXED_ANSWER = "fixed"


class FixedAnswerEngine(EchoEngine):  # type: ignore[misc]  # loaded lazily by dspex_bridge.testing: Any
    """Answers ``answer: fixed`` in the chat adapter's format, whatever it was asked."""

    def complete(self, request: Any) -> Any:
        text = f"[[ ## answer ## ]]\n{FIXED_ANSWER}\n\n[[ ## completed ## ]]"
        return Response(
            id=None,
            model=request.model,
            message=Message.assistant([TextPart(text)]),
            finish_reason="stop",
            usage=Usage(input_tokens=0, output_tokens=0, total_tokens=0),
        )


def fixed_answer_lm() -> dspy.LM:
    engine = FixedAnswerEngine()
    return dspy.LM(
        "dspex/fixed-answer-test-lm", engine=engine, async_engine=AsyncEchoEngine(engine), cache=False, num_retries=0
    )
