"""The wire size of a request, known without measuring it again.

Measuring a decoded protobuf message (``ByteSize()``) serializes it: milliseconds for a document of megabytes, on
the event loop. The bytes gRPC received have that size already: `RequestSizeInterceptor` wraps the deserializer of
the methods it is given, and the handler reads the size with `request_bytes`. The deserializer runs in the call's
own task, just before its handler, so the context variable it sets is that call's.
"""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc
import grpc.aio

Request = TypeVar("Request")
Response = TypeVar("Response")

_REQUEST_BYTES: contextvars.ContextVar[int | None] = contextvars.ContextVar("dspex_request_bytes", default=None)


def request_bytes(request: Any) -> int:
    """The wire size of ``request``, the request of the running call: as received when the interceptor recorded
    it, else measured."""
    size = _REQUEST_BYTES.get()
    return size if size is not None else int(request.ByteSize())


class RequestSizeInterceptor(grpc.aio.ServerInterceptor):
    """Records the wire size of each request of ``methods`` (full names, ``/package.Service/Method``) for
    `request_bytes`."""

    def __init__(self, methods: frozenset[str]) -> None:
        self._methods = methods

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Request, Response] | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Request, Response] | None:
        handler: Any = await continuation(handler_call_details)
        deserialize = getattr(handler, "request_deserializer", None)
        if deserialize is None or handler_call_details.method not in self._methods:
            return handler  # type: ignore[no-any-return]  # the handler grpc gave, unchanged

        def sized(data: bytes) -> Any:
            _REQUEST_BYTES.set(len(data))
            return deserialize(data)

        return handler._replace(request_deserializer=sized)  # type: ignore[no-any-return]  # a namedtuple: the same handler, measuring
