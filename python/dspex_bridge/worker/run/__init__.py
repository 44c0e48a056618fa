"""Evaluating and optimizing programs of a worker's modules (the ``Run`` RPC), and a module's
learned state (``DumpState`` / ``LoadState``).

- `program`: the modules composed into one ``dspy.Module``;
- `examples`: the trainset and devset as ``dspy.Example`` objects;
- `metric`: a Python metric, or a Rust one called back through the bridge;
- `evaluation`: a program scored on a split, example by example;
- `optimizers`: DSPy's optimizers, their options and their trials;
- `variable_search`: variable values searched with Optuna;
- `progress`: the events a run streams;
- `runner`: the RPC itself;
- `state`: a module's state as JSON.
"""

from __future__ import annotations

from . import state
from .runner import Worker, stream

__all__ = ["Worker", "state", "stream"]
