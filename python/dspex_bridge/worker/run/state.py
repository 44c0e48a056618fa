"""A module's learned state (its demos, instructions, ...) as JSON: DSPy's own ``dump_state()``,
encoded as ``Module.save`` encodes it, and loaded back with ``load_state``.

``dump_state()`` already turns typed demo values (pydantic models) into plain data; what it
leaves that JSON cannot hold (a date, a set, an object of the user's) is encoded as pydantic
encodes it, else as its ``str``.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from pydantic_core import to_jsonable_python

from ..._quote import excerpt
from ..status import invalid


def _jsonable(value: Any) -> Any:
    return to_jsonable_python(value, fallback=str)


def encode(state: Any) -> str:
    """The JSON text of a state ``dump_state()`` returned."""
    return json.dumps(state, default=_jsonable)


def dump(module: Any) -> str:
    """The JSON text of ``module.dump_state()``."""
    return encode(module.dump_state())


def parse(state_json: str, what: str) -> dict[str, Any]:
    """The state in ``state_json``: a JSON object; INVALID_ARGUMENT naming ``what`` otherwise."""
    try:
        state = json.loads(state_json)
    except ValueError as error:
        raise invalid(f"{what}: the state is not JSON: {excerpt(str(error))}") from None
    if not isinstance(state, dict):
        raise invalid(f"{what}: the state is a JSON {type(state).__name__}, not an object")
    return state


def load(module: Any, state_json: str, what: str) -> None:
    """Loads ``state_json`` into ``module``, all or nothing: a state that does not fit the module
    (INVALID_ARGUMENT naming ``what``) leaves it as it was. Blocking (a deep copy is tried first:
    ``Predict.load_state`` stops half way on a bad state)."""
    state = parse(state_json, what)
    try:
        copy.deepcopy(module).load_state(state)
    except Exception as error:  # noqa: BLE001 - DSPy raises KeyError, TypeError, ... for a state that does not fit
        raise invalid(
            f"{what}: the state does not fit {type(module).__name__}: {type(error).__name__}: {excerpt(str(error))}"
        ) from None
    module.load_state(state)


__all__ = ["dump", "encode", "load", "parse"]
