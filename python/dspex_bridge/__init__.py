"""dspex_bridge: the Python side of the dspex bridge.

A Rust program's `dspex::Context`, once bridged, is served over gRPC; `SessionContext`
(asyncio) and `SyncSessionContext` read and write its variables from Python, with the same
types, the same coercion and the same constraints (checked in Rust, on the bridge).

```python
import grpc
from dspex_bridge import SessionContext, channel_options

# The bridge's message size limit ($DSPEX_MAX_MESSAGE_BYTES, default 8 MiB), not gRPC's 4 MiB.
channel = grpc.aio.insecure_channel(address, options=channel_options())
session = SessionContext(session_id, channel)   # token from $DSPEX_BRIDGE_TOKEN
await session.set_variable("temperature", 0.95)

async for update in session.watch_variables(["temperature"], include_initial=True):
    update.name, update.value, update.old_value, update.version, update.source

session = SessionContext(session_id, channel, cache=True)   # reads served from memory
```
"""

from ._codec import PyValue, VariableInfo
from .cache import VariableCache
from .errors import (
    AlreadyExistsError,
    AuthenticationError,
    BridgeError,
    BridgeUnavailableError,
    EncodingError,
    InvalidDefinitionError,
    ModuleVariableNotFoundError,
    SessionNotFoundError,
    UnknownModuleTypeError,
    ValidationError,
    VariableNotFoundError,
    VersionConflictError,
)
from .message_size import MAX_MESSAGE_BYTES_ENV, channel_options
from .session_context import TOKEN_ENV, SessionContext, SyncSessionContext
from .watch import SyncVariableWatch, VariableUpdate, VariableWatch, WatchItem, WatchLagged

__all__ = [
    "MAX_MESSAGE_BYTES_ENV",
    "TOKEN_ENV",
    "AlreadyExistsError",
    "AuthenticationError",
    "BridgeError",
    "BridgeUnavailableError",
    "EncodingError",
    "InvalidDefinitionError",
    "ModuleVariableNotFoundError",
    "PyValue",
    "SessionContext",
    "SessionNotFoundError",
    "SyncSessionContext",
    "SyncVariableWatch",
    "UnknownModuleTypeError",
    "ValidationError",
    "VariableCache",
    "VariableInfo",
    "VariableNotFoundError",
    "VariableUpdate",
    "VariableWatch",
    "VersionConflictError",
    "WatchItem",
    "WatchLagged",
    "channel_options",
]
