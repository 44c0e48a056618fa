"""Serving: the gRPC server of a worker, its readiness line, and its clean stop.

Once the server listens, the worker prints one line on stdout, which the runtime waits for::

    DSPEX_WORKER_READY {"port": 12345, "pid": 678, "worker_id": 0, "calls": "/tmp/dspex-calls-x/calls.sock", "call_threads": 16}

(``calls``: the call socket, `call_socket`, where ``CallModule`` is served ``call_threads`` calls at a time.)
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from typing import Final

import grpc.aio

from .._proto_loader import worker_pb_grpc
from ..message_size import channel_options
from .auth import TokenInterceptor
from .call_socket import CallSocket
from .config import WorkerConfig
from .process import stop_requested
from .service import CALL_METHOD, WorkerService
from .sizes import RequestSizeInterceptor

logger = logging.getLogger(__name__)

READY_PREFIX: Final = "DSPEX_WORKER_READY"
STOP_GRACE_S: Final = 1.0
"""How long calls in flight may finish after a stop signal."""


Ready = dict[str, int | str]
"""A worker's readiness: ``port``, ``pid``, ``worker_id``, ``calls``, ``call_threads``."""
Announce = Callable[[Ready], None]
"""Where a worker's readiness goes."""


def announce_ready(ready: Ready) -> None:
    """Prints the readiness line on stdout (and flushes it: the runtime reads a pipe)."""
    sys.stdout.write(ready_line(ready))
    sys.stdout.flush()


def ready_line(ready: Ready) -> str:
    """The readiness line of ``ready``, newline included."""
    return f"{READY_PREFIX} {json.dumps(ready)}\n"


async def serve(config: WorkerConfig, started: float, announce: Announce = announce_ready) -> None:
    """Serves until SIGTERM or SIGINT. ``started`` (``time.perf_counter()``) is when the
    process started, for the log; ``announce`` tells the runtime the worker serves (default: `announce_ready`)."""
    service = WorkerService.from_config(config)
    # No limit on the calls in flight (grpc's default): a call waiting on its LM on the event loop costs no thread.
    server = grpc.aio.server(
        interceptors=[TokenInterceptor(config.token), RequestSizeInterceptor(frozenset({CALL_METHOD}))],
        options=channel_options(config.max_message_bytes),
    )
    worker_pb_grpc.add_WorkerServicer_to_server(service, server)
    port = server.add_insecure_port(f"{config.host}:{config.port}")
    if port == 0:
        raise SystemExit(f"cannot bind {config.host}:{config.port}")
    await server.start()
    calls = CallSocket(service, config.token, config.threads, config.max_message_bytes)
    calls.start(asyncio.get_running_loop())
    stop = stop_requested()
    announce(
        {
            "port": port,
            "pid": os.getpid(),
            "worker_id": config.worker_id,
            "calls": calls.path,
            "call_threads": calls.threads,
        }
    )
    logger.info(
        "serving on %s:%d (pid %d, ready %.0f ms after start-up)",
        config.host,
        port,
        os.getpid(),
        (time.perf_counter() - started) * 1000,
    )
    await stop.wait()
    logger.info("stopping")
    calls.close()
    await server.stop(grace=STOP_GRACE_S)
    await service.close()
