"""The modules a worker hosts: which class a request names, building it, binding its settings
to variables, and running one call with that call's own settings.

A module's settings are LM settings (`LM_SETTINGS`: temperature, max_tokens, top_p, ...): fixed
ones given at creation, and bound ones, each read from a variable of the session. A call
applies the fixed settings, then the bound ones, to that call only (``dspy.context`` with a
copy of the session's LM), so concurrent calls on one module never see each other's settings.

A call runs either on the worker's event loop, through DSPy's async path (`arun`: ``acall``), or
in a thread (`run`). The event loop takes it when both the module and the LM have an async path
of their own (`runs_on_loop`): then a call waiting on its LM holds no thread, and a worker can
have thousands in flight. ``dspy.context`` is a context variable, so each call (its own task, or
its own thread) sees only its own settings either way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import dspy
from dspy.signatures.signature import ensure_signature

from .._codec import PyValue
from ..dspy_integration import LM_SETTINGS, ModuleVariableResolver, VariableAwareMixin, lm_settings
from ..session_context import SessionContext
from .config import ADDRESS_ENV
from .imports import import_object
from .status import invalid, not_found, precondition
from .tools import CallScope, awaitable_tool, in_scope
from .typed import TypedFields


@dataclass
class ModuleEntry:
    """A created module and what a call needs to drive it."""

    module_id: str
    session_id: str
    module: Any
    class_name: str
    inputs: tuple[str, ...] | None
    """The signature's input fields (``None``: the module was created without a signature)."""
    settings: dict[str, Any]
    """The fixed settings."""
    bindings: dict[str, str] = field(default_factory=dict)
    """Bound settings: setting → variable name."""
    typed: TypedFields | None = None
    """A typed module's input validators and type names (``None``: a string signature)."""
    signature: str | type[Any] = ""
    """What the module was built for: a string signature, or a typed signature's class."""
    tools: list[Any] = field(default_factory=list)
    """A ReAct module's tools, resolved (what `construct` was given)."""
    from_variable: str | None = None
    """The module-typed variable its class was read from (``None``: a class named in the request)."""
    asynchronous: bool = False
    """Whether the module has an async path that holds no thread (`module_is_async`)."""


def check_setting(setting: str) -> None:
    """INVALID_ARGUMENT unless ``setting`` is an LM setting."""
    if setting not in LM_SETTINGS:
        known = ", ".join(sorted(LM_SETTINGS))
        raise invalid(f"unknown setting `{setting}` (settings: {known})")


def check_binding(setting: str, variable: str) -> None:
    """INVALID_ARGUMENT unless ``setting`` is an LM setting and ``variable`` a name."""
    check_setting(setting)
    if not variable:
        raise invalid(f"binding of `{setting}`: the variable name is empty")


class _Uncached:
    """A session whose reads always go to the bridge (round trips, never the cache)."""

    def __init__(self, session: SessionContext) -> None:
        self._session = session

    async def get_variable(self, name: str) -> PyValue:
        return await self._session.get_variable(name, bypass_cache=True)


async def class_from_variable(variable: str, context: SessionContext | None) -> type[Any]:
    """The class a module-typed variable names (its variable-aware subclass when there is one)."""
    if context is None:
        raise precondition(f"cannot read `{variable}`: the worker has no bridge ({ADDRESS_ENV})")
    # Uncached: the class is what the variable holds now (a write made just before, in Rust,
    # may not have reached the cache yet).
    chosen = await ModuleVariableResolver(_Uncached(context)).resolve_module(variable)
    return ModuleVariableResolver.variable_aware(chosen)


def class_named(module_type: str) -> type[Any]:
    """The class registered as ``module_type`` (its variable-aware subclass when there is one)."""
    return ModuleVariableResolver.variable_aware(ModuleVariableResolver.lookup(module_type))


def construct(
    cls: type[Any],
    signature: str | type[dspy.Signature],
    tools: Sequence[Any],
    context: SessionContext | None,
) -> tuple[Any, tuple[str, ...] | None]:
    """A new ``cls`` for ``signature`` — a string DSPy parses, or a typed signature's class —
    (with ``tools`` for ReAct: import paths, or tools already resolved by `tools.resolve`), and
    its input fields (blocking: DSPy may build sub-modules)."""
    inputs: tuple[str, ...] | None = None
    parsed: Any = None
    if isinstance(signature, type):
        parsed = signature
        inputs = tuple(signature.input_fields)
    elif signature:
        try:
            parsed = ensure_signature(signature)
        except Exception as error:  # noqa: BLE001 - DSPy raises several kinds for a bad signature
            raise invalid(f"bad signature {signature!r}: {error}") from None
        inputs = tuple(parsed.input_fields)
    kwargs: dict[str, Any] = {}
    if issubclass(cls, VariableAwareMixin):
        kwargs["session_context"] = context
    if issubclass(cls, dspy.ReAct):
        kwargs["tools"] = [import_object(path, "tool") if isinstance(path, str) else path for path in tools]
        for path, tool in zip(tools, kwargs["tools"], strict=True):
            if not callable(tool):
                raise invalid(f"tool `{path}` is not callable")
    elif tools:
        raise invalid(f"{cls.__name__} takes no tools (only ReAct does)")
    try:
        module = cls(parsed, **kwargs) if parsed is not None else cls(**kwargs)
    except Exception as error:  # noqa: BLE001 - a module's constructor may raise anything
        shown = signature.__name__ if isinstance(signature, type) else repr(signature)
        raise invalid(f"cannot create {cls.__name__}({shown}): {type(error).__name__}: {error}") from None
    return module, inputs


async def bind(entry: ModuleEntry, setting: str, variable: str, context: SessionContext | None) -> None:
    """Records a binding; with a bridge, reads the variable now (NOT_FOUND when it does not
    exist), into the module's attribute for a variable-aware module."""
    module = entry.module
    if context is not None:
        if isinstance(module, VariableAwareMixin):
            if module.session_context is None:
                module.session_context = context
            await module.bind_to_variable(setting, variable)
        else:
            await context.get_variable(variable)
    entry.bindings[setting] = variable


def carried_settings(entry: ModuleEntry, bound_values: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """What a call's settings are without the bridge: the fixed ones, then the bound ones the call carries; and
    the bindings it does not carry (setting -> variable), which `call_settings` reads from the bridge."""
    settings = dict(entry.settings)
    missing: dict[str, str] = {}
    # A copy (one step under the GIL): a call-socket thread reads what a `Bind` on the event loop may change.
    for setting, variable in list(entry.bindings.items()):
        if setting in bound_values:
            settings[setting] = bound_values[setting]
        else:
            missing[setting] = variable
    return settings, missing


async def call_settings(
    entry: ModuleEntry, bound_values: Mapping[str, Any], context: SessionContext | None
) -> dict[str, Any]:
    """The settings of one call: the fixed ones, then the bound ones, each from the call's
    ``bound_values`` (keyed by setting name) when it carries it, else read from the bridge."""
    settings, missing = carried_settings(entry, bound_values)
    if not missing:
        return settings
    if context is None:
        names = ", ".join(sorted(missing.values()))
        raise precondition(f"the call carries no value for {names} and the worker has no bridge")
    module = entry.module
    if isinstance(module, VariableAwareMixin) and len(missing) == len(entry.bindings):
        # Every binding is read: the module's own sync, which also refreshes its attributes.
        settings.update(await module.sync_variables())
        return settings
    values = await context.get_variables(list(missing.values()))
    for setting, variable in missing.items():
        if variable not in values:
            raise not_found(f"variable `{variable}` (bound to `{setting}`) not found")
        settings[setting] = values[variable]
    return settings


def run(
    entry: ModuleEntry,
    lm: Any,
    adapter: Any,
    settings: Mapping[str, Any],
    inputs: Mapping[str, Any],
    scope: CallScope | None = None,
) -> Any:
    """One call of the module with the session's ``lm`` and ``adapter`` (``None``: DSPy's
    default) and the call's ``settings``, as part of ``scope`` when given (blocking: the LM
    is called)."""
    overrides: dict[str, Any] = {"lm": lm} if adapter is None else {"lm": lm, "adapter": adapter}
    # The scope joins the callbacks only if cancelled: DSPy's callback machinery costs every call otherwise.
    with dspy.context(**overrides), in_scope(scope, callback="on_cancel"):
        return call(entry.module, settings, inputs)


def call(module: Any, settings: Mapping[str, Any], inputs: Mapping[str, Any]) -> Any:
    """One call of ``module`` with the LM and adapter in force and the call's ``settings``
    (blocking: the LM is called)."""
    if isinstance(module, VariableAwareMixin):
        return module.call_with_settings(settings, **inputs)
    with lm_settings(settings):
        return module(**inputs)


async def arun(
    entry: ModuleEntry,
    lm: Any,
    adapter: Any,
    settings: Mapping[str, Any],
    inputs: Mapping[str, Any],
    scope: CallScope | None = None,
) -> Any:
    """`run` on the event loop, through DSPy's async path (``acall``): for a call `runs_on_loop` allows. Cancelled,
    its task stops at its next ``await`` (`tools.in_scope`)."""
    overrides: dict[str, Any] = {"lm": lm} if adapter is None else {"lm": lm, "adapter": adapter}
    with dspy.context(**overrides), in_scope(scope, callback="never"):
        return await acall(entry.module, settings, inputs)


async def acall(module: Any, settings: Mapping[str, Any], inputs: Mapping[str, Any]) -> Any:
    """The async twin of `call`."""
    if isinstance(module, VariableAwareMixin):
        return await module.acall_with_settings(settings, **inputs)
    with lm_settings(settings):
        return await module.acall(**inputs)


def runs_on_loop(entry: ModuleEntry, lm: Any) -> bool:
    """Whether a call of ``entry`` with ``lm`` runs on the event loop (`arun`) rather than in a thread (`run`):
    when both have an async path of their own, which never blocks the loop."""
    return entry.asynchronous and lm_is_async(lm)


def _overrides(cls: type[Any], base: type[Any], name: str) -> bool:
    return getattr(cls, name, None) is not getattr(base, name, None)


def lm_is_async(lm: Any) -> bool:
    """Whether ``lm`` answers ``acall`` without blocking: a ``dspy.LM`` over a provider (LiteLLM or lm15, both
    async) or over a custom engine with an ``async_engine``; another ``dspy.BaseLM`` only when it implements
    ``aforward``. A subclass that replaces ``forward`` but not ``aforward`` answers in a thread: its own code
    is sync."""
    cls = type(lm)
    if isinstance(lm, dspy.LM):
        if not isinstance(lm._engine_spec, str) and lm._async_engine_spec is None:
            return False
        return not _overrides(cls, dspy.LM, "forward") or _overrides(cls, dspy.LM, "aforward")
    if isinstance(lm, dspy.BaseLM):
        return _overrides(cls, dspy.BaseLM, "aforward")
    return False


def _defines_aforward_with_forward(cls: type[Any]) -> bool:
    """Whether the class defining ``forward`` (or one of its subclasses) also defines ``aforward``: else the
    async path would skip the module's own ``forward``."""
    for klass in cls.__mro__:
        if "aforward" in vars(klass):
            return True
        if "forward" in vars(klass):
            return False
    return False


def module_is_async(module: Any) -> bool:
    """Whether ``module`` has an async path holding no thread: its class implements ``aforward`` wherever it
    implements ``forward`` (not ProgramOfThought, whose interpreter is sync), and a ReAct's tools are all
    awaitable (Rust tools, coroutine functions; DSPy's async ReAct would run a sync Python tool on the loop)."""
    if isinstance(module, dspy.ProgramOfThought) or not _defines_aforward_with_forward(type(module)):
        return False
    if isinstance(module, dspy.ReAct):
        return all(name == "finish" or awaitable_tool(tool) for name, tool in module.tools.items())
    return True


def small_outputs(prediction: Any, limit: int) -> bool:
    """Whether the outputs of ``prediction`` are scalars (text, numbers, booleans) of at most ``limit`` characters
    in all: cheap enough to encode on the event loop."""
    total = 0
    for value in output_fields(prediction).values():
        if isinstance(value, str):
            total += len(value)
        elif value is not None and not isinstance(value, (bool, int, float)):
            return False
    return total <= limit


def output_fields(prediction: Any) -> dict[str, Any]:
    """The named outputs of what a module returned (a ``dspy.Prediction``, a mapping, or a
    single value, then named ``output``)."""
    if isinstance(prediction, Mapping):
        return dict(prediction)
    keys = getattr(prediction, "keys", None)
    if callable(keys):
        return {key: prediction[key] for key in keys()}
    return {"output": prediction}
