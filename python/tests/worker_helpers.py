"""LM factories the worker tests load in a real worker (``Lm::custom``-style import paths):
a slow test LM (to see calls overlap) and an LM that always fails."""

from __future__ import annotations

from typing import Any

import dspy

from dspex_bridge.testing import AsyncEchoEngine, EchoEngine


class FailingEngine(EchoEngine):  # type: ignore[misc]  # loaded lazily by dspex_bridge.testing: Any
    """The test LM's engine, failing every request (an LM whose provider is down)."""

    def complete(self, request: Any) -> Any:
        raise RuntimeError("the test LM is down")


def _lm(engine: EchoEngine, name: str) -> dspy.LM:
    return dspy.LM(name, engine=engine, async_engine=AsyncEchoEngine(engine), cache=False, num_retries=0)


def slow_echo_lm(delay: float = 0.3) -> dspy.LM:
    return _lm(EchoEngine(max_requests=100, delay=delay), "dspex/slow-echo-test-lm")


def failing_lm() -> dspy.LM:
    return _lm(FailingEngine(), "dspex/failing-test-lm")


def not_an_lm() -> str:
    return "not an LM"


def sync_only_echo_lm(delay: float = 0.3) -> dspy.LM:
    """The slow test LM without an async engine: its calls run in the worker's thread pool."""
    return dspy.LM(
        "dspex/sync-echo-test-lm", engine=EchoEngine(max_requests=100, delay=delay), cache=False, num_retries=0
    )
