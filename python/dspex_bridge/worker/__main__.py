"""``python -m dspex_bridge.worker``: the worker process.

```
python -m dspex_bridge.worker --worker-id N [--parent-pid PID] [--host 127.0.0.1] [--port 0] [--threads 16]
```

Environment: ``DSPEX_BRIDGE_TOKEN`` (required: every call must carry it in the
``x-dspex-token`` metadata entry, and the worker sends it to the bridge),
``DSPEX_BRIDGE_ADDRESS`` (``host:port`` of the variable bridge; needed to check bindings and
to read bound variables when a call does not carry their values), ``DSPEX_WORKER_CACHE``
(``0`` turns off the read cache: by default each session's variables are read through a
`SessionContext` with ``cache=True``, kept coherent by a watch stream, so the reads before a
call cost microseconds; a write elsewhere is seen by them within milliseconds, not at once),
``DSPEX_WORKER_LOG`` (the log level, default INFO; the API key of a model LM is never
logged), and ``DSPEX_WORKER_PIN`` (``0``: the worker's threads may run on any CPU; by default, on Linux,
worker ``N`` keeps to the ``N``-th CPU it may use, see `process.pin_to_one_cpu`).

Start-up: dies with its parent, turns DSPy's caches and history off, serves on an
OS-assigned port, then prints its readiness line (see `dspex_bridge.worker.server`). Logs go
to stderr, each line tagged ``[dspex-worker N]``.

Exit status: 0 after SIGTERM / SIGINT, 1 when the parent is gone (at start-up or later), 2
without a token (or for a bad command line).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Sequence
from typing import NoReturn

from ..session_context import TOKEN_ENV
from .config import read_config
from .dspy_setup import configure_dspy
from .logs import setup_logging
from .process import die_with_parent, freeze_what_was_imported, pin_to_one_cpu

logger = logging.getLogger(__name__)


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """Runs the worker until it is stopped; never returns."""
    started = time.perf_counter()
    config = read_config(argv, os.environ)
    setup_logging(config.worker_id, config.log_level)
    # Before anything slow: an orphan must not spend seconds importing DSPy.
    die_with_parent(config.parent_pid if config.parent_pid is not None else os.getppid())
    pin_to_one_cpu(config.worker_id, os.environ)
    if not config.token:
        logger.error("%s is not set: the worker refuses to serve without the bridge token", TOKEN_ENV)
        raise SystemExit(2)
    configure_dspy()
    logger.debug("dspy ready in %.0f ms", (time.perf_counter() - started) * 1000)
    # Imported only now: the server's modules import DSPy, which `configure_dspy` prepares.
    from .server import serve

    freeze_what_was_imported()
    asyncio.run(serve(config, started))
    raise SystemExit(0)


if __name__ == "__main__":
    main()
