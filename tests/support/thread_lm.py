"""A test LM that answers, as ``answer``, the name of the worker thread that called it: where the worker ran
the call (``dspex-call-socket`` on its call socket, ``dspex-call_N`` in its gRPC thread pool, ``MainThread`` on
its event loop). The Rust call-socket tests create it with ``Lm::custom("tests.support.thread_lm:thread_lm")``.
"""

from __future__ import annotations

import threading
from typing import Any

import dspy
from dspex_bridge._echo_lm import AsyncEchoEngine, EchoEngine
from dspy.lm15 import Request


class ThreadNameEngine(EchoEngine):
    """Answers every request with the calling thread's name (after ``delay``, as the test LM)."""

    def respond(self, request: Request, system: str | None, settings: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        return f"[[ ## answer ## ]]\n{threading.current_thread().name}\n\n[[ ## completed ## ]]", {}


def thread_lm(delay: float = 0.0, **_settings: Any) -> Any:
    """The thread-name LM, answering after ``delay`` seconds."""
    engine = ThreadNameEngine(delay=float(delay))
    return dspy.LM("dspex/thread-name", engine=engine, async_engine=AsyncEchoEngine(engine), cache=False, num_retries=0)
