"""The worker's call socket: ``CallModule`` on a Unix socket, framed, beside the gRPC server.

gRPC's Python server costs a module call about 0.4 ms of the worker's CPU (its event loop, its poller threads)
and a hop from the event loop to a pool thread; here a thread per connection reads a call, runs it where it
read it, and writes its answer. The frames are ``dspex.bridge.v1`` messages (``CallFrame`` in, ``CallAnswer``
out; `call_frames`); see ``worker.proto``. A connection's first frame is a ``hello`` with the bridge token,
answered by an empty ``CallAnswer``; a wrong token, a frame over the size limit or one that does not parse
closes the connection (after a refusal saying why, where one can be read). A ``multiplexed`` hello hands the
connection to the event loop (`call_mux`), where many calls run at once.

On Linux the socket has an abstract name (nothing on the filesystem: a killed worker leaves nothing behind);
elsewhere it lives in a directory of its own that only this user can enter (``mkdtemp``), removed when the worker
stops (the runtime removes it after a worker that was killed). The runtime opens at most ``threads`` connections
at once; more than twice that are closed at once.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hmac
import logging
import os
import secrets
import select
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from .._proto_loader import worker_pb
from .call_frames import FRAME_SLACK_BYTES, LENGTH, FrameError, answered, checked_length, framed, parsed, refusal
from .call_mux import serve_multiplexed
from .status import invalid
from .tools import CallCancelled

if TYPE_CHECKING:
    from .service import WorkerService

logger = logging.getLogger(__name__)

SOCKET_NAME: Final = "calls.sock"
HELLO_TIMEOUT_S: Final = 5.0
"""How long a new connection may take to send its hello."""
MAX_CONNECTIONS_PER_THREAD: Final = 2
"""Connections served at once, per call the runtime may send at once (``threads``): room for the connections of
calls it gave up, whose threads finish their call before they see the connection closed."""


NEXT_CALL_WAIT_S: Final = 150e-6
"""How long a connection's thread stays awake for the connection's next call once it answered one, when the worker
runs no other call: a caller calling in a loop sends it within tens of microseconds, and on these VMs a CPU that
went idle takes about 50 µs to wake up (a call of the test LM's Predict in a loop: median 880 → 780 µs)."""


class CallSocket:
    """The call socket of one worker: listening once built, served once `start`ed, removed by `close`."""

    def __init__(self, service: WorkerService, token: str, threads: int, max_message_bytes: int) -> None:
        self._service = service
        self._token = token.encode()
        self._threads = max(1, threads)
        self._max_frame = max_message_bytes + FRAME_SLACK_BYTES
        self._directory: str | None = None
        if sys.platform.startswith("linux"):
            # An abstract name: nothing on the filesystem, gone with the last descriptor (a killed worker leaves
            # nothing behind). Any local user may connect, as to the gRPC port; neither serves without the token.
            self.path = f"\0dspex-calls-{os.getpid()}-{secrets.token_hex(8)}"
        else:
            self._directory = tempfile.mkdtemp(prefix="dspex-calls-")
            self.path = os.path.join(self._directory, SOCKET_NAME)
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(self.path)
        self._listener.listen(self._threads)
        self._connections = 0
        self._lock = threading.Lock()
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._multiplexed: set[concurrent.futures.Future[None]] = set()
        """The multiplexed connections served on the loop now."""

    @property
    def threads(self) -> int:
        """How many connections (calls at once) it serves."""
        return self._threads

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Serves connections from now on; ``loop`` is the worker's event loop (for what a call reads from the bridge)."""
        self._loop = loop
        threading.Thread(target=self._accept, name="dspex-call-accept", daemon=True).start()

    def close(self) -> None:
        """Stops accepting, and removes the socket (connections still open end with the process)."""
        self._closed = True
        with contextlib.suppress(OSError):  # already shut
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)

    def _accept(self) -> None:
        while not self._closed:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return  # closed
            with self._lock:
                admitted = self._connections < MAX_CONNECTIONS_PER_THREAD * self._threads
                self._connections += admitted
            if not admitted:
                logger.warning(
                    "call socket: more than %d connections; one closed", MAX_CONNECTIONS_PER_THREAD * self._threads
                )
                connection.close()
                continue
            threading.Thread(target=self._serve, args=(connection,), name="dspex-call-socket", daemon=True).start()

    def _serve(self, connection: socket.socket) -> None:
        handed_over = False
        try:
            hello = self._greeted(connection)
            if hello is not None and hello.multiplexed and self._loop is not None:
                served = asyncio.run_coroutine_threadsafe(
                    serve_multiplexed(self._service, connection, self._max_frame), self._loop
                )
                # Held until it ends: the loop holds its tasks weakly, and a task nobody holds is collected.
                with self._lock:
                    self._multiplexed.add(served)
                served.add_done_callback(self._multiplexed.discard)
                handed_over = True
            elif hello is not None:
                ready = select.poll()
                ready.register(connection, select.POLLIN)
                while (frame := self._read_frame(connection)) is not None:
                    connection.sendall(self._answer(frame))
                    stay_awake_for_next_call(ready, self._service.calls_running)
        except FrameError as error:
            with contextlib.suppress(OSError):
                connection.sendall(error.answer)
        except OSError as error:
            logger.debug("call socket: a connection ended: %s", error)
        finally:
            if not handed_over:
                connection.close()
            with self._lock:
                self._connections -= 1

    def _greeted(self, connection: socket.socket) -> worker_pb.CallHello | None:
        """The connection's hello, if its first frame is one with the token, within `HELLO_TIMEOUT_S` (answered
        then): a connection that says nothing does not hold its thread."""
        connection.settimeout(HELLO_TIMEOUT_S)
        try:
            hello = self._read_frame(connection)
        except TimeoutError:
            logger.warning("call socket: a connection sent no hello within %.0f s; closed", HELLO_TIMEOUT_S)
            return None
        connection.settimeout(None)
        if hello is None or hello.WhichOneof("frame") != "hello":
            logger.warning("call socket: a connection did not start with a hello; closed")
            return None
        if not hmac.compare_digest(hello.hello.token.encode(), self._token):
            logger.warning("call socket: a connection with a wrong token; closed")
            return None
        connection.sendall(framed(worker_pb.CallAnswer()))
        return hello.hello

    def _read_frame(self, connection: socket.socket) -> worker_pb.CallFrame | None:
        """The next frame, or ``None`` at the end of the connection; `FrameError` for one the worker cannot take."""
        header = _read_exactly(connection, LENGTH.size)
        if header is None:
            return None
        body = _read_exactly(connection, checked_length(header, self._max_frame))
        return None if body is None else parsed(body)

    def _answer(self, frame: worker_pb.CallFrame) -> bytes:
        """The framed answer to one frame: the call's response, or its refusal."""
        if frame.WhichOneof("frame") != "call" or self._loop is None:
            return refusal(frame.call_id, invalid("a frame after the hello must be a call"))
        try:
            response = self._service.call_in_this_thread(frame.call_id, frame.call, self._loop)
        except (Exception, CallCancelled) as error:  # noqa: BLE001 - every failure is the call's refusal
            return refusal(frame.call_id, error)
        return answered(frame.call_id, response)


def stay_awake_for_next_call(ready: select.poll, calls_running: Callable[[], int]) -> None:
    """Waits up to `NEXT_CALL_WAIT_S` for a connection's next call (``ready`` polls the connection) without letting
    the CPU go idle, unless ``calls_running()`` says the worker runs another call (whose CPU this would take);
    yields the CPU to any thread that wants it meanwhile, and the GIL at every poll."""
    deadline = time.perf_counter() + NEXT_CALL_WAIT_S
    while not ready.poll(0):
        if calls_running() or time.perf_counter() >= deadline:
            return
        os.sched_yield()


def _read_exactly(connection: socket.socket, size: int) -> bytes | None:
    """``size`` bytes, or ``None`` if the connection ends first."""
    chunks: list[bytes] = []
    left = size
    while left:
        chunk = connection.recv(min(left, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks) if len(chunks) != 1 else chunks[0]
