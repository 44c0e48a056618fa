"""A run's metric: a Python function imported in the worker, or a Rust closure called back
through the bridge.

A Python metric is called ``f(example, prediction, trace)``. A Rust metric is a ``CallTool``
request to the bridge (session: the run's, module id: the run id, tool: ``metric``) whose
arguments are ``{"split": "train"|"dev", "index": n|null, "example": {"inputs": {...},
"outputs": {...}}, "prediction": {field: value}}``: the example as it was sent (index and split
found by identity; an example DSPy made itself has index ``null``) and the prediction's fields
encoded as ``CallModule`` encodes outputs (scalars as JSON scalars, the rest as their JSON).
It answers the score, a JSON number.

A score is a number (a bool is 1.0 or 0.0; an object with a numeric ``score``, such as a
``dspy.Prediction``, gives that). A metric that raises, answers something else, NaN or an
infinity, or a Rust failure, scores 0 and the failure is reported with the example: a failing
metric never stops the run.
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import dspy
from pydantic_core import to_jsonable_python

from ..._codec import decode_value, encode_output
from ..._proto_loader import pb, worker_pb
from ..._quote import excerpt
from ..config import ADDRESS_ENV
from ..imports import import_object
from ..modules import output_fields
from ..status import invalid, precondition
from ..tools import CallScope, RustToolError, ToolBridge, in_scope
from .examples import Split

METRIC_TOOL: Final = "metric"
"""The tool name a Rust metric is called by."""
METRIC_DEADLINE_S: Final = 120.0
"""How long the worker waits for a Rust metric's answer."""


@dataclass(frozen=True)
class Scored:
    """A metric's verdict on one prediction."""

    score: float
    error: str | None = None
    """Why the metric failed (the score is then 0)."""
    feedback: str | None = None
    """What a Python metric said besides its score (``dspy.Prediction(score=..., feedback=...)``)."""


class MetricError(Exception):
    """The metric gave no usable score."""


def json_value(value: Any) -> Any:
    """A value as JSON data, as ``CallModule`` encodes an output: a scalar as itself, anything
    else as its JSON."""
    output = encode_output(value)
    if output.WhichOneof("kind") == "value":
        return decode_value(output.value)
    return json.loads(output.json)


def prediction_fields(prediction: Any) -> dict[str, Any]:
    """The fields of a prediction, each as JSON data."""
    return {name: json_value(value) for name, value in output_fields(prediction).items()}


def number(value: Any) -> float:
    """The score ``value`` stands for; `MetricError` when it stands for none."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, numbers.Real):
        score = float(value)
    else:
        inner = getattr(value, "score", None) if not isinstance(value, (str, bytes)) else None
        if inner is None or inner is value:
            raise MetricError(f"the metric returned {type(value).__name__} {excerpt(repr(value))}, not a number")
        return number(inner)
    if not math.isfinite(score):
        raise MetricError(f"the metric returned {score}, not a finite number")
    return score


class Metric:
    """Scores predictions (from any thread). Built when the run starts: a Python metric is imported then."""

    def __init__(
        self,
        spec: worker_pb.MetricSpec,
        splits: Sequence[Split],
        run_id: str,
        session_id: str,
        bridge: ToolBridge | None,
        scope: CallScope,
    ) -> None:
        self._splits = list(splits)
        self._run_id = run_id
        self._session_id = session_id
        self._bridge = bridge
        self._scope = scope
        kind = spec.WhichOneof("kind")
        if kind == "python":
            function = import_object(spec.python, "metric")
            if not callable(function):
                raise invalid(f"metric `{excerpt(spec.python)}` is not callable")
            self._function: Callable[[Any, Any, Any], Any] | None = function
            self.name = spec.python
        elif kind == "rust" and spec.rust:
            if bridge is None:
                raise precondition(
                    f"a Rust metric is called through the bridge, and the worker has none ({ADDRESS_ENV})"
                )
            self._function = None
            self.name = "the Rust metric"
        else:
            raise invalid("the run has no metric (MetricSpec sets neither `python` nor `rust`)")

    def locate(self, example: Any, default_split: str) -> tuple[str, int | None]:
        """The split and index of ``example`` (by identity); ``(default_split, None)`` for an example of neither."""
        for split in self._splits:
            index = split.index_of(example)
            if index is not None:
                return split.name, index
        return default_split, None

    def score(self, example: Any, prediction: Any, trace: Any, default_split: str) -> Scored:
        """The metric's score of ``prediction`` for ``example``, or 0 and why it failed. Raises only when
        the run is cancelled."""
        self._scope.check()
        try:
            if self._function is not None:
                value = self._function(example, prediction, trace)
            else:
                value = self._call_rust(example, prediction, default_split)
            score = number(value)
        except MetricError as error:
            return Scored(0.0, str(error))
        except RustToolError as error:
            return Scored(0.0, f"the Rust metric failed: {excerpt(str(error))}")
        except Exception as error:  # noqa: BLE001 - the metric is the user's code: its failure scores 0
            return Scored(0.0, f"the metric raised {type(error).__name__}: {excerpt(str(error))}")
        feedback = getattr(value, "feedback", None) if not isinstance(value, (numbers.Real, bool)) else None
        return Scored(score, None, feedback if isinstance(feedback, str) else None)

    def _call_rust(self, example: Any, prediction: Any, default_split: str) -> Any:
        bridge = self._bridge
        assert bridge is not None  # checked at construction
        split, index = self.locate(example, default_split)
        if index is not None:
            sent = next(s for s in self._splits if s.name == split).raw[index]
        else:
            sent = {
                "inputs": {name: json_value(value) for name, value in example.inputs().items()},
                "outputs": {name: json_value(value) for name, value in example.labels().items()},
            }
        arguments = {"split": split, "index": index, "example": sent, "prediction": prediction_fields(prediction)}
        request = pb.CallToolRequest(
            session_id=self._session_id,
            module_id=self._run_id,
            tool=METRIC_TOOL,
            arguments_json=json.dumps(arguments, default=lambda value: to_jsonable_python(value, fallback=str)),
        )
        with in_scope(self._scope):
            return bridge.call(request, METRIC_DEADLINE_S)


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(json_value(value))


def feedback(example: Any, scored: Scored) -> str:
    """What GEPA's reflection is told of a prediction: its score, the metric's own feedback, its failure, then
    each labeled output's expected value (``The expected <field> was: <value>``; last, so that a reader taking
    the rest of the text as the value gets it right)."""
    lines = [f"This prediction scored {scored.score:g}."]
    if scored.feedback:
        lines.append(scored.feedback)
    if scored.error is not None:
        lines.append(f"The metric failed: {scored.error}")
    lines.extend(f"The expected {name} was: {_shown(value)}" for name, value in example.labels().items())
    return "\n".join(lines)


def feedback_metric(score: Callable[[Any, Any, Any], Scored]) -> Callable[..., Any]:
    """GEPA's five-argument metric over ``score``: ``dspy.Prediction(score=..., feedback=...)``."""

    def gepa_metric(
        gold: Any, pred: Any, trace: Any = None, pred_name: str | None = None, pred_trace: Any = None
    ) -> Any:
        scored = score(gold, pred, trace)
        return dspy.Prediction(score=scored.score, feedback=feedback(gold, scored))

    return gepa_metric


__all__ = ["METRIC_TOOL", "Metric", "MetricError", "Scored", "feedback", "feedback_metric", "json_value", "number"]
