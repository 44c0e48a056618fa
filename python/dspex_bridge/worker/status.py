"""How the worker answers a request it cannot serve: every exception becomes a gRPC status,
chosen by the exception's type, and the worker keeps serving.

A status carries, besides its code and its message (at most 4 KiB, cut by `_quote.fit`; the
whole of it goes to the log at debug level), two trailing metadata entries that the Rust
pool reads: ``x-dspex-error``, the kind of error (``python_exception`` for an exception
raised by DSPy or by user code, the bridge's own kind passed through — ``type_mismatch``,
``constraint_violation``, ... —, or the worker's refusal: ``invalid_argument``,
``not_found``, ``no_lm``, ...), and ``x-dspex-exception``, the class of the exception behind
it (``AdapterParseError``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Final, NoReturn, TypeAlias, TypeVar

import grpc
import grpc.aio

from .._quote import MAX_STATUS_MESSAGE_BYTES, excerpt, fit
from ..errors import (
    ERROR_KIND_KEY,
    EXCEPTION_KEY,
    AuthenticationError,
    BridgeError,
    BridgeUnavailableError,
    UnknownModuleTypeError,
    ValidationError,
    VariableNotFoundError,
)
from ..message_size import MAX_MESSAGE_BYTES_ENV
from ..signature import SignatureSpecError

logger = logging.getLogger(__name__)

PYTHON_EXCEPTION: Final = "python_exception"
"""The kind of an exception raised by DSPy or by user code (an LM, a tool, a factory)."""


Servicer = TypeVar("Servicer")
Request = TypeVar("Request")
Response = TypeVar("Response")
Context: TypeAlias = grpc.aio.ServicerContext[Any, Any]
"""The context of a call (its metadata, and how to abort it)."""


class WorkerError(Exception):
    """A refused request: the gRPC status code, the message the caller sees, and its kind."""

    def __init__(self, code: grpc.StatusCode, message: str, kind: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.kind = kind


def invalid(message: str) -> WorkerError:
    """INVALID_ARGUMENT: the request itself is wrong."""
    return WorkerError(grpc.StatusCode.INVALID_ARGUMENT, message, "invalid_argument")


def not_found(message: str) -> WorkerError:
    """NOT_FOUND: a module or a variable the request names does not exist."""
    return WorkerError(grpc.StatusCode.NOT_FOUND, message, "not_found")


def precondition(message: str) -> WorkerError:
    """FAILED_PRECONDITION: the request is right, the worker's state is not (no bridge, no key)."""
    return WorkerError(grpc.StatusCode.FAILED_PRECONDITION, message, "failed_precondition")


def no_lm(session_id: str) -> WorkerError:
    """FAILED_PRECONDITION of kind ``no_lm``: a call in a session that has no LM yet."""
    message = f"no LM configured for session `{excerpt(session_id)}` (ConfigureLm first)"
    return WorkerError(grpc.StatusCode.FAILED_PRECONDITION, message, "no_lm")


def too_large(what: str, size: int, limit: int) -> WorkerError:
    """RESOURCE_EXHAUSTED: an answer over the message size limit, which the caller could not
    read (said here, rather than by gRPC, with the limit and its setting)."""
    message = (
        f"{what} is {size} bytes, too large for one message: the limit is {limit} bytes "
        f"(the worker's {MAX_MESSAGE_BYTES_ENV})"
    )
    return WorkerError(grpc.StatusCode.RESOURCE_EXHAUSTED, message, "resource_exhausted")


@dataclass(frozen=True)
class Refusal:
    """What the caller is told of a failure: the status code, the message (not yet bounded),
    the kind, and the exception class when an exception (not the worker) refused."""

    code: grpc.StatusCode
    message: str
    kind: str
    exception: str | None


def refusal_of(error: BaseException) -> Refusal:
    """The refusal for any exception raised while serving a request. What is not known here
    (an LM's or a module's own failure) is UNKNOWN, with the exception's type and message."""
    if isinstance(error, WorkerError):
        return Refusal(error.code, error.message, error.kind, None)
    name = type(error).__name__
    if isinstance(error, SignatureSpecError):
        return Refusal(grpc.StatusCode.INVALID_ARGUMENT, str(error), "invalid_argument", name)
    if isinstance(error, BridgeError):
        if isinstance(error, VariableNotFoundError):
            code, message = grpc.StatusCode.NOT_FOUND, str(error)
        elif isinstance(error, (ValidationError, UnknownModuleTypeError)):
            code, message = grpc.StatusCode.INVALID_ARGUMENT, str(error)
        elif isinstance(error, AuthenticationError):
            code, message = grpc.StatusCode.FAILED_PRECONDITION, f"the bridge refused the worker's token: {error}"
        elif isinstance(error, BridgeUnavailableError):
            code, message = grpc.StatusCode.UNAVAILABLE, f"the bridge is unavailable: {error}"
        else:
            code, message = grpc.StatusCode.UNKNOWN, f"bridge error: {error}"
        return Refusal(code, message, error.kind, name)
    return Refusal(grpc.StatusCode.UNKNOWN, f"{name}: {excerpt(str(error))}", PYTHON_EXCEPTION, name)


def _metadata_text(text: str) -> str:
    """A text as a metadata value takes it: short, printable ASCII."""
    return excerpt(text).encode("ascii", "backslashreplace").decode("ascii")


def logged_refusal(method: str, error: BaseException) -> Refusal:
    """The refusal of ``error`` as the caller is told it (its message cut to 4 KiB, its kind and class as
    metadata takes them), logged: what a status says (`abort_with`), or the call socket's refusal."""
    refusal = refusal_of(error)
    message = fit(refusal.message, MAX_STATUS_MESSAGE_BYTES)
    level = logging.ERROR if refusal.code == grpc.StatusCode.UNKNOWN else logging.WARNING
    logger.log(level, "%s refused (%s, %s): %s", method, refusal.code.name, refusal.kind, message)
    if refusal.exception is not None:
        logger.debug("%s: the whole exception: %s", method, error, exc_info=error)
    exception = None if refusal.exception is None else _metadata_text(refusal.exception)
    return Refusal(refusal.code, message, _metadata_text(refusal.kind), exception)


async def abort_with(context: Context, method: str, error: Exception) -> NoReturn:
    """Ends the call with the status of ``error`` (logged): its code, its message cut to 4 KiB,
    its kind and exception class as trailers."""
    refusal = logged_refusal(method, error)
    trailers = [(ERROR_KIND_KEY, refusal.kind)]
    if refusal.exception is not None:
        trailers.append((EXCEPTION_KEY, refusal.exception))
    await context.abort(refusal.code, refusal.message, trailing_metadata=tuple(trailers))


def answering_with_status(
    method: Callable[[Servicer, Request, Context], Awaitable[Response]],
) -> Callable[[Servicer, Request, Context], Coroutine[Any, Any, Response]]:
    """An RPC method with every exception turned into the call's status (and logged): nothing
    a request does escapes to the server, and no status message is longer than 4 KiB."""

    @functools.wraps(method)
    async def handle(servicer: Servicer, request: Request, context: Context) -> Response:
        try:
            return await method(servicer, request, context)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 - every failure becomes a status, the worker keeps serving
            await abort_with(context, method.__name__, error)

    return handle
