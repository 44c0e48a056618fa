"""Searching variable values with Optuna: each trial proposes values, writes them to the
session, and scores the program they give on the devset.

The study maximizes the score with a seeded TPE sampler (the task's seed, else `DEFAULT_SEED`).
A float or integer variable is sampled in its inclusive range (on a log scale when asked); a
boolean, choice, string or module variable is chosen among its candidates (a boolean without
candidates: false or true). A trial's values are written through the bridge in one batch, with
metadata ``dspex.source = variable_search`` and ``dspex.trial = <n>``, so that the Rust side
sees the versions move and its watchers see each trial; a write the bridge refuses fails that
trial. Settings bound to a searched variable take its value for the trial, and a module created
from a searched module-typed variable is rebuilt as the class the value names. At the end the
best trial's values are written again (``dspex.best = true``): the session then holds them.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from ..._codec import PyValue, decode_value, encode_value
from ..._proto_loader import pb, worker_pb
from ..._quote import excerpt
from ...errors import BridgeError
from ..status import invalid
from ..tools import CallScope
from .evaluation import evaluate
from .examples import Split
from .metric import Metric
from .program import Part, compose
from .progress import Progress

logger = logging.getLogger(__name__)

DEFAULT_SEED: Final = 0
SOURCE: Final = "variable_search"
RANGED: Final = frozenset({pb.VAR_TYPE_FLOAT, pb.VAR_TYPE_INTEGER})
CHOSEN: Final = frozenset({pb.VAR_TYPE_BOOLEAN, pb.VAR_TYPE_CHOICE, pb.VAR_TYPE_STRING, pb.VAR_TYPE_MODULE})

Write = Callable[[Mapping[str, PyValue], Mapping[str, str]], None]
"""Writes values to the session in one batch, with metadata (blocking); raises when the bridge refuses them."""


@dataclass(frozen=True)
class Searched:
    """A searched variable, checked."""

    name: str
    kind: int
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    candidates: tuple[PyValue, ...] = ()

    def suggest(self, trial: Any) -> PyValue:
        """This trial's value."""
        if self.kind == pb.VAR_TYPE_FLOAT:
            value: PyValue = trial.suggest_float(self.name, self.low, self.high, log=self.log)
        elif self.kind == pb.VAR_TYPE_INTEGER:
            value = trial.suggest_int(self.name, int(self.low), int(self.high), log=self.log)
        else:
            value = trial.suggest_categorical(self.name, list(self.candidates))
        return value


def _bound(value: pb.Value, what: str) -> float:
    if not value.WhichOneof("kind"):
        raise invalid(f"{what} is not set")
    decoded = decode_value(value)
    if isinstance(decoded, bool) or not isinstance(decoded, (int, float)):
        raise invalid(f"{what} is {excerpt(repr(decoded))}, not a number")
    return float(decoded)


def check(task: worker_pb.VariableSearchTask) -> list[Searched]:
    """The task's variables; INVALID_ARGUMENT for a task that cannot run."""
    if task.trials < 1:
        raise invalid("a variable search runs at least one trial (`trials` is 0)")
    if not task.variables:
        raise invalid("a variable search has variables to search (none given)")
    searched: list[Searched] = []
    for variable in task.variables:
        name = variable.name
        if not name:
            raise invalid("a searched variable has no name")
        if any(other.name == name for other in searched):
            raise invalid(f"variable `{excerpt(name)}` is searched twice")
        if variable.type in RANGED:
            low = _bound(variable.min, f"variable `{excerpt(name)}`: `min`")
            high = _bound(variable.max, f"variable `{excerpt(name)}`: `max`")
            if low > high:
                raise invalid(f"variable `{excerpt(name)}`: `min` {low:g} is above `max` {high:g}")
            if variable.log and low <= 0:
                raise invalid(f"variable `{excerpt(name)}`: a log scale needs `min` > 0 (got {low:g})")
            if variable.type == pb.VAR_TYPE_INTEGER and (low != math.floor(low) or high != math.floor(high)):
                raise invalid(f"variable `{excerpt(name)}`: an integer range has integer bounds")
            searched.append(Searched(name, variable.type, low, high, variable.log))
        elif variable.type in CHOSEN:
            candidates = tuple(decode_value(value) for value in variable.candidates if value.WhichOneof("kind"))
            if not candidates and variable.type == pb.VAR_TYPE_BOOLEAN:
                candidates = (False, True)
            if not candidates:
                raise invalid(f"variable `{excerpt(name)}`: no candidates to choose among")
            searched.append(Searched(name, variable.type, candidates=candidates))
        else:
            raise invalid(f"variable `{excerpt(name)}`: its type is not set (float, integer, boolean, choice, module)")
    return searched


def _shown(values: Mapping[str, PyValue]) -> str:
    return " ".join(
        f"{name}={value:.3g}" if isinstance(value, float) else f"{name}={value}" for name, value in values.items()
    )


def _wire(values: Mapping[str, PyValue]) -> dict[str, pb.Value]:
    return {name: encode_value(value, name) for name, value in values.items()}


def search(
    parts: Sequence[Part],
    outputs: Sequence[str],
    devset: Split,
    metric: Metric,
    task: worker_pb.VariableSearchTask,
    searched: Sequence[Searched],
    write: Write,
    num_threads: int,
    progress: Progress,
    scope: CallScope,
) -> worker_pb.RunResult:
    """Runs the study (blocking); the result's score is the best trial's, its best values those written last."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    seed = task.seed % 2**32 if task.HasField("seed") else DEFAULT_SEED
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    total = task.trials
    result = worker_pb.RunResult()
    # The score of the values the session holds now: what the search is measured against.
    result.score_before = evaluate(compose(parts, outputs), devset, metric, num_threads, progress, "before").score
    best: tuple[float, int, dict[str, PyValue]] | None = None
    for number in range(1, total + 1):
        scope.check()
        trial = study.ask()
        values = {variable.name: variable.suggest(trial) for variable in searched}
        error: str | None = None
        score = 0.0
        failures = ""
        try:
            write(values, {"dspex.source": SOURCE, "dspex.trial": str(number)})
        except (BridgeError, ValueError) as refused:
            error = f"the bridge refused the values: {excerpt(str(refused))}"
        if error is None:
            try:
                program = compose(parts, outputs, values)
            except Exception as failed:  # noqa: BLE001 - a class the variable cannot build fails the trial
                error = f"cannot build the program: {type(failed).__name__}: {excerpt(str(failed))}"
        if error is None:
            evaluation = evaluate(program, devset, metric, num_threads, None, "trial")
            score = evaluation.score
            if evaluation.failures:
                first = next(outcome.error for outcome in evaluation.outcomes if outcome.error is not None)
                failures = f" ({evaluation.failures}/{len(devset)} examples failed: {first})"
            study.tell(trial, score)
            if best is None or score > best[0]:
                best = (score, number, values)
        else:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        record = worker_pb.Trial(number=number, score=score, values=_wire(values))
        if error is not None:
            record.error = error
        result.trials.append(record)
        said = f"failed: {error}" if error is not None else f"scored {score:.3f}{failures}"
        progress.report(
            "trial",
            number,
            total,
            score,
            best[0] if best is not None else None,
            message=f"trial {number}/{total}: {_shown(values)} {said}",
        )
    if best is None:
        logger.warning("variable search: every trial failed; the session keeps the last values written, if any")
        return result
    score, number, values = best
    write(values, {"dspex.source": SOURCE, "dspex.trial": str(number), "dspex.best": "true"})
    progress.report("best", total, total, score, score, message=f"best: trial {number}: {_shown(values)}")
    result.score = score
    for name, value in _wire(values).items():
        result.best_values[name].CopyFrom(value)
    return result


__all__ = ["DEFAULT_SEED", "Searched", "check", "search"]
