"""The largest gRPC message, one limit on both sides of the bridge.

The Rust process sets it (``BridgeConfig::max_message_size``, default 8 MiB) and starts its
workers with it in ``DSPEX_MAX_MESSAGE_BYTES``; a worker serves, and opens its channel to
the bridge, with that limit. A channel a Python program opens gets gRPC's own defaults
(4 MiB received) unless it is given `channel_options`:

```python
channel = grpc.aio.insecure_channel(address, options=dspex_bridge.channel_options())
```
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from typing import Final

MAX_MESSAGE_BYTES_ENV: Final = "DSPEX_MAX_MESSAGE_BYTES"
"""The environment variable that sets the limit, in bytes."""
DEFAULT_MAX_MESSAGE_BYTES: Final = 8 * 1024 * 1024
"""The limit when ``DSPEX_MAX_MESSAGE_BYTES`` is not set (the Rust default too): the largest at which
a worker handling the worst call it allows still answers its health checks within 100 ms."""
GRPC_MAX_MESSAGE_BYTES: Final = 2**31 - 1
"""gRPC's channel options are C ints: a larger limit is this one."""

logger = logging.getLogger(__name__)

# How gRPC itself words a refused message: "Sent message larger than max (70000005 vs. 1048576)".
_GRPC_OVERSIZE: Final = re.compile(r"(Sent|Received) message larger than max \((\d+) vs\. (\d+)\)")


def max_message_bytes(environ: Mapping[str, str] | None = None) -> int:
    """The limit ``DSPEX_MAX_MESSAGE_BYTES`` sets in ``environ`` (default ``os.environ``), else
    8 MiB. A value that is not a positive number of bytes is warned about and ignored, as the
    Rust side does."""
    raw = (os.environ if environ is None else environ).get(MAX_MESSAGE_BYTES_ENV)
    if raw is None:
        return DEFAULT_MAX_MESSAGE_BYTES
    try:
        limit = int(raw.strip())
    except ValueError:
        limit = 0
    if limit <= 0:
        logger.warning(
            "%s=%r is not a positive number of bytes; using %d", MAX_MESSAGE_BYTES_ENV, raw, DEFAULT_MAX_MESSAGE_BYTES
        )
        return DEFAULT_MAX_MESSAGE_BYTES
    return limit


def channel_options(limit: int | None = None) -> list[tuple[str, int]]:
    """The gRPC options (for a channel or a server) that send and receive messages up to
    ``limit`` bytes (default: `max_message_bytes`, the bridge's limit when the Rust process
    started this one)."""
    size = min(max_message_bytes() if limit is None else limit, GRPC_MAX_MESSAGE_BYTES)
    if size <= 0:
        raise ValueError(f"a message size limit is a positive number of bytes, got {size}")
    return [("grpc.max_send_message_length", size), ("grpc.max_receive_message_length", size)]


def oversize_hint(limit: int) -> str:
    """What a message over ``limit`` bytes is told: the limit, and the settings that raise it."""
    return (
        f"the limit is {limit} bytes; raise it with the environment variable {MAX_MESSAGE_BYTES_ENV} "
        "or dspex_bridge.channel_options(limit) for a channel you open (and the bridge's with "
        "BridgeConfig::max_message_size in Rust)"
    )


def explain_oversize(details: str) -> str | None:
    """gRPC's own refusal of a message over a channel's limit, said with the limit and how to
    raise it; ``None`` for any other text."""
    match = _GRPC_OVERSIZE.search(details)
    if match is None:
        return None
    direction, size, limit = match.group(1), int(match.group(2)), int(match.group(3))
    what = "the request" if direction == "Sent" else "the answer"
    return f"{what} is {size} bytes, over the message size limit; {oversize_hint(limit)}"
