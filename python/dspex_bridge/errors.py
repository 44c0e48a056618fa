"""The exceptions of dspex_bridge, and the mapping from a gRPC error to one of them.

The bridge answers every refused call with a gRPC status whose details are the sentence
Rust shows (for instance ``variable `temperature`: 2.5 is above the maximum 2.0``) and a
trailing metadata entry ``x-dspex-error`` naming the kind of error. The exceptions carry
that sentence as their message, and the kind as ``.kind``. A message is bounded whatever
sent it (`_quote.fit`: at most 4 KiB, saying how long the whole was), and gRPC's own refusal
of a message over a channel's size limit is said with the limit and the setting that raises
it (`message_size`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final, Protocol, cast

import grpc

from ._quote import fit
from .message_size import explain_oversize

ERROR_KIND_KEY: Final = "x-dspex-error"
"""The trailing metadata entry naming the kind of error (the bridge's and the workers')."""
EXCEPTION_KEY: Final = "x-dspex-exception"
"""The trailing metadata entry in which a worker names the Python exception class behind a
status (``AdapterParseError``, ``ValueError``, ...)."""


class BridgeError(Exception):
    """Base class of every error raised by dspex_bridge.

    ``message`` is the bridge's sentence, ``kind`` the error kind (``not_found``,
    ``constraint_violation``, ...), ``code`` the gRPC status code, when there was one.
    """

    message: str
    kind: str
    code: grpc.StatusCode | None

    def __init__(self, message: str, kind: str = "bridge", code: grpc.StatusCode | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.code = code

    def __str__(self) -> str:
        return self.message


class VariableNotFoundError(BridgeError, KeyError):
    """No variable with that name or id in the session."""


class SessionNotFoundError(VariableNotFoundError):
    """No session with that id on the bridge (the Context is gone, or the id is wrong)."""


class ValidationError(BridgeError, ValueError):
    """A value or a definition the bridge refused: the message is the Rust message."""


class InvalidDefinitionError(ValidationError):
    """A variable definition the bridge refused (constraints that do not apply, min > max, ...)."""


class VersionConflictError(ValidationError):
    """A write with ``expected_version`` when the variable has moved on."""


class AlreadyExistsError(BridgeError, ValueError):
    """A variable with that name is already registered in the session."""


class EncodingError(ValidationError, TypeError):
    """A Python value that has no representation on the wire (only float, int, str, bool)."""


class AuthenticationError(BridgeError, PermissionError):
    """The bridge refused the token (missing or wrong)."""


class BridgeUnavailableError(BridgeError, ConnectionError):
    """The bridge could not be reached, or the call timed out."""


class ModuleVariableNotFoundError(VariableNotFoundError, ValueError):
    """A variable a DSPy module reads (a bound setting, a module-typed variable) is not in the
    session: a `VariableNotFoundError` like the session's own (``__cause__`` is that one, when
    the session raised it), and a ``ValueError``, as the module methods have always raised."""


class UnknownModuleTypeError(BridgeError, ValueError):
    """A module type name that no DSPy module class is registered under, or a module-typed
    variable that does not hold a name."""


_BY_KIND: Final[dict[str, type[BridgeError]]] = {
    "not_found": VariableNotFoundError,
    "session_not_found": SessionNotFoundError,
    "already_exists": AlreadyExistsError,
    "type_mismatch": ValidationError,
    "constraint_violation": ValidationError,
    "invalid_definition": InvalidDefinitionError,
    "invalid_argument": ValidationError,
    "version_conflict": VersionConflictError,
    "resource_exhausted": ValidationError,
    "unauthenticated": AuthenticationError,
    "unavailable": BridgeUnavailableError,
}

# The kind when the bridge did not name one (e.g. a status from the transport).
_KIND_BY_CODE: Final[dict[grpc.StatusCode, str]] = {
    grpc.StatusCode.NOT_FOUND: "not_found",
    grpc.StatusCode.ALREADY_EXISTS: "already_exists",
    grpc.StatusCode.INVALID_ARGUMENT: "invalid_argument",
    grpc.StatusCode.FAILED_PRECONDITION: "version_conflict",
    grpc.StatusCode.ABORTED: "version_conflict",
    grpc.StatusCode.RESOURCE_EXHAUSTED: "resource_exhausted",
    grpc.StatusCode.UNAUTHENTICATED: "unauthenticated",
    grpc.StatusCode.PERMISSION_DENIED: "unauthenticated",
}

_UNAVAILABLE: Final = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED}
)


class RpcErrorLike(Protocol):
    """What both ``grpc.RpcError`` (sync, a ``grpc.Call``) and ``grpc.aio.AioRpcError`` offer."""

    def code(self) -> grpc.StatusCode: ...
    def details(self) -> str | None: ...
    def trailing_metadata(self) -> Iterable[tuple[str, str | bytes]] | None: ...


def _error_kind(error: RpcErrorLike) -> str | None:
    metadata = error.trailing_metadata()
    if not metadata:
        return None
    for key, value in metadata:
        if key == ERROR_KIND_KEY:
            return fit(value.decode(errors="replace") if isinstance(value, bytes) else str(value), 128)
    return None


def from_rpc_error(error: grpc.RpcError) -> BridgeError:
    """The dspex_bridge exception for a failed call (sync or asyncio)."""
    call = cast(RpcErrorLike, error)
    code = call.code()
    details = call.details() or ""
    kind = _error_kind(call) or _KIND_BY_CODE.get(code) or code.name.lower()
    oversize = explain_oversize(details) if code == grpc.StatusCode.RESOURCE_EXHAUSTED else None
    message = oversize or fit(details) or f"the bridge answered {code.name}"
    cls = _BY_KIND.get(kind) or _BY_KIND.get(_KIND_BY_CODE.get(code, ""))
    if cls is None:
        cls = BridgeUnavailableError if code in _UNAVAILABLE else BridgeError
    return cls(message, kind, code)
