"""Optimizing a program with one of DSPy's optimizers, and what the run reports of it.

The task's ``options`` are the optimizer's constructor arguments and its ``compile_options``
those of ``compile`` (an unknown one is INVALID_ARGUMENT listing the accepted ones); the run
gives the metric (GEPA's in its five-argument feedback form), ``num_threads`` (the run's
concurrency, unless given), GEPA's ``reflection_lm`` (the task's, else the session's LM) and,
when there is a devset, ``valset``. GEPA without a budget (``auto``, ``max_full_evals``,
``max_metric_calls``) runs with ``auto="light"``, as MIPROv2 does by default.

What is reported: each evaluation the optimizer runs (``dspy.Evaluate``, seen by an
``on_evaluate_end`` callback) is a trial (phase ``trial``: its number, its score, the best so
far); each metric call outside an evaluation is phase ``bootstrap`` (bootstrapping demos), or ``reflect`` for GEPA
(feedback for its reflection); a
failing metric is reported (phase ``metric``) for its first few failures, then only logged.
"""

from __future__ import annotations

import inspect
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import dspy
from dspy.utils.callback import BaseCallback
from dspy.utils.callback_context import ACTIVE_CALL_ID

from ..._proto_loader import worker_pb
from ..._quote import excerpt
from ..status import invalid
from ..tools import CallCancelled
from ..values import decoded
from . import state
from .evaluation import evaluate
from .examples import Split
from .metric import Metric, MetricError, Scored, feedback_metric, number
from .progress import Progress

logger = logging.getLogger(__name__)

OPTIMIZERS: Final[Mapping[str, Callable[[], type[Any]]]] = {
    "BootstrapFewShot": lambda: dspy.BootstrapFewShot,
    "BootstrapFewShotWithRandomSearch": lambda: dspy.BootstrapFewShotWithRandomSearch,
    "MIPROv2": lambda: dspy.MIPROv2,
    "GEPA": lambda: dspy.GEPA,
}
"""The optimizers a run can name (looked up when used: GEPA imports its own package)."""

GIVEN_OPTIONS: Final = frozenset({"metric", "reflection_lm"})
"""Constructor arguments the run gives (not options)."""
GIVEN_COMPILE_OPTIONS: Final = frozenset({"student", "trainset", "valset", "teacher"})
"""``compile`` arguments the run gives."""
GEPA_BUDGETS: Final = ("auto", "max_full_evals", "max_metric_calls")
REPORTED_FAILURES: Final = 10
"""How many metric failures a run reports as progress (all are logged)."""


def _parameters(function: Callable[..., Any], given: frozenset[str]) -> list[str]:
    """The named parameters of ``function`` a request may set."""
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return [
        name
        for name, parameter in inspect.signature(function).parameters.items()
        if parameter.kind in kinds and name not in given and name != "self"
    ]


def _check(optimizer: str, what: str, options: Mapping[str, Any], accepted: list[str], given: frozenset[str]) -> None:
    for name in options:
        if name in given:
            raise invalid(f"{optimizer}: `{excerpt(name)}` is given by the run, not one of its {what}s")
        if name not in accepted:
            raise invalid(f"{optimizer} has no {what} `{excerpt(name)}` (its {what}s: {', '.join(accepted)})")


def optimizer_class(name: str) -> type[Any]:
    """The class of the optimizer ``name``; INVALID_ARGUMENT for another name."""
    lookup = OPTIMIZERS.get(name)
    if lookup is None:
        raise invalid(f"unknown optimizer `{excerpt(name)}` (the optimizers are {', '.join(OPTIMIZERS)})")
    return lookup()


def check_options(name: str, options: Mapping[str, Any], compile_options: Mapping[str, Any]) -> None:
    """INVALID_ARGUMENT for an unknown optimizer, or an option its constructor or ``compile`` does not take."""
    cls = optimizer_class(name)
    _check(name, "option", options, _parameters(cls.__init__, GIVEN_OPTIONS), GIVEN_OPTIONS)
    _check(
        name, "compile option", compile_options, _parameters(cls.compile, GIVEN_COMPILE_OPTIONS), GIVEN_COMPILE_OPTIONS
    )


@dataclass
class TrialRecord:
    """One evaluation the optimizer ran."""

    number: int
    score: float
    examples: int
    error: str | None = None


class Trials(BaseCallback):  # type: ignore[misc]  # dspy ships no type information
    """Sees each evaluation an optimizer runs (a DSPy callback): its trials, and whether a metric call is part
    of one."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._lock = threading.Lock()
        self._open: dict[str, int] = {}
        self.records: list[TrialRecord] = []
        self.best: float | None = None

    def inside_evaluation(self) -> bool:
        """Whether the current metric call scores an example of an evaluation (else: a bootstrap attempt)."""
        return ACTIVE_CALL_ID.get() in self._open

    def on_evaluate_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
        devset = inputs.get("devset") or getattr(instance, "devset", None) or []
        with self._lock:
            self._open[call_id] = len(devset)

    def on_evaluate_end(self, call_id: str, outputs: Any | None, exception: BaseException | None = None) -> None:
        with self._lock:
            examples = self._open.pop(call_id, 0)
            if isinstance(exception, CallCancelled):
                return
            error: str | None = None
            score = 0.0
            if exception is not None:
                error = f"the evaluation raised {type(exception).__name__}: {excerpt(str(exception))}"
            else:
                score = _mean(getattr(outputs, "results", None) or [])
            record = TrialRecord(len(self.records) + 1, score, examples, error)
            self.records.append(record)
            if error is None:
                self.best = score if self.best is None else max(self.best, score)
            said = f"failed: {error}" if error else f"{examples} examples scored {score:.3f}"
            self._progress.report(
                "trial", record.number, None, score, self.best, message=f"trial {record.number}: {said}"
            )


def _mean(results: list[Any]) -> float:
    """The mean score of ``dspy.Evaluate``'s ``(example, prediction, score)`` results (GEPA's scores are
    ``dspy.Prediction``s)."""
    if not results:
        return 0.0
    total = 0.0
    for result in results:
        try:
            total += number(result[-1])
        except MetricError:
            pass
    return total / len(results)


class CompileMetric:
    """The metric an optimizer is given: the run's metric, reporting bootstrap attempts and failures."""

    def __init__(self, metric: Metric, trials: Trials, progress: Progress, phase: str) -> None:
        self._phase = phase
        self._metric = metric
        self._trials = trials
        self._progress = progress
        self._lock = threading.Lock()
        self._attempts = 0
        self._failures = 0

    def scored(self, example: Any, prediction: Any, trace: Any = None) -> Scored:
        scored = self._metric.score(example, prediction, trace, "train")
        inside = self._trials.inside_evaluation()
        with self._lock:
            if scored.error is not None:
                self._failures += 1
                split, index = self._metric.locate(example, "train")
                where = f"{split} example {index if index is not None else '?'}"
                logger.warning("metric failed on %s: %s", where, scored.error)
                if self._failures <= REPORTED_FAILURES:
                    more = " (further failures are only logged)" if self._failures == REPORTED_FAILURES else ""
                    message = f"metric failed on {where}: {scored.error}{more}"
                    self._progress.report("metric", self._failures, message=message)
            if not inside:
                self._attempts += 1
                self._progress.report(
                    self._phase,
                    self._attempts,
                    score=scored.score,
                    message=f"{self._phase} {self._attempts}: {scored.score:g}",
                )
        return scored

    def __call__(self, example: Any, prediction: Any, trace: Any = None) -> float:
        return self.scored(example, prediction, trace).score


def build(
    name: str,
    options: Mapping[str, Any],
    metric: CompileMetric,
    num_threads: int,
    reflection_lm: Any,
) -> Any:
    """The optimizer (within the run's DSPy context: MIPROv2 takes its LMs from it); INVALID_ARGUMENT when
    its constructor refuses the options."""
    cls = optimizer_class(name)
    accepted = _parameters(cls.__init__, frozenset())
    kwargs = dict(options)
    if "num_threads" in accepted and "num_threads" not in kwargs:
        kwargs["num_threads"] = num_threads
    if name == "GEPA":
        kwargs["metric"] = feedback_metric(metric.scored)
        kwargs["reflection_lm"] = reflection_lm
        if not any(kwargs.get(budget) is not None for budget in GEPA_BUDGETS):
            kwargs["auto"] = "light"
    else:
        kwargs["metric"] = metric
    try:
        return cls(**kwargs)
    except (TypeError, ValueError, AssertionError) as error:
        raise invalid(f"{name}: {type(error).__name__}: {excerpt(str(error))}") from None


def compile_kwargs(optimizer: Any, options: Mapping[str, Any], valset: list[Any]) -> dict[str, Any]:
    """``compile``'s keyword arguments: the options, and ``valset`` when it takes one and there is one."""
    kwargs = dict(options)
    if valset and "valset" in inspect.signature(optimizer.compile).parameters:
        kwargs["valset"] = valset
    return kwargs


def optimize(
    task: worker_pb.OptimizerTask,
    program: Any,
    names: Sequence[str],
    trainset: Split,
    devset: Split,
    metric: Metric,
    num_threads: int,
    reflection_lm: Any,
    progress: Progress,
) -> worker_pb.RunResult:
    """Scores ``program`` (on the devset, else the trainset), compiles it with the optimizer, scores the
    compiled program, and returns both scores, the compiled modules' states (by name) and the trials (blocking,
    within the run's DSPy context)."""
    if not trainset.examples:
        raise invalid(f"{task.optimizer} learns from the trainset, which is empty")
    options = decoded(task.options, "option")
    compile_options = decoded(task.compile_options, "compile option")
    check_options(task.optimizer, options, compile_options)
    trials = Trials(progress)
    # Outside its evaluations, GEPA's metric calls give feedback to reflect on; the others' bootstrap demos.
    compile_metric = CompileMetric(metric, trials, progress, "reflect" if task.optimizer == "GEPA" else "bootstrap")
    optimizer = build(task.optimizer, options, compile_metric, num_threads, reflection_lm)
    kwargs = compile_kwargs(optimizer, compile_options, devset.examples)
    scored_on = devset if devset.examples else trainset

    before = evaluate(program, scored_on, metric, num_threads, progress, "before")
    progress.report(
        "compile",
        0,
        score=before.score,
        message=f"{task.optimizer}: compiling on {len(trainset)} examples (score before: {before.score:.3f})",
    )
    with dspy.context(callbacks=[*dspy.settings.callbacks, trials]):
        compiled = optimizer.compile(program, trainset=trainset.examples, **kwargs)
    after = evaluate(compiled, scored_on, metric, num_threads, progress, "after")

    result = worker_pb.RunResult(score=after.score, score_before=before.score)
    result.results.extend(outcome.message() for outcome in after.outcomes)
    result.states.extend(
        worker_pb.ModuleState(name=name, state_json=state.dump(getattr(compiled, name))) for name in names
    )
    for record in trials.records:
        trial = worker_pb.Trial(number=record.number, score=record.score)
        if record.error is not None:
            trial.error = record.error
        result.trials.append(trial)
    return result


__all__ = [
    "OPTIMIZERS",
    "CompileMetric",
    "TrialRecord",
    "Trials",
    "build",
    "check_options",
    "compile_kwargs",
    "optimize",
    "optimizer_class",
]
