"""The worker as the Rust runtime sees it: a real ``python -m dspex_bridge.worker`` subprocess,
driven through its gRPC stub, reading variables from the real Rust bridge, running real DSPy
modules with the test LM."""

from __future__ import annotations

import http.server
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any, ClassVar

import grpc
import pytest

from dspex_bridge import SyncSessionContext
from dspex_bridge._proto_loader import pb
from dspex_bridge._proto_loader import worker_pb as wpb
from dspex_bridge._proto_loader import worker_pb_grpc as wpb_grpc
from dspex_bridge.testing import BridgeFixture

TESTS_DIR = Path(__file__).resolve().parent
READY = re.compile(
    r'^DSPEX_WORKER_READY (\{"port": \d+, "pid": \d+, "worker_id": \d+, "calls": "[^"]+", "call_threads": \d+\})$'
)
SECRET_KEY = "sk-dspex-test-secret-never-logged"


def worker_env(bridge: BridgeFixture | None, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS_DIR), env.get("PYTHONPATH")]))
    if bridge is not None:
        env["DSPEX_BRIDGE_TOKEN"] = bridge.token
        env["DSPEX_BRIDGE_ADDRESS"] = bridge.address
    env.update(extra)
    return env


class Worker:
    """A running worker subprocess: its readiness line, a stub, and its stderr."""

    def __init__(
        self, bridge: BridgeFixture, worker_id: int = 0, timeout: float = 30.0, env: dict[str, str] | None = None
    ) -> None:
        self.token = bridge.token
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dspex_bridge.worker",
                "--worker-id",
                str(worker_id),
                "--parent-pid",
                str(os.getpid()),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=worker_env(bridge, DSPEX_TEST_KEY=SECRET_KEY, **(env or {})),
        )
        self.stderr: list[str] = []  # lines, as the Rust side would forward them
        self._stdout: queue.Queue[str | None] = queue.Queue()
        assert self.process.stdout is not None and self.process.stderr is not None
        threading.Thread(target=self._pump, args=(self.process.stdout, self._stdout.put, True), daemon=True).start()
        threading.Thread(target=self._pump, args=(self.process.stderr, self.stderr.append, False), daemon=True).start()
        started = time.monotonic()
        line = self._stdout.get(timeout=timeout)
        self.ready_seconds = time.monotonic() - started
        assert line is not None, f"the worker exited: {''.join(self.stderr)}"
        self.ready_line = line.rstrip("\n")
        match = READY.match(self.ready_line)
        assert match, self.ready_line
        self.ready = json.loads(match.group(1))
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.ready['port']}")
        self.stub = wpb_grpc.WorkerStub(self.channel)
        self.metadata = (("x-dspex-token", self.token),)

    @staticmethod
    def _pump(stream: IO[str], sink: Callable[[Any], None], close: bool) -> None:
        for line in stream:
            sink(line)
        if close:
            sink(None)

    def call(self, rpc: str, request: Any, metadata: Any = None, timeout: float = 30.0) -> Any:
        return getattr(self.stub, rpc)(
            request, metadata=self.metadata if metadata is None else metadata, timeout=timeout
        )

    def code_of(self, rpc: str, request: Any, metadata: Any = None) -> tuple[grpc.StatusCode, str]:
        """The status of a call that must fail."""
        with pytest.raises(grpc.RpcError) as caught:
            self.call(rpc, request, metadata)
        error: Any = caught.value
        return error.code(), error.details()

    def stop(self) -> int:
        self.channel.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


@pytest.fixture(scope="module")
def worker(bridge: BridgeFixture) -> Iterator[Worker]:
    process = Worker(bridge, worker_id=7)
    yield process
    assert process.stop() == 0, "SIGTERM stops the worker cleanly"
    assert SECRET_KEY not in "".join(process.stderr)


@pytest.fixture(scope="module")
def echo_session(worker: Worker, bridge: BridgeFixture) -> str:
    """The bridge's main session (temperature 0.7, max_tokens 256), with the test LM."""
    worker.call("ConfigureLm", wpb.ConfigureLmRequest(session_id=bridge.session_id, lm=wpb.LmSpec(echo=True)))
    return bridge.session_id


def text(value: str) -> Any:
    return pb.Value(string_value=value)


def real(value: float) -> Any:
    return pb.Value(float_value=value)


def integer(value: int) -> Any:
    return pb.Value(integer_value=value)


def output(response: Any, name: str) -> Any:
    out = response.outputs[name]
    if out.WhichOneof("kind") == "json":
        return json.loads(out.json)
    return getattr(out.value, out.value.WhichOneof("kind"))


_ids = iter(range(1_000_000))


def create(worker: Worker, session: str, module_type: str, signature: str = "question -> answer", **fields: Any) -> str:
    module_id = f"m{next(_ids)}"
    response = worker.call(
        "CreateModule",
        wpb.CreateModuleRequest(
            module_id=module_id, session_id=session, module_type=module_type, signature=signature, **fields
        ),
    )
    assert response.class_name
    return module_id


def call(worker: Worker, module_id: str, bound: dict[str, Any] | None = None, **inputs: Any) -> Any:
    return worker.call(
        "CallModule",
        wpb.CallModuleRequest(
            module_id=module_id, inputs={k: text(v) for k, v in inputs.items()}, bound_values=bound or {}
        ),
    )


def eventually_answer(worker: Worker, module_id: str, expected: str, timeout: float = 5.0) -> bool:
    """Calls until the answer is ``expected`` (a write elsewhere reaches the worker's cache
    within milliseconds); False after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while output(call(worker, module_id, question="q"), "answer") != expected:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def bind(setting: str, variable: str) -> Any:
    return wpb.Binding(setting=setting, variable=variable)


# ---- start-up and health ------------------------------------------------------------------------


def test_readiness_line_and_health(worker: Worker) -> None:
    assert worker.ready["pid"] == worker.process.pid
    assert worker.ready["worker_id"] == 7
    assert worker.ready["port"] > 0
    health = worker.call("Health", wpb.HealthRequest())
    assert (health.worker_id, health.pid) == (7, worker.process.pid)
    assert any("[dspex-worker 7]" in (line or "") for line in worker.stderr)


def test_wrong_or_missing_token_is_unauthenticated(worker: Worker, bridge: BridgeFixture) -> None:
    wrong = (("x-dspex-token", "wrong"),)
    refused = (grpc.StatusCode.UNAUTHENTICATED, "missing or wrong x-dspex-token")
    for metadata in (wrong, ()):
        assert worker.code_of("Health", wpb.HealthRequest(), metadata) == refused
    session_id = bridge.new_session()
    configure = wpb.ConfigureLmRequest(session_id=session_id, lm=wpb.LmSpec(echo=True))
    assert worker.code_of("ConfigureLm", configure, wrong) == refused
    # Refused before any handler ran: the session has no LM.
    module = create(worker, session_id, "Predict")
    code, message = worker.code_of(
        "CallModule", wpb.CallModuleRequest(module_id=module, inputs={"question": text("q")})
    )
    assert (code, message) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        f"no LM configured for session `{session_id}` (ConfigureLm first)",
    )


# ---- calls --------------------------------------------------------------------------------------


def test_predict_with_a_bound_temperature_from_the_call(worker: Worker, echo_session: str) -> None:
    module = create(worker, echo_session, "Predict", bindings=[bind("temperature", "temperature")])
    response = call(worker, module, {"temperature": real(0.3)}, question="What is 2+2?")
    assert output(response, "answer") == "Echo: What is 2+2? [temperature=0.3 max_tokens=none]"


def test_fixed_settings_then_bound_values(worker: Worker, echo_session: str) -> None:
    module = create(
        worker,
        echo_session,
        "ChainOfThought",
        settings={"max_tokens": integer(64), "temperature": real(1.0)},
        bindings=[bind("temperature", "temperature")],
    )
    answer = output(call(worker, module, {"temperature": real(0.25)}, question="q"), "answer")
    assert answer == "Echo: q [temperature=0.25 max_tokens=64]"
    assert output(call(worker, module, {"temperature": real(0.25)}, question="q"), "reasoning").startswith("Echo: q")


def test_without_bound_values_the_worker_reads_the_bridge(worker: Worker, bridge: BridgeFixture) -> None:
    session_id = bridge.new_session()
    channel = grpc.insecure_channel(bridge.address)
    session = SyncSessionContext(session_id, channel, token=bridge.token)
    session.register_variable("gen_temp", "float", 0.7, {"min": 0.0, "max": 2.0})
    session.register_variable("tokens", "integer", 256)
    worker.call("ConfigureLm", wpb.ConfigureLmRequest(session_id=session_id, lm=wpb.LmSpec(echo=True)))
    module = create(
        worker, session_id, "Predict", bindings=[bind("temperature", "gen_temp"), bind("max_tokens", "tokens")]
    )
    assert output(call(worker, module, question="q"), "answer") == "Echo: q [temperature=0.7 max_tokens=256]"
    # A Rust write reaches the calls' LM requests (through the worker's read cache: within
    # milliseconds of the write, not necessarily the very next call).
    assert "version" in bridge.command("set", session_id, "gen_temp", "0.3")
    assert eventually_answer(worker, module, "Echo: q [temperature=0.3 max_tokens=256]")
    # So does a Python write; and a call's own values win over the bridge's.
    session.set_variable("tokens", 512)
    assert eventually_answer(worker, module, "Echo: q [temperature=0.3 max_tokens=512]")
    answer = output(call(worker, module, {"temperature": real(1.5)}, question="q"), "answer")
    assert answer == "Echo: q [temperature=1.5 max_tokens=512]"
    channel.close()


def test_bound_values_are_keyed_by_setting_name(worker: Worker, bridge: BridgeFixture) -> None:
    # Crossed names: the setting `max_tokens` is bound to a variable called `temperature`.
    session_id = bridge.new_session()
    channel = grpc.insecure_channel(bridge.address)
    session = SyncSessionContext(session_id, channel, token=bridge.token)
    session.register_variable("temperature", "integer", 128)
    session.register_variable("gen", "float", 0.4)
    worker.call("ConfigureLm", wpb.ConfigureLmRequest(session_id=session_id, lm=wpb.LmSpec(echo=True)))
    module = create(
        worker, session_id, "Predict", bindings=[bind("max_tokens", "temperature"), bind("temperature", "gen")]
    )
    # `temperature` from the call (the setting); `max_tokens` not carried: read from the bridge.
    answer = output(call(worker, module, {"temperature": real(0.2)}, question="q"), "answer")
    assert answer == "Echo: q [temperature=0.2 max_tokens=128]"
    assert output(call(worker, module, question="q"), "answer") == "Echo: q [temperature=0.4 max_tokens=128]"
    channel.close()


def test_eight_concurrent_calls_each_carry_their_own_bound_values(worker: Worker, echo_session: str) -> None:
    module = create(worker, echo_session, "ChainOfThought", bindings=[bind("temperature", "temperature")])
    temperatures = [round(0.1 * i, 1) for i in range(1, 9)]

    def one(temperature: float) -> str:
        answer: str = output(
            call(worker, module, {"temperature": real(temperature)}, question=f"q{temperature}"), "answer"
        )
        return answer

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(one, temperatures * 3))
    for temperature, answer in zip(temperatures * 3, answers, strict=True):
        assert answer == f"Echo: q{temperature} [temperature={temperature} max_tokens=none]"


def test_calls_really_run_concurrently(worker: Worker, bridge: BridgeFixture) -> None:
    session_id = bridge.new_session()
    spec = wpb.LmSpec(factory="worker_helpers:slow_echo_lm", settings={"delay": real(0.4)})
    worker.call("ConfigureLm", wpb.ConfigureLmRequest(session_id=session_id, lm=spec))
    module = create(worker, session_id, "Predict")
    call(worker, module, question="warm-up")
    started = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda i: output(call(worker, module, question=f"q{i}"), "answer"), range(4)))
    elapsed = time.monotonic() - started
    assert answers == [f"Echo: q{i} [temperature=none max_tokens=none]" for i in range(4)]
    assert elapsed < 1.2, f"4 calls of 0.4 s took {elapsed:.2f} s: they did not overlap"


def test_react_with_a_real_tool(worker: Worker, echo_session: str) -> None:
    module = create(worker, echo_session, "ReAct", tools=["dspex_bridge.testing:add_numbers"])
    response = call(worker, module, question="What is 2 plus 3?")
    trajectory = output(response, "trajectory")
    assert (trajectory["tool_name_0"], trajectory["tool_args_0"], trajectory["observation_0"]) == (
        "add_numbers",
        {"a": 2, "b": 3},
        5,
    )
    assert trajectory["tool_name_1"] == "finish"
    assert output(response, "answer").startswith("Echo: What is 2 plus 3?")


def test_program_of_thought_with_the_local_interpreter(worker: Worker, echo_session: str) -> None:
    module = create(worker, echo_session, "ProgramOfThought", bindings=[bind("temperature", "temperature")])
    response = call(worker, module, {"temperature": real(0.2)}, question="What is 2 plus 40?")
    assert output(response, "answer") == "Echo: 42 [temperature=0.2 max_tokens=none]"


def test_typed_outputs_are_values(worker: Worker, echo_session: str) -> None:
    module = create(
        worker, echo_session, "Predict", signature="a: int, b: int -> total: int, ok: bool, tags: list[str]"
    )
    response = worker.call(
        "CallModule", wpb.CallModuleRequest(module_id=module, inputs={"a": integer(2), "b": integer(5)})
    )
    assert output(response, "total") == 7
    assert response.outputs["total"].value.WhichOneof("kind") == "integer_value"
    assert output(response, "ok") is True
    assert output(response, "tags") == ["Echo: 2 [temperature=none max_tokens=none]"]


def test_module_from_a_module_typed_variable(worker: Worker, bridge: BridgeFixture) -> None:
    session_id = bridge.new_session()
    channel = grpc.insecure_channel(bridge.address)
    session = SyncSessionContext(session_id, channel, token=bridge.token)
    session.register_variable("reasoning", "module", "ChainOfThought", {"choices": ["Predict", "ChainOfThought"]})
    worker.call("ConfigureLm", wpb.ConfigureLmRequest(session_id=session_id, lm=wpb.LmSpec(echo=True)))
    response = worker.call(
        "CreateModule",
        wpb.CreateModuleRequest(
            module_id="from-var", session_id=session_id, signature="question -> answer", from_variable="reasoning"
        ),
    )
    assert response.class_name == "VariableAwareChainOfThought"
    assert output(call(worker, "from-var", question="q"), "reasoning").startswith("Echo: q")
    channel.close()


def test_bind_rpc_and_drop(worker: Worker, echo_session: str) -> None:
    module = create(worker, echo_session, "Predict")
    worker.call("Bind", wpb.BindRequest(module_id=module, binding=bind("max_tokens", "max_tokens")))
    assert output(call(worker, module, question="q"), "answer") == "Echo: q [temperature=none max_tokens=256]"
    before = worker.call("Health", wpb.HealthRequest()).modules
    worker.call("DropModule", wpb.DropModuleRequest(module_id=module))
    assert worker.call("Health", wpb.HealthRequest()).modules == before - 1
    assert worker.code_of("CallModule", wpb.CallModuleRequest(module_id=module))[0] == grpc.StatusCode.NOT_FOUND


def test_sessions_have_their_own_lm(worker: Worker, bridge: BridgeFixture, echo_session: str) -> None:
    other = bridge.new_session()
    worker.call(
        "ConfigureLm",
        wpb.ConfigureLmRequest(session_id=other, lm=wpb.LmSpec(echo=True, settings={"temperature": real(1.0)})),
    )
    mine, theirs = create(worker, echo_session, "Predict"), create(worker, other, "Predict")
    assert output(call(worker, mine, question="q"), "answer") == "Echo: q [temperature=none max_tokens=none]"
    assert output(call(worker, theirs, question="q"), "answer") == "Echo: q [temperature=1.0 max_tokens=none]"


def test_echo_wins_over_a_model_name(worker: Worker, bridge: BridgeFixture) -> None:
    # What `Lm::echo()` sends: echo plus a model name that only names the test LM.
    session_id = bridge.new_session()
    spec = wpb.LmSpec(echo=True, model="dspex/echo", settings={"max_tokens": integer(32)})
    worker.call("ConfigureLm", wpb.ConfigureLmRequest(session_id=session_id, lm=spec))
    module = create(worker, session_id, "Predict")
    assert output(call(worker, module, question="q"), "answer") == "Echo: q [temperature=none max_tokens=32]"


class ChatCompletions(http.server.BaseHTTPRequestHandler):
    """A local OpenAI-compatible endpoint: records each request's Authorization header and
    answers every chat completion with ``answer = "from the endpoint"`` in DSPy's chat format."""

    authorizations: ClassVar[list[str | None]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        type(self).authorizations.append(self.headers.get("Authorization"))
        content = "[[ ## answer ## ]]\nfrom the endpoint\n\n[[ ## completed ## ]]"
        body = json.dumps(
            {
                "id": "chatcmpl-test",
                "object": "chat.completion",
                "created": 0,
                "model": "gpt-4o-mini",
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
                ],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the test reads the recorded headers, not a log


def test_model_lm_reads_its_key_from_the_environment(worker: Worker, bridge: BridgeFixture) -> None:
    endpoint = http.server.ThreadingHTTPServer(("127.0.0.1", 0), ChatCompletions)
    threading.Thread(target=endpoint.serve_forever, daemon=True).start()
    try:
        session_id = bridge.new_session()
        settings = {"api_base": text(f"http://127.0.0.1:{endpoint.server_port}/v1"), "num_retries": integer(0)}
        spec = wpb.LmSpec(model="openai/gpt-4o-mini", api_key_env="DSPEX_TEST_KEY", settings=settings)
        worker.call("ConfigureLm", wpb.ConfigureLmRequest(session_id=session_id, lm=spec))
        module = create(worker, session_id, "Predict")
        assert output(call(worker, module, question="q"), "answer") == "from the endpoint"
    finally:
        endpoint.shutdown()
        endpoint.server_close()
    # The key the worker's environment holds reached the model's endpoint (and no log: see `worker`).
    assert ChatCompletions.authorizations == [f"Bearer {SECRET_KEY}"]
    spec = wpb.LmSpec(model="openai/gpt-4o-mini", api_key_env="DSPEX_NO_SUCH_KEY_VARIABLE")
    code, message = worker.code_of("ConfigureLm", wpb.ConfigureLmRequest(session_id="model-session", lm=spec))
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "DSPEX_NO_SUCH_KEY_VARIABLE" in message


# ---- errors ---------------------------------------------------------------------------------------


def test_bad_requests_get_status_codes_and_the_worker_keeps_serving(worker: Worker, echo_session: str) -> None:
    predict = create(worker, echo_session, "Predict")
    unconfigured = create(worker, "no-lm-session", "Predict")
    create_request = wpb.CreateModuleRequest
    cases: list[tuple[str, Any, grpc.StatusCode]] = [
        ("CallModule", wpb.CallModuleRequest(module_id="no-such-module"), grpc.StatusCode.NOT_FOUND),
        (
            "CallModule",
            wpb.CallModuleRequest(module_id=predict, inputs={"nope": text("x")}),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        ("CallModule", wpb.CallModuleRequest(module_id=predict), grpc.StatusCode.INVALID_ARGUMENT),
        (
            "CallModule",
            wpb.CallModuleRequest(module_id=predict, inputs={"question": pb.Value()}),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        (
            "CallModule",
            wpb.CallModuleRequest(module_id=unconfigured, inputs={"question": text("x")}),
            grpc.StatusCode.FAILED_PRECONDITION,
        ),
        (
            "CreateModule",
            create_request(module_id="x", session_id=echo_session, module_type="Nope", signature="a -> b"),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        (
            "CreateModule",
            create_request(module_id="x", session_id=echo_session, module_type="Predict", signature="a -> -> b"),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        (
            "CreateModule",
            create_request(module_id="", session_id=echo_session, module_type="Predict", signature="a -> b"),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        (
            "CreateModule",
            create_request(module_id="x", session_id="", module_type="Predict", signature="a -> b"),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        (
            "CreateModule",
            create_request(
                module_id="x",
                session_id=echo_session,
                module_type="Predict",
                signature="a -> b",
                settings={"warp": real(1)},
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        (
            "CreateModule",
            create_request(
                module_id="x",
                session_id=echo_session,
                module_type="Predict",
                signature="a -> b",
                bindings=[bind("warp", "temperature")],
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        (
            "CreateModule",
            create_request(
                module_id="x",
                session_id=echo_session,
                module_type="Predict",
                signature="a -> b",
                bindings=[bind("temperature", "no_such_variable")],
            ),
            grpc.StatusCode.NOT_FOUND,
        ),
        (
            "CreateModule",
            create_request(
                module_id="x",
                session_id=echo_session,
                module_type="ReAct",
                signature="a -> b",
                tools=["no_such_pkg.mod:fn"],
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        (
            "CreateModule",
            create_request(
                module_id="x",
                session_id=echo_session,
                module_type="ReAct",
                signature="a -> b",
                tools=["dspex_bridge.testing:nope"],
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        (
            "CreateModule",
            create_request(
                module_id="x",
                session_id=echo_session,
                module_type="Predict",
                signature="a -> b",
                tools=["dspex_bridge.testing:add_numbers"],
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        (
            "CreateModule",
            create_request(
                module_id="x", session_id=echo_session, signature="a -> b", from_variable="no_such_variable"
            ),
            grpc.StatusCode.NOT_FOUND,
        ),
        (
            "CreateModule",
            create_request(module_id="x", session_id=echo_session, signature="a -> b", from_variable="temperature"),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        (
            "Bind",
            wpb.BindRequest(module_id="no-such-module", binding=bind("temperature", "temperature")),
            grpc.StatusCode.NOT_FOUND,
        ),
        (
            "Bind",
            wpb.BindRequest(module_id=predict, binding=bind("temperature", "no_such_variable")),
            grpc.StatusCode.NOT_FOUND,
        ),
        (
            "Bind",
            wpb.BindRequest(module_id=predict, binding=bind("warp", "temperature")),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        ("DropModule", wpb.DropModuleRequest(module_id="no-such-module"), grpc.StatusCode.NOT_FOUND),
        ("ConfigureLm", wpb.ConfigureLmRequest(session_id="s", lm=wpb.LmSpec()), grpc.StatusCode.INVALID_ARGUMENT),
        (
            "ConfigureLm",
            wpb.ConfigureLmRequest(session_id="s", lm=wpb.LmSpec(echo=True, factory="worker_helpers:failing_lm")),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        (
            "ConfigureLm",
            wpb.ConfigureLmRequest(session_id="", lm=wpb.LmSpec(echo=True)),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        (
            "ConfigureLm",
            wpb.ConfigureLmRequest(session_id="s", lm=wpb.LmSpec(factory="worker_helpers:not_an_lm")),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        (
            "ConfigureLm",
            wpb.ConfigureLmRequest(session_id="s", lm=wpb.LmSpec(factory="nowhere:nothing")),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        (
            "ConfigureLm",
            wpb.ConfigureLmRequest(session_id="s", lm=wpb.LmSpec(model="openai/")),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
    ]
    for rpc, request, expected in cases:
        code, message = worker.code_of(rpc, request)
        assert code == expected, (rpc, request, code, message)
        assert message
    # The worker is still there and still answers.
    assert worker.process.poll() is None
    assert output(call(worker, predict, question="still here?"), "answer").startswith("Echo: still here?")


def test_a_failing_lm_is_unknown_with_the_python_exception(worker: Worker, bridge: BridgeFixture) -> None:
    session_id = bridge.new_session()
    worker.call(
        "ConfigureLm", wpb.ConfigureLmRequest(session_id=session_id, lm=wpb.LmSpec(factory="worker_helpers:failing_lm"))
    )
    module = create(worker, session_id, "Predict")
    with pytest.raises(grpc.RpcError) as caught:
        call(worker, module, question="q")
    error: Any = caught.value
    assert error.code() == grpc.StatusCode.UNKNOWN
    assert "the test LM is down" in error.details()
    assert worker.call("Health", wpb.HealthRequest()).pid == worker.process.pid


# ---- process lifetime -------------------------------------------------------------------------------

INTERMEDIATE_PARENT = """
import os, subprocess, sys, time
worker = subprocess.Popen(
    [sys.executable, "-m", "dspex_bridge.worker", "--worker-id", "9", "--parent-pid", str(os.getpid())],
    stdout=subprocess.PIPE, text=True,
)
print(worker.pid, flush=True)
print(worker.stdout.readline(), end="", flush=True)
time.sleep(600)
"""


def _gone(pid: int) -> bool:
    """The process is gone (or a zombie nobody reaped yet: it runs no more)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux's")
def test_the_worker_dies_when_its_parent_is_sigkilled(bridge: BridgeFixture) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", INTERMEDIATE_PARENT], stdout=subprocess.PIPE, text=True, env=worker_env(bridge)
    )
    assert parent.stdout is not None
    try:
        worker_pid = int(parent.stdout.readline())
        assert READY.match(parent.stdout.readline().rstrip("\n"))
        assert not _gone(worker_pid)
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 10
    while not _gone(worker_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(worker_pid), "the worker outlived its SIGKILLed parent"


def _imported(stderr: str) -> set[str]:
    """The modules a ``python -X importtime`` run imported, from its stderr."""
    return {line.rsplit("|", 1)[-1].strip() for line in stderr.splitlines() if line.startswith("import time:")}


def test_an_orphan_exits_at_once_and_no_token_refuses_to_start(bridge: BridgeFixture) -> None:
    # `-X importtime` lists every import: "at once" is "before the slow DSPy import".
    worker = [sys.executable, "-X", "importtime", "-m", "dspex_bridge.worker"]
    orphan = subprocess.run(
        [*worker, "--worker-id", "1", "--parent-pid", "1"],
        capture_output=True,
        text=True,
        env=worker_env(bridge),
        timeout=30,
        check=False,
    )
    assert orphan.returncode == 1 and "DSPEX_WORKER_READY" not in orphan.stdout
    assert "parent 1 is gone before start-up" in orphan.stderr
    imported = _imported(orphan.stderr)
    assert "dspex_bridge.worker.process" in imported
    assert "dspy" not in imported
    env = worker_env(None)
    env.pop("DSPEX_BRIDGE_TOKEN", None)
    tokenless = subprocess.run(
        [*worker, "--worker-id", "2"],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        check=False,
    )
    assert tokenless.returncode == 2 and "DSPEX_BRIDGE_TOKEN is not set" in tokenless.stderr
    assert "dspy" not in _imported(tokenless.stderr)


# ---- typed modules --------------------------------------------------------------------------------

SPEC_FILE = Path(__file__).resolve().parents[2] / "tests" / "vectors" / "typed_signature.json"
ROLES = {"input": wpb.FIELD_ROLE_INPUT, "output": wpb.FIELD_ROLE_OUTPUT}


def typed_signature(spec: dict[str, Any]) -> Any:
    """The ``TypedSignature`` message of a spec in the wire JSON form (what Rust sends)."""
    return wpb.TypedSignature(
        name=spec["name"],
        instructions=spec["instructions"],
        fields=[
            wpb.SignatureField(
                name=f["name"],
                role=ROLES[f["role"]],
                description=f["description"],
                type_name=f["type_name"],
                type_json=json.dumps(f["type"]),
            )
            for f in spec["fields"]
        ],
    )


def shared_spec() -> dict[str, Any]:
    """The spec the Rust derive produces for `ExtractOrder` (checked by tests/signature.rs)."""
    spec: dict[str, Any] = json.loads(SPEC_FILE.read_text())
    return spec


def create_typed(worker: Worker, session: str, module_type: str, spec: dict[str, Any]) -> str:
    module_id = f"m{next(_ids)}"
    worker.call(
        "CreateModule",
        wpb.CreateModuleRequest(
            module_id=module_id, session_id=session, module_type=module_type, typed_signature=typed_signature(spec)
        ),
    )
    return module_id


def call_json(worker: Worker, module_id: str, **inputs: Any) -> Any:
    request = wpb.CallModuleRequest(module_id=module_id, json_inputs={k: json.dumps(v) for k, v in inputs.items()})
    return worker.call("CallModule", request)


def small_spec(output_type: dict[str, Any], type_name: str, input_type: dict[str, Any] | None = None) -> dict[str, Any]:
    kind = input_type or {"kind": "str"}
    return {
        "name": "Small",
        "instructions": "Answer.",
        "fields": [
            {"name": "question", "role": "input", "description": "", "type_name": "str", "type": kind},
            {
                "name": "result",
                "role": "output",
                "description": "The result.",
                "type_name": type_name,
                "type": output_type,
            },
        ],
    }


def test_a_typed_signature_answers_its_types_as_json(worker: Worker, echo_session: str) -> None:
    for module_type in ("Predict", "ChainOfThought"):
        module = create_typed(worker, echo_session, module_type, shared_spec())
        response = call_json(worker, module, message="2 boxes and 3 more")
        assert not response.HasField("parse_failure")
        order = output(response, "order")
        assert order["items"][0]["quantity"] == 5
        assert order["items"][0]["priority"] == "Low"
        assert order["note"] is None or order["note"].startswith("Echo: 2 boxes")
        assert output(response, "urgency") == "Low"
        assert output(response, "total") == 5
        assert output(response, "scores") == {"echo": 5.0}
        assert ("reasoning" in response.outputs) == (module_type == "ChainOfThought")


def test_typed_json_inputs_are_validated_into_their_types(worker: Worker, echo_session: str) -> None:
    model = {
        "kind": "model",
        "name": "Box",
        "json_schema": {
            "type": "object",
            "properties": {"label": {"type": "string"}, "size": {"type": "integer", "minimum": 0, "maximum": 255}},
            "required": ["label", "size"],
        },
    }
    module = create_typed(worker, echo_session, "Predict", small_spec({"kind": "int"}, "int", input_type=model))
    response = call_json(worker, module, question={"label": "crate", "size": 4})
    assert output(response, "result") == 4
    code, message = worker.code_of("CallModule", wpb.CallModuleRequest(module_id=module, json_inputs={"question": "{"}))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "input `question` is not JSON" in message
    request = wpb.CallModuleRequest(module_id=module, json_inputs={"question": json.dumps({"label": "x", "size": 300})})
    code, message = worker.code_of("CallModule", request)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert message.startswith("input `question` is not a str: size:"), message
    both = wpb.CallModuleRequest(module_id=module, inputs={"question": text("x")}, json_inputs={"question": '"x"'})
    code, message = worker.code_of("CallModule", both)
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "given twice" in message


@pytest.mark.parametrize(
    ("field", "why"),
    [
        ({"type_json": "{not json"}, "field `result`: its type is not JSON"),
        ({"type_json": json.dumps({"kind": "complex"})}, "field `result`: unknown type kind 'complex'"),
        ({"role": wpb.FIELD_ROLE_UNSPECIFIED}, "field `result`: its role is not set"),
        ({"name": "1st"}, "field name '1st' is not a Python identifier"),
    ],
)
def test_a_bad_typed_signature_is_invalid_argument_naming_the_field(
    worker: Worker, echo_session: str, field: dict[str, Any], why: str
) -> None:
    message = typed_signature(small_spec({"kind": "int"}, "int"))
    for key, value in field.items():
        setattr(message.fields[1], key, value)
    request = wpb.CreateModuleRequest(
        module_id="bad", session_id=echo_session, module_type="Predict", typed_signature=message
    )
    code, details = worker.code_of("CreateModule", request)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert why in details, details


def test_a_signature_is_a_string_or_typed_not_both(worker: Worker, echo_session: str) -> None:
    request = wpb.CreateModuleRequest(
        module_id="both",
        session_id=echo_session,
        module_type="Predict",
        signature="question -> result",
        typed_signature=typed_signature(small_spec({"kind": "int"}, "int")),
    )
    code, details = worker.code_of("CreateModule", request)
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "not both" in details


def test_an_answer_that_does_not_parse_names_the_field(worker: Worker, echo_session: str) -> None:
    batch = {
        "kind": "model",
        "name": "Batch",
        "json_schema": {
            "type": "object",
            "title": "Batch",
            "properties": {"size": {"type": "integer", "format": "uint8", "minimum": 0, "maximum": 255}},
            "required": ["size"],
        },
    }
    module = create_typed(worker, echo_session, "Predict", small_spec(batch, "Batch"))
    # The test LM answers the sum of the input's numbers: 305 is not a u8.
    response = call_json(worker, module, question="300 and 5")
    assert response.HasField("parse_failure") and not response.outputs
    failure = response.parse_failure
    assert failure.field == "result"
    assert failure.expected == "Batch"
    assert "305" in failure.raw
    assert "less than or equal to 255" in failure.reason, failure.reason
    assert output(call_json(worker, module, question="2 and 5"), "result") == {"size": 7}


def test_a_session_uses_the_adapter_its_lm_names(worker: Worker, bridge: BridgeFixture) -> None:
    session = bridge.new_session()
    spec = wpb.LmSpec(echo=True, adapter="json")
    worker.call("ConfigureLm", wpb.ConfigureLmRequest(session_id=session, lm=spec))
    module = create_typed(worker, session, "Predict", shared_spec())
    assert output(call_json(worker, module, message="4 boxes"), "total") == 4
    unknown = wpb.ConfigureLmRequest(session_id=session, lm=wpb.LmSpec(echo=True, adapter="xml"))
    code, details = worker.code_of("ConfigureLm", unknown)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert details == "unknown adapter 'xml' (the adapters are chat, json)"


def test_a_call_formats_its_prompt_with_the_sessions_adapter() -> None:
    import dspy

    from dspex_bridge.testing import EchoLM
    from dspex_bridge.worker import lm as lms
    from dspex_bridge.worker import modules

    lm = EchoLM()
    predict = dspy.Predict("question -> answer")
    entry = modules.ModuleEntry("m", "s", predict, "Predict", ("question",), settings={})
    modules.run(entry, lm, lms.build_adapter("json"), {}, {"question": "q"})
    assert "Outputs will be a JSON object" in lm.requests[-1]["messages"][0]["content"]
    for adapter in (lms.build_adapter("chat"), lms.build_adapter("")):
        modules.run(entry, lm, adapter, {}, {"question": "q"})
        system = lm.requests[-1]["messages"][0]["content"]
        assert "[[ ## answer ## ]]" in system and "JSON object" not in system
