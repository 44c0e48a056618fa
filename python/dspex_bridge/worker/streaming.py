"""``StreamModule``: a module call streamed with DSPy's own streaming (``dspy.streamify``).

What the caller sees, in order:

- status lines from a ``StatusMessageProvider``: ``running `<predictor>``` as each predictor starts,
  ``calling tool `<name>``` and ``tool `<name>` finished`` around each tool call;
- the text of the output fields as the LM writes it, from one ``StreamListener`` per field: the string output
  fields of the module's signature (and ``reasoning``) that exactly one of its predictors writes, so that the
  pieces of a field, concatenated, are that field's value in the prediction;
- the prediction, encoded as ``CallModule`` encodes it.

The caller going away cancels the call (`tools.CallScope`): its Rust tool calls in flight, then its next LM request,
module or tool.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, TypeVar

import dspy
from dspy.streaming import StatusMessage, StatusMessageProvider, StreamListener, StreamResponse

from .._codec import encode_output
from .._proto_loader import worker_pb
from . import modules
from .modules import ModuleEntry
from .status import Context, abort_with
from .tools import CallScope, in_scope

logger = logging.getLogger(__name__)

Servicer = TypeVar("Servicer")
Request = TypeVar("Request")
Event = TypeVar("Event")

BUFFER: int = 64
"""How many events may wait for a slow caller before the call waits too."""
REASONING: str = "reasoning"
"""The field ChainOfThought adds (and ReAct, whose answer is a ChainOfThought's): streamed as an output."""


def streaming_with_status(
    method: Callable[[Servicer, Request, Context], AsyncIterator[Event]],
) -> Callable[[Servicer, Request, Context], AsyncIterator[Event]]:
    """A server-streaming RPC method with every exception turned into the stream's status (and logged), as
    `status.answering_with_status` does for unary ones."""

    @functools.wraps(method)
    async def handle(servicer: Servicer, request: Request, context: Context) -> AsyncIterator[Event]:
        try:
            async for event in method(servicer, request, context):
                yield event
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 - every failure becomes a status, the worker keeps serving
            await abort_with(context, method.__name__, error)

    return handle


class StatusLines(StatusMessageProvider):  # type: ignore[misc]  # dspy ships no type information
    """The status lines of one call: which predictor runs, which tool is called."""

    def __init__(self, predictors: Mapping[int, str]) -> None:
        self._predictors = predictors
        self._tools: list[str] = []

    def module_start_status_message(self, instance: Any, inputs: dict[str, Any]) -> str | None:
        name = self._predictors.get(id(instance))
        return f"running `{name}`" if name is not None else None

    def tool_start_status_message(self, instance: Any, inputs: dict[str, Any]) -> str:
        self._tools.append(instance.name)
        return f"calling tool `{instance.name}`"

    def tool_end_status_message(self, outputs: Any) -> str:
        name = self._tools.pop() if self._tools else "?"
        return f"tool `{name}` finished"


def predictor_names(module: Any) -> dict[int, str]:
    """Each predictor of ``module`` by identity, named as in the module (``react``, ``extract.predict``); a module
    that is itself a predictor is named by its DSPy class."""
    names: dict[int, str] = {}
    for name, predictor in module.named_predictors():
        names[id(predictor)] = _base_class_name(predictor) if name == "self" else name
    return names


def _base_class_name(module: Any) -> str:
    dspy_classes = [cls for cls in type(module).__mro__ if cls.__module__.startswith("dspy.")]
    return dspy_classes[0].__name__ if dspy_classes else type(module).__name__


def listeners(module: Any) -> list[StreamListener]:
    """One listener per streamed field (see the module docstring), each on the one predictor that writes it."""
    signature = getattr(module, "signature", None)
    predictors = list(module.named_predictors())
    if signature is not None:
        outputs = set(signature.output_fields)
    elif len(predictors) == 1:
        outputs = set(predictors[0][1].signature.output_fields)
    else:
        outputs = set()
    outputs.add(REASONING)
    writers: dict[str, list[tuple[str, Any]]] = {}
    for name, predictor in predictors:
        for field_name, field in predictor.signature.output_fields.items():
            if field_name in outputs:
                writers.setdefault(field_name, []).append((name, predictor) if field.annotation is str else ("", None))
    return [
        StreamListener(signature_field_name=field_name, predict=found[0][1], predict_name=found[0][0])
        for field_name, found in writers.items()
        if len(found) == 1 and found[0][1] is not None
    ]


class _Call(dspy.Module):  # type: ignore[misc]  # dspy ships no type information
    """One call of a hosted module as a program ``dspy.streamify`` can run: its predictors are the module's."""

    def __init__(
        self, entry: ModuleEntry, lm: Any, adapter: Any, settings: Mapping[str, Any], scope: CallScope
    ) -> None:
        super().__init__()
        self.module = entry.module
        self._entry = entry
        self._lm = lm
        self._adapter = adapter
        self._settings = settings
        self._scope = scope

    def forward(self, **inputs: Any) -> Any:
        return modules.run(self._entry, self._lm, self._adapter, self._settings, inputs, self._scope)


def event(value: Any) -> worker_pb.StreamModuleEvent | None:
    """The wire event of what the streamed program yielded (``None``: nothing the caller is told)."""
    if isinstance(value, StatusMessage):
        return worker_pb.StreamModuleEvent(status=value.message)
    if isinstance(value, StreamResponse):
        if not value.chunk:
            return None
        token = worker_pb.StreamToken(field=value.signature_field_name, text=value.chunk)
        return worker_pb.StreamModuleEvent(token=token)
    if isinstance(value, dspy.Prediction):
        outputs = {name: encode_output(output) for name, output in modules.output_fields(value).items()}
        return worker_pb.StreamModuleEvent(done=worker_pb.CallModuleResponse(outputs=outputs))
    return None


async def stream(
    entry: ModuleEntry, lm: Any, adapter: Any, settings: Mapping[str, Any], inputs: Mapping[str, Any]
) -> AsyncIterator[worker_pb.StreamModuleEvent]:
    """The events of one call. The caller going away (this generator closed or cancelled) cancels the call before
    anything else happens: DSPy's stream is closed only after, so the call cannot go on in between."""
    scope = CallScope()
    program = _Call(entry, lm, adapter, settings, scope)
    # streamify takes the callbacks in force when it is called: the scope must be one of them.
    with in_scope(scope):
        streamed = dspy.streamify(
            program,
            status_message_provider=StatusLines(predictor_names(entry.module)),
            stream_listeners=listeners(entry.module),
            include_final_prediction_in_output_stream=True,
        )
    events: asyncio.Queue[worker_pb.StreamModuleEvent | Exception | None] = asyncio.Queue(maxsize=BUFFER)

    async def pump() -> None:
        try:
            async for value in streamed(**inputs):
                wire = event(value)
                if wire is not None:
                    await events.put(wire)
            await events.put(None)
        except Exception as error:  # noqa: BLE001 - handed to the caller, who turns it into the stream's status
            await events.put(error)

    task = asyncio.create_task(pump())
    done = False
    try:
        while (item := await events.get()) is not None:
            if isinstance(item, Exception):
                raise item
            yield item
            if item.HasField("done"):
                done = True
                return
        raise RuntimeError(f"module `{entry.module_id}` ended without a prediction")
    finally:
        if not done:
            scope.cancel()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


__all__ = ["StatusLines", "event", "listeners", "predictor_names", "stream", "streaming_with_status"]
