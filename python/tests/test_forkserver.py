"""The fork server as the Rust runtime drives it: a real ``python -m dspex_bridge.worker.forkserver`` subprocess,
forking real workers that serve the Worker service, reporting their readiness and their exits, killing only its own
workers, and taking its workers with it when its stdin closes."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import grpc
import pytest

from dspex_bridge._proto_loader import worker_pb as wpb
from dspex_bridge._proto_loader import worker_pb_grpc as wpb_grpc
from dspex_bridge.worker.forkserver import EXITED_PREFIX, READY_PREFIX
from dspex_bridge.worker.server import READY_PREFIX as WORKER_READY

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the runtime forks workers on Linux only")


class ForkServerProcess:
    def __init__(self, **extra_env: str) -> None:
        self.token = secrets.token_hex(8)
        env = {**os.environ, "DSPEX_BRIDGE_TOKEN": self.token, "PYTHONUNBUFFERED": "1", **extra_env}
        env.pop("DSPEX_BRIDGE_ADDRESS", None)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "dspex_bridge.worker.forkserver", "--parent-pid", str(os.getpid())],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        prefix, fields = self.event()
        assert prefix == READY_PREFIX, (prefix, fields)
        assert fields["pid"] == self.process.pid

    def request(self, request: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(request).encode() + b"\n")
        self.process.stdin.flush()

    def event(self) -> tuple[str, dict[str, Any]]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline().decode()
        assert line, "the fork server closed its stdout"
        prefix, _, fields = line.rstrip("\n").partition(" ")
        return prefix, json.loads(fields)

    def health(self, port: int) -> Any:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            return wpb_grpc.WorkerStub(channel).Health(
                wpb.HealthRequest(), metadata=[("x-dspex-token", self.token)], timeout=10
            )


@pytest.fixture
def server() -> Iterator[ForkServerProcess]:
    server = ForkServerProcess()
    yield server
    server.process.kill()
    server.process.wait()


def allowed_cpus(pid: int) -> set[int]:
    return os.sched_getaffinity(pid)


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie does not)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


def test_forks_workers_that_serve_and_reports_their_exits(server: ForkServerProcess) -> None:
    for start, worker_id in ((7, 0), (8, 1)):
        server.request({"start": start, "worker_id": worker_id})
    ready = {}
    for _ in range(2):
        prefix, fields = server.event()
        assert prefix == WORKER_READY
        ready[fields["start"]] = fields
    assert {fields["worker_id"] for fields in ready.values()} == {0, 1}
    for fields in ready.values():
        health = server.health(fields["port"])
        assert (health.worker_id, health.pid) == (fields["worker_id"], fields["pid"])
        assert fields["pid"] != server.process.pid

    # Killed through the fork server, and by someone else: each exit is reported with its start id.
    server.request({"kill": ready[7]["pid"], "signal": 9})
    assert server.event() == (EXITED_PREFIX, {"pid": ready[7]["pid"], "start": 7, "status": "killed by signal 9"})
    os.kill(ready[8]["pid"], 15)
    assert server.event() == (EXITED_PREFIX, {"pid": ready[8]["pid"], "start": 8, "status": "exit status 0"})


def test_signals_only_its_own_workers_and_ignores_bad_requests(server: ForkServerProcess) -> None:
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        server.request({"kill": bystander.pid, "signal": 9})
        server.request({"neither": 1})
        server.process.stdin.write(b"not json\n")  # type: ignore[union-attr]
        server.request({"start": 1, "worker_id": 3})
        prefix, fields = server.event()
        assert (prefix, fields["start"], fields["worker_id"]) == (WORKER_READY, 1, 3)
        assert bystander.poll() is None, "a process that is not its worker was signalled"
    finally:
        bystander.kill()
        bystander.wait()


def test_its_workers_die_with_it(server: ForkServerProcess) -> None:
    server.request({"start": 1, "worker_id": 0})
    _, fields = server.event()
    assert alive(fields["pid"])
    server.process.stdin.close()  # type: ignore[union-attr]
    assert server.process.wait(timeout=10) == 0
    deadline = time.monotonic() + 10
    while alive(fields["pid"]):
        assert time.monotonic() < deadline, "a worker outlived its fork server"
        time.sleep(0.02)


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="pinning needs two CPUs")
@pytest.mark.parametrize("pin", ["1", "0"])
def test_each_worker_keeps_to_one_cpu_unless_told_not_to(pin: str) -> None:
    cpus = sorted(os.sched_getaffinity(0))
    server = ForkServerProcess(DSPEX_WORKER_PIN=pin)
    try:
        for worker_id in (0, 1):
            server.request({"start": worker_id, "worker_id": worker_id})
        pids = {}
        for _ in range(2):
            _, fields = server.event()
            pids[fields["worker_id"]] = fields["pid"]
        if pin == "1":
            assert allowed_cpus(pids[0]) == {cpus[0]}
            assert allowed_cpus(pids[1]) == {cpus[1 % len(cpus)]}
        else:
            assert allowed_cpus(pids[0]) == allowed_cpus(pids[1]) == set(cpus)
        assert allowed_cpus(server.process.pid) == set(cpus), "the fork server itself is not pinned"
    finally:
        server.process.kill()
        server.process.wait()
