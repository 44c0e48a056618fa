"""The worker's authentication: every call carries the bridge token in its metadata, once."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc
import grpc.aio

from ..errors import ERROR_KIND_KEY
from ..session_context import TOKEN_METADATA_KEY

Request = TypeVar("Request")
Response = TypeVar("Response")

WRONG_TOKEN = f"missing or wrong {TOKEN_METADATA_KEY}"
MORE_THAN_ONE_TOKEN = f"more than one bridge token (metadata `{TOKEN_METADATA_KEY}`): send exactly one"


def _refusal(message: str) -> grpc.RpcMethodHandler[Any, Any]:
    """A handler that answers UNAUTHENTICATED with ``message``, whatever the request."""

    async def deny(_request: object, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        await context.abort(
            grpc.StatusCode.UNAUTHENTICATED, message, trailing_metadata=((ERROR_KIND_KEY, "unauthenticated"),)
        )

    return grpc.unary_unary_rpc_method_handler(deny)


class TokenInterceptor(grpc.aio.ServerInterceptor):
    """Refuses every call whose ``x-dspex-token`` is not the bridge token, and every call that
    carries more than one ``x-dspex-token`` entry, whatever their order (UNAUTHENTICATED),
    before the call reaches a handler: one of two entries would win, and a request must not
    be read two ways."""

    def __init__(self, token: str) -> None:
        self._token = token.encode()
        self._wrong = _refusal(WRONG_TOKEN)
        self._ambiguous = _refusal(MORE_THAN_ONE_TOKEN)

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Request, Response] | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Request, Response] | None:
        given = [
            value.encode() if isinstance(value, str) else bytes(value)
            for key, value in handler_call_details.invocation_metadata or ()
            if key == TOKEN_METADATA_KEY
        ]
        if len(given) > 1:
            return self._ambiguous
        # Constant time: the comparison does not tell how much of a guess was right.
        if not given or not hmac.compare_digest(given[0], self._token):
            return self._wrong
        return await continuation(handler_call_details)
