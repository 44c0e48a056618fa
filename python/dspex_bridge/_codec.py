"""Between Python values and the wire: values, types, constraints, whole variables, and the
request messages. Shared by the asyncio and the synchronous session, so both behave the same.

Nothing here checks a value against a type or a constraint: the rules live only in Rust,
in the bridge. A Python ``bool`` is sent as a boolean (never as the int it also is), an
``int`` as an integer, a ``float`` as a float, a ``str`` as a string; the bridge coerces.
"""

from __future__ import annotations

import json
import numbers
from collections.abc import Iterable, Mapping
from typing import Any, Final, TypeAlias

from pydantic_core import to_jsonable_python

from ._proto_loader import pb, worker_pb
from ._quote import excerpt
from .errors import BridgeError, EncodingError

PyValue: TypeAlias = float | int | str | bool
"""A variable's value in Python."""

VariableInfo: TypeAlias = dict[str, Any]
"""One variable as a dict: id, name, type, value, constraints, description, metadata, version."""

I64_MIN: Final = -(2**63)
I64_MAX: Final = 2**63 - 1

VAR_TYPES: Final = {
    "float": pb.VAR_TYPE_FLOAT,
    "integer": pb.VAR_TYPE_INTEGER,
    "string": pb.VAR_TYPE_STRING,
    "boolean": pb.VAR_TYPE_BOOLEAN,
    "choice": pb.VAR_TYPE_CHOICE,
    "module": pb.VAR_TYPE_MODULE,
}
VAR_TYPE_NAMES: Final = {number: name for name, number in VAR_TYPES.items()}

CONSTRAINT_KEYS: Final = ("min", "max", "min_length", "max_length", "pattern", "choices")


# ---- values ---------------------------------------------------------------------------------


def _scalar(value: object) -> pb.Value | None:
    """The wire ``Value`` of a bool, an int that fits in 64 bits, a float or a str (subclasses
    such as ``IntEnum`` or numpy scalars included); ``None`` for anything else."""
    # The exact types first: this runs for every value sent.
    if type(value) is float:
        return pb.Value(float_value=value)
    if type(value) is str:
        return pb.Value(string_value=value)
    if type(value) is bool:
        return pb.Value(boolean_value=value)
    if type(value) is int:
        return pb.Value(integer_value=value) if I64_MIN <= value <= I64_MAX else None
    # Subclasses (bool has none): Integral before Real, since an integer is also a Real.
    if isinstance(value, numbers.Integral):
        number = int(value)
        return pb.Value(integer_value=number) if I64_MIN <= number <= I64_MAX else None
    if isinstance(value, numbers.Real):
        return pb.Value(float_value=float(value))
    if isinstance(value, str):
        return pb.Value(string_value=str(value))
    return None


def encode_value(value: PyValue, name: str) -> pb.Value:
    """The wire ``Value`` of a Python value. ``name`` is only for the error message."""
    wire = _scalar(value)
    if wire is not None:
        return wire
    if isinstance(value, numbers.Integral):
        raise EncodingError(
            f"variable `{excerpt(name)}`: the integer {_integer_text(int(value))} does not fit in 64 bits, "
            "the bridge's integers",
            "invalid_argument",
        )
    raise EncodingError(
        f"variable `{excerpt(name)}`: cannot send {type(value).__name__} {excerpt(repr(value))} to the bridge: "
        "a value is a float, an int, a str or a bool",
        "invalid_argument",
    )


def _integer_text(value: int) -> str:
    """An integer as an error shows it: its digits, bounded; one too large for Python to print
    (over 4300 digits) by its size."""
    if value.bit_length() > 4096:
        return f"of {value.bit_length()} bits"
    return excerpt(str(value))


def encode_output(value: object) -> worker_pb.Output:
    """The wire ``Output`` of a module's output field: a ``Value`` when `encode_value` could
    send it, else its JSON text (lists, dicts, pydantic models; what JSON cannot hold, as
    its ``str``)."""
    wire = _scalar(value)
    if wire is not None:
        return worker_pb.Output(value=wire)
    try:
        jsonable = to_jsonable_python(value, fallback=str)
    except ValueError:  # a circular reference
        jsonable = str(value)
    return worker_pb.Output(json=json.dumps(jsonable, default=str))


def decode_value(value: pb.Value) -> PyValue:
    """The Python value of a wire ``Value``."""
    kind = value.WhichOneof("kind")
    if kind is None:
        raise BridgeError("the bridge sent an empty value", "invalid_response")
    result: PyValue = getattr(value, kind)
    return result


# ---- constraints ----------------------------------------------------------------------------


def _length(key: str, raw: object, name: str) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
        raise EncodingError(
            f"variable `{excerpt(name)}`: `{key}` must be a non-negative int, got {excerpt(repr(raw))}",
            "invalid_definition",
        )
    return raw


def encode_constraints(constraints: Mapping[str, Any] | None, name: str) -> Any:
    """The wire ``Constraints`` of a dict with keys among min, max, min_length, max_length,
    pattern and choices. Whether a key applies to the type is for the bridge to say."""
    message = pb.Constraints()
    if not constraints:
        return message
    for key, raw in constraints.items():
        if key == "min":
            message.min.CopyFrom(encode_value(raw, name))
        elif key == "max":
            message.max.CopyFrom(encode_value(raw, name))
        elif key == "min_length":
            message.min_length = _length(key, raw, name)
        elif key == "max_length":
            message.max_length = _length(key, raw, name)
        elif key == "pattern":
            if not isinstance(raw, str):
                raise EncodingError(
                    f"variable `{excerpt(name)}`: `pattern` must be a str, got {excerpt(repr(raw))}",
                    "invalid_definition",
                )
            message.pattern = raw
        elif key == "choices":
            if isinstance(raw, str) or not isinstance(raw, Iterable):
                raise EncodingError(
                    f"variable `{excerpt(name)}`: `choices` must be a list of str, got {excerpt(repr(raw))}",
                    "invalid_definition",
                )
            message.choices.extend(raw)
            message.has_choices = True
        else:
            raise EncodingError(
                f"variable `{excerpt(name)}`: unknown constraint `{excerpt(str(key))}` (the constraints are {', '.join(CONSTRAINT_KEYS)})",
                "invalid_definition",
            )
    return message


def decode_constraints(message: Any) -> dict[str, Any]:
    """The dict of a wire ``Constraints``: only the keys that are set."""
    result: dict[str, Any] = {}
    if message.HasField("min"):
        result["min"] = decode_value(message.min)
    if message.HasField("max"):
        result["max"] = decode_value(message.max)
    if message.HasField("min_length"):
        result["min_length"] = message.min_length
    if message.HasField("max_length"):
        result["max_length"] = message.max_length
    if message.HasField("pattern"):
        result["pattern"] = message.pattern
    if message.has_choices:
        result["choices"] = list(message.choices)
    return result


# ---- variables ------------------------------------------------------------------------------


def decode_variable(message: Any) -> VariableInfo:
    """One variable as a dict: id, name, type, value, constraints, description, metadata, version."""
    return {
        "id": message.id,
        "name": message.name,
        "type": VAR_TYPE_NAMES.get(message.type, "unspecified"),
        "value": decode_value(message.value),
        "constraints": decode_constraints(message.constraints),
        "description": message.description if message.HasField("description") else None,
        "metadata": dict(message.metadata),
        "version": message.version,
    }


# ---- responses (one decoder per RPC) --------------------------------------------------------


def value_of(response: Any) -> PyValue:
    """GetVariableResponse -> the value."""
    return decode_value(response.variable.value)


def info_of(response: Any) -> VariableInfo:
    """GetVariableResponse -> the variable as a dict."""
    return decode_variable(response.variable)


def version_of(response: Any) -> int:
    """SetVariableResponse -> the new version."""
    version: int = response.version
    return version


def id_of(response: Any) -> str:
    """RegisterVariableResponse -> the new variable's id."""
    var_id: str = response.id
    return var_id


def values_of(response: Any) -> dict[str, PyValue]:
    """GetVariablesResponse -> name -> value (unknown names are absent)."""
    return {name: decode_value(value) for name, value in response.values.items()}


def list_of(response: Any) -> list[VariableInfo]:
    """ListVariablesResponse -> the variables, as dicts, in the bridge's order."""
    return [decode_variable(var) for var in response.variables]


def session_of(response: Any) -> dict[str, Any]:
    """GetSessionResponse -> a dict."""
    return {
        "session_id": response.session_id,
        "variable_count": response.variable_count,
        "created_at_ms": response.created_at_ms,
        "last_access_ms": response.last_access_ms,
    }


def nothing(_response: Any) -> None:
    """For the RPCs that answer nothing but success."""


# ---- requests -------------------------------------------------------------------------------

PING_REQUEST: Final = pb.PingRequest()


class Requests:
    """Builds the request messages of one session."""

    __slots__ = ("session_id",)

    def __init__(self, session_id: str) -> None:
        self.session_id = session_id

    def get_variable(self, name: str) -> Any:
        return pb.GetVariableRequest(session_id=self.session_id, name=name)

    def set_variable(
        self,
        name: str,
        value: PyValue,
        metadata: Mapping[str, str] | None,
        expected_version: int | None,
    ) -> Any:
        request = pb.SetVariableRequest(session_id=self.session_id, name=name, value=encode_value(value, name))
        if metadata:
            request.metadata.update(metadata)
        if expected_version is not None:
            request.expected_version = expected_version
        return request

    def register_variable(
        self,
        name: str,
        var_type: str,
        value: PyValue,
        constraints: Mapping[str, Any] | None,
        description: str | None,
        metadata: Mapping[str, str] | None,
    ) -> Any:
        request = pb.RegisterVariableRequest(
            session_id=self.session_id,
            name=name,
            # An unknown type name goes as UNSPECIFIED: the bridge refuses it, with its message.
            type=VAR_TYPES.get(var_type, pb.VAR_TYPE_UNSPECIFIED),
            value=encode_value(value, name),
            constraints=encode_constraints(constraints, name),
        )
        if description is not None:
            request.description = description
        if metadata:
            request.metadata.update(metadata)
        return request

    def get_variables(self, names: Iterable[str]) -> Any:
        return pb.GetVariablesRequest(session_id=self.session_id, names=list(names))

    def update_variables(self, updates: Mapping[str, PyValue], metadata: Mapping[str, str] | None) -> Any:
        request = pb.SetVariablesRequest(
            session_id=self.session_id,
            updates=[pb.VariableUpdate(name=name, value=encode_value(value, name)) for name, value in updates.items()],
        )
        if metadata:
            request.metadata.update(metadata)
        return request

    def list_variables(self) -> Any:
        return pb.ListVariablesRequest(session_id=self.session_id)

    def get_session(self) -> Any:
        return pb.GetSessionRequest(session_id=self.session_id)

    def watch_variables(self, names: Iterable[str], include_initial: bool, heartbeat_ms: int) -> Any:
        return pb.WatchVariablesRequest(
            session_id=self.session_id,
            names=list(names),
            include_initial=include_initial,
            heartbeat_ms=heartbeat_ms,
        )
