"""The ``dspex.bridge.v1.Worker`` RPCs: each handler checks its request, then does the work in
`lm`, `modules` and `sessions`.

A call's ``bound_values`` are keyed by **setting** name (``{"temperature": 0.3}``, whatever the
bound variable is called). ``CreateModule`` with an existing ``module_id`` replaces that module,
so that re-creating the modules after a worker restart is idempotent. The blocking work (LM
construction, module construction, module calls of sync modules or LMs) runs in a thread pool,
so that the event loop keeps serving other calls and health checks meanwhile.

A module call whose module and LM both have an async path (`modules.runs_on_loop`: Predict,
ChainOfThought, ReAct with Rust tools, over a ``dspy.LM``) runs on the event loop instead,
through DSPy's ``acall``: waiting on the LM it holds no thread, so the calls in flight are not
capped by the pool. It does so once every thread of the pool is busy with a call: a call in a free
thread answers about half a millisecond sooner (DSPy's async LM path hops to threads of its own).
Only a small request does (`LOOP_BYTES`): DSPy formats and parses the text of
a call on the loop, and a document can be megabytes, which would stall every other call and
health check meanwhile; a large request, or a large answer's encoding, goes to the thread pool.

Module calls come mostly on the call socket (`call_socket`), not as ``CallModule``: its threads run each call
where they read it (`call_in_this_thread`, with the same checks and answer), and its multiplexed connection runs
the calls past those threads as ``CallModule`` does (`call_module`, which both share).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final, TypeVar

import dspy
from dspy.utils.exceptions import AdapterParseError

from .._codec import encode_output
from .._proto_loader import worker_pb, worker_pb_grpc
from .._quote import excerpt
from ..message_size import DEFAULT_MAX_MESSAGE_BYTES
from . import lm as lms
from . import modules, run, streaming, tools, typed
from .config import WorkerConfig
from .modules import ModuleEntry
from .sessions import Sessions
from .sizes import request_bytes
from .socket_calls import SocketCalls
from .status import Context, answering_with_status, invalid, no_lm, not_found, too_large
from .values import decoded

logger = logging.getLogger(__name__)

T = TypeVar("T")

CALL_METHOD: Final = "/dspex.bridge.v1.Worker/CallModule"
"""The full name of `WorkerService.CallModule` (whose request size `sizes.RequestSizeInterceptor` records)."""

LOOP_BYTES: Final = 64 * 1024
"""The largest request (bytes) a call on the event loop may have, and the most text its outputs may hold to be
encoded there (formatting or parsing that much text holds the loop for about a millisecond)."""


class WorkerService(worker_pb_grpc.WorkerServicer):
    """The ``Worker`` service (registered on the server by `server.serve`). Each RPC turns
    whatever it raises into the call's status (`answering_with_status`)."""

    def __init__(
        self, worker_id: int, threads: int, sessions: Sessions, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    ) -> None:
        self.worker_id = worker_id
        self.sessions = sessions
        self.max_message_bytes = max_message_bytes
        """The largest answer the worker sends (a larger one is refused with RESOURCE_EXHAUSTED)."""
        self.modules: dict[str, ModuleEntry] = {}
        self._threads = max(1, threads)
        self._executor = ThreadPoolExecutor(max_workers=self._threads, thread_name_prefix="dspex-call")
        self._calls_in_threads = 0
        """Module calls running in threads now (the pool's and the call socket's; written under `_count_lock`)."""
        self._calls_on_loop = 0
        """Module calls running on the event loop now (written there only)."""
        self._count_lock = threading.Lock()
        self.socket_calls = SocketCalls()
        """The calls the call socket runs now, for `CancelCall`."""
        self._tool_bridge: tools.ToolBridge | None = None

    @classmethod
    def from_config(cls, config: WorkerConfig) -> WorkerService:
        """The service a worker started with ``config`` runs."""
        sessions = Sessions(config.bridge_address, config.token, config.cache, config.max_message_bytes)
        return cls(config.worker_id, config.threads, sessions, config.max_message_bytes)

    def _module(self, module_id: str) -> ModuleEntry:
        entry = self.modules.get(module_id)
        if entry is None:
            raise not_found(f"unknown module `{excerpt(module_id)}`")
        return entry

    @staticmethod
    def _inputs(entry: ModuleEntry, request: worker_pb.CallModuleRequest) -> dict[str, Any]:
        """A call's inputs, decoded from the wire (values, and a typed module's JSON inputs)."""
        inputs = decoded(request.inputs, "input")
        inputs.update(typed.decode_json_inputs(request.json_inputs, entry.typed))
        return inputs

    def _run_call(
        self,
        entry: ModuleEntry,
        lm: Any,
        adapter: Any,
        settings: dict[str, Any],
        request: worker_pb.CallModuleRequest,
        scope: tools.CallScope,
    ) -> worker_pb.CallModuleResponse:
        """One module call in a thread, from its wire inputs to its answer (`_answer`). Blocking, and run off
        the event loop as a whole: a document can be megabytes, in and out."""
        inputs = self._inputs(entry, request)
        try:
            prediction = modules.run(entry, lm, adapter, settings, inputs, scope)
        except AdapterParseError as error:
            return self._parse_failure(entry, error)
        return self._answer(prediction)

    async def _run_call_on_loop(
        self,
        entry: ModuleEntry,
        lm: Any,
        adapter: Any,
        settings: dict[str, Any],
        request: worker_pb.CallModuleRequest,
        scope: tools.CallScope,
    ) -> worker_pb.CallModuleResponse:
        """`_run_call` on the event loop, through DSPy's async path, for a small request: the same answer, a
        large one encoded in the thread pool."""
        inputs = self._inputs(entry, request)
        try:
            prediction = await modules.arun(entry, lm, adapter, settings, inputs, scope)
        except AdapterParseError as error:
            return self._parse_failure(entry, error)
        if modules.small_outputs(prediction, LOOP_BYTES):
            return self._answer(prediction)
        return await self._in_thread(self._answer, prediction)

    @staticmethod
    def _parse_failure(entry: ModuleEntry, error: AdapterParseError) -> worker_pb.CallModuleResponse:
        """The answer of a call whose LM answer did not parse: a typed module's caller gets the failed field
        in-band (Rust reports it as an output parse error); an untyped module's caller gets DSPy's own
        exception."""
        if entry.typed is None:
            raise error
        failure = typed.parse_failure(error, entry.typed)
        logger.warning("module %s: the answer does not parse into `%s`", excerpt(entry.module_id), failure.field)
        return worker_pb.CallModuleResponse(parse_failure=failure)

    def _answer(self, prediction: Any) -> worker_pb.CallModuleResponse:
        """A call's answer: each output encoded by `_codec`; an answer over the message size limit is refused."""
        outputs = {name: encode_output(value) for name, value in modules.output_fields(prediction).items()}
        answer = worker_pb.CallModuleResponse(outputs=outputs)
        size = answer.ByteSize()
        if size > self.max_message_bytes:
            raise too_large("the answer (the module's outputs)", size, self.max_message_bytes)
        return answer

    async def _in_thread(self, work: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, work, *args)

    def _tools_bridge(self) -> tools.ToolBridge | None:
        """What Rust tools are called through (on the bridge channel); ``None`` when the worker has no bridge."""
        if self._tool_bridge is None:
            channel = self.sessions.channel()
            if channel is not None:
                self._tool_bridge = tools.ToolBridge(channel, self.sessions.token)
        return self._tool_bridge

    async def _tools(self, request: worker_pb.CreateModuleRequest) -> list[Any]:
        """A ReAct module's tools: import paths, or (from ``tool_specs``) Python and Rust tools resolved."""
        if not request.tool_specs:
            return list(request.tools)
        bridge = self._tools_bridge()
        return await self._in_thread(tools.resolve, request.tool_specs, bridge, request.session_id, request.module_id)

    # ---- the RPCs, named as in the service definition ---------------------------------------

    @answering_with_status
    async def Health(self, request: worker_pb.HealthRequest, context: Context) -> worker_pb.HealthResponse:
        """The worker's id, pid and module count."""
        return worker_pb.HealthResponse(worker_id=self.worker_id, pid=os.getpid(), modules=len(self.modules))

    @answering_with_status
    async def ConfigureLm(
        self, request: worker_pb.ConfigureLmRequest, context: Context
    ) -> worker_pb.ConfigureLmResponse:
        """Sets the LM of a session (replacing the one it had)."""
        session = self.sessions.get(request.session_id)
        spec = request.lm
        settings = decoded(spec.settings, "LM setting")
        kind = lms.lm_kind(spec)
        adapter = lms.build_adapter(spec.adapter)
        session.lm = await self._in_thread(lms.build_lm, spec, kind, settings)
        session.adapter = adapter
        logger.info("session %s: LM %s", request.session_id, lms.describe(spec, kind))
        return worker_pb.ConfigureLmResponse()

    @answering_with_status
    async def CreateModule(
        self, request: worker_pb.CreateModuleRequest, context: Context
    ) -> worker_pb.CreateModuleResponse:
        """Creates (or replaces) a module, with its fixed settings and its bindings, for a
        string signature or a typed one."""
        if not request.module_id:
            raise invalid("module_id is empty")
        if request.HasField("typed_signature") and request.signature:
            raise invalid("a module has a `signature` or a `typed_signature`, not both")
        session = self.sessions.get(request.session_id)
        settings = decoded(request.settings, "setting")
        for setting in settings:
            modules.check_setting(setting)
        bindings: dict[str, str] = {}
        for binding in request.bindings:
            modules.check_binding(binding.setting, binding.variable)
            bindings[binding.setting] = binding.variable

        if request.HasField("from_variable"):
            bridge = self.sessions.context(request.session_id)
            cls = await modules.class_from_variable(request.from_variable, bridge)
        else:
            cls = modules.class_named(request.module_type)
        signature: str | type[Any] = request.signature
        typed_fields: typed.TypedFields | None = None
        if request.HasField("typed_signature"):
            signature, typed_fields = await self._in_thread(typed.signature_class, request.typed_signature)
        resolved_tools = await self._tools(request)
        # The session's bridge context if it has one yet (else the first binding attaches it).
        module, inputs = await self._in_thread(modules.construct, cls, signature, resolved_tools, session.context)
        if request.HasField("state_json"):
            await self._in_thread(run.state.load, module, request.state_json, f"module `{excerpt(request.module_id)}`")
        entry = ModuleEntry(
            module_id=request.module_id,
            session_id=request.session_id,
            module=module,
            class_name=type(module).__name__,
            inputs=inputs,
            settings=settings,
            typed=typed_fields,
            signature=signature,
            tools=resolved_tools,
            from_variable=request.from_variable if request.HasField("from_variable") else None,
            asynchronous=modules.module_is_async(module),
        )
        for setting, variable in bindings.items():
            await modules.bind(entry, setting, variable, self.sessions.context(request.session_id))
        self.modules[request.module_id] = entry
        shown = request.typed_signature.name if typed_fields is not None else repr(request.signature)
        logger.info("module %s: %s(%s)", request.module_id, entry.class_name, shown)
        return worker_pb.CreateModuleResponse(class_name=entry.class_name)

    @answering_with_status
    async def Bind(self, request: worker_pb.BindRequest, context: Context) -> worker_pb.BindResponse:
        """Binds one more setting of an existing module."""
        entry = self._module(request.module_id)
        binding = request.binding
        modules.check_binding(binding.setting, binding.variable)
        await modules.bind(entry, binding.setting, binding.variable, self.sessions.context(entry.session_id))
        return worker_pb.BindResponse()

    @answering_with_status
    async def CallModule(self, request: worker_pb.CallModuleRequest, context: Context) -> worker_pb.CallModuleResponse:
        """Calls a module with the request's inputs; its outputs, each encoded by `_codec`, or
        the output field an answer the adapter could not parse failed on. The caller going away
        cancels the call (its Rust tool calls, its next LM request)."""
        return await self.call_module(request)

    async def call_module(self, request: worker_pb.CallModuleRequest) -> worker_pb.CallModuleResponse:
        """What `CallModule` does (also for the call socket's multiplexed connections): on the event loop through
        DSPy's async path once the threads are busy, else in the thread pool. Cancelled, it cancels the call."""
        entry, session, settings = await self._prepare(request)
        scope = tools.CallScope()
        lm, adapter = session.lm, session.adapter
        try:
            pool_busy = self._calls_in_threads >= self._threads
            if pool_busy and modules.runs_on_loop(entry, lm) and request_bytes(request) <= LOOP_BYTES:
                self._calls_on_loop += 1
                try:
                    return await self._run_call_on_loop(entry, lm, adapter, settings, request, scope)
                finally:
                    self._calls_on_loop -= 1
            with self._thread_held():
                return await self._in_thread(self._run_call, entry, lm, adapter, settings, request, scope)
        except asyncio.CancelledError:
            scope.cancel()
            raise

    def call_in_this_thread(
        self, call_id: int, request: worker_pb.CallModuleRequest, loop: asyncio.AbstractEventLoop
    ) -> worker_pb.CallModuleResponse:
        """`CallModule` for the call socket (`call_socket`), run in the thread that read the call: the same checks
        and answer, without a hop to the event loop (unless a bound setting must be read from the bridge, on
        ``loop``). `CancelCall` with ``call_id`` cancels it."""
        entry, session, bound_values = self._checked(request)
        settings, missing = modules.carried_settings(entry, bound_values)
        if missing:
            settings = asyncio.run_coroutine_threadsafe(self._settings(entry, bound_values), loop).result()
        with self.socket_calls.running(call_id) as scope, self._thread_held():
            return self._run_call(entry, session.lm, session.adapter, settings, request, scope)

    def calls_running(self) -> int:
        """How many module calls run now, in threads or on the event loop (a call still being checked, or
        waiting for a thread, is not counted yet)."""
        return self._calls_in_threads + self._calls_on_loop

    @contextlib.contextmanager
    def _thread_held(self) -> Iterator[None]:
        """Counts a module call running in a thread (the pool's or the call socket's) while the block runs."""
        with self._count_lock:
            self._calls_in_threads += 1
        try:
            yield
        finally:
            with self._count_lock:
                self._calls_in_threads -= 1

    @streaming.streaming_with_status
    async def StreamModule(
        self, request: worker_pb.CallModuleRequest, context: Context
    ) -> AsyncIterator[worker_pb.StreamModuleEvent]:
        """Calls a module as `CallModule` does, streaming its status lines, its output fields' text and then its
        outputs (see `streaming`)."""
        entry, session, settings = await self._prepare(request)
        inputs = await self._in_thread(self._inputs, entry, request)
        async for event in streaming.stream(entry, session.lm, session.adapter, settings, inputs):
            yield event

    async def _prepare(self, request: worker_pb.CallModuleRequest) -> tuple[ModuleEntry, Any, dict[str, Any]]:
        """What a call runs with: the module (its inputs' names checked), the session (its LM and adapter) and
        the call's settings."""
        entry, session, bound_values = self._checked(request)
        return entry, session, await self._settings(entry, bound_values)

    async def _settings(self, entry: ModuleEntry, bound_values: dict[str, Any]) -> dict[str, Any]:
        """A call's settings (`modules.call_settings`), reading from the bridge what the call does not carry."""
        # The bridge context is created only when a bound setting must be read from it.
        reads_bridge = any(setting not in bound_values for setting in entry.bindings)
        bridge = self.sessions.context(entry.session_id) if reads_bridge else None
        return await modules.call_settings(entry, bound_values, bridge)

    def _checked(self, request: worker_pb.CallModuleRequest) -> tuple[ModuleEntry, Any, dict[str, Any]]:
        """A call's module (its inputs' names checked), its session (which has an LM) and its bound values."""
        entry = self._module(request.module_id)
        # Only the names here: the values are decoded with the call, off the event loop. The common call (every
        # input, each by value) is told at once; any other is checked whole.
        every_input_by_value = (
            not (request.json_inputs or entry.inputs is None)
            and len(request.inputs) == len(entry.inputs)
            and all(name in request.inputs for name in entry.inputs)
        )
        if not every_input_by_value:
            self._check_input_names(entry, request)
        return entry, self._session_with_lm(entry), decoded(request.bound_values, "bound value")

    @staticmethod
    def _check_input_names(entry: ModuleEntry, request: worker_pb.CallModuleRequest) -> None:
        """Refuses an input given twice (as a value and as JSON), one the module does not take, or one missing."""
        both = sorted(set(request.inputs) & set(request.json_inputs))
        if both:
            raise invalid(f"input(s) {', '.join(both)} given twice (as a value and as JSON)")
        inputs = [*request.inputs, *request.json_inputs]
        if entry.inputs is not None:
            unknown = sorted(set(inputs) - set(entry.inputs))
            if unknown:
                raise invalid(f"unknown input(s) {', '.join(unknown)} (the inputs are {', '.join(entry.inputs)})")
            absent = [name for name in entry.inputs if name not in inputs]
            if absent:
                raise invalid(f"missing input(s) {', '.join(absent)}")

    def _session_with_lm(self, entry: ModuleEntry) -> Any:
        """The session of ``entry``'s module; `no_lm` if it has no LM."""
        session = self.sessions.get(entry.session_id)
        if session.lm is None:
            raise no_lm(entry.session_id)
        return session

    @answering_with_status
    async def DumpState(self, request: worker_pb.DumpStateRequest, context: Context) -> worker_pb.DumpStateResponse:
        """A module's learned state: DSPy's ``dump_state()`` as JSON (as ``Module.save`` writes it)."""
        entry = self._module(request.module_id)
        state_json = await self._in_thread(run.state.dump, entry.module)
        answer = worker_pb.DumpStateResponse(state_json=state_json, dspy_version=dspy.__version__)
        size = answer.ByteSize()
        if size > self.max_message_bytes:
            raise too_large("the module's state", size, self.max_message_bytes)
        return answer

    @answering_with_status
    async def LoadState(self, request: worker_pb.LoadStateRequest, context: Context) -> worker_pb.LoadStateResponse:
        """Loads a state (`DumpState`'s, or DSPy's ``dump_state()`` as JSON) into a module, all or nothing."""
        entry = self._module(request.module_id)
        await self._in_thread(
            run.state.load, entry.module, request.state_json, f"module `{excerpt(request.module_id)}`"
        )
        logger.info("module %s: state loaded", excerpt(request.module_id))
        return worker_pb.LoadStateResponse()

    @streaming.streaming_with_status
    async def Run(self, request: worker_pb.RunRequest, context: Context) -> AsyncIterator[worker_pb.RunEvent]:
        """Evaluates, optimizes or searches variables for a program of this worker's modules, streaming its
        progress, then its result (see `run`). Cancelling the stream stops the run."""
        worker = run.Worker(self._module, self.sessions, self._tools_bridge, self.max_message_bytes)
        async for event in run.stream(request, worker):
            yield event

    @answering_with_status
    async def CancelCall(self, request: worker_pb.CancelCallRequest, context: Context) -> worker_pb.CancelCallResponse:
        """Cancels a call of the call socket by its id (one not read yet is cancelled once read)."""
        return worker_pb.CancelCallResponse(found=self.socket_calls.cancel(request.call_id))

    @answering_with_status
    async def DropModule(self, request: worker_pb.DropModuleRequest, context: Context) -> worker_pb.DropModuleResponse:
        """Forgets a module."""
        if self.modules.pop(request.module_id, None) is None:
            raise not_found(f"unknown module `{excerpt(request.module_id)}`")
        return worker_pb.DropModuleResponse()

    async def close(self) -> None:
        """Stops the sessions' caches and the thread pool (calls still running are abandoned)."""
        await self.sessions.close()
        self._executor.shutdown(wait=False, cancel_futures=True)
