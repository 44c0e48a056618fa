"""What a worker is told at start-up: its command line and its environment, read once."""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from ..message_size import max_message_bytes
from ..session_context import TOKEN_ENV

ADDRESS_ENV: Final = "DSPEX_BRIDGE_ADDRESS"
"""``host:port`` of the variable bridge."""
CACHE_ENV: Final = "DSPEX_WORKER_CACHE"
"""``0`` turns the sessions' read cache off."""
LOG_ENV: Final = "DSPEX_WORKER_LOG"
"""The log level (default INFO)."""


@dataclass(frozen=True)
class WorkerConfig:
    """The worker's settings."""

    worker_id: int
    parent_pid: int | None
    """The process whose death ends this one (``None``: the parent at start-up)."""
    host: str
    port: int
    threads: int
    """How many module calls (and LM constructions) run at once."""
    token: str
    """The bridge token: every call to the worker must carry it, and the worker sends it to the
    bridge (empty: not set, and the worker refuses to start)."""
    bridge_address: str | None
    cache: bool
    """Whether each session's variables are read through a cached `SessionContext`."""
    log_level: str
    max_message_bytes: int
    """The largest gRPC message the worker receives or sends, on its server and on its channel
    to the bridge (``DSPEX_MAX_MESSAGE_BYTES``, which the Rust pool sets to the bridge's limit;
    default 8 MiB)."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m dspex_bridge.worker", description="The dspex worker: runs DSPy modules for the Rust runtime."
    )
    parser.add_argument("--worker-id", type=int, required=True, help="this worker's id (logs, Health)")
    parser.add_argument(
        "--parent-pid", type=int, default=None, help="die when this process is gone (default: the parent)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind (default 0: OS-assigned)")
    parser.add_argument("--threads", type=int, default=16, help="concurrent module calls (default 16)")
    return parser


def read_config(argv: Sequence[str] | None, environ: Mapping[str, str]) -> WorkerConfig:
    """The settings of ``argv`` (``None``: ``sys.argv[1:]``) and ``environ``. A bad command
    line exits 2 with argparse's usage message."""
    args = _parser().parse_args(argv)
    return WorkerConfig(
        worker_id=args.worker_id,
        parent_pid=args.parent_pid,
        host=args.host,
        port=args.port,
        threads=max(1, args.threads),
        token=environ.get(TOKEN_ENV, ""),
        bridge_address=environ.get(ADDRESS_ENV) or None,
        cache=environ.get(CACHE_ENV, "1").strip() != "0",
        log_level=environ.get(LOG_ENV, "INFO").upper(),
        max_message_bytes=max_message_bytes(environ),
    )
