"""The cross-language vectors (`tests/vectors/variables.json`) through the real bridge.

`tests/vectors.rs` runs the same file against the Rust model: same outcomes, or one of the
two suites fails. Each case registers a variable on a fresh session, writes `input` (when
there is one) and reads the value back, comparing the value and its Python type; refused
values must raise a `ValidationError` whose `.kind` is the expected kind and change nothing.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from dspex_bridge import ValidationError
from dspex_bridge.testing import REPO_ROOT

VECTORS_FILE = REPO_ROOT / "tests" / "vectors" / "variables.json"
CASES: list[dict[str, Any]] = json.loads(Path(VECTORS_FILE).read_text(encoding="utf-8"))

PY_TYPES: dict[str, type] = {"float": float, "integer": int, "string": str, "boolean": bool}
DECODE: dict[str, Any] = {"float": float, "integer": int, "string": str, "boolean": bool}


def typed(raw: dict[str, Any]) -> Any:
    """A typed JSON value as the Python value to send: the tag decides (a `{"float": 42}`
    is the float 42.0; `"nan"`, `"inf"` and `"-inf"` are floats)."""
    ((tag, value),) = raw.items()
    return DECODE[tag](value)


def constraints_of(case: dict[str, Any]) -> dict[str, Any] | None:
    """The case's constraints as `register_variable` takes them (min/max decoded)."""
    raw = case.get("constraints")
    if raw is None:
        return None
    return {key: typed(value) if key in ("min", "max") else value for key, value in raw.items()}


def same(got: Any, want_raw: dict[str, Any]) -> bool:
    ((tag, _),) = want_raw.items()
    want = typed(want_raw)
    if type(got) is not PY_TYPES[tag]:
        return False
    if isinstance(want, float) and isinstance(got, float):
        return (math.isnan(got) and math.isnan(want)) or (
            got == want and math.copysign(1, got) == math.copysign(1, want)
        )
    return bool(got == want)


OUTCOMES = frozenset({"value", "error", "definition_error", "initial_error"})


def test_the_vectors_are_many_unique_and_each_expects_one_outcome() -> None:
    ids = [case["id"] for case in CASES]
    assert len(ids) >= 60
    assert len(set(ids)) == len(ids)
    # A misspelt or missing outcome would otherwise send a case down a branch that checks something else.
    for case in CASES:
        expect = case["expect"]
        assert len(expect) == 1 and set(expect) <= OUTCOMES, (case["id"], expect)
        assert expect.get("definition_error", True) is True, case["id"]
        assert "error" not in expect or "input" in case, f"{case['id']}: a refused write needs an input"


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
async def test_vector(case: dict[str, Any], session: Any) -> None:
    expect = case["expect"]
    register = session.register_variable("v", case["type"], typed(case["initial"]), constraints_of(case))

    if expect.get("definition_error"):
        with pytest.raises(ValidationError) as caught:
            await register
        assert caught.value.kind == "invalid_definition", str(caught.value)
        assert await session.list_variables() == []
        return
    if "initial_error" in expect:
        with pytest.raises(ValidationError) as caught:
            await register
        assert caught.value.kind == expect["initial_error"], str(caught.value)
        assert await session.list_variables() == []
        return
    await register

    before = await session.get_variable_info("v")
    if "input" in case:
        write = session.set_variable("v", typed(case["input"]))
        if "error" in expect:
            with pytest.raises(ValidationError) as caught:
                await write
            assert caught.value.kind == expect["error"], str(caught.value)
            assert str(caught.value).startswith("variable `v`: ")
            after = await session.get_variable_info("v")
            assert after["version"] == before["version"]
            assert (after["value"], type(after["value"])) == (before["value"], type(before["value"]))
            return
        assert await write == before["version"] + 1

    got = await session.get_variable("v")
    assert same(got, expect["value"]), f"got {got!r} ({type(got).__name__}), expected {expect['value']}"
