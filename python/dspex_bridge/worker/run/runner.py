"""The ``Run`` RPC: a program of the worker's modules evaluated, optimized, or searched for
variable values, streaming `RunProgress` events and ending with the `RunResult`.

What can be checked without blocking (the modules, the session's LM, the bound variables' values,
read from the bridge when the request does not carry them) is checked on the event loop; the rest
runs in a thread of its own, under ``dspy.context`` with the session's LM and adapter: the
examples are decoded, the metric imported, the optimizer built, then the task runs. A request the
run refuses fails before any event is sent.

The caller cancelling the stream cancels the run (`tools.CallScope`): it stops at its next module
call, LM request, tool call, metric call or trial.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import dspy

from ..._codec import PyValue
from ..._proto_loader import worker_pb
from ..._quote import excerpt
from .. import lm as lms
from .. import modules
from ..config import ADDRESS_ENV
from ..modules import ModuleEntry
from ..sessions import Session, Sessions
from ..status import invalid, no_lm, precondition, too_large
from ..tools import CallScope, ToolBridge, in_scope
from ..values import decoded
from . import examples, optimizers, variable_search
from .evaluation import evaluate
from .metric import Metric
from .program import Part, check_fields, check_name, compose
from .progress import Progress

logger = logging.getLogger(__name__)

MAX_TRACE_SIZE: Final = 10_000
"""The trace a run keeps (the worker keeps none; optimizers learn demos from it)."""


@dataclass(frozen=True)
class Worker:
    """What a run needs of the worker."""

    module: Callable[[str], ModuleEntry]
    """The module of an id (NOT_FOUND for an unknown one)."""
    sessions: Sessions
    tool_bridge: Callable[[], ToolBridge | None]
    max_message_bytes: int


@dataclass(frozen=True)
class _Done:
    result: worker_pb.RunResult


@dataclass(frozen=True)
class _Failed:
    error: Exception


async def _parts(request: worker_pb.RunRequest, worker: Worker) -> list[Part]:
    """The run's modules, each with its settings for the run (bound values from the request, else the bridge)."""
    if not request.modules:
        raise invalid("a run has at least one module")
    variables = decoded(request.variables, "variable")
    parts: list[Part] = []
    for run_module in request.modules:
        check_name(run_module.name)
        if any(part.name == run_module.name for part in parts):
            raise invalid(f"two modules of the program are named `{run_module.name}`")
        entry = worker.module(run_module.module_id)
        if entry.session_id != request.session_id:
            raise invalid(
                f"module `{excerpt(run_module.module_id)}` belongs to session `{excerpt(entry.session_id)}`, "
                f"not to the run's `{excerpt(request.session_id)}`"
            )
        bound = {setting: variables[variable] for setting, variable in entry.bindings.items() if variable in variables}
        reads_bridge = any(setting not in bound for setting in entry.bindings)
        bridge = worker.sessions.context(entry.session_id) if reads_bridge else None
        settings = await modules.call_settings(entry, bound, bridge)
        parts.append(Part(run_module.name, entry, settings))
    return parts


def _writer(worker: Worker, session_id: str, loop: asyncio.AbstractEventLoop) -> variable_search.Write:
    """Writes a trial's values through the session's bridge context (from the run's thread)."""
    context = worker.sessions.context(session_id)
    if context is None:
        raise precondition(
            f"a variable search writes its trials to the session, and the worker has no bridge ({ADDRESS_ENV})"
        )

    def write(values: Mapping[str, PyValue], metadata: Mapping[str, str]) -> None:
        asyncio.run_coroutine_threadsafe(context.update_variables(dict(values), dict(metadata)), loop).result()

    return write


@dataclass(frozen=True)
class _Plan:
    request: worker_pb.RunRequest
    session: Session
    parts: list[Part]
    bridge: ToolBridge | None
    write: variable_search.Write | None
    progress: Progress
    scope: CallScope


def _reflection_lm(task: worker_pb.OptimizerTask, session: Session) -> Any:
    if task.optimizer != "GEPA":
        return None
    if not task.HasField("reflection_lm"):
        return session.lm
    spec = task.reflection_lm
    return lms.build_lm(spec, lms.lm_kind(spec), decoded(spec.settings, "reflection LM setting"))


def _task(plan: _Plan) -> worker_pb.RunResult:
    """The run itself (blocking, in the run's thread and DSPy context)."""
    request = plan.request
    typed = plan.parts[0].entry.typed
    trainset = examples.decode(examples.TRAIN, request.trainset, typed)
    devset = examples.decode(examples.DEV, request.devset, typed)
    outputs = list(request.outputs)
    check_fields(plan.parts, outputs, [trainset, devset])
    metric = Metric(request.metric, [trainset, devset], request.run_id, request.session_id, plan.bridge, plan.scope)
    threads = max(1, request.concurrency)
    task = request.WhichOneof("task")
    if task == "evaluate":
        if not devset.examples:
            raise invalid("an evaluation scores the devset, which is empty")
        evaluation = evaluate(compose(plan.parts, outputs), devset, metric, threads, plan.progress, "evaluate")
        result = worker_pb.RunResult(score=evaluation.score)
        result.results.extend(outcome.message() for outcome in evaluation.outcomes)
        return result
    if task == "optimizer":
        optimizer = request.optimizer
        reflection_lm = _reflection_lm(optimizer, plan.session)
        names = [part.name for part in plan.parts]
        return optimizers.optimize(
            optimizer,
            compose(plan.parts, outputs),
            names,
            trainset,
            devset,
            metric,
            threads,
            reflection_lm,
            plan.progress,
        )
    search = request.variable_search
    searched = variable_search.check(search)
    if not devset.examples:
        raise invalid("a variable search scores the devset, which is empty")
    assert plan.write is not None  # made for a variable search
    return variable_search.search(
        plan.parts, outputs, devset, metric, search, searched, plan.write, threads, plan.progress, plan.scope
    )


def _work(plan: _Plan) -> None:
    """The run's thread: the task, then its result (or its failure) for the stream."""
    session = plan.session
    overrides: dict[str, Any] = {"lm": session.lm, "trace": [], "max_trace_size": MAX_TRACE_SIZE}
    if session.adapter is not None:
        overrides["adapter"] = session.adapter
    try:
        with dspy.context(**overrides), in_scope(plan.scope):
            result = _task(plan)
    except Exception as error:  # noqa: BLE001 - handed to the stream, which turns it into the status
        plan.progress.send(_Failed(error))
    except BaseException as error:  # noqa: BLE001 - the run's cancellation: the stream is gone, or ends with it
        stopped = RuntimeError(f"the run stopped: {type(error).__name__}: {error}")
        plan.progress.send(_Failed(stopped))
    else:
        plan.progress.send(_Done(result))


async def stream(request: worker_pb.RunRequest, worker: Worker) -> AsyncIterator[worker_pb.RunEvent]:
    """The events of one run: its progress, then its result."""
    if not request.run_id:
        raise invalid("run_id is empty")
    session = worker.sessions.get(request.session_id)
    if session.lm is None:
        raise no_lm(request.session_id)
    task = request.WhichOneof("task")
    if task is None:
        raise invalid("a run has a task: evaluate, optimizer or variable_search")
    if task == "optimizer":
        optimizers.optimizer_class(request.optimizer.optimizer)
    parts = await _parts(request, worker)
    loop = asyncio.get_running_loop()
    bridge = worker.tool_bridge() if request.metric.WhichOneof("kind") == "rust" else None
    write = _writer(worker, request.session_id, loop) if task == "variable_search" else None
    queue: asyncio.Queue[Any] = asyncio.Queue()
    scope = CallScope()
    plan = _Plan(request, session, parts, bridge, write, Progress(request.run_id, loop, queue), scope)
    logger.info(
        "run %s: %s of %s",
        excerpt(request.run_id),
        task,
        ", ".join(f"{part.name}={part.entry.class_name}" for part in parts),
    )
    threading.Thread(target=_work, args=(plan,), name=f"dspex-run-{excerpt(request.run_id)}", daemon=True).start()
    finished = False
    try:
        while True:
            item = await queue.get()
            if isinstance(item, _Done):
                finished = True
                item.result.dspy_version = dspy.__version__
                answer = worker_pb.RunEvent(done=item.result)
                size = answer.ByteSize()
                if size > worker.max_message_bytes:
                    raise too_large("the run's result", size, worker.max_message_bytes)
                logger.info("run %s: done, score %.3f", excerpt(request.run_id), item.result.score)
                yield answer
                return
            if isinstance(item, _Failed):
                finished = True
                raise item.error
            yield item
    finally:
        if not finished:
            logger.info("run %s: cancelled", excerpt(request.run_id))
            scope.cancel()


__all__ = ["Worker", "stream"]
