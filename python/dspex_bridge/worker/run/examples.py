"""A run's examples: `ExampleData` messages as ``dspy.Example`` objects, by split.

An example's inputs are decoded as a call's JSON inputs are (validated into the first module's
input types when it is typed); its outputs (the labels) are plain JSON values. Each split keeps
the JSON it was given, to hand an example to a Rust metric exactly as it came, and finds an
example by identity: DSPy's optimizers pass the very objects of the trainset and the devset.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import dspy

from ..._proto_loader import worker_pb
from ..._quote import excerpt
from ..status import WorkerError, invalid
from ..typed import TypedFields, decode_json_inputs

TRAIN: Final = "train"
DEV: Final = "dev"


@dataclass
class Split:
    """The examples of one split (``train`` or ``dev``) and the JSON each came as."""

    name: str
    examples: list[Any] = field(default_factory=list)
    raw: list[dict[str, Any]] = field(default_factory=list)
    """Per example, ``{"inputs": {...}, "outputs": {...}}``: the JSON values it was given."""
    _index: dict[int, int] = field(default_factory=dict)

    def index_of(self, example: Any) -> int | None:
        """The index of this very object in the split (``None``: not one of its examples)."""
        index = self._index.get(id(example))
        if index is None or self.examples[index] is not example:
            return None
        return index

    def __len__(self) -> int:
        return len(self.examples)


def _example(data: worker_pb.ExampleData, typed: TypedFields | None, what: str) -> tuple[Any, dict[str, Any]]:
    if not data.inputs_json:
        raise invalid(f"{what} has no inputs")
    both = sorted(set(data.inputs_json) & set(data.outputs_json))
    if both:
        raise invalid(f"{what}: {', '.join(both)} is both an input and an output")
    try:
        inputs = decode_json_inputs(data.inputs_json, typed)
        raw_inputs = inputs if typed is None else decode_json_inputs(data.inputs_json, None)
    except WorkerError as error:
        raise invalid(f"{what}: {error.message}") from None
    outputs: dict[str, Any] = {}
    for name, text in data.outputs_json.items():
        try:
            outputs[name] = json.loads(text)
        except ValueError as error:
            raise invalid(f"{what}: output `{name}` is not JSON: {excerpt(str(error))}") from None
    example = dspy.Example(**inputs, **outputs).with_inputs(*inputs)
    return example, {"inputs": raw_inputs, "outputs": dict(outputs)}


def decode(name: str, data: Sequence[worker_pb.ExampleData], typed: TypedFields | None) -> Split:
    """The split ``name`` of ``data``; INVALID_ARGUMENT naming the example at fault (blocking:
    typed inputs are validated)."""
    split = Split(name)
    for index, message in enumerate(data):
        example, raw = _example(message, typed, f"{name}set example {index}")
        split.examples.append(example)
        split.raw.append(raw)
        split._index[id(example)] = index
    return split


__all__ = ["DEV", "TRAIN", "Split", "decode"]
