"""How the worker answers a request it cannot serve: every exception becomes a gRPC status,
chosen by the exception's type, and the worker keeps serving."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeAlias, TypeVar

import grpc
import grpc.aio

from ..errors import (
    AuthenticationError,
    BridgeError,
    BridgeUnavailableError,
    UnknownModuleTypeError,
    ValidationError,
    VariableNotFoundError,
)
from ..signature import SignatureSpecError

logger = logging.getLogger(__name__)

Servicer = TypeVar("Servicer")
Request = TypeVar("Request")
Response = TypeVar("Response")
Context: TypeAlias = grpc.aio.ServicerContext[Any, Any]
"""The context of a call (its metadata, and how to abort it)."""


class WorkerError(Exception):
    """A refused request: the gRPC status code and the message the caller sees."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def invalid(message: str) -> WorkerError:
    """INVALID_ARGUMENT: the request itself is wrong."""
    return WorkerError(grpc.StatusCode.INVALID_ARGUMENT, message)


def not_found(message: str) -> WorkerError:
    """NOT_FOUND: a module or a variable the request names does not exist."""
    return WorkerError(grpc.StatusCode.NOT_FOUND, message)


def precondition(message: str) -> WorkerError:
    """FAILED_PRECONDITION: the request is right, the worker's state is not (no LM, no bridge, no key)."""
    return WorkerError(grpc.StatusCode.FAILED_PRECONDITION, message)


def status_of(error: BaseException) -> tuple[grpc.StatusCode, str]:
    """The status for any exception raised while serving a request. What is not known here
    (an LM's or a module's own failure) is UNKNOWN, with the exception's type and message."""
    if isinstance(error, WorkerError):
        return error.code, error.message
    if isinstance(error, VariableNotFoundError):
        return grpc.StatusCode.NOT_FOUND, str(error)
    if isinstance(error, (ValidationError, UnknownModuleTypeError, SignatureSpecError)):
        return grpc.StatusCode.INVALID_ARGUMENT, str(error)
    if isinstance(error, AuthenticationError):
        return grpc.StatusCode.FAILED_PRECONDITION, f"the bridge refused the worker's token: {error}"
    if isinstance(error, BridgeUnavailableError):
        return grpc.StatusCode.UNAVAILABLE, f"the bridge is unavailable: {error}"
    if isinstance(error, BridgeError):
        return grpc.StatusCode.UNKNOWN, f"bridge error: {error}"
    return grpc.StatusCode.UNKNOWN, f"{type(error).__name__}: {error}"


def answering_with_status(
    method: Callable[[Servicer, Request, Context], Awaitable[Response]],
) -> Callable[[Servicer, Request, Context], Coroutine[Any, Any, Response]]:
    """An RPC method with every exception turned into the call's status (and logged):
    nothing a request does escapes to the server."""

    @functools.wraps(method)
    async def handle(servicer: Servicer, request: Request, context: Context) -> Response:
        try:
            return await method(servicer, request, context)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 - every failure becomes a status, the worker keeps serving
            code, message = status_of(error)
            level = logging.ERROR if code == grpc.StatusCode.UNKNOWN else logging.WARNING
            logger.log(level, "%s refused (%s): %s", method.__name__, code.name, message)
            await context.abort(code, message)

    return handle
