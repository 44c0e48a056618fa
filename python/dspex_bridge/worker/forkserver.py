"""``python -m dspex_bridge.worker.forkserver``: the fork server, which starts workers by forking itself.

A worker started as its own interpreter spends most of its start importing DSPy (0.5–1 s), and a pool of
four on two cores pays that twice over. The fork server imports DSPy, gRPC and the worker's modules once,
then forks a worker per request: the worker serves about 20 ms later. It forks before any gRPC object or
thread exists in it (gRPC's threads start in the worker, after the fork), and it never runs a module itself.

```
python -m dspex_bridge.worker.forkserver --parent-pid PID
```

The environment is the workers' (``DSPEX_BRIDGE_TOKEN``, ``DSPEX_BRIDGE_ADDRESS``, ...: see
`dspex_bridge.worker.__main__`); each worker reads it as its own.

The runtime talks to it in lines. On stdin, one JSON object per line:

- ``{"start": S, "worker_id": N}``: fork worker ``N``; ``S`` is the runtime's id for this start, repeated in what
  follows about it;
- ``{"kill": PID, "signal": SIG}``: send ``SIG`` to worker ``PID`` — only to a worker of this fork server that was
  not reaped yet, so that a pid the system reused is never signalled.

On stdout: ``DSPEX_FORK_SERVER_READY {"pid": P}`` once it can fork; each worker's readiness line,
``DSPEX_WORKER_READY {"port", "pid", "worker_id", "calls", "call_threads", "start"}``; and when a worker exits (reaped at once, on SIGCHLD),
``DSPEX_WORKER_EXITED {"pid", "start", "status"}`` (``status``: ``"exit status 1"``, ``"killed by signal 9"``).
A worker's own stdout goes to its stderr, which it shares with the fork server: it can never break a line of
this protocol, and its log lines are tagged with its id (`logs`).

Parent death: the fork server exits when its stdin closes or its parent is gone (and is SIGKILLed with it on
Linux); each worker dies with the fork server the same way (`process.die_with_parent`), so no worker outlives the
runtime.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import select
import signal
import sys
import time
from collections.abc import Sequence
from typing import Any, Final, NoReturn

from .config import LOG_ENV, read_config
from .dspy_setup import configure_dspy
from .logs import setup_logging
from .process import die_with_parent, freeze_what_was_imported, pin_to_one_cpu

logger = logging.getLogger(__name__)

READY_PREFIX: Final = "DSPEX_FORK_SERVER_READY"
EXITED_PREFIX: Final = "DSPEX_WORKER_EXITED"
PARENT_POLL_S: Final = 0.5
"""How often the fork server checks that its parent is alive (between requests)."""


class ForkServer:
    """The request loop: reads requests from ``commands``, writes events on ``events`` (file descriptors)."""

    def __init__(self, parent_pid: int, commands: int, events: int) -> None:
        self.parent_pid = parent_pid
        self.commands = commands
        self.events = events
        self.workers: dict[int, int] = {}
        """The workers not reaped yet: pid → start id."""
        self._pending = b""
        self._wakeup_r, self._wakeup_w = os.pipe()
        os.set_blocking(self._wakeup_w, False)

    def emit(self, prefix: str, fields: dict[str, Any]) -> None:
        """One event line, in one write (a pipe keeps a write of fewer than 4 KiB whole)."""
        os.write(self.events, f"{prefix} {json.dumps(fields)}\n".encode())

    def run(self) -> NoReturn:
        """Serves requests until stdin closes or the parent is gone; then exits (its workers die with it)."""
        signal.set_wakeup_fd(self._wakeup_w)
        # A handler (not SIG_DFL) so that SIGCHLD wakes `select` through the wakeup fd.
        signal.signal(signal.SIGCHLD, lambda *_: None)
        self.emit(READY_PREFIX, {"pid": os.getpid()})
        while True:
            readable, _, _ = select.select([self.commands, self._wakeup_r], [], [], PARENT_POLL_S)
            if self._wakeup_r in readable:
                os.read(self._wakeup_r, 4096)
            self.reap()
            if os.getppid() != self.parent_pid:
                logger.error("parent %d is gone: exiting", self.parent_pid)
                os._exit(1)
            if self.commands in readable:
                data = os.read(self.commands, 65536)
                if not data:
                    logger.info("stdin closed: exiting")
                    os._exit(0)
                self._pending += data
                *lines, self._pending = self._pending.split(b"\n")
                for line in lines:
                    if line.strip():
                        self.handle(line)

    def handle(self, line: bytes) -> None:
        """One request line; a malformed one is logged and ignored (the runtime writes them, not a user)."""
        try:
            request = json.loads(line)
            if "start" in request:
                self.fork(int(request["start"]), int(request["worker_id"]))
            elif "kill" in request:
                self.kill(int(request["kill"]), int(request.get("signal", signal.SIGKILL)))
            else:
                raise ValueError("neither start nor kill")
        except (ValueError, KeyError, TypeError) as error:
            logger.error("bad request %r: %s", line[:200], error)

    def kill(self, pid: int, sig: int) -> None:
        if pid in self.workers:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:  # exited, not reaped yet: its EXITED line follows
                pass

    def reap(self) -> None:
        """Reaps every exited worker and reports it."""
        while self.workers:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            start = self.workers.pop(pid, None)
            if os.WIFSIGNALED(status):
                shown = f"killed by signal {os.WTERMSIG(status)}"
            else:
                shown = f"exit status {os.waitstatus_to_exitcode(status)}"
            self.emit(EXITED_PREFIX, {"pid": pid, "start": start, "status": shown})

    def fork(self, start: int, worker_id: int) -> None:
        try:
            pid = os.fork()
        except OSError as error:
            self.emit(EXITED_PREFIX, {"pid": None, "start": start, "status": f"could not fork: {error}"})
            return
        if pid != 0:
            self.workers[pid] = start
            return
        # The worker. Whatever happens, it never returns into the fork server's loop.
        code = 1
        try:
            code = self._worker(start, worker_id)
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else 1
        except BaseException:  # logged, then the worker exits
            logger.exception("worker %d failed", worker_id)
        finally:
            os._exit(code)

    def _worker(self, start: int, worker_id: int) -> int:
        started = time.perf_counter()
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.close(self._wakeup_r)
        os.close(self._wakeup_w)
        # The requests are the fork server's; the event pipe is written once, for the readiness line; print()
        # goes to stderr.
        events = self.events
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        if self.commands != 0:
            os.close(self.commands)
        if events == 1:
            events = os.dup(1)
        os.dup2(2, 1)
        config = read_config(["--worker-id", str(worker_id), "--parent-pid", str(os.getppid())], os.environ)
        setup_logging(config.worker_id, config.log_level)
        die_with_parent(os.getppid())
        pin_to_one_cpu(worker_id, os.environ)

        from .server import Ready, ready_line, serve

        def announce(ready: Ready) -> None:
            os.write(events, ready_line({**ready, "start": start}).encode())
            os.close(events)

        asyncio.run(serve(config, started, announce))
        return 0


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """Imports what the workers need, then serves fork requests; never returns."""
    parser = argparse.ArgumentParser(prog="python -m dspex_bridge.worker.forkserver")
    parser.add_argument("--parent-pid", type=int, default=None, help="exit when this process is gone")
    args = parser.parse_args(argv)
    parent = args.parent_pid if args.parent_pid is not None else os.getppid()
    setup_logging("fork-server", os.environ.get(LOG_ENV, "INFO").upper())
    die_with_parent(parent, watch=False)
    started = time.perf_counter()
    configure_dspy()
    # What every worker imports, imported once here (no gRPC object is created: that happens in each worker).
    from . import server  # noqa: F401

    freeze_what_was_imported()  # before any fork: the workers share those pages untouched
    logger.info("ready to fork workers (%.0f ms to import)", (time.perf_counter() - started) * 1000)
    sys.stdout.flush()
    ForkServer(parent, commands=0, events=1).run()


if __name__ == "__main__":
    main()
