"""Metrics the run tests hand a real worker by import path (``run_helpers:exact_match``)."""

from __future__ import annotations

import os
import time
from typing import Any

CALLS_ENV = "DSPEX_TEST_METRIC_CALLS"
"""A file each call of `logged_slow_match` appends a line to."""


def exact_match(example: Any, prediction: Any, trace: Any = None) -> float:
    return float(prediction.answer == example.answer)


def exact_bool(example: Any, prediction: Any, trace: Any = None) -> bool:
    return bool(prediction.answer == example.answer)


def raises_on_cherry(example: Any, prediction: Any, trace: Any = None) -> float:
    if example.word == "cherry":
        raise ValueError("no cherries here")
    return float(prediction.answer == example.answer)


def says_yes(example: Any, prediction: Any, trace: Any = None) -> str:
    return "yes"


def not_a_number(example: Any, prediction: Any, trace: Any = None) -> float:
    return float("nan")


def logged_slow_match(example: Any, prediction: Any, trace: Any = None) -> float:
    with open(os.environ[CALLS_ENV], "a", encoding="utf-8") as calls:
        calls.write(f"{example.word}\n")
    time.sleep(0.2)
    return float(prediction.answer == example.answer)


NOT_CALLABLE = 3
