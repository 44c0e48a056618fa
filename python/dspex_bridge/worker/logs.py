"""The worker's logging: stderr only (the runtime forwards it), each line tagged with the
worker's id so that the lines of several workers can be told apart."""

from __future__ import annotations

import logging
import sys
from typing import Final

QUIET_LOGGERS: Final = ("dspy", "LiteLLM", "litellm", "httpx")
"""Chatty at INFO; only their warnings are kept."""


def setup_logging(worker_id: int | str, level: str) -> None:
    """Routes every log record to stderr as ``[dspex-worker N] LEVEL logger: message`` (the fork server's:
    ``[dspex-worker fork-server]``)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"[dspex-worker {worker_id}] %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
