"""The typed values of the test LM: one Python value per output field, of the type its annotation asks for.

The adapter DSPy uses then writes these values (``[[ ## field ## ]]`` blocks for ``ChatAdapter``, a JSON object
for ``JSONAdapter``) and parses them back into the annotation, so every value here must be one pydantic accepts
for it. Deterministic: the same source gives the same value.
"""

from __future__ import annotations

import collections.abc
import enum
import types
from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal, Union, get_args, get_origin

import pydantic

DICT_KEY: Final = "echo"
"""The key of the one entry of a ``dict`` value whose keys are strings."""

_SEQUENCES: Final = (list, set, frozenset, collections.abc.Sequence, collections.abc.Set, collections.abc.Iterable)
_MAPPINGS: Final = (dict, collections.abc.Mapping, collections.abc.MutableMapping)


@dataclass(frozen=True, slots=True)
class EchoSource:
    """What the values of one answer are made from."""

    text: str
    """The value of every ``str`` field: ``Echo: <first input> [settings]``."""
    numbers: tuple[float, ...]
    """The numbers found in the caller's inputs, in order (their sum answers ``int`` and ``float`` fields)."""

    @property
    def total(self) -> float:
        return float(sum(self.numbers))


def value_for(annotation: Any, source: EchoSource, building: frozenset[type] = frozenset()) -> Any:
    """The value answering a field annotated ``annotation``.

    ``str`` (and unannotated or unknown types): ``source.text``; ``int``/``float``: the sum of ``source.numbers``;
    ``bool``: ``True``; ``Literal``/``Enum``: the first choice; ``list``/``set``/``tuple[T, ...]``: one element;
    fixed ``tuple``: one value per position; ``dict[K, V]``: one entry (key ``"echo"`` when ``K`` is ``str``);
    a pydantic model: its fields, recursively; ``X | None``: the value of ``X``, except ``None`` where ``X`` is a
    model being built already (a recursive model, such as an item that ``replaces: Item | None``, stays finite).
    ``building`` holds the models being built.
    """
    if annotation is str or annotation is Any:
        return source.text
    if annotation is bool:
        return True
    if annotation is int:
        return round(source.total)
    if annotation is float:
        return source.total
    if annotation is None or annotation is type(None):
        return None
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return next(iter(annotation)).value
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        inner = building | {annotation}
        return {name: value_for(field.annotation, source, inner) for name, field in annotation.model_fields.items()}
    return _generic_value(annotation, source, building)


def _generic_value(annotation: Any, source: EchoSource, building: frozenset[type]) -> Any:
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Literal:
        return args[0]
    if origin is Annotated:
        return value_for(args[0], source, building)
    if origin is Union or origin is types.UnionType:
        present = [arg for arg in args if arg is not type(None)]
        optional = len(present) < len(args)
        if not present or (optional and any(arg in building for arg in present)):
            return None
        return value_for(present[0], source, building)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return [value_for(args[0], source, building)]
        return [value_for(arg, source, building) for arg in args]
    if origin in _SEQUENCES or annotation in (list, set, frozenset, tuple):
        item = args[0] if args else str
        return [] if item in building else [value_for(item, source, building)]
    if origin in _MAPPINGS or annotation is dict:
        key_type, item_type = args if len(args) == 2 else (str, Any)
        key = DICT_KEY if key_type in (str, Any) else value_for(key_type, source, building)
        return {} if item_type in building else {key: value_for(item_type, source, building)}
    return source.text


__all__ = ["DICT_KEY", "EchoSource", "value_for"]
