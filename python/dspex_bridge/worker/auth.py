"""The worker's authentication: every call carries the bridge token in its metadata."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc
import grpc.aio

from ..session_context import TOKEN_METADATA_KEY

Request = TypeVar("Request")
Response = TypeVar("Response")


async def _deny(_request: object, context: grpc.aio.ServicerContext[Any, Any]) -> None:
    await context.abort(grpc.StatusCode.UNAUTHENTICATED, f"missing or wrong {TOKEN_METADATA_KEY}")


class TokenInterceptor(grpc.aio.ServerInterceptor):
    """Refuses every call whose ``x-dspex-token`` is not the bridge token (UNAUTHENTICATED),
    before the call reaches a handler."""

    def __init__(self, token: str) -> None:
        self._token = token.encode()
        self._deny: grpc.RpcMethodHandler[Any, Any] = grpc.unary_unary_rpc_method_handler(_deny)

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Request, Response] | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Request, Response] | None:
        given = b""
        for key, value in handler_call_details.invocation_metadata or ():
            if key == TOKEN_METADATA_KEY:
                given = value.encode() if isinstance(value, str) else bytes(value)
        # Constant time: the comparison does not tell how much of a guess was right.
        if not hmac.compare_digest(given, self._token):
            return self._deny
        return await continuation(handler_call_details)
