"""Process hygiene: a worker never outlives the process that started it, and stops cleanly on
SIGTERM / SIGINT."""

from __future__ import annotations

import asyncio
import ctypes
import gc
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Mapping
from typing import Final

logger = logging.getLogger(__name__)

PR_SET_PDEATHSIG: Final = 1
PARENT_POLL_S: Final = 0.5


def die_with_parent(parent_pid: int, watch: bool = True) -> None:
    """SIGKILL this process when its parent dies (Linux prctl), exit now (status 1) if already
    orphaned (the parent may die before the prctl call), and, with ``watch``, watch ``getppid()`` from a daemon
    thread as a second line of defence (outside Linux there is no prctl). The fork server, which must not have
    a thread when it forks, watches its parent in its own loop instead."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
                logger.warning("prctl(PR_SET_PDEATHSIG) failed: errno %d", ctypes.get_errno())
        except (OSError, AttributeError) as error:  # pragma: no cover - exotic libc
            logger.warning("prctl unavailable: %s", error)
    if os.getppid() != parent_pid:
        logger.error("parent %d is gone before start-up: exiting", parent_pid)
        os._exit(1)
    if not watch:
        return

    def poll_parent() -> None:
        while True:
            time.sleep(PARENT_POLL_S)
            if os.getppid() != parent_pid:
                logger.error("parent %d is gone: exiting", parent_pid)
                os._exit(1)

    threading.Thread(target=poll_parent, name="dspex-parent-watch", daemon=True).start()


PIN_ENV: Final = "DSPEX_WORKER_PIN"
"""``0`` lets a worker's threads run on any CPU instead of one (`pin_to_one_cpu`)."""


def pin_to_one_cpu(worker_id: int, environ: Mapping[str, str]) -> None:
    """Keeps every thread of this worker on one CPU of those it may use (worker ``N`` on the ``N``-th, round
    robin), unless ``DSPEX_WORKER_PIN=0`` or outside Linux. A call hops between the event loop, grpc's threads and
    a pool thread, and a hop that wakes a thread on another CPU costs tens of microseconds; under the GIL the
    threads of one worker run one at a time anyway, and the workers of a pool spread over the CPUs."""
    if environ.get(PIN_ENV, "1").strip() == "0" or not hasattr(os, "sched_setaffinity"):
        return
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) > 1:
        os.sched_setaffinity(0, {cpus[worker_id % len(cpus)]})


def stop_requested() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT (needs the running event loop)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


def freeze_what_was_imported() -> None:
    """Moves every object alive now (DSPy's, grpc's, the worker's modules: they live as long as the process) out of
    the garbage collector's sight (`gc.freeze`): its collections then walk only what calls create, not hundreds of
    thousands of objects that never die — a module call's median and tail both drop (`benches/README.md`) — and a
    forked worker does not copy the pages it shares with the fork server by touching their objects' headers."""
    gc.collect()
    gc.freeze()
