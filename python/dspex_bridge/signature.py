"""A real ``dspy.Signature`` class from the structured spec of a Rust typed signature.

Rust sends each field with its role, description and a type descriptor
(``{"kind": "list", "items": {"kind": "str"}}``); structured types (``"kind": "model"``)
carry their JSON Schema, nested types in ``$defs``. This module turns them into the Python
types DSPy's adapters format and parse: ``str``, ``bool``, ``int``, ``float``,
``list[...]``, ``Optional[...]``, ``dict[str, ...]``, ``Literal[...]``, ``Any`` and
pydantic models built from the schemas.

>>> sig = build_signature({"name": "Qa", "instructions": "Answer.", "fields": [
...     {"name": "question", "role": "input", "description": "", "type": {"kind": "str"}},
...     {"name": "answer", "role": "output", "description": "", "type": {"kind": "int"}}]})
>>> sig.output_fields["answer"].annotation
<class 'int'>
"""

from __future__ import annotations

import json
import re
import types
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, ForwardRef, Literal, Optional, Union

import dspy
import pydantic

# The typing special forms, subscripted with types only known at run time.
_Annotated: Any = Annotated
_Literal: Any = Literal
_Optional: Any = Optional
_Union: Any = Union
_RootModel: Any = pydantic.RootModel

_ANNOTATION_KEYS = frozenset(
    {"$schema", "$defs", "title", "description", "default", "examples", "deprecated", "readOnly", "writeOnly"}
)
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class SignatureSpecError(ValueError):
    """A signature spec that cannot become a ``dspy.Signature``.

    ``field`` names the field at fault, or is ``None`` when the fault is in the signature
    itself (its name, its list of fields).
    """

    field: str | None

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def build_signature(spec: Mapping[str, Any]) -> type[dspy.Signature]:
    """The ``dspy.Signature`` subclass ``spec`` describes (the parsed JSON of a Rust
    ``SignatureSpec``). Raises :class:`SignatureSpecError` naming the field at fault."""
    name = spec.get("name")
    if not isinstance(name, str) or not _IDENTIFIER.match(name):
        raise SignatureSpecError(f"signature name {name!r} is not a Python identifier")
    instructions = spec.get("instructions", "")
    if not isinstance(instructions, str):
        raise SignatureSpecError(f"signature `{name}`: instructions must be a string, got {instructions!r}")
    fields = spec.get("fields")
    if not isinstance(fields, list) or not fields:
        raise SignatureSpecError(f"signature `{name}` has no fields")
    builder = _TypeBuilder()
    definitions: dict[str, tuple[Any, Any]] = {}
    roles: set[str] = set()
    for field in fields:
        field_name, definition, role = _field(name, field, builder)
        if field_name in definitions:
            raise SignatureSpecError(f"signature `{name}` has two fields named `{field_name}`", field_name)
        definitions[field_name] = definition
        roles.add(role)
    for role in ("input", "output"):
        if role not in roles:
            raise SignatureSpecError(f"signature `{name}` has no {role} field")
    builder.resolve_forward_refs()
    signature: type[dspy.Signature] = dspy.make_signature(definitions, instructions or None, signature_name=name)
    return signature


def _field(signature: str, field: Any, builder: _TypeBuilder) -> tuple[str, tuple[Any, Any], str]:
    """(name, (type, dspy field), role) of one field spec."""
    if not isinstance(field, Mapping):
        raise SignatureSpecError(f"signature `{signature}`: a field spec must be an object, got {field!r}")
    name = field.get("name")
    if not isinstance(name, str) or not _IDENTIFIER.match(name):
        raise SignatureSpecError(f"signature `{signature}`: field name {name!r} is not a Python identifier", str(name))
    role = field.get("role")
    if role not in ("input", "output"):
        raise SignatureSpecError(f"field `{name}`: role must be 'input' or 'output', got {role!r}", name)
    description = field.get("description", "")
    if not isinstance(description, str):
        raise SignatureSpecError(f"field `{name}`: description must be a string, got {description!r}", name)
    try:
        annotation = builder.from_descriptor(field.get("type"))
    except _TypeError as e:
        raise SignatureSpecError(f"field `{name}`: {e}", name) from None
    kwargs = {"desc": description} if description else {}
    dspy_field = dspy.InputField(**kwargs) if role == "input" else dspy.OutputField(**kwargs)
    return name, (annotation, dspy_field), role


class _TypeError(Exception):
    """What is wrong with a type descriptor or schema; the caller adds the field's name."""


class _TypeBuilder:
    """Builds the Python types of one signature. Models are built once per (name,
    schema), so two fields that reach the same nested type share its class."""

    def __init__(self) -> None:
        self._models: dict[str, type[pydantic.BaseModel]] = {}
        self._by_key: dict[str, str] = {}
        self._pending: set[str] = set()

    def from_descriptor(self, descriptor: Any) -> Any:
        if not isinstance(descriptor, Mapping):
            raise _TypeError(f"type must be an object with a `kind`, got {descriptor!r}")
        kind = descriptor.get("kind")
        if kind == "str":
            return str
        if kind == "bool":
            return bool
        if kind == "float":
            return float
        if kind == "any":
            return Any
        if kind == "int":
            return _int(descriptor.get("min"), descriptor.get("max"))
        if kind == "list":
            return types.GenericAlias(list, (self.from_descriptor(descriptor.get("items")),))
        if kind == "optional":
            return _Optional[self.from_descriptor(descriptor.get("inner"))]
        if kind == "dict":
            return types.GenericAlias(dict, (str, self.from_descriptor(descriptor.get("values"))))
        if kind == "literal":
            values = descriptor.get("values")
            if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
                raise _TypeError(f"a literal needs a non-empty list of strings, got {values!r}")
            return _Literal[tuple(values)]
        if kind == "model":
            name, schema = descriptor.get("name"), descriptor.get("json_schema")
            if not isinstance(name, str) or not isinstance(schema, Mapping):
                raise _TypeError(f"a model needs a `name` and a `json_schema` object, got {descriptor!r}")
            return self._named(name, schema, schema)
        raise _TypeError(f"unknown type kind {kind!r}")

    def resolve_forward_refs(self) -> None:
        """Completes the models that refer to themselves or to each other."""
        namespace: dict[str, Any] = dict(self._models)
        for model in self._models.values():
            model.model_rebuild(_types_namespace=namespace)

    def _named(self, name: str, schema: Mapping[str, Any], root: Mapping[str, Any]) -> Any:
        """The type of a named schema: a class of that name for a struct (a model) or an
        enum with data or a tuple (a RootModel); the plain type otherwise (a string enum
        is a ``Literal``, a newtype its inner type). Classes are built once; a reference
        to one still being built (a recursive type) is a forward reference."""
        object_model = _is_object_model(schema)
        if not object_model and not _is_structured(schema):
            return self.from_schema(schema, root, name)
        key = f"{name}\0{json.dumps(schema, sort_keys=True)}"
        if key in self._by_key:
            class_name = self._by_key[key]
            return ForwardRef(class_name) if class_name in self._pending else self._models[class_name]
        class_name = self._unique(_class_name(name))
        self._by_key[key] = class_name
        self._pending.add(class_name)
        if object_model:
            model = self._object_model(class_name, schema, root)
        else:
            inner = self._structured(schema, root, class_name)
            model = type(class_name, (_RootModel[inner],), {"__module__": __name__})
        self._models[class_name] = model
        self._pending.discard(class_name)
        return model

    def _object_model(
        self, class_name: str, schema: Mapping[str, Any], root: Mapping[str, Any]
    ) -> type[pydantic.BaseModel]:
        properties = schema.get("properties", {})
        if not isinstance(properties, Mapping):
            raise _TypeError(f"`{class_name}`: properties must be an object")
        required = schema.get("required", [])
        fields: dict[str, Any] = {}
        for prop, prop_schema in properties.items():
            annotation = self.from_schema(prop_schema, root, f"{class_name}_{prop}")
            details = prop_schema if isinstance(prop_schema, Mapping) else {}
            default = ... if prop in required else details.get("default")
            fields[prop] = (annotation, pydantic.Field(default=default, description=details.get("description")))
        doc = schema.get("description")
        return pydantic.create_model(
            class_name, __doc__=doc if isinstance(doc, str) else None, __module__=__name__, **fields
        )

    def _structured(self, schema: Mapping[str, Any], root: Mapping[str, Any], name: str) -> Any:
        """The type inside a named non-object schema (the union of an enum's variants, a
        tuple), read as if anonymous."""
        return self.from_schema({k: v for k, v in schema.items() if k != "title"}, root, name)

    def _unique(self, class_name: str) -> str:
        candidate, n = class_name, 1
        while candidate in self._models or candidate in self._pending:
            n += 1
            candidate = f"{class_name}{n}"
        return candidate

    def from_schema(self, schema: Any, root: Mapping[str, Any], name: str) -> Any:
        """The Python type of a JSON Schema; ``$ref``s resolve in ``root``'s ``$defs``,
        ``name`` names the type if it turns out to be an anonymous model."""
        if schema is True:
            return Any
        if not isinstance(schema, Mapping):
            raise _TypeError(f"`{name}`: {schema!r} is not a JSON Schema this bridge reads")
        if "$ref" in schema:
            return self._reference(schema["$ref"], root)
        literals = _string_literals(schema)
        if literals is not None:
            return _Literal[tuple(literals)]
        for key in ("anyOf", "oneOf"):
            if key in schema:
                return self._union(schema[key], root, name)
        all_of = schema.get("allOf")
        if isinstance(all_of, list) and len(all_of) == 1:
            return self.from_schema(all_of[0], root, name)
        json_type = schema.get("type")
        if isinstance(json_type, list):
            return _Union[tuple(self.from_schema({**schema, "type": t}, root, name) for t in json_type)]
        if json_type == "string":
            return str
        if json_type == "boolean":
            return bool
        if json_type == "integer":
            return _int(schema.get("minimum"), schema.get("maximum"))
        if json_type == "number":
            return float
        if json_type == "null":
            return type(None)
        if json_type == "array":
            prefix = schema.get("prefixItems")
            if isinstance(prefix, list):
                items = tuple(self.from_schema(s, root, f"{name}_{i}") for i, s in enumerate(prefix))
                return types.GenericAlias(tuple, items)
            return types.GenericAlias(list, (self.from_schema(schema.get("items", True), root, f"{name}_item"),))
        if json_type == "object" or (json_type is None and "properties" in schema):
            if "properties" in schema:
                return self._named(str(schema.get("title", name)), schema, root)
            values = schema.get("additionalProperties", True)
            return types.GenericAlias(dict, (str, self.from_schema(values, root, f"{name}_value")))
        if json_type is None and set(schema) <= _ANNOTATION_KEYS:
            return Any
        raise _TypeError(f"`{name}`: unsupported JSON Schema {json.dumps(schema)[:200]}")

    def _reference(self, reference: Any, root: Mapping[str, Any]) -> Any:
        if not isinstance(reference, str) or not reference.startswith("#/$defs/"):
            raise _TypeError(f"unsupported $ref {reference!r} (expected '#/$defs/Name')")
        key = reference.removeprefix("#/$defs/")
        defs = root.get("$defs", {})
        definition = defs.get(key) if isinstance(defs, Mapping) else None
        if not isinstance(definition, Mapping):
            raise _TypeError(f"unresolved $ref {reference!r}")
        return self._named(key, definition, root)

    def _union(self, alternatives: Any, root: Mapping[str, Any], name: str) -> Any:
        if not isinstance(alternatives, Sequence) or isinstance(alternatives, str) or not alternatives:
            raise _TypeError(f"`{name}`: anyOf/oneOf must be a non-empty list")
        members = tuple(
            self.from_schema(alternative, root, _variant_name(name, alternative, i))
            for i, alternative in enumerate(alternatives)
        )
        return members[0] if len(members) == 1 else _Union[members]


def _int(minimum: Any, maximum: Any) -> Any:
    """``int``, with its bounds when it has any (pydantic checks them where it validates)."""
    ge, le = (bound if isinstance(bound, int) and not isinstance(bound, bool) else None for bound in (minimum, maximum))
    if ge is None and le is None:
        return int
    return _Annotated[int, pydantic.Field(ge=ge, le=le)]


def _string_literals(schema: Mapping[str, Any]) -> list[str] | None:
    """The strings of a string enum (``enum``, ``const``, or a oneOf/anyOf of those)."""
    if "enum" in schema:
        values = schema["enum"]
        if isinstance(values, list) and values and all(isinstance(v, str) for v in values):
            return list(values)
        return None
    if "const" in schema:
        return [schema["const"]] if isinstance(schema["const"], str) else None
    for key in ("oneOf", "anyOf"):
        alternatives = schema.get(key)
        if isinstance(alternatives, list) and alternatives:
            collected: list[str] = []
            for alternative in alternatives:
                values = _string_literals(alternative) if isinstance(alternative, Mapping) else None
                if values is None:
                    return None
                collected.extend(values)
            return collected
    return None


def _is_object_model(schema: Mapping[str, Any]) -> bool:
    return "properties" in schema and schema.get("type", "object") == "object"


def _is_structured(schema: Mapping[str, Any]) -> bool:
    """Whether a named schema is more than a primitive or a string enum: an enum with
    data (``oneOf`` of objects) or a tuple, which keeps its name as a class."""
    if _string_literals(schema) is not None:
        return False
    alternatives = schema.get("oneOf", schema.get("anyOf"))
    if isinstance(alternatives, list):
        return any(isinstance(a, Mapping) and ("properties" in a or "$ref" in a) for a in alternatives)
    return "prefixItems" in schema


def _variant_name(parent: str, alternative: Any, index: int) -> str:
    """A name for an anonymous alternative: its title, else the value of its one
    constant-string property (a serde tag), else its position."""
    if isinstance(alternative, Mapping):
        title = alternative.get("title")
        if isinstance(title, str):
            return title
        properties = alternative.get("properties")
        if isinstance(properties, Mapping):
            tags = [
                p["const"] for p in properties.values() if isinstance(p, Mapping) and isinstance(p.get("const"), str)
            ]
            if len(tags) == 1:
                return f"{parent}_{tags[0]}"
    return f"{parent}_{index + 1}"


def _class_name(name: str) -> str:
    """``name`` made a Python identifier (schema titles of generic types hold any text)."""
    cleaned = re.sub(r"\W", "_", name)
    return cleaned if cleaned and not cleaned[0].isdigit() else f"_{cleaned}"
