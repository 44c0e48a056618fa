"""`build_signature`: a Rust typed signature's spec becomes a real `dspy.Signature`, and
DSPy's own adapters (ChatAdapter, JSONAdapter) parse LM answers into the right Python
types. No LM is involved: `adapter.parse(signature, completion)` is what DSPy runs on an
LM's answer.

`tests/vectors/typed_signature.json` is the spec `tests/signature.rs` checks the Rust
derive produces, so both sides read the same wire form.
"""

from __future__ import annotations

import json
import typing
from pathlib import Path
from typing import Any, Literal

import dspy
import pydantic
import pytest
from dspy.adapters import ChatAdapter, JSONAdapter
from dspy.utils.exceptions import AdapterParseError

from dspex_bridge.signature import SignatureSpecError, build_signature

SPEC_FILE = Path(__file__).resolve().parents[2] / "tests" / "vectors" / "typed_signature.json"


def shared_spec() -> dict[str, Any]:
    spec: dict[str, Any] = json.loads(SPEC_FILE.read_text())
    return spec


def field(name: str, role: str, kind: dict[str, Any], description: str = "") -> dict[str, Any]:
    return {"name": name, "role": role, "description": description, "type": kind}


def spec_of(*fields: dict[str, Any], name: str = "Sig", instructions: str = "Do it.") -> dict[str, Any]:
    return {"name": name, "instructions": instructions, "fields": list(fields)}


def chat(outputs: dict[str, str]) -> str:
    """A ChatAdapter completion: one `[[ ## name ## ]]` section per output field."""
    sections = "".join(f"[[ ## {name} ## ]]\n{value}\n\n" for name, value in outputs.items())
    return sections + "[[ ## completed ## ]]\n"


ORDER_ANSWER = {
    "items": [
        {"sku": "A-1", "quantity": 2, "priority": "urgent", "replaces": None},
        {"sku": "B-2", "quantity": 1, "priority": "Low", "replaces": {"sku": "B-1", "quantity": 1, "priority": "Low"}},
    ],
    "note": None,
}


# --- the shared spec ---------------------------------------------------------------


def test_the_shared_spec_becomes_a_signature_with_its_names_roles_and_descriptions() -> None:
    sig = build_signature(shared_spec())
    assert sig.__name__ == "ExtractOrder"
    assert sig.instructions == "Extract the order from the message."
    assert list(sig.input_fields) == ["message"]
    assert list(sig.output_fields) == ["order", "urgency", "total", "scores"]
    assert sig.input_fields["message"].json_schema_extra["desc"] == "The customer's message."
    assert sig.output_fields["urgency"].json_schema_extra["desc"] == "How urgent the order is."


def test_the_shared_spec_fields_have_real_python_types() -> None:
    sig = build_signature(shared_spec())
    assert sig.input_fields["message"].annotation is str
    assert sig.output_fields["urgency"].annotation == Literal["Low", "urgent"]
    assert sig.output_fields["scores"].annotation == dict[str, float]
    total = sig.output_fields["total"].annotation
    assert typing.get_origin(total) is typing.Union
    order = sig.output_fields["order"].annotation
    assert issubclass(order, pydantic.BaseModel) and order.__name__ == "Order"
    item = typing.get_args(order.model_fields["items"].annotation)[0]
    assert item.__name__ == "Item"
    assert item.__doc__ == "A line of an order."
    assert item.model_fields["sku"].description == "The product code."
    assert item.model_fields["priority"].annotation == Literal["Low", "urgent"]
    # Recursive: `replaces: Option<Box<Item>>` refers to the class itself.
    assert typing.get_args(item.model_fields["replaces"].annotation) == (item, type(None))


def test_chat_adapter_parses_typed_outputs_into_python_values() -> None:
    sig = build_signature(shared_spec())
    completion = chat(
        {"order": json.dumps(ORDER_ANSWER), "urgency": "urgent", "total": "12", "scores": '{"fit": 0.5, "risk": 1}'}
    )
    parsed = ChatAdapter().parse(sig, completion)
    order = parsed["order"]
    assert isinstance(order, pydantic.BaseModel)
    assert order.model_dump() == {
        "items": [
            {"sku": "A-1", "quantity": 2, "priority": "urgent", "replaces": None},
            {
                "sku": "B-2",
                "quantity": 1,
                "priority": "Low",
                "replaces": {"sku": "B-1", "quantity": 1, "priority": "Low", "replaces": None},
            },
        ],
        "note": None,
    }
    assert type(order.items[1].replaces) is type(order.items[0])  # type: ignore[attr-defined]
    assert parsed["urgency"] == "urgent"
    assert parsed["total"] == 12 and isinstance(parsed["total"], int)
    assert parsed["scores"] == {"fit": 0.5, "risk": 1.0}
    assert all(isinstance(v, float) for v in parsed["scores"].values())


def test_json_adapter_parses_a_struct_output() -> None:
    sig = build_signature(shared_spec())
    completion = json.dumps({"order": ORDER_ANSWER, "urgency": "Low", "total": None, "scores": {}})
    parsed = JSONAdapter().parse(sig, completion)
    assert parsed["order"].items[0].sku == "A-1"
    assert parsed["order"].items[0].quantity == 2
    assert parsed["urgency"] == "Low"
    assert parsed["total"] is None
    assert parsed["scores"] == {}


def test_answers_outside_the_types_do_not_parse() -> None:
    sig = build_signature(shared_spec())
    good = {"order": json.dumps(ORDER_ANSWER), "urgency": "Low", "total": "1", "scores": "{}"}
    with pytest.raises(AdapterParseError, match="urgency"):
        ChatAdapter().parse(sig, chat({**good, "urgency": "medium"}))
    negative = {"items": [{"sku": "A", "quantity": -1, "priority": "Low"}], "note": None}
    with pytest.raises(AdapterParseError, match="order"):
        ChatAdapter().parse(sig, chat({**good, "order": json.dumps(negative)}))
    with pytest.raises(AdapterParseError, match="order"):
        JSONAdapter().parse(sig, json.dumps({"order": {"note": None}, "urgency": "Low", "total": 1, "scores": {}}))


def test_the_lm_is_shown_the_model_schema() -> None:
    sig = build_signature(shared_spec())
    structure = ChatAdapter().format_field_structure(sig)
    assert '"sku"' in structure and '"quantity"' in structure
    assert "The product code." in structure


# --- each type descriptor ------------------------------------------------------------


def test_every_descriptor_kind_has_its_python_type() -> None:
    kinds: dict[str, tuple[dict[str, Any], Any]] = {
        "s": ({"kind": "str"}, str),
        "b": ({"kind": "bool"}, bool),
        "i": ({"kind": "int", "min": None, "max": None}, int),
        "f": ({"kind": "float"}, float),
        "l": ({"kind": "list", "items": {"kind": "str"}}, list[str]),
        "o": ({"kind": "optional", "inner": {"kind": "float"}}, float | None),
        "d": ({"kind": "dict", "values": {"kind": "bool"}}, dict[str, bool]),
        "lit": ({"kind": "literal", "values": ["low", "high"]}, Literal["low", "high"]),
        "a": ({"kind": "any"}, Any),
    }
    sig = build_signature(
        spec_of(field("q", "input", {"kind": "str"}), *(field(n, "output", k) for n, (k, _) in kinds.items()))
    )
    for name, (_, expected) in kinds.items():
        assert sig.output_fields[name].annotation == expected, name


def test_integer_bounds_are_kept_where_pydantic_validates_them() -> None:
    sig = build_signature(
        spec_of(
            field("q", "input", {"kind": "str"}),
            field("bytes", "output", {"kind": "list", "items": {"kind": "int", "min": 0, "max": 255}}),
        )
    )
    assert ChatAdapter().parse(sig, chat({"bytes": "[0, 255]"})) == {"bytes": [0, 255]}
    with pytest.raises(AdapterParseError, match="bytes"):
        ChatAdapter().parse(sig, chat({"bytes": "[256]"}))


def test_chat_adapter_parses_each_kind() -> None:
    sig = build_signature(
        spec_of(
            field("q", "input", {"kind": "str"}),
            field("flag", "output", {"kind": "bool"}),
            field("count", "output", {"kind": "int", "min": -128, "max": 127}),
            field("ratio", "output", {"kind": "float"}),
            field("tags", "output", {"kind": "list", "items": {"kind": "str"}}),
            field("maybe", "output", {"kind": "optional", "inner": {"kind": "int", "min": None, "max": None}}),
            field("level", "output", {"kind": "literal", "values": ["low", "high"]}),
        )
    )
    parsed = ChatAdapter().parse(
        sig,
        chat({"flag": "true", "count": "-5", "ratio": "0.25", "tags": '["a", "b"]', "maybe": "null", "level": "high"}),
    )
    assert parsed == {"flag": True, "count": -5, "ratio": 0.25, "tags": ["a", "b"], "maybe": None, "level": "high"}
    assert isinstance(parsed["flag"], bool)


def test_an_enum_with_data_is_a_named_root_model_of_its_variants() -> None:
    shape = {
        "title": "Shape",
        "oneOf": [
            {
                "type": "object",
                "properties": {"radius": {"type": "number"}, "shape": {"type": "string", "const": "Circle"}},
                "required": ["shape", "radius"],
            },
            {
                "type": "object",
                "properties": {"side": {"type": "number"}, "shape": {"type": "string", "const": "Square"}},
                "required": ["shape", "side"],
            },
        ],
    }
    sig = build_signature(
        spec_of(
            field("q", "input", {"kind": "str"}),
            field("shape", "output", {"kind": "model", "name": "Shape", "json_schema": shape}),
        )
    )
    model = sig.output_fields["shape"].annotation
    assert issubclass(model, pydantic.RootModel) and model.__name__ == "Shape"
    parsed = JSONAdapter().parse(sig, json.dumps({"shape": {"shape": "Square", "side": 2}}))
    assert parsed["shape"].model_dump() == {"shape": "Square", "side": 2.0}
    with pytest.raises(AdapterParseError):
        JSONAdapter().parse(sig, json.dumps({"shape": {"shape": "Square", "radius": 2}}))


def test_two_fields_reaching_one_nested_type_share_its_class() -> None:
    item = {"type": "object", "properties": {"sku": {"type": "string"}}, "required": ["sku"]}
    order = {
        "title": "Order",
        "type": "object",
        "properties": {"items": {"type": "array", "items": {"$ref": "#/$defs/Item"}}},
        "required": ["items"],
        "$defs": {"Item": item},
    }
    sig = build_signature(
        spec_of(
            field("q", "input", {"kind": "str"}),
            field("order", "output", {"kind": "model", "name": "Order", "json_schema": order}),
            field("extra", "output", {"kind": "model", "name": "Item", "json_schema": item}),
        )
    )
    in_order = typing.get_args(sig.output_fields["order"].annotation.model_fields["items"].annotation)[0]
    assert in_order is sig.output_fields["extra"].annotation


def test_empty_instructions_and_descriptions_leave_dspy_defaults() -> None:
    sig = build_signature(
        spec_of(
            field("question", "input", {"kind": "str"}), field("answer", "output", {"kind": "str"}), instructions=""
        )
    )
    assert sig.instructions == "Given the fields `question`, produce the fields `answer`."
    assert sig.output_fields["answer"].json_schema_extra["desc"] == "${answer}"


def test_the_result_is_a_dspy_signature_a_module_accepts() -> None:
    sig = build_signature(shared_spec())
    assert issubclass(sig, dspy.Signature)
    assert dspy.ChainOfThought(sig).predict.signature.output_fields["order"].annotation.__name__ == "Order"


# --- bad specs -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "field_name", "message"),
    [
        (
            spec_of(field("q", "input", {"kind": "str"}), field("a", "output", {"kind": "complex"})),
            "a",
            "field `a`: unknown type kind 'complex'",
        ),
        (
            spec_of(field("q", "input", {"kind": "str"}), field("a", "output", {"kind": "literal", "values": []})),
            "a",
            "field `a`: a literal needs a non-empty list of strings, got []",
        ),
        (
            spec_of(
                field("q", "input", {"kind": "str"}),
                field("a", "output", {"kind": "model", "name": "M", "json_schema": {"$ref": "#/$defs/Missing"}}),
            ),
            "a",
            "field `a`: unresolved $ref '#/$defs/Missing'",
        ),
        (
            spec_of(field("q", "input", {"kind": "str"}), field("a", "sideways", {"kind": "str"})),
            "a",
            "field `a`: role must be 'input' or 'output', got 'sideways'",
        ),
        (
            spec_of(field("q", "input", {"kind": "str"}), field("q", "output", {"kind": "str"})),
            "q",
            "signature `Sig` has two fields named `q`",
        ),
        (
            spec_of(field("q", "input", {"kind": "str"}), field("not-a-name", "output", {"kind": "str"})),
            "not-a-name",
            "signature `Sig`: field name 'not-a-name' is not a Python identifier",
        ),
        (spec_of(field("q", "input", {"kind": "str"})), None, "signature `Sig` has no output field"),
        (spec_of(field("a", "output", {"kind": "str"})), None, "signature `Sig` has no input field"),
        ({"name": "Sig", "instructions": "", "fields": []}, None, "signature `Sig` has no fields"),
        ({"name": "1Sig", "fields": []}, None, "signature name '1Sig' is not a Python identifier"),
    ],
)
def test_a_bad_spec_raises_a_typed_error_naming_the_field(
    spec: dict[str, Any], field_name: str | None, message: str
) -> None:
    with pytest.raises(SignatureSpecError) as raised:
        build_signature(spec)
    assert str(raised.value) == message
    assert raised.value.field == field_name
    assert isinstance(raised.value, ValueError)
