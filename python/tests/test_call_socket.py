"""The worker's call socket (`dspex_bridge.worker.call_socket`) on a real worker: framed ``CallModule`` with the
same answers as gRPC, its hello, its refusals (which keep the connection, or close it when the frame itself is
wrong), its connection limit, ``CancelCall`` by id, and its socket's place and removal."""

from __future__ import annotations

import os
import select
import socket
import stat
import struct
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from test_worker import Worker, create, output, real, text

from dspex_bridge._proto_loader import pb as vpb
from dspex_bridge._proto_loader import worker_pb as wpb
from dspex_bridge.testing import BridgeFixture
from dspex_bridge.worker.call_frames import answered, framed
from dspex_bridge.worker.call_socket import HELLO_TIMEOUT_S, MAX_CONNECTIONS_PER_THREAD, stay_awake_for_next_call

LENGTH = struct.Struct("<I")


@pytest.fixture(scope="module")
def worker(bridge: BridgeFixture) -> Iterator[Worker]:
    process = Worker(bridge, worker_id=12)
    yield process
    assert process.stop() == 0


@pytest.fixture(scope="module")
def module(worker: Worker, bridge: BridgeFixture) -> str:
    """A Predict with the test LM, in the bridge's main session."""
    worker.call("ConfigureLm", wpb.ConfigureLmRequest(session_id=bridge.session_id, lm=wpb.LmSpec(echo=True)))
    return create(worker, bridge.session_id, "Predict")


def send(connection: socket.socket, frame: wpb.CallFrame) -> None:
    body = frame.SerializeToString()
    connection.sendall(LENGTH.pack(len(body)) + body)


def receive(connection: socket.socket) -> wpb.CallAnswer | None:
    """The next answer, or ``None`` if the worker closed the connection."""
    header = connection.recv(LENGTH.size, socket.MSG_WAITALL)
    if len(header) < LENGTH.size:
        return None
    (length,) = LENGTH.unpack(header)
    return wpb.CallAnswer.FromString(connection.recv(length, socket.MSG_WAITALL) if length else b"")


def closed(connection: socket.socket) -> bool:
    """Whether the worker closed the connection (a reset, when it closed with our frame unread)."""
    connection.settimeout(10)
    try:
        return connection.recv(1) == b""
    except ConnectionResetError:
        return True


def connect(worker: Worker, token: str | None = None) -> socket.socket:
    """A connection to the worker's call socket, greeted with ``token`` (default: the bridge's)."""
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    connection.connect(worker.ready["calls"])
    connection.settimeout(30)
    send(connection, wpb.CallFrame(hello=wpb.CallHello(token=worker.token if token is None else token)))
    return connection


def greeted(worker: Worker) -> socket.socket:
    connection = connect(worker)
    assert receive(connection) == wpb.CallAnswer(), "an empty answer to the hello"
    return connection


def call_frame(call_id: int, module: str, question: str) -> wpb.CallFrame:
    return wpb.CallFrame(
        call_id=call_id, call=wpb.CallModuleRequest(module_id=module, inputs={"question": text(question)})
    )


def test_the_socket_is_announced_and_leaves_nothing_on_the_filesystem(worker: Worker) -> None:
    path = worker.ready["calls"]
    assert worker.ready["call_threads"] == 16
    if sys.platform.startswith("linux"):
        assert path.startswith("\0dspex-calls-"), path  # abstract: gone with the worker, even killed
    else:
        assert stat.S_ISSOCK(os.stat(path).st_mode)
        assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700


def test_a_call_answers_as_the_rpc_does(worker: Worker, module: str) -> None:
    with greeted(worker) as connection:
        for call_id in (41, 42):  # one connection, one call after another
            send(connection, call_frame(call_id, module, f"question {call_id}"))
            answer = receive(connection)
            assert answer is not None and answer.call_id == call_id
            assert answer.WhichOneof("answer") == "response"
            by_grpc = worker.call(
                "CallModule", wpb.CallModuleRequest(module_id=module, inputs={"question": text(f"question {call_id}")})
            )
            assert output(answer.response, "answer") == output(by_grpc, "answer")
            assert f"question {call_id}" in output(answer.response, "answer")


def test_a_refused_call_keeps_its_connection(worker: Worker, module: str) -> None:
    with greeted(worker) as connection:
        send(connection, call_frame(7, "no-such-module", "q"))
        refused = receive(connection)
        assert refused is not None and refused.call_id == 7
        assert refused.refusal.code == grpc.StatusCode.NOT_FOUND.value[0]
        assert refused.refusal.kind == "not_found"
        assert "no-such-module" in refused.refusal.message
        send(connection, wpb.CallFrame(call_id=8, call=wpb.CallModuleRequest(module_id=module)))
        missing = receive(connection)
        assert missing is not None and missing.refusal.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
        assert "missing input(s) question" in missing.refusal.message
        send(connection, call_frame(9, module, "still served"))
        answer = receive(connection)
        assert answer is not None and "still served" in output(answer.response, "answer")


@pytest.mark.parametrize("token", ["wrong", ""])
def test_a_wrong_token_is_closed_without_an_answer(worker: Worker, token: str) -> None:
    with connect(worker, token) as connection:
        assert closed(connection)


def test_a_call_before_the_hello_is_closed(worker: Worker, module: str) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.connect(worker.ready["calls"])
        send(connection, call_frame(1, module, "q"))
        assert closed(connection)


def test_a_connection_that_says_nothing_is_closed(worker: Worker) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as silent:
        silent.connect(worker.ready["calls"])
        silent.settimeout(HELLO_TIMEOUT_S + 10)
        started = time.monotonic()
        try:
            assert silent.recv(1) == b""
        except ConnectionResetError:
            pass
        assert time.monotonic() - started >= HELLO_TIMEOUT_S - 0.5


def test_a_frame_over_the_limit_is_refused_and_closes_the_connection(worker: Worker) -> None:
    with greeted(worker) as connection:
        connection.sendall(LENGTH.pack(2**31))  # announced, never sent
        refused = receive(connection)
        assert refused is not None and refused.refusal.code == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
        assert "too large" in refused.refusal.message
        assert closed(connection)


def test_a_frame_that_does_not_parse_is_refused_and_closes_the_connection(worker: Worker) -> None:
    with greeted(worker) as connection:
        garbage = b"\xff" * 10
        connection.sendall(LENGTH.pack(len(garbage)) + garbage)
        refused = receive(connection)
        assert refused is not None and refused.refusal.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
        assert "does not parse" in refused.refusal.message
        assert closed(connection)


def test_a_second_hello_is_refused(worker: Worker) -> None:
    with greeted(worker) as connection:
        send(connection, wpb.CallFrame(call_id=3, hello=wpb.CallHello(token=worker.token)))
        refused = receive(connection)
        assert refused is not None and refused.refusal.kind == "invalid_argument"


def test_connections_past_the_limit_are_closed(worker: Worker, module: str) -> None:
    limit = MAX_CONNECTIONS_PER_THREAD * worker.ready["call_threads"]
    connections = [greeted(worker) for _ in range(limit)]
    try:
        with connect(worker) as one_more:
            assert closed(one_more)
        send(connections[-1], call_frame(5, module, "within the limit"))
        answer = receive(connections[-1])
        assert answer is not None and answer.WhichOneof("answer") == "response"
    finally:
        for connection in connections:
            connection.close()


def test_cancel_call_by_id(worker: Worker, bridge: BridgeFixture) -> None:
    session = f"{bridge.session_id}-cancel"  # a session of this worker only: no variable is read
    spec = wpb.LmSpec(factory="dspex_bridge.testing:slow_echo_lm", settings={"delay": real(0.5)})
    worker.call("ConfigureLm", wpb.ConfigureLmRequest(session_id=session, lm=spec))
    module = create(worker, session, "Predict")
    # Cancelled before it is read: it stops at its first LM request.
    assert not worker.call("CancelCall", wpb.CancelCallRequest(call_id=9001)).found
    with greeted(worker) as connection:
        send(connection, call_frame(9001, module, "never asked"))
        refused = receive(connection)
        assert refused is not None and refused.refusal.exception == "CallCancelled", refused
        # Cancelled while it runs: found (its LM request in flight ends; nothing after it runs).
        answers: list[Any] = []
        send(connection, call_frame(9002, module, "asked"))
        reader = threading.Thread(target=lambda: answers.append(receive(connection)))
        reader.start()
        found = False
        for _ in range(100):
            found = worker.call("CancelCall", wpb.CancelCallRequest(call_id=9002)).found
            if found:
                break
            threading.Event().wait(0.005)
        reader.join(30)
        assert found and answers and answers[0] is not None and answers[0].call_id == 9002


def test_a_multiplexed_connection_runs_many_calls_at_once(worker: Worker, bridge: BridgeFixture) -> None:
    session = f"{bridge.session_id}-multiplexed"  # a session of this worker only: no variable is read
    spec = wpb.LmSpec(factory="dspex_bridge.testing:slow_echo_lm", settings={"delay": real(0.2)})
    worker.call("ConfigureLm", wpb.ConfigureLmRequest(session_id=session, lm=spec))
    module = create(worker, session, "Predict")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.connect(worker.ready["calls"])
        connection.settimeout(30)
        send(connection, wpb.CallFrame(hello=wpb.CallHello(token=worker.token, multiplexed=True)))
        assert receive(connection) == wpb.CallAnswer()
        count = 100
        started = time.monotonic()
        for call_id in range(1, count + 1):
            send(connection, call_frame(call_id, module, f"q{call_id}"))
        send(connection, wpb.CallFrame(call_id=count, cancel=True))  # the last one is given up
        answers: dict[int, Any] = {}
        while len(answers) < count - 1:
            answer = receive(connection)
            assert answer is not None
            answers[answer.call_id] = answer
        elapsed = time.monotonic() - started
        assert sorted(answers) == list(range(1, count)), "every call but the cancelled one is answered"
        for call_id, answer in answers.items():
            assert f"q{call_id}" in output(answer.response, "answer")
        # All at once: far less than one LM delay per call.
        assert elapsed < count * 0.2 / 4, elapsed
        connection.settimeout(0.5)
        with pytest.raises(TimeoutError):
            receive(connection)  # no answer for the cancelled call


@pytest.mark.parametrize("call_id", [0, 1, 127, 128, 300, 2**63 + 5])
def test_an_answer_framed_by_hand_is_the_call_answer_message(call_id: int) -> None:
    response = wpb.CallModuleResponse(outputs={"answer": wpb.Output(value=vpb.Value(string_value="4"))})
    body = answered(call_id, response)
    (length,) = LENGTH.unpack(body[: LENGTH.size])
    assert length == len(body) - LENGTH.size
    assert wpb.CallAnswer.FromString(body[LENGTH.size :]) == wpb.CallAnswer(call_id=call_id, response=response)
    assert body == framed(wpb.CallAnswer(call_id=call_id, response=response))


def test_a_connection_stays_awake_until_its_next_call_comes_unless_other_calls_run() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        ready = select.poll()
        ready.register(ours, select.POLLIN)
        looks: list[int] = []

        def idle() -> int:
            looks.append(0)
            return 0

        # Nothing comes: it gives up (after `NEXT_CALL_WAIT_S`), having looked at the other calls meanwhile.
        stay_awake_for_next_call(ready, idle)
        assert looks
        # Another call runs: it gives up at the first look.
        busy_looks: list[int] = []
        stay_awake_for_next_call(ready, lambda: busy_looks.append(1) or 1)
        assert busy_looks == [1]
        # The next call is there: it returns without a look, leaving the call to be read.
        theirs.sendall(b"call")
        looks.clear()
        stay_awake_for_next_call(ready, idle)
        assert looks == [] and ours.recv(4) == b"call"
