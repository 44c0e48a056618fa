"""Typed modules in the worker: the ``dspy.Signature`` class of a ``TypedSignature`` message, a
typed module's JSON inputs validated against their fields' types, and an answer DSPy could not
parse reported as the output field it failed on.

The class is built by `dspex_bridge.signature.build_signature` from the spec the message
carries; a bad spec raises its ``SignatureSpecError`` (INVALID_ARGUMENT, naming the field).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import dspy
import pydantic
from dspy.utils.exceptions import AdapterParseError

from .._proto_loader import worker_pb
from ..signature import SignatureSpecError, build_signature
from .status import invalid

_ROLES: Final = {worker_pb.FIELD_ROLE_INPUT: "input", worker_pb.FIELD_ROLE_OUTPUT: "output"}
# How DSPy's ChatAdapter and JSONAdapter name the field a value of the answer failed in.
_FAILED_FIELD: Final = re.compile(r"Failed to parse field (\w+)")


@dataclass(frozen=True)
class TypedFields:
    """What a call needs of a typed module's signature."""

    inputs: Mapping[str, pydantic.TypeAdapter[Any]]
    """Each input field's validator (turns JSON into the field's Python type)."""
    type_names: Mapping[str, str]
    """Each field's type as the spec names it (``list[str]``, ``Order``)."""


def spec_of(message: worker_pb.TypedSignature) -> dict[str, Any]:
    """The spec dict `build_signature` reads, from the wire message."""
    fields: list[dict[str, Any]] = []
    for field in message.fields:
        role = _ROLES.get(field.role)
        if role is None:
            raise SignatureSpecError(f"field `{field.name}`: its role is not set (input or output)", field.name)
        try:
            descriptor = json.loads(field.type_json)
        except ValueError as error:
            raise SignatureSpecError(f"field `{field.name}`: its type is not JSON ({error})", field.name) from None
        fields.append(
            {
                "name": field.name,
                "role": role,
                "description": field.description,
                "type_name": field.type_name,
                "type": descriptor,
            }
        )
    return {"name": message.name, "instructions": message.instructions, "fields": fields}


def signature_class(message: worker_pb.TypedSignature) -> tuple[type[dspy.Signature], TypedFields]:
    """The ``dspy.Signature`` class of a typed signature, and its fields' validators and type
    names. Raises ``SignatureSpecError`` naming the field at fault."""
    spec = spec_of(message)
    signature = build_signature(spec)
    inputs = {name: pydantic.TypeAdapter(field.annotation) for name, field in signature.input_fields.items()}
    type_names = {field["name"]: field["type_name"] for field in spec["fields"]}
    return signature, TypedFields(inputs=inputs, type_names=type_names)


def decode_json_inputs(json_inputs: Mapping[str, str], typed: TypedFields | None) -> dict[str, Any]:
    """The Python values of a call's JSON inputs: each parsed, then, for a typed module,
    validated into its field's type. INVALID_ARGUMENT names the input at fault."""
    decoded: dict[str, Any] = {}
    for name, text in json_inputs.items():
        try:
            value = json.loads(text)
        except ValueError as error:
            raise invalid(f"input `{name}` is not JSON: {error}") from None
        adapter = typed.inputs.get(name) if typed is not None else None
        if adapter is not None:
            try:
                value = adapter.validate_python(value)
            except pydantic.ValidationError as error:
                expected = typed.type_names.get(name, "its type") if typed is not None else "its type"
                raise invalid(f"input `{name}` is not a {expected}: {_first_error(error)}") from None
        decoded[name] = value
    return decoded


def parse_failure(error: AdapterParseError, typed: TypedFields | None) -> worker_pb.OutputParseFailure:
    """The output field an answer failed to parse into, its type and the raw answer."""
    outputs = list(error.signature.output_fields)
    named = _FAILED_FIELD.search(str(error))
    parsed = error.parsed_result if isinstance(error.parsed_result, Mapping) else None
    if named is not None and named.group(1) in outputs:
        field = named.group(1)
    elif parsed is not None:
        field = next((name for name in outputs if name not in parsed), outputs[0] if outputs else "")
    else:
        field = outputs[0] if outputs else ""
    return worker_pb.OutputParseFailure(
        field=field,
        expected=_expected(field, error.signature, typed),
        raw=str(error.lm_response),
        reason=_reason(error),
    )


def _expected(field: str, signature: type[dspy.Signature], typed: TypedFields | None) -> str:
    if typed is not None and field in typed.type_names:
        return typed.type_names[field]
    info = signature.output_fields.get(field)
    annotation = info.annotation if info is not None else None
    return getattr(annotation, "__name__", None) or str(annotation)


def _reason(error: AdapterParseError) -> str:
    """The parser's own words: the cause's message (pydantic's first error), else the
    adapter's first line."""
    # JSONAdapter chains the parser's exception; ChatAdapter raises while handling it.
    cause = error.__cause__ or error.__context__
    if isinstance(cause, AdapterParseError):
        cause = None
    if isinstance(cause, pydantic.ValidationError):
        return _first_error(cause)
    if cause is not None:
        return f"{type(cause).__name__}: {cause}"
    message = str(error).strip()
    return message.splitlines()[0] if message else type(error).__name__


def _first_error(error: pydantic.ValidationError) -> str:
    details = error.errors()
    if not details:
        return str(error)
    first = details[0]
    location = ".".join(str(part) for part in first.get("loc", ()))
    message = str(first.get("msg", "invalid value"))
    return f"{location}: {message}" if location else message
