"""The sessions a worker serves: per session (a Rust Context), its LM and the `SessionContext`
its modules read their bound variables through."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import grpc
import grpc.aio

from ..message_size import DEFAULT_MAX_MESSAGE_BYTES, channel_options
from ..session_context import SessionContext
from .status import invalid


@dataclass
class Session:
    """What the worker keeps per session."""

    lm: Any = None
    """The session's ``dspy.BaseLM`` (``None`` until ``ConfigureLm``)."""
    adapter: Any = None
    """The session's DSPy adapter (``None``: DSPy's default)."""
    context: SessionContext | None = None
    """The session's variables on the bridge, created on first need."""


class Sessions:
    """Every session the worker has been asked about, and one bridge channel for all of them."""

    def __init__(
        self, bridge_address: str | None, token: str, cache: bool, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    ) -> None:
        self._bridge_address = bridge_address
        self._token = token
        self._cache = cache
        self._max_message_bytes = max_message_bytes
        self._sessions: dict[str, Session] = {}
        self._channel: grpc.aio.Channel | None = None

    def get(self, session_id: str) -> Session:
        """The session (created empty on first use); INVALID_ARGUMENT for an empty id."""
        if not session_id:
            raise invalid("session_id is empty")
        session = self._sessions.get(session_id)
        if session is None:
            # setdefault: one step under the GIL, so a call-socket thread and the event loop agree on one Session.
            session = self._sessions.setdefault(session_id, Session())
        return session

    def context(self, session_id: str) -> SessionContext | None:
        """The session's `SessionContext`, or ``None`` when the worker has no bridge.

        Created on first need only: a cached context watches its session from then on, and
        a session whose modules read no variable needs no watch."""
        session = self.get(session_id)
        channel = self.channel()
        if session.context is None and channel is not None:
            session.context = SessionContext(session_id, channel, token=self._token, cache=self._cache)
        return session.context

    def channel(self) -> grpc.aio.Channel | None:
        """The one channel to the bridge (opened on first need), or ``None`` when the worker has no bridge."""
        if self._channel is None and self._bridge_address:
            options = channel_options(self._max_message_bytes)
            self._channel = grpc.aio.insecure_channel(self._bridge_address, options=options)
        return self._channel

    @property
    def token(self) -> str:
        """The bridge token, sent with every call to the bridge."""
        return self._token

    async def close(self) -> None:
        """Stops every session's cache, then closes the bridge channel."""
        for session in self._sessions.values():
            if session.context is not None:
                await session.context.close()
        if self._channel is not None:
            await self._channel.close()
