"""The dspex worker: a process that runs DSPy modules for the Rust runtime.

```
python -m dspex_bridge.worker --worker-id N [--parent-pid PID] [--host 127.0.0.1] [--port 0] [--threads 16]
```

Environment: ``DSPEX_BRIDGE_TOKEN`` (required: every call must carry it in the
``x-dspex-token`` metadata entry, and the worker sends it to the bridge),
``DSPEX_BRIDGE_ADDRESS`` (``host:port`` of the variable bridge; needed to check bindings and
to read bound variables when a call does not carry their values), and ``DSPEX_WORKER_CACHE``
(``0`` turns off the read cache: by default each session's variables are read through a
`SessionContext` with ``cache=True``, kept coherent by a watch stream, so the reads before a
call cost microseconds; a write elsewhere is seen by them within milliseconds, not at once).

Start-up: dies with its parent (``PR_SET_PDEATHSIG`` = SIGKILL, plus a watchdog on
``getppid()``; exits at once if already orphaned), turns DSPy's disk cache, memory cache and
call history off, serves the ``dspex.bridge.v1.Worker`` gRPC service on an OS-assigned port,
then prints one line on stdout::

    DSPEX_WORKER_READY {"port": 12345, "pid": 678, "worker_id": 0}

Logs go to stderr, each line tagged ``[dspex-worker N]`` (level: ``DSPEX_WORKER_LOG``, default
INFO; the API key of a model LM is never logged). SIGTERM / SIGINT stop it cleanly (exit 0);
an orphaned start exits 1; a missing token exits 2.

Settings: a module's fixed ``settings`` and its bindings name LM settings (`LM_SETTINGS` of
``dspy_integration``: temperature, max_tokens, top_p, ...; anything else is INVALID_ARGUMENT).
A call's ``bound_values`` are keyed by **setting** name (``{"temperature": 0.3}``, whatever
the variable is called); a bound setting the call does not carry is read from the bridge
(its variable's current value).
``CreateModule`` with an existing ``module_id`` replaces that module (re-creation after a
restart is idempotent).

Each session (Rust Context) has its own LM (`ConfigureLm`); a module uses its session's LM.
A call runs the synchronous DSPy module in a thread pool, inside ``dspy.context`` with that
LM, and with the call's own settings (fixed settings, then bound values) applied per call, so
concurrent calls on one module never see each other's settings. Errors are gRPC statuses (see
worker.proto); the worker never dies on bad input.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import hmac
import importlib
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Final, NoReturn, TypeVar

import grpc
import grpc.aio

READY_PREFIX: Final = "DSPEX_WORKER_READY"
TOKEN_ENV: Final = "DSPEX_BRIDGE_TOKEN"
ADDRESS_ENV: Final = "DSPEX_BRIDGE_ADDRESS"
CACHE_ENV: Final = "DSPEX_WORKER_CACHE"
TOKEN_METADATA_KEY: Final = "x-dspex-token"
PR_SET_PDEATHSIG: Final = 1
MAX_ECHO_REQUESTS: Final = 1000

logger = logging.getLogger("dspex_bridge.worker")
_STARTED: Final = time.perf_counter()


# ---- process hygiene (done first in main, before DSPy is imported) ------------------------------


def die_with_parent(parent_pid: int) -> None:
    """SIGKILL this process when its parent dies (Linux prctl), exit now if already orphaned,
    and watch ``getppid()`` from a daemon thread as a second line of defence."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
                logger.warning("prctl(PR_SET_PDEATHSIG) failed: errno %d", ctypes.get_errno())
        except (OSError, AttributeError) as error:  # pragma: no cover - exotic libc
            logger.warning("prctl unavailable: %s", error)
    if os.getppid() != parent_pid:
        logger.error("parent %d is gone before start-up: exiting", parent_pid)
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent_pid:
                logger.error("parent %d is gone: exiting", parent_pid)
                os._exit(1)

    threading.Thread(target=watch, name="dspex-parent-watch", daemon=True).start()


def setup_logging(worker_id: int) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"[dspex-worker {worker_id}] %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(os.environ.get("DSPEX_WORKER_LOG", "INFO").upper())
    # DSPy and LiteLLM are chatty at INFO; keep their warnings.
    for name in ("dspy", "LiteLLM", "litellm", "httpx"):
        logging.getLogger(name).setLevel(logging.WARNING)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m dspex_bridge.worker", description=__doc__.split("\n")[0])
    parser.add_argument("--worker-id", type=int, required=True, help="this worker's id (logs, Health)")
    parser.add_argument("--parent-pid", type=int, default=None, help="die when this process is gone (default: the parent)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind (default 0: OS-assigned)")
    parser.add_argument("--threads", type=int, default=16, help="concurrent module calls (default 16)")
    return parser.parse_args(argv)


# ---- errors --------------------------------------------------------------------------------------


class WorkerError(Exception):
    """A refused request: the gRPC status code and the message the caller sees."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def invalid(message: str) -> WorkerError:
    return WorkerError(grpc.StatusCode.INVALID_ARGUMENT, message)


def not_found(message: str) -> WorkerError:
    return WorkerError(grpc.StatusCode.NOT_FOUND, message)


def precondition(message: str) -> WorkerError:
    return WorkerError(grpc.StatusCode.FAILED_PRECONDITION, message)


def _status_of(error: BaseException) -> tuple[grpc.StatusCode, str]:
    """The status for any exception raised while serving a request."""
    from .errors import (
        AuthenticationError,
        BridgeError,
        BridgeUnavailableError,
        ValidationError,
        VariableNotFoundError,
    )

    if isinstance(error, WorkerError):
        return error.code, error.message
    if isinstance(error, VariableNotFoundError):
        return grpc.StatusCode.NOT_FOUND, str(error)
    if isinstance(error, ValidationError):
        return grpc.StatusCode.INVALID_ARGUMENT, str(error)
    if isinstance(error, AuthenticationError):
        return grpc.StatusCode.FAILED_PRECONDITION, f"the bridge refused the worker's token: {error}"
    if isinstance(error, BridgeUnavailableError):
        return grpc.StatusCode.UNAVAILABLE, f"the bridge is unavailable: {error}"
    if isinstance(error, BridgeError):
        return grpc.StatusCode.UNKNOWN, f"bridge error: {error}"
    return grpc.StatusCode.UNKNOWN, f"{type(error).__name__}: {error}"


R = TypeVar("R")


def _rpc(method: Callable[..., Awaitable[R]]) -> Callable[..., Awaitable[R]]:
    """Maps every exception of a servicer method to a status; the worker keeps serving."""

    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> R:
        try:
            return await method(self, request, context)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 - the point: nothing escapes
            code, message = _status_of(error)
            level = logging.WARNING if code != grpc.StatusCode.UNKNOWN else logging.ERROR
            logger.log(level, "%s refused (%s): %s", method.__name__, code.name, message)
            await context.abort(code, message)
            raise  # pragma: no cover - abort raises

    wrapper.__name__ = method.__name__
    wrapper.__doc__ = method.__doc__
    return wrapper


# ---- authentication ------------------------------------------------------------------------------


class TokenInterceptor(grpc.aio.ServerInterceptor):
    """Refuses every call whose ``x-dspex-token`` is not the bridge token (UNAUTHENTICATED)."""

    def __init__(self, token: str) -> None:
        self._token = token.encode()

        async def deny(_request: Any, context: grpc.aio.ServicerContext) -> None:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong x-dspex-token")

        self._deny = grpc.unary_unary_rpc_method_handler(deny)

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        given = b""
        for key, value in handler_call_details.invocation_metadata or ():
            if key == TOKEN_METADATA_KEY:
                given = value.encode() if isinstance(value, str) else bytes(value)
        if not hmac.compare_digest(given, self._token):
            return self._deny
        return await continuation(handler_call_details)


# ---- state ---------------------------------------------------------------------------------------


@dataclass
class Session:
    """What the worker keeps per session (Rust Context)."""

    lm: Any = None
    context: Any = None  # SessionContext, created on first need


@dataclass
class ModuleEntry:
    """A created module and what a call needs to drive it."""

    module_id: str
    session_id: str
    module: Any
    class_name: str
    inputs: tuple[str, ...] | None
    settings: dict[str, Any]
    bindings: dict[str, str] = field(default_factory=dict)  # setting -> variable


def import_object(path: str, what: str) -> Any:
    """``package.module:attribute`` (also ``package.module.attribute``) → the object."""
    module_name, sep, attribute = path.partition(":")
    if not sep:
        module_name, _, attribute = path.rpartition(".")
    if not module_name or not attribute:
        raise invalid(f"{what} `{path}` is not an import path `package.module:name`")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise invalid(f"{what} `{path}`: cannot import `{module_name}`: {error}") from error
    target: Any = module
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise invalid(f"{what} `{path}`: `{module_name}` has no `{attribute}`") from None
    return target


class WorkerService:
    """The ``Worker`` gRPC service (registered on the server by `serve`)."""

    def __init__(self, worker_id: int, threads: int, bridge_address: str | None, token: str) -> None:
        from . import _codec, dspy_integration
        from ._proto_loader import worker_pb as worker_pb2

        self.pb = worker_pb2
        self.codec = _codec
        self.integration = dspy_integration
        self.worker_id = worker_id
        self.bridge_address = bridge_address
        self.token = token
        self.sessions: dict[str, Session] = {}
        self.modules: dict[str, ModuleEntry] = {}
        self.executor = ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="dspex-call")
        self._channel: grpc.aio.Channel | None = None
        self.cache = os.environ.get(CACHE_ENV, "1").strip() != "0"

    # -- helpers --

    def _session(self, session_id: str) -> Session:
        if not session_id:
            raise invalid("session_id is empty")
        session = self.sessions.get(session_id)
        if session is None:
            session = self.sessions[session_id] = Session()
        return session

    def _bridge(self, session_id: str) -> Any:
        """The SessionContext of a session (one channel per worker), or None without a bridge."""
        session = self._session(session_id)
        if session.context is None and self.bridge_address:
            from .session_context import SessionContext

            if self._channel is None:
                self._channel = grpc.aio.insecure_channel(self.bridge_address)
            session.context = SessionContext(session_id, self._channel, token=self.token, cache=self.cache)
        return session.context

    def _module(self, module_id: str) -> ModuleEntry:
        entry = self.modules.get(module_id)
        if entry is None:
            raise not_found(f"unknown module `{module_id}`")
        return entry

    def _values(self, values: Mapping[str, Any], what: str) -> dict[str, Any]:
        decoded: dict[str, Any] = {}
        for name, value in values.items():
            try:
                decoded[name] = self.codec.decode_value(value)
            except Exception as error:  # noqa: BLE001 - an empty oneof
                raise invalid(f"{what} `{name}`: {error}") from None
        return decoded

    def _check_setting(self, setting: str) -> None:
        if setting not in self.integration.LM_SETTINGS:
            known = ", ".join(sorted(self.integration.LM_SETTINGS))
            raise invalid(f"unknown setting `{setting}` (settings: {known})")

    def _output(self, value: Any) -> Any:
        pb = self.pb
        if isinstance(value, bool):
            return pb.Output(value=self.codec.pb.Value(boolean_value=value))
        if isinstance(value, int) and -(2**63) <= value < 2**63:
            return pb.Output(value=self.codec.pb.Value(integer_value=value))
        if isinstance(value, float):
            return pb.Output(value=self.codec.pb.Value(float_value=value))
        if isinstance(value, str):
            return pb.Output(value=self.codec.pb.Value(string_value=value))
        return pb.Output(json=json.dumps(_jsonable(value), default=str))

    # -- RPCs --

    @_rpc
    async def Health(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802
        return self.pb.HealthResponse(worker_id=self.worker_id, pid=os.getpid(), modules=len(self.modules))

    @_rpc
    async def ConfigureLm(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802
        session = self._session(request.session_id)
        spec = request.lm
        settings = self._values(spec.settings, "LM setting")
        kind = _lm_kind(spec)
        loop = asyncio.get_running_loop()
        lm = await loop.run_in_executor(self.executor, self._build_lm, kind, spec, settings)
        session.lm = lm
        logger.info("session %s: LM %s", request.session_id, spec.model if kind == "model" else kind)
        return self.pb.ConfigureLmResponse()

    def _build_lm(self, kind: str, spec: Any, settings: dict[str, Any]) -> Any:
        import dspy

        if kind == "echo":
            from ._echo_lm import ECHO_MODEL, EchoLM

            try:
                return EchoLM(spec.model or ECHO_MODEL, max_requests=MAX_ECHO_REQUESTS, **settings)
            except (TypeError, ValueError) as error:
                raise invalid(f"test LM settings: {error}") from None
        if kind == "factory":
            factory = import_object(spec.factory, "LM factory")
            if not callable(factory):
                raise invalid(f"LM factory `{spec.factory}` is not callable")
            try:
                lm = factory(**settings)
            except (TypeError, ValueError) as error:
                raise invalid(f"LM factory `{spec.factory}`: {type(error).__name__}: {error}") from None
            if not isinstance(lm, dspy.BaseLM):
                raise invalid(f"LM factory `{spec.factory}` returned {type(lm).__name__}, not a dspy LM")
            return lm
        kwargs = dict(settings)
        kwargs.setdefault("cache", False)
        if spec.HasField("api_key_env"):
            key = os.environ.get(spec.api_key_env)
            if not key:
                raise precondition(f"the environment variable `{spec.api_key_env}` (the API key) is not set")
            kwargs["api_key"] = key
        try:
            return dspy.LM(spec.model, **kwargs)
        except (TypeError, ValueError) as error:
            # The message of a refused constructor never contains the key (it is not echoed).
            raise invalid(f"LM `{spec.model}`: {type(error).__name__}: {error}") from None

    @_rpc
    async def CreateModule(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802
        if not request.module_id:
            raise invalid("module_id is empty")
        self._session(request.session_id)
        settings = self._values(request.settings, "setting")
        for setting in settings:
            self._check_setting(setting)
        bindings: dict[str, str] = {}
        for binding in request.bindings:
            self._check_setting(binding.setting)
            if not binding.variable:
                raise invalid(f"binding of `{binding.setting}`: the variable name is empty")
            bindings[binding.setting] = binding.variable

        resolver_cls = self.integration.ModuleVariableResolver
        if request.HasField("from_variable"):
            bridge = self._bridge(request.session_id)
            if bridge is None:
                raise precondition(f"cannot read `{request.from_variable}`: the worker has no bridge ({ADDRESS_ENV})")
            try:
                # Uncached: the class is what the variable holds now (a write made just
                # before, in Rust, may not have reached the cache yet).
                module_class = await resolver_cls(_Uncached(bridge)).resolve_module(request.from_variable)
            except ValueError as error:
                if isinstance(error.__cause__, KeyError):
                    raise not_found(str(error)) from None
                raise invalid(str(error)) from None
        else:
            try:
                module_class = resolver_cls.lookup(request.module_type)
            except ValueError as error:
                raise invalid(str(error)) from None
        module_class = resolver_cls.variable_aware(module_class)

        loop = asyncio.get_running_loop()
        tools = list(request.tools)
        module, inputs = await loop.run_in_executor(
            self.executor, self._construct, module_class, request.signature, tools, request.session_id
        )
        entry = ModuleEntry(
            module_id=request.module_id,
            session_id=request.session_id,
            module=module,
            class_name=type(module).__name__,
            inputs=inputs,
            settings=settings,
        )
        for setting, variable in bindings.items():
            await self._bind(entry, setting, variable)
        self.modules[request.module_id] = entry
        logger.info("module %s: %s(%r)", request.module_id, entry.class_name, request.signature)
        return self.pb.CreateModuleResponse(class_name=entry.class_name)

    def _construct(
        self, module_class: type[Any], signature: str, tools: list[str], session_id: str
    ) -> tuple[Any, tuple[str, ...] | None]:
        import dspy
        from dspy.signatures.signature import ensure_signature

        inputs: tuple[str, ...] | None = None
        parsed: Any = None
        if signature:
            try:
                parsed = ensure_signature(signature)
            except Exception as error:  # noqa: BLE001 - DSPy raises several kinds
                raise invalid(f"bad signature {signature!r}: {error}") from None
            inputs = tuple(parsed.input_fields)
        kwargs: dict[str, Any] = {}
        if issubclass(module_class, self.integration.VariableAwareMixin):
            kwargs["session_context"] = self.sessions[session_id].context
        if issubclass(module_class, dspy.ReAct):
            kwargs["tools"] = [import_object(path, "tool") for path in tools]
            for path, tool in zip(tools, kwargs["tools"], strict=True):
                if not callable(tool):
                    raise invalid(f"tool `{path}` is not callable")
        elif tools:
            raise invalid(f"{module_class.__name__} takes no tools (only ReAct does)")
        try:
            module = module_class(parsed, **kwargs) if parsed is not None else module_class(**kwargs)
        except WorkerError:
            raise
        except Exception as error:  # noqa: BLE001
            raise invalid(f"cannot create {module_class.__name__}({signature!r}): {type(error).__name__}: {error}") from None
        return module, inputs

    async def _bind(self, entry: ModuleEntry, setting: str, variable: str) -> None:
        """Records a binding; with a bridge, checks now that the variable exists."""
        module = entry.module
        bridge = self._bridge(entry.session_id)
        if isinstance(module, self.integration.VariableAwareMixin):
            if module._session_context is None:
                module._session_context = bridge
            if bridge is not None:
                try:
                    await module.bind_to_variable(setting, variable)
                except ValueError as error:
                    if isinstance(error.__cause__, KeyError) or "not found" in str(error):
                        raise not_found(str(error)) from None
                    raise invalid(str(error)) from None
            else:
                module._variable_bindings[setting] = variable
        elif bridge is not None:
            await bridge.get_variable(variable)
        entry.bindings[setting] = variable

    @_rpc
    async def Bind(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802
        entry = self._module(request.module_id)
        binding = request.binding
        self._check_setting(binding.setting)
        if not binding.variable:
            raise invalid(f"binding of `{binding.setting}`: the variable name is empty")
        await self._bind(entry, binding.setting, binding.variable)
        return self.pb.BindResponse()

    async def _call_settings(self, entry: ModuleEntry, bound_values: dict[str, Any]) -> dict[str, Any]:
        """Fixed settings, then the bound ones: from the call (``bound_values`` is keyed by
        setting name), else read from the bridge."""
        settings = dict(entry.settings)
        missing: dict[str, str] = {}
        for setting, variable in entry.bindings.items():
            if setting in bound_values:
                settings[setting] = bound_values[setting]
            else:
                missing[setting] = variable
        if missing:
            bridge = self._bridge(entry.session_id)
            if bridge is None:
                raise precondition(
                    f"the call carries no value for {', '.join(sorted(missing.values()))} and the worker has no bridge"
                )
            module = entry.module
            if isinstance(module, self.integration.VariableAwareMixin) and len(missing) == len(entry.bindings):
                settings.update(await module.sync_variables())
            else:
                names = list(missing.values())
                values = await bridge.get_variables(names)
                for setting, variable in missing.items():
                    if variable not in values:
                        raise not_found(f"variable `{variable}` (bound to `{setting}`) not found")
                    settings[setting] = values[variable]
        return settings

    @_rpc
    async def CallModule(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802
        entry = self._module(request.module_id)
        inputs = self._values(request.inputs, "input")
        if entry.inputs is not None:
            unknown = sorted(set(inputs) - set(entry.inputs))
            if unknown:
                raise invalid(f"unknown input(s) {', '.join(unknown)} (the inputs are {', '.join(entry.inputs)})")
            absent = [name for name in entry.inputs if name not in inputs]
            if absent:
                raise invalid(f"missing input(s) {', '.join(absent)}")
        session = self._session(entry.session_id)
        if session.lm is None:
            raise precondition(f"no LM configured for session `{entry.session_id}` (ConfigureLm first)")
        settings = await self._call_settings(entry, self._values(request.bound_values, "bound value"))
        loop = asyncio.get_running_loop()
        prediction = await loop.run_in_executor(self.executor, self._run, entry, session.lm, settings, inputs)
        outputs = {name: self._output(value) for name, value in _fields(prediction).items()}
        return self.pb.CallModuleResponse(outputs=outputs)

    def _run(self, entry: ModuleEntry, lm: Any, settings: dict[str, Any], inputs: dict[str, Any]) -> Any:
        import dspy

        module = entry.module
        with dspy.context(lm=lm):
            if isinstance(module, self.integration.VariableAwareMixin):
                return module.call_with_settings(settings, **inputs)
            with self.integration.lm_settings(settings):
                return module(**inputs)

    @_rpc
    async def DropModule(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802
        if self.modules.pop(request.module_id, None) is None:
            raise not_found(f"unknown module `{request.module_id}`")
        return self.pb.DropModuleResponse()

    async def close(self) -> None:
        for session in self.sessions.values():
            if session.context is not None:
                await session.context.close()
        if self._channel is not None:
            await self._channel.close()
        self.executor.shutdown(wait=False, cancel_futures=True)


class _Uncached:
    """A session whose reads always go to the bridge (round trips, never the cache)."""

    def __init__(self, session: Any) -> None:
        self._session = session

    async def get_variable(self, name: str) -> Any:
        return await self._session.get_variable(name, bypass_cache=True)


def _lm_kind(spec: Any) -> str:
    """``echo``, ``factory`` or ``model``. ``echo`` and ``factory`` each take precedence over a
    ``model`` string (which then only names the LM); both together, or none, are refused."""
    if spec.echo and spec.HasField("factory"):
        raise invalid("an LmSpec is the test LM (echo) or a factory, not both")
    if spec.echo:
        return "echo"
    if spec.HasField("factory"):
        if not spec.factory:
            raise invalid("the LM factory path is empty")
        return "factory"
    if spec.model:
        return "model"
    raise invalid("an LmSpec sets one of model, factory, echo (got none)")


def _fields(prediction: Any) -> dict[str, Any]:
    if isinstance(prediction, Mapping):
        return dict(prediction)
    keys = getattr(prediction, "keys", None)
    if callable(keys):
        return {key: prediction[key] for key in keys()}
    return {"output": prediction}


def _jsonable(value: Any) -> Any:
    try:
        from pydantic_core import to_jsonable_python

        return to_jsonable_python(value, fallback=str)
    except Exception:  # noqa: BLE001 - last resort: the repr
        return str(value)


# ---- start-up ------------------------------------------------------------------------------------


def configure_dspy() -> None:
    """No disk or memory cache, no history, no trace: a worker lives long."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no fetch at import
    import warnings

    import dspy

    # Said once per construction, to a log the user did not ask for; the issue documents it.
    warnings.filterwarnings("ignore", message="ProgramOfThought is deprecated", category=DeprecationWarning)
    dspy.configure_cache(enable_disk_cache=False, enable_memory_cache=False)
    dspy.configure(disable_history=True, max_history_size=0, max_trace_size=0, trace=[])


async def serve(args: argparse.Namespace, token: str) -> None:
    from ._proto_loader import worker_pb_grpc as worker_pb2_grpc

    service = WorkerService(args.worker_id, args.threads, os.environ.get(ADDRESS_ENV) or None, token)
    server = grpc.aio.server(interceptors=[TokenInterceptor(token)])
    worker_pb2_grpc.add_WorkerServicer_to_server(service, server)  # type: ignore[arg-type]
    port = server.add_insecure_port(f"{args.host}:{args.port}")
    if port == 0:
        raise SystemExit(f"cannot bind {args.host}:{args.port}")
    await server.start()

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    sys.stdout.write(f"{READY_PREFIX} {json.dumps({'port': port, 'pid': os.getpid(), 'worker_id': args.worker_id})}\n")
    sys.stdout.flush()
    logger.info(
        "serving on %s:%d (pid %d, ready %.0f ms after start-up)",
        args.host, port, os.getpid(), (time.perf_counter() - _STARTED) * 1000,
    )
    await stop.wait()
    logger.info("stopping")
    await server.stop(grace=1.0)
    await service.close()


def main(argv: list[str] | None = None) -> NoReturn:
    args = parse_args(argv)
    setup_logging(args.worker_id)
    die_with_parent(args.parent_pid if args.parent_pid is not None else os.getppid())
    token = os.environ.get(TOKEN_ENV)
    if not token:
        logger.error("%s is not set: the worker refuses to serve without the bridge token", TOKEN_ENV)
        raise SystemExit(2)
    started = time.perf_counter()
    configure_dspy()
    logger.debug("dspy ready in %.0f ms", (time.perf_counter() - started) * 1000)
    asyncio.run(serve(args, token))
    raise SystemExit(0)


if __name__ == "__main__":
    main()
