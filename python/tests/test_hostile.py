"""Hostile and oversized input from Python: every case gets a short error of the right kind,
in bounded time, from the real Rust bridge and from a real worker, and while a worker handles
the worst call its limit allows, its health checks keep answering.

`tests/hostile.rs` runs the same cases from Rust; `tests/vectors/quoting.json` holds the
quoting rule both sides follow.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Iterator
from typing import Any

import grpc
import grpc.aio
import pytest
from test_worker import TESTS_DIR, Worker, create, text

from dspex_bridge import (
    MAX_MESSAGE_BYTES_ENV,
    BridgeError,
    EncodingError,
    InvalidDefinitionError,
    SessionContext,
    SyncSessionContext,
    ValidationError,
    VariableNotFoundError,
    channel_options,
)
from dspex_bridge._proto_loader import worker_pb as wpb
from dspex_bridge._proto_loader import worker_pb_grpc as wpb_grpc
from dspex_bridge._quote import (
    MAX_STATUS_MESSAGE_BYTES,
    QUOTE_LIST_ITEMS,
    QUOTE_PREFIX_CHARS,
    excerpt,
    fit,
    quoted,
    quoted_list,
)
from dspex_bridge.errors import ERROR_KIND_KEY, EXCEPTION_KEY, from_rpc_error
from dspex_bridge.message_size import DEFAULT_MAX_MESSAGE_BYTES, GRPC_MAX_MESSAGE_BYTES
from dspex_bridge.testing import REPO_ROOT, BridgeFixture
from dspex_bridge.worker.config import read_config
from dspex_bridge.worker.sessions import Sessions

MAX_ERROR_BYTES = 2048
"""The longest message an error about one oversized input may have: a few bounded quotes and
a sentence (the same bound as the Rust suite's)."""
BRIDGE_BOUND_S = 1.0
"""How long a refusal from the bridge may take (the work is bounded; the machine is shared)."""
WORKER_BOUND_S = 3.0
"""How long a refusal from a worker may take (a DSPy call is in it)."""
HEALTH_BOUND_S = 0.1
"""How long a health check may take while the worst call the default limit allows is handled."""
LIMITED_WORKER_BYTES = DEFAULT_MAX_MESSAGE_BYTES // 2
"""The message size limit of a worker started with a limit of its own (not the default)."""

VECTORS: dict[str, Any] = json.loads((REPO_ROOT / "tests" / "vectors" / "quoting.json").read_text(encoding="utf-8"))


def build(spec: Any) -> str:
    """A text of the vectors file: a string, or a list of parts joined, a part being a string
    or ``{"repeat": s, "times": n}``."""
    if isinstance(spec, str):
        return spec
    if isinstance(spec, list):
        return "".join(build(part) for part in spec)
    return str(spec["repeat"]) * int(spec["times"])


def said_length(message: str) -> int:
    """The whole length a message says a text had: the number in its last ``(N bytes)``."""
    before, _, _ = message.rpartition(" bytes)")
    return int(before.rpartition("(")[2])


def short(error: BaseException, took: float, bound: float = BRIDGE_BOUND_S, most: int = MAX_ERROR_BYTES) -> str:
    """Asserts an error is short and came quickly; its message."""
    message = str(error)
    assert len(message.encode()) <= most, f"{len(message.encode())} bytes: {message[:200]}…"
    assert took < bound, f"took {took:.3f} s: {message[:200]}"
    return message


async def refused(call: Awaitable[Any], expected: type[BaseException]) -> tuple[Any, float]:
    """The error ``call`` raises (it must), and how long it took."""
    start = time.perf_counter()
    with pytest.raises(expected) as caught:
        await call
    return caught.value, time.perf_counter() - start


# ---- one quoting rule ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", VECTORS["cases"], ids=[case["name"] for case in VECTORS["cases"]])
def test_quoting_vector(case: dict[str, Any]) -> None:
    rule = case["rule"]
    start = time.perf_counter()
    if rule == "quoted_list":
        got = quoted_list([build(item) for item in case["input"]])
    elif rule == "fit":
        got = fit(build(case["input"]), case["max_bytes"])
    else:
        got = {"quoted": quoted, "excerpt": excerpt}[rule](build(case["input"]))
    took = time.perf_counter() - start
    assert got == build(case["expected"])
    assert len(got.encode()) <= MAX_STATUS_MESSAGE_BYTES
    assert took < 0.1, f"{took:.3f} s"


def test_the_quoting_constants_are_the_shared_ones() -> None:
    assert VECTORS["constants"] == {
        "prefix_chars": QUOTE_PREFIX_CHARS,
        "list_items": QUOTE_LIST_ITEMS,
        "max_status_message_bytes": MAX_STATUS_MESSAGE_BYTES,
    }


def test_a_cut_text_is_logged_whole_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    whole = "w" * 10_000
    with caplog.at_level(logging.DEBUG, logger="dspex_bridge.quoted"):
        shown = excerpt(whole)
        cut = fit("m" * 10_000, 100)
    assert shown == "w" * 300 + "… (10000 bytes)"
    assert len(cut.encode()) <= 100 and cut.endswith("… (10000 bytes)")
    logged = [record.getMessage() for record in caplog.records]
    assert any(whole in line for line in logged)
    assert any("m" * 10_000 in line for line in logged)


# ---- errors from the bridge arrive as themselves ------------------------------------------------


async def test_a_huge_value_for_a_float_is_a_short_type_mismatch(session: Any) -> None:
    await session.register_variable("temperature", "float", 0.7, {"min": 0.0, "max": 2.0})
    error, took = await refused(session.set_variable("temperature", "z" * 100_000), ValidationError)
    assert error.kind == "type_mismatch"
    assert "(100000 bytes)" in short(error, took)
    info = await session.get_variable_info("temperature")
    assert (info["value"], info["version"]) == (0.7, 0)


async def test_a_huge_string_is_a_short_constraint_violation(session: Any) -> None:
    await session.register_variable("prompt", "string", "hi")
    error, took = await refused(session.set_variable("prompt", "y" * 1_000_000), ValidationError)
    assert error.kind == "constraint_violation"
    message = short(error, took)
    assert "(1000000 bytes)" in message and "65536" in message
    assert await session.get_variable("prompt") == "hi"


async def test_a_huge_name_is_a_short_error_of_its_kind(session: Any) -> None:
    name = "n" * 100_000
    error, took = await refused(session.register_variable(name, "float", 0.5), InvalidDefinitionError)
    assert error.kind == "invalid_definition"
    assert "(100000 bytes)" in short(error, took)
    error, took = await refused(session.get_variable(name), VariableNotFoundError)
    assert error.kind == "not_found"
    assert "(100000 bytes)" in short(error, took)
    assert await session.list_variables() == []


async def test_a_value_against_a_long_choice_list_is_a_short_constraint_violation(session: Any) -> None:
    choices = [f"{i:04}{'c' * 996}" for i in range(1000)]
    await session.register_variable("model", "choice", choices[0], {"choices": choices})
    error, took = await refused(session.set_variable("model", "none of them"), ValidationError)
    assert error.kind == "constraint_violation"
    assert "… 999 more]" in short(error, took)
    assert await session.get_variable("model") == choices[0]


async def test_a_choice_list_over_its_limit_is_a_short_invalid_definition(session: Any) -> None:
    two_megabytes = [f"{i:01024}" for i in range(2048)]
    error, took = await refused(
        session.register_variable("big", "choice", two_megabytes[0], {"choices": two_megabytes}),
        InvalidDefinitionError,
    )
    assert error.kind == "invalid_definition"
    assert "over the limit" in short(error, took)
    assert await session.list_variables() == []


async def test_a_value_python_cannot_send_is_quoted_short(session: Any) -> None:
    error, took = await refused(session.set_variable("v", ["y" * 100] * 10_000), EncodingError)
    assert error.kind == "invalid_argument"
    assert said_length(short(error, took)) > 1_000_000
    # Too large for Python to print in decimal: told by its size.
    error, took = await refused(session.set_variable("v", 10**100_000), EncodingError)
    assert "of 332193 bits does not fit in 64 bits" in short(error, took)


# ---- one message size limit ---------------------------------------------------------------------


@pytest.mark.parametrize("flavour", ["async", "sync"])
async def test_a_message_over_the_channel_limit_names_the_limit_and_its_setting(
    bridge: BridgeFixture, session_id: str, flavour: str
) -> None:
    limit = 1 << 20
    options = channel_options(limit)
    if flavour == "async":
        channel: Any = grpc.aio.insecure_channel(bridge.address, options=options)
        session: Any = SessionContext(session_id, channel, token=bridge.token)
        call = session.set_variable("doc", "d" * 2_000_000)
    else:
        channel = grpc.insecure_channel(bridge.address, options=options)
        sync = SyncSessionContext(session_id, channel, token=bridge.token)

        async def blocking() -> None:
            sync.set_variable("doc", "d" * 2_000_000)

        call = blocking()
    try:
        error, took = await refused(call, ValidationError)
    finally:
        closed = channel.close()
        if closed is not None:
            await closed
    assert error.kind == "resource_exhausted"
    message = short(error, took)
    assert f"the limit is {limit} bytes" in message and MAX_MESSAGE_BYTES_ENV in message, message
    assert "the request is 20000" in message, message


def test_the_message_size_limit_follows_the_environment(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def sizes(options: list[tuple[str, int]]) -> dict[str, int]:
        return dict(options)

    monkeypatch.delenv(MAX_MESSAGE_BYTES_ENV, raising=False)
    default = DEFAULT_MAX_MESSAGE_BYTES
    assert sizes(channel_options()) == {
        "grpc.max_send_message_length": default,
        "grpc.max_receive_message_length": default,
    }
    monkeypatch.setenv(MAX_MESSAGE_BYTES_ENV, "12345")
    assert set(sizes(channel_options()).values()) == {12345}
    assert read_config(["--worker-id", "1"], os.environ).max_message_bytes == 12345
    monkeypatch.setenv(MAX_MESSAGE_BYTES_ENV, "lots")
    with caplog.at_level(logging.WARNING, logger="dspex_bridge.message_size"):
        assert set(sizes(channel_options()).values()) == {default}
    assert any("is not a positive number of bytes" in record.getMessage() for record in caplog.records)
    assert read_config(["--worker-id", "1"], {}).max_message_bytes == default
    # gRPC takes a C int: a larger limit is the largest it can take.
    assert set(sizes(channel_options(10**12)).values()) == {GRPC_MAX_MESSAGE_BYTES}


async def test_the_workers_channel_to_the_bridge_has_the_workers_limit(bridge: BridgeFixture, session_id: str) -> None:
    channel = grpc.insecure_channel(bridge.address)
    SyncSessionContext(session_id, channel, token=bridge.token).register_variable("doc", "string", "d" * 60_000)
    channel.close()
    small = Sessions(bridge.address, bridge.token, cache=False, max_message_bytes=10_000)
    context = small.context(session_id)
    assert context is not None
    try:
        error, took = await refused(context.get_variable("doc"), ValidationError)
    finally:
        await small.close()
    assert error.kind == "resource_exhausted"
    message = short(error, took)
    assert "the answer is 600" in message and "the limit is 10000 bytes" in message, message
    default = Sessions(bridge.address, bridge.token, cache=False)
    context = default.context(session_id)
    assert context is not None
    try:
        assert await context.get_variable("doc") == "d" * 60_000
    finally:
        await default.close()


# ---- a real worker ------------------------------------------------------------------------------


def hostile_env(**extra: str) -> dict[str, str]:
    """A worker's environment: the repository root importable (``tests.support.*``), the
    whole log (debug), and ``extra``."""
    return {
        "PYTHONPATH": os.pathsep.join([str(TESTS_DIR), str(REPO_ROOT)]),
        "DSPEX_WORKER_LOG": "DEBUG",
        MAX_MESSAGE_BYTES_ENV: str(DEFAULT_MAX_MESSAGE_BYTES),
        **extra,
    }


@pytest.fixture(scope="module")
def worker(bridge: BridgeFixture) -> Iterator[Worker]:
    """A worker at the default message size limit, logging everything."""
    process = Worker(bridge, worker_id=16, env=hostile_env())
    yield process
    assert process.stop() == 0


@pytest.fixture(scope="module")
def limited_worker(bridge: BridgeFixture) -> Iterator[Worker]:
    """A worker whose message size limit is `LIMITED_WORKER_BYTES`."""
    process = Worker(bridge, worker_id=17, env=hostile_env(**{MAX_MESSAGE_BYTES_ENV: str(LIMITED_WORKER_BYTES)}))
    yield process
    assert process.stop() == 0


def big_stub(worker: Worker) -> Any:
    """A stub to ``worker`` whose channel takes messages as large as the default limit."""
    channel = grpc.insecure_channel(f"127.0.0.1:{worker.ready['port']}", options=channel_options())
    return wpb_grpc.WorkerStub(channel)


def session_with_lm(worker: Worker, bridge: BridgeFixture, lm: Any) -> str:
    session = bridge.new_session()
    worker.call("ConfigureLm", wpb.ConfigureLmRequest(session_id=session, lm=lm))
    return session


def failing(worker: Worker, rpc: str, request: Any, metadata: Any = None) -> tuple[Any, float]:
    """The error of a call that must fail, and how long it took."""
    start = time.perf_counter()
    with pytest.raises(grpc.RpcError) as caught:
        worker.call(rpc, request, metadata)
    return caught.value, time.perf_counter() - start


def trailers(error: Any) -> dict[str, str]:
    return {key: value for key, value in error.trailing_metadata() or ()}


def assert_short_status(error: Any, took: float, bound: float = WORKER_BOUND_S) -> str:
    details: str = error.details()
    assert len(details.encode()) <= MAX_STATUS_MESSAGE_BYTES, f"{len(details.encode())} bytes"
    assert took < bound, f"took {took:.3f} s: {details[:200]}"
    return details


def still_serving(worker: Worker) -> None:
    assert worker.process.poll() is None
    assert worker.call("Health", wpb.HealthRequest()).pid == worker.ready["pid"]


def test_a_huge_dspy_exception_is_a_short_status_naming_its_class(worker: Worker, bridge: BridgeFixture) -> None:
    session = session_with_lm(worker, bridge, wpb.LmSpec(factory="tests.support.hostile_lm:rambling_lm"))
    module = create(worker, session, "Predict")
    error, took = failing(worker, "CallModule", wpb.CallModuleRequest(module_id=module, inputs={"question": text("q")}))
    assert error.code() == grpc.StatusCode.UNKNOWN
    details = assert_short_status(error, took)
    assert details.startswith("AdapterParseError: "), details[:200]
    assert said_length(details) > 51_200, details
    assert trailers(error) == {ERROR_KIND_KEY: "python_exception", EXCEPTION_KEY: "AdapterParseError"}
    as_python = from_rpc_error(error)
    assert type(as_python) is BridgeError and as_python.kind == "python_exception"
    assert len(str(as_python).encode()) <= MAX_STATUS_MESSAGE_BYTES
    # The whole answer the LM gave is in the worker's log, at debug level.
    deadline = time.monotonic() + 5
    while not any("z" * 51_200 in line for line in list(worker.stderr)) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert any("z" * 51_200 in line for line in list(worker.stderr))
    still_serving(worker)


def test_a_tool_module_raising_at_import_is_a_short_python_exception(worker: Worker, bridge: BridgeFixture) -> None:
    session = session_with_lm(worker, bridge, wpb.LmSpec(echo=True))
    request = wpb.CreateModuleRequest(
        module_id="raising-tool",
        session_id=session,
        module_type="ReAct",
        signature="question -> answer",
        tools=["tests.support.hostile_tool:tool"],
    )
    error, took = failing(worker, "CreateModule", request)
    assert error.code() == grpc.StatusCode.UNKNOWN
    details = assert_short_status(error, took)
    assert details.startswith("RuntimeError: the tool module cannot start: ttt"), details[:200]
    assert said_length(details) > 20_000
    assert trailers(error) == {ERROR_KIND_KEY: "python_exception", EXCEPTION_KEY: "RuntimeError"}
    still_serving(worker)


def test_a_long_tool_path_is_a_short_invalid_argument(worker: Worker, bridge: BridgeFixture) -> None:
    session = session_with_lm(worker, bridge, wpb.LmSpec(echo=True))
    path = "p" * 20_000 + ":tool"
    request = wpb.CreateModuleRequest(
        module_id="long-path", session_id=session, module_type="ReAct", signature="question -> answer", tools=[path]
    )
    error, took = failing(worker, "CreateModule", request)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    details = assert_short_status(error, took)
    assert len(details.encode()) <= MAX_ERROR_BYTES and "(20005 bytes)" in details, details
    # The worker's own refusal: no exception class.
    assert trailers(error) == {ERROR_KIND_KEY: "invalid_argument"}


def test_the_workers_own_refusals_name_their_kind(worker: Worker, bridge: BridgeFixture) -> None:
    no_lm_session = bridge.new_session()
    module = create(worker, no_lm_session, "Predict")
    cases = [
        ("CallModule", wpb.CallModuleRequest(module_id="m" * 100_000), grpc.StatusCode.NOT_FOUND, "not_found"),
        (
            "CallModule",
            wpb.CallModuleRequest(module_id=module, inputs={"question": text("q")}),
            grpc.StatusCode.FAILED_PRECONDITION,
            "no_lm",
        ),
        (
            "CreateModule",
            wpb.CreateModuleRequest(module_id="x", session_id=no_lm_session, module_type="N" * 100_000),
            grpc.StatusCode.INVALID_ARGUMENT,
            "invalid_argument",
        ),
    ]
    for rpc, request, code, kind in cases:
        error, took = failing(worker, rpc, request)
        assert (error.code(), trailers(error)[ERROR_KIND_KEY]) == (code, kind), error
        details = assert_short_status(error, took)
        assert len(details.encode()) <= MAX_ERROR_BYTES, details


def test_a_bridge_error_in_the_worker_keeps_its_kind(worker: Worker, bridge: BridgeFixture) -> None:
    session = session_with_lm(worker, bridge, wpb.LmSpec(echo=True))
    request = wpb.CreateModuleRequest(
        module_id="bound-to-nothing",
        session_id=session,
        module_type="Predict",
        signature="question -> answer",
        bindings=[wpb.Binding(setting="temperature", variable="v" * 100_000)],
    )
    error, took = failing(worker, "CreateModule", request)
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert trailers(error) == {ERROR_KIND_KEY: "not_found", EXCEPTION_KEY: "ModuleVariableNotFoundError"}
    assert "(100000 bytes)" in assert_short_status(error, took)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_an_unreachable_bridge_is_unavailable_with_its_kind(bridge: BridgeFixture) -> None:
    unreachable = Worker(
        bridge,
        worker_id=18,
        env=hostile_env(DSPEX_BRIDGE_ADDRESS=f"127.0.0.1:{_closed_port()}", DSPEX_WORKER_CACHE="0"),
    )
    try:
        session = session_with_lm(unreachable, bridge, wpb.LmSpec(echo=True))
        request = wpb.CreateModuleRequest(
            module_id="m",
            session_id=session,
            module_type="Predict",
            signature="question -> answer",
            bindings=[wpb.Binding(setting="temperature", variable="temperature")],
        )
        error, took = failing(unreachable, "CreateModule", request)
        assert error.code() == grpc.StatusCode.UNAVAILABLE
        assert trailers(error) == {ERROR_KIND_KEY: "unavailable", EXCEPTION_KEY: "BridgeUnavailableError"}
        assert_short_status(error, took)
        still_serving(unreachable)
    finally:
        assert unreachable.stop() == 0


# ---- authentication -----------------------------------------------------------------------------


def test_more_than_one_token_is_unauthenticated_in_either_order(worker: Worker) -> None:
    right = worker.token
    wrong = "0" * len(right)
    for pair in ((right, wrong), (wrong, right), (right, right)):
        metadata = tuple(("x-dspex-token", token) for token in pair)
        error, took = failing(worker, "Health", wpb.HealthRequest(), metadata)
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED, pair
        assert "more than one bridge token" in error.details()
        assert trailers(error) == {ERROR_KIND_KEY: "unauthenticated"}
        assert took < BRIDGE_BOUND_S
    still_serving(worker)


# ---- message size limit of a worker -------------------------------------------------------------


def test_a_multi_megabyte_document_goes_through_a_worker(worker: Worker, bridge: BridgeFixture) -> None:
    session = session_with_lm(worker, bridge, wpb.LmSpec(echo=True))
    module = create(worker, session, "Predict")
    # Half the limit: the echoed answer, a little longer than the document, fits too.
    document = "d" * (DEFAULT_MAX_MESSAGE_BYTES // 2)
    start = time.perf_counter()
    answer = big_stub(worker).CallModule(
        wpb.CallModuleRequest(module_id=module, inputs={"question": text(document)}),
        metadata=worker.metadata,
        timeout=60,
    )
    took = time.perf_counter() - start
    echoed = answer.outputs["answer"].value.string_value
    assert echoed.startswith("Echo: ddd") and len(echoed) > len(document)
    assert took < 20, f"{took:.1f} s"


def test_an_answer_over_the_workers_limit_names_the_limit_and_its_setting(
    limited_worker: Worker, bridge: BridgeFixture
) -> None:
    session = session_with_lm(limited_worker, bridge, wpb.LmSpec(echo=True))
    # Reasoning and answer both echo the question: an answer twice the request's size, over
    # the limit that the request fits in.
    module = create(limited_worker, session, "ChainOfThought")
    stub = big_stub(limited_worker)
    start = time.perf_counter()
    with pytest.raises(grpc.RpcError) as caught:
        stub.CallModule(
            wpb.CallModuleRequest(module_id=module, inputs={"question": text("q" * (LIMITED_WORKER_BYTES * 3 // 4))}),
            metadata=limited_worker.metadata,
            timeout=60,
        )
    error: Any = caught.value
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    details = assert_short_status(error, time.perf_counter() - start, bound=20)
    assert f"the limit is {LIMITED_WORKER_BYTES} bytes" in details and MAX_MESSAGE_BYTES_ENV in details, details
    assert trailers(error)[ERROR_KIND_KEY] == "resource_exhausted"
    # A request over it is refused by gRPC before any handler, naming the limit too.
    with pytest.raises(grpc.RpcError) as caught:
        stub.CallModule(
            wpb.CallModuleRequest(module_id=module, inputs={"question": text("q" * (LIMITED_WORKER_BYTES + 1))}),
            metadata=limited_worker.metadata,
            timeout=60,
        )
    error = caught.value
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert f"vs. {LIMITED_WORKER_BYTES})" in error.details(), error.details()
    still_serving(limited_worker)


# ---- no call stalls a worker's health checks ----------------------------------------------------

HEAVY_CLIENT = """
import json, sys, time
import grpc
from dspex_bridge import channel_options
from dspex_bridge._proto_loader import pb, worker_pb as wpb, worker_pb_grpc as wpb_grpc

port, token, module, size, limit, times = sys.argv[1:7]
stub = wpb_grpc.WorkerStub(grpc.insecure_channel(f"127.0.0.1:{port}", options=channel_options()))
metadata = (("x-dspex-token", token),)

def request(length):
    return wpb.CallModuleRequest(module_id=module, inputs={"question": pb.Value(string_value="q" * length)})

# The longest question that fits in the limit: the worst call it allows.
length = int(size)
while request(length).ByteSize() > int(limit):
    length -= request(length).ByteSize() - int(limit)
worst = request(length)
results = []
for _ in range(int(times)):
    start = time.perf_counter()
    answer = stub.CallModule(worst, metadata=metadata, timeout=120)
    results.append([answer.outputs["answer"].value.string_value, time.perf_counter() - start])
try:
    stub.CallModule(request(int(limit) + 1), metadata=metadata, timeout=120)
    over = "accepted"
except grpc.RpcError as error:
    over = error.code().name
print(json.dumps({"size": worst.ByteSize(), "results": results, "over": over}))
"""


def ping_while_heavy(
    worker: Worker, bridge: BridgeFixture, limit: int, times: int
) -> tuple[dict[str, Any], float, int]:
    """Runs a client in another process that sends the worst call ``limit`` allows ``times``
    times (with the fixed-answer LM: the worker's own work is measured, not an LM's), then one
    over it, while this process checks the worker's health every 10 ms. Its report, the
    slowest health check and how many there were."""
    session = session_with_lm(worker, bridge, wpb.LmSpec(factory="hostile_helpers:fixed_answer_lm"))
    module = create(worker, session, "Predict")
    args = [str(worker.ready["port"]), worker.token, module, str(limit), str(limit), str(times)]
    heavy = subprocess.Popen(
        [sys.executable, "-c", HEAVY_CLIENT, *args], stdout=subprocess.PIPE, text=True, env=dict(os.environ)
    )
    worst, pings = 0.0, 0
    while heavy.poll() is None:
        start = time.perf_counter()
        worker.call("Health", wpb.HealthRequest(), timeout=10)
        worst = max(worst, time.perf_counter() - start)
        pings += 1
        time.sleep(0.01)
    out, _ = heavy.communicate()
    assert heavy.returncode == 0
    report: dict[str, Any] = json.loads(out)
    assert report["size"] <= limit and report["size"] > limit - 16
    assert [answer for answer, _ in report["results"]] == ["fixed"] * times
    assert report["over"] == "RESOURCE_EXHAUSTED"
    return report, worst, pings


def test_health_answers_within_100_ms_while_the_worst_call_the_default_allows_is_handled(
    worker: Worker, bridge: BridgeFixture
) -> None:
    pid = worker.ready["pid"]
    report, worst, pings = ping_while_heavy(worker, bridge, DEFAULT_MAX_MESSAGE_BYTES, times=10)
    print(
        f"{report['size']} bytes x10: calls {[round(t, 3) for _, t in report['results']]} s; {pings} health checks, slowest {worst * 1000:.0f} ms"
    )
    assert pings > 5
    assert worst < HEALTH_BOUND_S, f"a health check took {worst * 1000:.0f} ms"
    assert worker.process.poll() is None and worker.call("Health", wpb.HealthRequest()).pid == pid
