"""A multiplexed connection of the call socket (`call_socket`), served on the worker's event loop: many calls at
once, each run as the ``CallModule`` RPC runs it (`WorkerService.call_module`: on the loop through DSPy's async
path, or in the thread pool), answered as it ends, cancelled by a ``cancel`` frame or by the connection's end.

What the runtime sends here is what exceeds the one-call-at-a-time connections: calls waiting on their LMs, in
the hundreds, which must not hold a thread each; here they cost no thread and no gRPC call.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import socket
from typing import TYPE_CHECKING

from .._proto_loader import worker_pb
from .call_frames import LENGTH, FrameError, answered, checked_length, parsed, refusal
from .status import invalid
from .tools import CallCancelled

if TYPE_CHECKING:
    from .service import WorkerService

logger = logging.getLogger(__name__)


async def serve_multiplexed(service: WorkerService, connection: socket.socket, max_frame: int) -> None:
    """Serves a greeted connection until it ends (its calls in flight are then cancelled)."""
    reader, writer = await asyncio.open_unix_connection(sock=connection)
    calls: dict[int, asyncio.Task[None]] = {}
    try:
        while True:
            try:
                header = await reader.readexactly(LENGTH.size)
                frame = parsed(await reader.readexactly(checked_length(header, max_frame)))
            except FrameError as error:
                writer.write(error.answer)
                return
            kind = frame.WhichOneof("frame")
            if kind == "call" and frame.call_id not in calls:
                task = asyncio.create_task(_answer(service, frame.call_id, frame.call, writer))
                calls[frame.call_id] = task
                task.add_done_callback(functools.partial(_forget, calls, frame.call_id))
            elif kind == "cancel":
                if (running := calls.get(frame.call_id)) is not None:
                    running.cancel()
            else:
                what = "a second call with the same id" if kind == "call" else "a frame after the hello must be a call"
                writer.write(refusal(frame.call_id, invalid(what)))
    except (asyncio.IncompleteReadError, ConnectionError) as error:
        logger.debug("call socket: a multiplexed connection ended: %s", error)
    finally:
        for task in list(calls.values()):
            task.cancel()
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


def _forget(calls: dict[int, asyncio.Task[None]], call_id: int, _: asyncio.Task[None]) -> None:
    calls.pop(call_id, None)


async def _answer(
    service: WorkerService, call_id: int, request: worker_pb.CallModuleRequest, writer: asyncio.StreamWriter
) -> None:
    """Runs one call and writes its answer (none once it is cancelled: its caller is gone)."""
    try:
        response = await service.call_module(request)
    except asyncio.CancelledError:
        return
    except (Exception, CallCancelled) as error:  # noqa: BLE001 - every failure is the call's refusal
        answer = refusal(call_id, error)
    else:
        answer = answered(call_id, response)
    if not writer.is_closing():
        writer.write(answer)
