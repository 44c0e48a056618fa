"""Rust tools in the worker, and the scope of one module call.

A ReAct module created from Rust may hold Rust tools. Each is a real ``dspy.Tool`` (its name, its description, one
argument per property of its JSON Schema, checked by DSPy against that schema before anything is sent) whose
function sends a ``CallTool`` request to the bridge, over the channel the worker already holds and with its token,
and waits for the answer: the tool runs in the Rust process that owns the module. Many calls may be in flight at
once, from the worker's threads; each waits on its own request.

A tool that fails, panics, times out or refuses its arguments raises `RustToolError`, which ReAct turns into an
observation, as it does for any Python tool that raises. A call the bridge cannot serve does the same.

A `CallScope` is one module call. Its caller may go away (the Rust future or stream is dropped): `CallScope.cancel`
then cancels the tool calls in flight, and the call stops at its next LM request, module or tool with
`CallCancelled`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import inspect
import json
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Final, Literal

import dspy
import grpc
import grpc.aio
from dspy.utils.callback import BaseCallback

from .._proto_loader import pb, pb_grpc, worker_pb
from ..session_context import call_metadata
from .imports import import_object
from .status import invalid

ANSWER_GRACE_S: Final = 10.0
"""How much longer than its timeout the worker waits for a Rust tool (the Rust side ends the call at the timeout)."""


class CallCancelled(BaseException):
    """The module call was cancelled: its caller is gone.

    A ``BaseException``, so that ReAct, which turns a tool's ``Exception`` into an observation, stops instead.
    """


class RustToolError(RuntimeError):
    """A Rust tool gave no answer; the message says why (ReAct shows it to the agent as the observation)."""


# ---- the scope of one call -----------------------------------------------------------------


class CallScope(BaseCallback):  # type: ignore[misc]  # dspy ships no type information
    """One module call: whether it was cancelled, and its Rust tool calls in flight.

    As a DSPy callback (see `in_scope`) it stops a cancelled call at the start of its next module, LM request or
    tool. The calls in flight are only touched on the event loop.
    """

    def __init__(self) -> None:
        # A flag, not a threading.Event (a condition and a lock more per call): it is set once, under the lock,
        # and read anywhere (one attribute read, atomic under the GIL).
        self._cancelled = False
        self._calls: set[Any] = set()
        self._lock = threading.Lock()
        self._joins: list[list[Any]] = []
        """The callback lists (`in_scope` with ``callback="on_cancel"``) this scope joins once cancelled."""

    @property
    def cancelled(self) -> bool:
        """Whether `cancel` was called."""
        return self._cancelled

    def cancel(self) -> None:
        """Cancels the call: its tool calls in flight now, the rest as it reaches them (on the event loop)."""
        with self._lock:
            self._cancelled = True
            for callbacks in self._joins:
                _join(callbacks, self)
        for call in list(self._calls):
            call.cancel()

    def join_when_cancelled(self, callbacks: list[Any]) -> None:
        """Makes this scope one of ``callbacks`` once it is cancelled (at once if it already is)."""
        with self._lock:
            self._joins.append(callbacks)
            if self._cancelled:
                _join(callbacks, self)

    def leave(self, callbacks: list[Any]) -> None:
        """Undoes `join_when_cancelled` (the block that runs with ``callbacks`` ended)."""
        with self._lock:
            self._joins = [joined for joined in self._joins if joined is not callbacks]

    def check(self) -> None:
        """`CallCancelled` once the call was cancelled."""
        if self._cancelled:
            raise CallCancelled("the module call was cancelled")

    def track(self, call: Any) -> None:
        """Records a tool call in flight (on the event loop); cancels it at once if the scope already is."""
        if self.cancelled:
            call.cancel()
        self._calls.add(call)

    def untrack(self, call: Any) -> None:
        """Forgets a finished tool call (on the event loop)."""
        self._calls.discard(call)

    def on_module_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
        self.check()

    def on_lm_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
        self.check()

    def on_tool_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
        self.check()


def _join(callbacks: list[Any], scope: CallScope) -> None:
    if not any(callback is scope for callback in callbacks):
        # One append (atomic under the GIL): DSPy reads the list afresh at each decorated call, in any thread.
        callbacks.append(scope)


_SCOPE: contextvars.ContextVar[CallScope | None] = contextvars.ContextVar("dspex_call_scope", default=None)

ScopeCallback = Literal["always", "on_cancel", "never"]
"""How a call checks its `CallScope` (`in_scope`)."""


@contextlib.contextmanager
def in_scope(scope: CallScope | None, *, callback: ScopeCallback = "always") -> Iterator[None]:
    """Runs the block as part of ``scope``: its DSPy calls check it, its Rust tool calls are tracked by it.

    ``callback`` says when the scope is one of the DSPy callbacks in force:

    - ``"always"``: from the start, where the scope must be found among them: DSPy hands the callbacks to its
      threads (a run's program finds its scope there) and ``dspy.streamify`` takes those in force when called;
    - ``"on_cancel"``: only once it is cancelled: the block's callback list (its own, shared by the ``dspy.context``
      blocks and DSPy threads inside) gets the scope then. Until then DSPy's decorated methods take their fast path:
      with any callback in force, each binds its arguments for it (``inspect.getcallargs``), about 0.2 ms of a
      Predict call of 0.7 ms;
    - ``"never"``: for a call awaited on the event loop, where the cancelled task stops at its next ``await``
      (an LM request, a tool), which is what the callback would stop."""
    if scope is None:
        yield
        return
    token = _SCOPE.set(scope)
    try:
        callbacks = list(dspy.settings.callbacks)
        if callback == "never" or any(joined is scope for joined in callbacks):
            yield
        elif callback == "always":
            with dspy.context(callbacks=[*callbacks, scope]):
                yield
        else:
            scope.join_when_cancelled(callbacks)
            try:
                with dspy.context(callbacks=callbacks):
                    yield
            finally:
                scope.leave(callbacks)
    finally:
        _SCOPE.reset(token)


# ---- Rust tools --------------------------------------------------------------------------

_RUST_TOOL_FUNCTIONS: weakref.WeakSet[Callable[..., Any]] = weakref.WeakSet()
"""The functions of the Rust tools made here: on the event loop each returns a coroutine (see `ToolBridge.call`)."""


def awaitable_tool(tool: Any) -> bool:
    """Whether ``tool`` (a ``dspy.Tool`` or a function) waits without blocking the event loop when DSPy's async
    path calls it: a Rust tool, or a coroutine function."""
    func = getattr(tool, "func", tool)
    return func in _RUST_TOOL_FUNCTIONS or inspect.iscoroutinefunction(func)


class ToolBridge:
    """Calls Rust tools over the worker's bridge channel (built in async code: it keeps the event loop)."""

    def __init__(self, channel: grpc.aio.Channel, token: str) -> None:
        self._stub: Any = pb_grpc.VariableBridgeStub(channel)
        self._metadata = call_metadata(token)
        self._loop = asyncio.get_running_loop()

    def tool(self, spec: worker_pb.RustTool, session_id: str, module_id: str) -> dspy.Tool:
        """The ``dspy.Tool`` of ``spec``, for the module ``module_id`` of ``session_id``."""
        try:
            schema = json.loads(spec.args_schema_json) if spec.args_schema_json else {}
        except ValueError as error:
            raise invalid(f"Rust tool `{spec.name}`: its argument schema is not JSON: {error}") from None
        properties = schema.get("properties") if isinstance(schema, dict) else None
        if not isinstance(properties, dict):
            properties = {}
        deadline = spec.timeout_ms / 1000 + ANSWER_GRACE_S

        def call(**arguments: Any) -> Any:
            request = pb.CallToolRequest(
                session_id=session_id,
                module_id=module_id,
                tool=spec.name,
                arguments_json=json.dumps(arguments, default=str),
            )
            return self.call(request, deadline)

        call.__name__ = spec.name
        _RUST_TOOL_FUNCTIONS.add(call)
        tool = dspy.Tool(
            call,
            name=spec.name,
            desc=spec.description,
            args=properties,
            arg_types=dict.fromkeys(properties, Any),
        )
        # The function takes **arguments; the tool takes exactly the schema's (DSPy refuses any other).
        tool.has_kwargs = False
        return tool

    def call(self, request: pb.CallToolRequest, deadline: float) -> Any:
        """Sends one call and returns the tool's answer; `RustToolError` when it gave none.

        From a worker thread this waits for the answer; on the event loop's own thread it returns the coroutine
        (which ``dspy.Tool.acall`` awaits)."""
        scope = _SCOPE.get()
        if scope is not None:
            scope.check()
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            return self._send(request, deadline, scope)
        future = asyncio.run_coroutine_threadsafe(self._send(request, deadline, scope), self._loop)
        try:
            return future.result()
        except concurrent.futures.CancelledError:
            raise CallCancelled(f"the module call was cancelled while tool `{request.tool}` ran") from None

    async def _send(self, request: pb.CallToolRequest, deadline: float, scope: CallScope | None) -> Any:
        call = self._stub.CallTool(request, metadata=self._metadata, timeout=deadline)
        if scope is not None:
            scope.track(call)
        try:
            response = await call
        except grpc.aio.AioRpcError as error:
            raise RustToolError(_unserved(request.tool, error)) from None
        finally:
            if scope is not None:
                scope.untrack(call)
        return answer(request.tool, response)


def _unserved(tool: str, error: grpc.aio.AioRpcError) -> str:
    if error.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
        return f"tool `{tool}` did not answer in time"
    return f"tool `{tool}` could not be called: {error.code().name}: {error.details()}"


def answer(tool: str, response: pb.CallToolResponse) -> Any:
    """The answer in ``response`` (the JSON the tool returned, as Python); `RustToolError` for a failure."""
    kind = response.WhichOneof("outcome")
    if kind == "result_json":
        return json.loads(response.result_json)
    if kind == "failure":
        raise RustToolError(response.failure.message)
    raise RustToolError(f"tool `{tool}`: the bridge sent no outcome")


def resolve(
    specs: Sequence[worker_pb.ToolSpec], bridge: ToolBridge | None, session_id: str, module_id: str
) -> list[Any]:
    """The tools of a ReAct module in order: Python tools imported, Rust tools as ``dspy.Tool``s over ``bridge``
    (blocking: Python tools are imported). Two tools with one name are refused: the agent could not tell them
    apart."""
    tools: list[Any] = []
    for spec in specs:
        kind = spec.WhichOneof("kind")
        if kind == "python":
            tool = import_object(spec.python, "tool")
            if not callable(tool):
                raise invalid(f"tool `{spec.python}` is not callable")
            tools.append(tool)
        elif kind == "rust":
            if bridge is None:
                raise invalid(f"Rust tool `{spec.rust.name}`: the worker has no bridge to call it over")
            tools.append(bridge.tool(spec.rust, session_id, module_id))
        else:
            raise invalid("a tool spec names neither a Python nor a Rust tool")
    names = [
        tool.name if isinstance(tool, dspy.Tool) else getattr(tool, "__name__", type(tool).__name__) for tool in tools
    ]
    for name in names:
        if names.count(name) > 1:
            raise invalid(f"two tools are named `{name}`: the agent must tell them apart")
    return tools


__all__ = [
    "CallCancelled",
    "CallScope",
    "RustToolError",
    "ScopeCallback",
    "ToolBridge",
    "answer",
    "awaitable_tool",
    "in_scope",
    "resolve",
]
