"""SessionContext and SyncSessionContext against a real Rust bridge.

Every test taking `session`, `main_session` or `open_session` runs twice: once over the
asyncio twin, once over the sync twin.
"""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest

from dspex_bridge import (
    TOKEN_ENV,
    AlreadyExistsError,
    AuthenticationError,
    BridgeError,
    EncodingError,
    InvalidDefinitionError,
    SessionContext,
    SessionNotFoundError,
    SyncSessionContext,
    ValidationError,
    VariableNotFoundError,
    VersionConflictError,
)
from dspex_bridge.testing import BridgeFixture

INFO_KEYS = {"id", "name", "type", "value", "constraints", "description", "metadata", "version"}


async def _define_limits(session: Any) -> None:
    """The fixture's two variables, on a fresh session that a test may write."""
    await session.register_variable("temperature", "float", 0.7, {"min": 0.0, "max": 2.0})
    await session.register_variable("max_tokens", "integer", 256, {"min": 1, "max": 4096})


# ---- reading ---------------------------------------------------------------------------------


async def test_reads_the_values_rust_defined(main_session: Any) -> None:
    temperature = await main_session.get_variable("temperature")
    max_tokens = await main_session.get_variable("max_tokens")
    assert (temperature, type(temperature)) == (0.7, float)
    assert (max_tokens, type(max_tokens)) == (256, int)


async def test_get_variable_info(main_session: Any) -> None:
    info = await main_session.get_variable_info("temperature")
    assert set(info) == INFO_KEYS
    assert info["name"] == "temperature"
    assert info["type"] == "float"
    assert info["value"] == 0.7
    assert info["constraints"] == {"min": 0.0, "max": 2.0}
    assert info["version"] == 0
    assert info["id"]
    # addressable by id too
    assert await main_session.get_variable(info["id"]) == 0.7
    assert (await main_session.get_variable_info(info["id"]))["name"] == "temperature"


async def test_get_variable_accepts_bypass_cache(main_session: Any) -> None:
    assert await main_session.get_variable("max_tokens", bypass_cache=True) == 256


async def test_get_variables_omits_unknown_names(main_session: Any) -> None:
    values = await main_session.get_variables(["temperature", "nope", "max_tokens"])
    assert values == {"temperature": 0.7, "max_tokens": 256}
    assert await main_session.get_variables([]) == {}


async def test_list_variables(main_session: Any) -> None:
    variables = await main_session.list_variables()
    assert [v["name"] for v in variables] == ["temperature", "max_tokens"]
    assert all(set(v) == INFO_KEYS for v in variables)
    assert variables[1]["type"] == "integer"
    assert variables[1]["constraints"] == {"min": 1, "max": 4096}


async def test_ping_and_get_session(main_session: Any, bridge: BridgeFixture) -> None:
    assert await main_session.ping() is None
    info = await main_session.get_session()
    assert info["session_id"] == bridge.session_id
    assert info["variable_count"] == 2


async def test_unknown_variable_is_a_key_error(main_session: Any) -> None:
    for call in (
        main_session.get_variable("nope"),
        main_session.get_variable_info("nope"),
        main_session.set_variable("nope", 1.0),
    ):
        with pytest.raises(KeyError) as caught:
            await call
        assert isinstance(caught.value, VariableNotFoundError)
        assert caught.value.kind == "not_found"
        assert str(caught.value) == "variable `nope` not found"


async def test_unknown_session_is_not_found(open_session: Any) -> None:
    session = open_session("no-such-session")
    with pytest.raises(SessionNotFoundError) as caught:
        await session.get_variable("temperature")
    assert isinstance(caught.value, KeyError)
    assert caught.value.kind == "session_not_found"
    assert caught.value.code == grpc.StatusCode.NOT_FOUND
    with pytest.raises(SessionNotFoundError):
        await session.list_variables()
    with pytest.raises(SessionNotFoundError):
        await session.register_variable("x", "integer", 1)


# ---- authentication --------------------------------------------------------------------------


async def test_wrong_token_is_refused_with_no_data(open_session: Any, bridge: BridgeFixture) -> None:
    session = open_session(bridge.session_id, token="not-the-token")
    calls = [
        session.get_variable("temperature"),
        session.get_variables(["temperature"]),
        session.list_variables(),
        session.get_variable_info("temperature"),
        session.set_variable("temperature", 1.0),
        session.ping(),
    ]
    for call in calls:
        with pytest.raises(AuthenticationError) as caught:
            await call
        assert isinstance(caught.value, PermissionError)
        assert caught.value.code == grpc.StatusCode.UNAUTHENTICATED
        assert "0.7" not in str(caught.value)
    assert bridge.rust_get(bridge.session_id, "temperature") == 0.7


async def test_missing_token_is_refused(
    open_session: Any, bridge: BridgeFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    session = open_session(bridge.session_id, token=None)
    with pytest.raises(AuthenticationError):
        await session.get_variable("temperature")


async def test_token_defaults_to_the_environment(
    open_session: Any, bridge: BridgeFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_ENV, bridge.token)
    session = open_session(bridge.session_id, token=None)
    assert await session.get_variable("max_tokens") == 256


# ---- writing ---------------------------------------------------------------------------------


async def test_set_variable_returns_the_version_and_rust_sees_it(
    session: Any, session_id: str, bridge: BridgeFixture
) -> None:
    await _define_limits(session)
    assert await session.set_variable("temperature", 0.95) == 1
    assert bridge.rust_get(session_id, "temperature") == 0.95
    assert await session.get_variable("temperature") == 0.95
    assert await session.set_variable("max_tokens", 512) == 1
    assert await session.set_variable("max_tokens", 1024) == 2
    assert bridge.rust_get(session_id, "max_tokens") == 1024


async def test_python_sees_writes_made_in_rust(session: Any, session_id: str, bridge: BridgeFixture) -> None:
    await _define_limits(session)
    assert bridge.command("set", session_id, "temperature", "1.25") == {"version": 1}
    assert await session.get_variable("temperature") == 1.25


async def test_the_bridge_coerces(session: Any) -> None:
    await _define_limits(session)
    await session.set_variable("temperature", 1)
    value = await session.get_variable("temperature")
    assert (value, type(value)) == (1.0, float)
    await session.set_variable("max_tokens", 300.0)
    value = await session.get_variable("max_tokens")
    assert (value, type(value)) == (300, int)


async def test_a_bool_is_sent_as_a_boolean_not_an_int(session: Any) -> None:
    await session.register_variable("n", "integer", 1)
    with pytest.raises(ValidationError) as caught:
        await session.set_variable("n", True)
    assert caught.value.kind == "type_mismatch"
    assert str(caught.value) == "variable `n`: expected an integer, got the boolean true"
    await session.register_variable("flag", "boolean", False)
    assert await session.set_variable("flag", True) == 1
    assert await session.get_variable("flag") is True


async def test_constraint_violation_has_the_rust_message_and_changes_nothing(
    session: Any, session_id: str, bridge: BridgeFixture
) -> None:
    await _define_limits(session)
    with pytest.raises(ValueError) as caught:
        await session.set_variable("temperature", 2.5, metadata={"source": "test"})
    error = caught.value
    assert isinstance(error, ValidationError)
    assert not isinstance(error, VersionConflictError)
    assert str(error) == "variable `temperature`: 2.5 is above the maximum 2.0"
    assert error.message == str(error)
    assert error.kind == "constraint_violation"
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    info = await session.get_variable_info("temperature")
    assert (info["value"], info["version"], info["metadata"]) == (0.7, 0, {})
    assert bridge.rust_get(session_id, "temperature") == 0.7


async def test_type_mismatch_has_the_rust_message(session: Any) -> None:
    await _define_limits(session)
    with pytest.raises(ValidationError) as caught:
        await session.set_variable("temperature", "hot")
    assert caught.value.kind == "type_mismatch"
    assert str(caught.value) == 'variable `temperature`: expected a float, got the string "hot"'
    assert await session.get_variable("temperature") == 0.7


async def test_values_python_cannot_send(session: Any) -> None:
    await _define_limits(session)
    for bad in (None, [1], {"a": 1}):
        with pytest.raises(EncodingError) as caught:
            await session.set_variable("temperature", bad)
        assert isinstance(caught.value, ValueError) and isinstance(caught.value, TypeError)
    with pytest.raises(EncodingError):
        await session.set_variable("max_tokens", 2**64)
    assert (await session.get_variable_info("temperature"))["version"] == 0


async def test_an_oversize_value_is_refused_short_and_the_bridge_keeps_serving(session: Any) -> None:
    await session.register_variable("text", "string", "short")
    with pytest.raises(ValidationError) as caught:
        await session.set_variable("text", "x" * (5 * 1024 * 1024))
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.kind == "constraint_violation"
    assert "(5242880 bytes)" in caught.value.message
    assert len(caught.value.message.encode()) <= 4096
    assert await session.get_variable("text") == "short"
    assert await session.set_variable("text", "y" * 1024) == 1


async def test_set_merges_metadata(session: Any) -> None:
    await session.register_variable("model", "string", "gpt-4", metadata={"owner": "rust"})
    await session.set_variable("model", "claude-3", metadata={"source": "python"})
    info = await session.get_variable_info("model")
    assert info["metadata"] == {"owner": "rust", "source": "python"}
    assert info["value"] == "claude-3"


async def test_expected_version(session: Any) -> None:
    await _define_limits(session)
    assert await session.set_variable("max_tokens", 300, expected_version=0) == 1
    with pytest.raises(VersionConflictError) as caught:
        await session.set_variable("max_tokens", 400, expected_version=0)
    error = caught.value
    assert isinstance(error, ValidationError) and isinstance(error, ValueError)
    assert error.kind == "version_conflict"
    assert str(error) == "variable `max_tokens`: expected version 0, but it is at version 1"
    assert await session.get_variable("max_tokens") == 300
    assert await session.set_variable("max_tokens", 400, expected_version=1) == 2


async def test_update_variables_is_all_or_nothing(session: Any, session_id: str, bridge: BridgeFixture) -> None:
    await _define_limits(session)
    with pytest.raises(ValidationError) as caught:
        await session.update_variables({"temperature": 0.3, "max_tokens": 99999})
    assert caught.value.kind == "constraint_violation"
    assert "max_tokens" in str(caught.value)
    with pytest.raises(VariableNotFoundError):
        await session.update_variables({"temperature": 0.3, "nope": 1})
    infos = {v["name"]: v for v in await session.list_variables()}
    assert (infos["temperature"]["value"], infos["temperature"]["version"]) == (0.7, 0)
    assert (infos["max_tokens"]["value"], infos["max_tokens"]["version"]) == (256, 0)
    assert bridge.rust_get(session_id, "temperature") == 0.7

    assert await session.update_variables({"temperature": 0.3, "max_tokens": 512}, metadata={"by": "batch"}) is None
    infos = {v["name"]: v for v in await session.list_variables()}
    assert (infos["temperature"]["value"], infos["temperature"]["version"]) == (0.3, 1)
    assert (infos["max_tokens"]["value"], infos["max_tokens"]["version"]) == (512, 1)
    assert infos["max_tokens"]["metadata"] == {"by": "batch"}
    assert bridge.rust_get(session_id, "max_tokens") == 512


# ---- registering -----------------------------------------------------------------------------


async def test_register_every_type(session: Any) -> None:
    defs: list[tuple[str, str, Any, dict[str, Any] | None]] = [
        ("f", "float", 0.5, {"min": 0, "max": 1}),
        ("i", "integer", 3, {"min": 0}),
        ("s", "string", "héllo", {"min_length": 1, "max_length": 10, "pattern": "^h"}),
        ("b", "boolean", True, None),
        ("c", "choice", "gpt-4", {"choices": ["gpt-4", "claude-3"]}),
        ("m", "module", "ChainOfThought", None),
        ("m2", "module", "Predict", {"choices": ["Predict", "ReAct"]}),
    ]
    ids = []
    for name, var_type, value, constraints in defs:
        ids.append(await session.register_variable(name, var_type, value, constraints, description=f"the {name}"))
    assert len(set(ids)) == len(ids)
    variables = await session.list_variables()
    assert [v["name"] for v in variables] == [d[0] for d in defs]
    for var, (name, var_type, value, _) in zip(variables, defs, strict=True):
        assert (var["type"], var["value"], type(var["value"])) == (var_type, value, type(value))
        assert var["description"] == f"the {name}"
        assert var["version"] == 0
    assert variables[0]["constraints"] == {"min": 0.0, "max": 1.0}  # normalised to the type
    assert variables[2]["constraints"] == {"min_length": 1, "max_length": 10, "pattern": "^h"}
    assert variables[4]["constraints"] == {"choices": ["gpt-4", "claude-3"]}
    assert variables[5]["constraints"] == {}
    assert variables[5]["description"] == "the m"


async def test_register_returns_an_id_usable_as_a_name(session: Any) -> None:
    var_id = await session.register_variable("model", "choice", "gpt-4", {"choices": ["gpt-4", "claude-3"]})
    assert await session.set_variable(var_id, "claude-3") == 1
    assert await session.get_variable("model") == "claude-3"
    info = await session.get_variable_info("model")
    assert info["id"] == var_id
    assert info["description"] is None


async def test_register_a_taken_name(session: Any) -> None:
    await session.register_variable("x", "integer", 1)
    with pytest.raises(AlreadyExistsError) as caught:
        await session.register_variable("x", "float", 2.0)
    assert caught.value.kind == "already_exists"
    assert str(caught.value) == "variable `x` already exists"
    info = await session.get_variable_info("x")
    assert (info["type"], info["value"]) == ("integer", 1)


async def test_register_invalid_definitions(session: Any) -> None:
    bad: list[tuple[str, Any, dict[str, Any] | None]] = [
        ("float", 1.0, {"min": 2.0, "max": 1.0}),
        ("string", "a", {"pattern": "("}),
        ("choice", "a", None),
        ("boolean", True, {"min": 0}),
    ]
    for var_type, value, constraints in bad:
        with pytest.raises(InvalidDefinitionError) as caught:
            await session.register_variable("v", var_type, value, constraints)
        assert caught.value.kind == "invalid_definition"
        assert str(caught.value).startswith("invalid definition of variable `v`: ")
    with pytest.raises(ValidationError) as refused:
        await session.register_variable("v", "complex", 1)
    assert refused.value.code == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(ValidationError) as initial:
        await session.register_variable("v", "float", 3.0, {"max": 2.0})
    assert initial.value.kind == "constraint_violation"
    assert await session.list_variables() == []


async def test_unknown_constraint_key(session: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        await session.register_variable("v", "float", 1.0, {"maximum": 2.0})
    assert caught.value.kind == "invalid_definition"
    assert await session.list_variables() == []


# ---- the twins -------------------------------------------------------------------------------


def test_sync_session_without_asyncio(bridge: BridgeFixture) -> None:
    with grpc.insecure_channel(bridge.address) as channel:
        session = SyncSessionContext(bridge.session_id, channel, token=bridge.token)
        assert session.get_variable("temperature") == 0.7
        assert session.get_variables(["max_tokens"]) == {"max_tokens": 256}
        with pytest.raises(VariableNotFoundError):
            session.get_variable("nope")
        assert repr(session) == f"SyncSessionContext(session_id={bridge.session_id!r})"


async def test_concurrent_async_calls(bridge: BridgeFixture) -> None:
    async with grpc.aio.insecure_channel(bridge.address) as channel:
        session = SessionContext(bridge.session_id, channel, token=bridge.token)
        values = await asyncio.gather(*(session.get_variable("max_tokens") for _ in range(100)))
        assert values == [256] * 100


def test_error_hierarchy() -> None:
    assert issubclass(VariableNotFoundError, KeyError)
    assert issubclass(SessionNotFoundError, VariableNotFoundError)
    assert issubclass(ValidationError, ValueError)
    assert issubclass(VersionConflictError, ValidationError)
    assert issubclass(AuthenticationError, PermissionError)
    for cls in (VariableNotFoundError, ValidationError, AuthenticationError, AlreadyExistsError):
        assert issubclass(cls, BridgeError)
