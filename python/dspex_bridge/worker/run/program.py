"""The program a run evaluates or optimizes: the worker's modules composed into one ``dspy.Module``.

Each `RunModule` becomes an attribute of the program (named by it) holding a deep copy of the
hosted module, so that a run never changes the modules calls use; DSPy's optimizers see the
copies' predictors under those names (``classify.predict``). ``forward(**inputs)`` calls the
modules in order, each with the fields of its signature's inputs taken from a pool: the
example's inputs, then the outputs of the modules before it. It returns a ``dspy.Prediction``
of the run's output fields (the last module's outputs when none are named).

Each module call applies that module's settings as a call does: its fixed settings, then its
bound ones, whose values are the run's (`RunRequest.variables`, or a trial's). The LM and the
adapter are those in force: the session's, or one an optimizer chose (a teacher's, a copy at
another temperature).
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import dspy

from ... import _quote
from .. import modules
from ..modules import ModuleEntry
from ..status import invalid
from ..tools import CallScope, in_scope
from .examples import Split


@dataclass(frozen=True)
class Step:
    """One module call of the program (what a deep copy of the program copies with it)."""

    name: str
    inputs: tuple[str, ...] | None
    """The fields it is called with (``None``: a module without a signature gets the whole pool)."""
    settings: Mapping[str, Any]


class MissingField(ValueError):
    """A module needs a field that neither the example nor an earlier module gives."""


def _scope() -> CallScope | None:
    """The run's scope: one of the callbacks in force (DSPy hands them to its threads)."""
    return next((callback for callback in dspy.settings.callbacks if isinstance(callback, CallScope)), None)


class Program(dspy.Module):  # type: ignore[misc]  # dspy ships no type information
    """The composed program (see the module docstring)."""

    def __init__(self, steps: Sequence[tuple[Step, Any]], outputs: Sequence[str]) -> None:
        super().__init__()
        self._steps = tuple(step for step, _ in steps)
        self._outputs = tuple(outputs)
        for step, module in steps:
            setattr(self, step.name, module)

    def forward(self, **inputs: Any) -> Any:
        pool = dict(inputs)
        last: dict[str, Any] = {}
        # The run's scope again in this thread: a Rust tool called from here is cancelled with the run.
        with in_scope(_scope()):
            for step in self._steps:
                if step.inputs is None:
                    arguments = dict(pool)
                else:
                    missing = [name for name in step.inputs if name not in pool]
                    if missing:
                        raise MissingField(
                            f"module `{step.name}` needs {', '.join(missing)}, which neither the example "
                            "nor an earlier module gives"
                        )
                    arguments = {name: pool[name] for name in step.inputs}
                last = modules.output_fields(modules.call(getattr(self, step.name), step.settings, arguments))
                pool.update(last)
        if not self._outputs:
            return dspy.Prediction(**last)
        missing = [name for name in self._outputs if name not in pool]
        if missing:
            raise MissingField(f"no module gives the output(s) {', '.join(missing)}")
        return dspy.Prediction(**{name: pool[name] for name in self._outputs})


@dataclass(frozen=True)
class Part:
    """A `RunModule` resolved: its name in the program, the hosted module, and its settings for this run
    (fixed ones, then bound ones with the run's values)."""

    name: str
    entry: ModuleEntry
    settings: Mapping[str, Any]


def module_for(entry: ModuleEntry, values: Mapping[str, Any]) -> Any:
    """The module a program holds for ``entry``: a deep copy of it, or, when the module-typed variable it was
    created from takes another class in ``values``, a new module of that class (blocking)."""
    if entry.from_variable is not None and entry.from_variable in values:
        cls = modules.class_named(str(values[entry.from_variable]))
        if cls is not type(entry.module):
            module, _ = modules.construct(cls, entry.signature, entry.tools, None)
            return module
    return copy.deepcopy(entry.module)


def compose(parts: Sequence[Part], outputs: Sequence[str], values: Mapping[str, Any] | None = None) -> Program:
    """A new program of ``parts`` (copies of their modules), with the variable ``values`` given (a trial's:
    they replace the run's values of the settings bound to them, and the classes of the modules created
    from module-typed variables)."""
    values = values or {}
    steps: list[tuple[Step, Any]] = []
    for part in parts:
        settings = dict(part.settings)
        for setting, variable in part.entry.bindings.items():
            if variable in values:
                settings[setting] = values[variable]
        steps.append((Step(part.name, part.entry.inputs, settings), module_for(part.entry, values)))
    return Program(steps, outputs)


def output_names(module: Any) -> set[str] | None:
    """The fields a module's predictors write (``None``: it has none DSPy knows of)."""
    predictors = list(module.named_predictors()) if isinstance(module, dspy.Module) else []
    if not predictors:
        return None
    return {name for _, predictor in predictors for name in predictor.signature.output_fields}


@functools.cache
def _reserved() -> frozenset[str]:
    """The attributes a program has of its own (``forward``, ``callbacks``, ``history``, ...)."""
    return frozenset(dir(Program([], [])))


def check_name(name: str) -> None:
    """INVALID_ARGUMENT unless ``name`` can be an attribute of the program."""
    if not name.isidentifier() or name.startswith("_") or name in _reserved():
        raise invalid(
            f"`{_quote.excerpt(name)}` cannot name a module of the program: a Python identifier, "
            "not starting with `_` and not an attribute of a dspy.Module (forward, callbacks, ...)"
        )


def check_fields(parts: Sequence[Part], outputs: Sequence[str], splits: Sequence[Split]) -> None:
    """INVALID_ARGUMENT when an example lacks an input a module needs (and no earlier module gives), or no
    module gives a named output. Only what is known is checked: a module without predictors may give anything."""
    for split in splits:
        for index, example in enumerate(split.examples):
            available: set[str] | None = set(example.inputs().keys())
            for part in parts:
                if available is not None and part.entry.inputs is not None:
                    missing = [name for name in part.entry.inputs if name not in available]
                    if missing:
                        raise invalid(
                            f"{split.name}set example {index} has no input {', '.join(missing)} "
                            f"(module `{part.name}` needs it, and no module before it gives it)"
                        )
                given = output_names(part.entry.module)
                available = None if given is None or available is None else available | given
            if available is not None:
                unknown = [name for name in outputs if name not in available]
                if unknown:
                    raise invalid(f"no module gives the output(s) {', '.join(unknown)}")


__all__ = ["MissingField", "Part", "Program", "Step", "check_fields", "check_name", "compose", "module_for"]
