"""Scoring a program on a split with ``dspy.Evaluate``: one outcome per example, in order, and
one progress event per example scored.

A program that raises on an example does not stop the evaluation: that example scores 0 and
its outcome says why, as for a metric that fails. The score is the mean of the examples'
scores (a metric scoring in [0, 1] gives a score in [0, 1], not DSPy's percentage).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import dspy

from ..._proto_loader import worker_pb
from ..._quote import excerpt
from .examples import Split
from .metric import Metric, Scored, prediction_fields
from .progress import Progress


@dataclass(frozen=True)
class Outcome:
    """How one example went."""

    index: int
    score: float
    prediction_json: dict[str, str] = field(default_factory=dict)
    """Each field of the prediction as JSON text (empty when the program failed)."""
    error: str | None = None

    def message(self) -> worker_pb.ExampleOutcome:
        outcome = worker_pb.ExampleOutcome(index=self.index, score=self.score, prediction_json=self.prediction_json)
        if self.error is not None:
            outcome.error = self.error
        return outcome


@dataclass(frozen=True)
class Evaluation:
    """A program's score on a split, and each example's outcome."""

    score: float
    outcomes: list[Outcome]

    @property
    def failures(self) -> int:
        return sum(1 for outcome in self.outcomes if outcome.error is not None)


class _Failed:
    """What the program gave for an example it raised on."""

    def __init__(self, error: str) -> None:
        self.error = error


class _Guarded:
    """The program, turning its failure on an example into a `_Failed` (the run's cancellation still stops it)."""

    def __init__(self, program: Callable[..., Any]) -> None:
        self._program = program

    def __call__(self, **inputs: Any) -> Any:
        try:
            return self._program(**inputs)
        except Exception as error:  # noqa: BLE001 - the example fails, the evaluation goes on
            return _Failed(f"the program raised {type(error).__name__}: {excerpt(str(error))}")


def evaluate(
    program: Any, split: Split, metric: Metric, num_threads: int, progress: Progress | None, phase: str
) -> Evaluation:
    """Scores ``program`` on every example of ``split`` (blocking), ``num_threads`` at a time, reporting each
    example to ``progress`` as ``phase`` (done, total, running mean)."""
    total = len(split)
    outcomes: list[Outcome | None] = [None] * total
    lock = threading.Lock()
    tally = {"done": 0, "sum": 0.0}

    def score(example: Any, prediction: Any, trace: Any = None) -> float:
        index = split.index_of(example)
        if isinstance(prediction, _Failed):
            scored, fields = Scored(0.0, prediction.error), {}
        else:
            scored = metric.score(example, prediction, trace, split.name)
            fields = {name: json.dumps(value) for name, value in prediction_fields(prediction).items()}
        with lock:
            if index is not None:
                outcomes[index] = Outcome(index, scored.score, fields, scored.error)
            tally["done"] += 1
            tally["sum"] += scored.score
            done = int(tally["done"])
            shown = f"example {index if index is not None else '?'}"
            said = f"{shown} failed: {scored.error}" if scored.error else f"{shown} scored {scored.score:g}"
            if progress is not None:
                progress.report(phase, done, total, tally["sum"] / done, message=f"{phase} {done}/{total}: {said}")
        return scored.score

    evaluator = dspy.Evaluate(
        devset=split.examples,
        metric=score,
        num_threads=max(1, num_threads),
        display_progress=False,
        max_errors=total + 1,
        provide_traceback=False,
    )
    evaluator(_Guarded(program))
    results = [
        outcome if outcome is not None else Outcome(index, 0.0, {}, "the example was not scored")
        for index, outcome in enumerate(outcomes)
    ]
    mean = sum(outcome.score for outcome in results) / total if total else 0.0
    return Evaluation(mean, results)


__all__ = ["Evaluation", "Outcome", "evaluate"]
