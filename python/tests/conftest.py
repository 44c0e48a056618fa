"""Fixtures: one real Rust bridge (the `bridge_fixture` example) for the whole run, a fresh
empty session per test, and sessions of both flavours (asyncio and sync) behind one
awaitable interface, so each behaviour is tested once for both twins."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import grpc
import grpc.aio
import pytest

from dspex_bridge import SessionContext, SyncSessionContext
from dspex_bridge.testing import BridgeFixture


@pytest.fixture(scope="session")
def bridge() -> Iterator[BridgeFixture]:
    """The running bridge (one process for the whole test run)."""
    with BridgeFixture.start() as fixture:
        yield fixture


@pytest.fixture
def session_id(bridge: BridgeFixture) -> str:
    """A new, empty session."""
    return bridge.new_session()


class AwaitableSync:
    """A `SyncSessionContext` whose methods can be awaited, so one test body serves both
    twins. The calls themselves stay synchronous (blocking)."""

    def __init__(self, inner: SyncSessionContext) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._inner, name)
        if not callable(method):
            return method

        async def call(*args: Any, **kwargs: Any) -> Any:
            return method(*args, **kwargs)

        return call


Opener = Callable[..., Any]
"""open_session(session_id, token=<the bridge's>) -> a session whose methods are awaited."""

_DEFAULT = object()


@pytest.fixture(params=["async", "sync"])
async def open_session(request: pytest.FixtureRequest, bridge: BridgeFixture) -> AsyncIterator[Opener]:
    """Opens sessions of one flavour over one channel; runs each test for both flavours."""
    flavour: str = request.param
    if flavour == "async":
        aio_channel = grpc.aio.insecure_channel(bridge.address)

        def open_async(session_id: str, token: Any = _DEFAULT) -> SessionContext:
            return SessionContext(session_id, aio_channel, token=bridge.token if token is _DEFAULT else token)

        yield open_async
        await aio_channel.close()
    else:
        channel = grpc.insecure_channel(bridge.address)

        def open_sync(session_id: str, token: Any = _DEFAULT) -> AwaitableSync:
            tok = bridge.token if token is _DEFAULT else token
            return AwaitableSync(SyncSessionContext(session_id, channel, token=tok))

        yield open_sync
        channel.close()


@pytest.fixture
def session(open_session: Opener, session_id: str) -> Any:
    """A fresh empty session, in the flavour under test."""
    return open_session(session_id)


@pytest.fixture
def main_session(open_session: Opener, bridge: BridgeFixture) -> Any:
    """The fixture's own session (temperature 0.7, max_tokens 256): read it, do not write it."""
    return open_session(bridge.session_id)
