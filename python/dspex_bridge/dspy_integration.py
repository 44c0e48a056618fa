"""Variable-aware DSPy modules: module settings bound to the variables of a Rust Context.

A module binds one of its settings (``temperature``, ``max_tokens``, ...) to a variable of the
session; the setting then reads back as a plain attribute, is refreshed from the session by
`sync_variables`, and reaches the LM **per call**: each call runs with a copy of the current
LM carrying the settings (``dspy.context(lm=lm.copy(**settings))``, scoped to the call's own
thread or task) and, for DSPy's predictor modules, the same settings as the call's
``config=``. Concurrent calls on one module therefore never see each other's settings.

```python
session = SessionContext(session_id, channel)
predict = VariableAwarePredict("question -> answer", session_context=session)
await predict.bind_to_variable("temperature", "gen_temp")   # predict.temperature == 0.7
await predict.sync_variables()                              # re-read the bound variables
predict(question="...")                                     # the LM sees temperature=0.7
predict.call_with_settings({"temperature": 0.2}, question="...")   # this call only
```

The session object is anything with ``await get_variable(name)`` (a `SessionContext`,
a `SyncSessionContext` — its plain ``get_variable`` works too —, or a test double).

The modules stay drop-in replacements of DSPy's under everything an optimizer or a user does to
a module: ``copy.deepcopy`` / ``module.deepcopy()`` / ``reset_copy()`` share the session (the
copy reads the same variables), pickling (``cloudpickle``, ``save(path, save_program=True)``)
leaves it out (set ``session_context`` again after loading), and both keep the bindings.
``dump_state()`` is DSPy's own state, with the bindings under `BINDINGS_KEY` when there are any;
``load_state`` restores them (a state without that key, such as a plain DSPy module's, leaves the
bindings as they are), and DSPy's own modules load such a state too. Loaded bindings take their
values from the session at the next `sync_variables`.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import logging
import threading
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, ClassVar, Final, TypeVar

import dspy

from ._quote import excerpt
from .errors import ModuleVariableNotFoundError, UnknownModuleTypeError

logger = logging.getLogger(__name__)

T = TypeVar("T")

LM_SETTINGS: frozenset[str] = frozenset(
    {
        "temperature",
        "max_tokens",
        "max_completion_tokens",
        "top_p",
        "top_k",
        "stop",
        "seed",
        "frequency_penalty",
        "presence_penalty",
        "n",
        "rollout_id",
    }
)
"""The settings that travel to the LM with each call (the others stay module attributes)."""

BINDINGS_KEY: Final = "dspex.bindings"
"""The key of a module's bindings (setting → variable name) in its ``dump_state()``: not an
identifier, so it never names a DSPy parameter or attribute."""

_NOT_COPIED: Final = ("_session_context", "_session_loop", "_sync_lock")
"""What a copy shares (the session and the loop its channel runs on) or makes anew (the lock),
and what pickling leaves out: none of them can be copied, and a copy must read the same session."""


# ---- per-call LM settings ------------------------------------------------------------------


@contextmanager
def lm_settings(settings: Mapping[str, Any]) -> Iterator[None]:
    """Runs the block with a copy of the current LM (``dspy.settings.lm``) carrying
    ``settings``. Scoped to the current thread / task (a ``dspy.context``)."""
    base = dspy.settings.lm
    if not settings or base is None:
        yield
        return
    with dspy.context(lm=base.copy(**dict(settings))):
        yield


def _takes_config(module: Any) -> bool:
    """Whether ``module(**inputs, config=...)`` reaches its predictors' config (the DSPy
    classes that pass their keyword arguments down to a Predict)."""
    return isinstance(module, (dspy.Predict, dspy.ChainOfThought, dspy.ReAct))


def _run_sync(make: Callable[[], Awaitable[T]], loop: asyncio.AbstractEventLoop | None) -> T:
    """Runs a coroutine from synchronous code: on ``loop`` when it runs in another thread
    (the session's channel lives there), else on a fresh loop. Refuses inside a running loop."""
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if loop is not None and loop.is_running() and loop is not running:
        return asyncio.run_coroutine_threadsafe(_as_coroutine(make), loop).result()
    if running is not None:
        raise RuntimeError("the synchronous variant cannot run inside an event loop: use the async method (await ...)")
    return asyncio.run(_as_coroutine(make))


async def _as_coroutine(make: Callable[[], Awaitable[T]]) -> T:
    return await make()


async def read_variable(session: Any, variable_name: str) -> Any:
    """The value of ``variable_name`` read from ``session`` (``get_variable``, awaited when it
    returns an awaitable). `ModuleVariableNotFoundError` when the session has no such variable
    (it raised ``KeyError`` or answered ``None``)."""
    try:
        value = session.get_variable(variable_name)
        if inspect.isawaitable(value):
            value = await value
    except KeyError as error:  # VariableNotFoundError is a KeyError
        raise _not_found(variable_name) from error
    if value is None:
        raise _not_found(variable_name)
    return value


def _not_found(variable_name: str) -> ModuleVariableNotFoundError:
    return ModuleVariableNotFoundError(f"variable `{excerpt(variable_name)}` not found", "not_found")


def _bindings_of(saved: Any) -> dict[str, str] | None:
    """The bindings saved under `BINDINGS_KEY` (``None``: none saved); ``ValueError`` when they are not a
    mapping of names to names — before anything is loaded."""
    if saved is None:
        return None
    if not isinstance(saved, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in saved.items()):
        raise ValueError(
            f"`{BINDINGS_KEY}` in a module's state maps settings to variable names, not {excerpt(repr(saved))}"
        )
    return dict(saved)


# ---- the mixin -----------------------------------------------------------------------------


class VariableAwareMixin:
    """Binds module settings to session variables. Mix in before a ``dspy.Module`` class.

    Attributes: ``_session_context`` (the session), ``_variable_bindings`` (setting →
    variable name), ``_last_sync`` (setting → the value last read from the session).
    """

    _session_context: Any
    _variable_bindings: dict[str, str]
    _last_sync: dict[str, Any]

    def __init__(self, *args: Any, session_context: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._session_context = session_context
        self._variable_bindings = {}
        self._last_sync = {}
        self._session_loop: asyncio.AbstractEventLoop | None = None
        self._sync_lock = threading.Lock()

    @property
    def session_context(self) -> Any:
        """The session the bound variables are read from (``None``: not attached yet; a
        binding then fails until one is set)."""
        return self._session_context

    @session_context.setter
    def session_context(self, session: Any) -> None:
        self._session_context = session

    # -- copies, pickles and state --

    def __getstate__(self) -> dict[str, Any]:
        """What pickling keeps: DSPy's own state, without the session, its loop and the lock."""
        state: dict[str, Any] = dict(super().__getstate__())  # type: ignore[call-overload]  # DSPy's Module.__getstate__ returns a dict
        for name in _NOT_COPIED:
            state.pop(name, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Unpickled: no session (set ``session_context`` to attach one), the bindings as pickled."""
        super().__setstate__(state)  # type: ignore[misc]  # defined by the DSPy module after this mixin in the MRO
        self._session_context = None
        self._session_loop = None
        self._sync_lock = threading.Lock()
        if not hasattr(self, "_variable_bindings"):
            self._variable_bindings = {}
        if not hasattr(self, "_last_sync"):
            self._last_sync = {}

    def __copy__(self) -> Any:
        """A shallow copy, as ``copy.copy`` makes one of a DSPy module, on the same session."""
        return self._copy_onto(type(self).__new__(type(self)), self.__getstate__())

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        """A deep copy, as ``copy.deepcopy`` makes one of a DSPy module, sharing the session (and its loop)
        wherever the module refers to it."""
        for shared in (self._session_context, self._session_loop):
            if shared is not None:
                memo[id(shared)] = shared
        copied = type(self).__new__(type(self))
        memo[id(self)] = copied
        return self._copy_onto(copied, copy.deepcopy(self.__getstate__(), memo))

    def _copy_onto(self, copied: Any, state: dict[str, Any]) -> Any:
        copied.__setstate__(state)
        copied._session_context = self._session_context
        copied._session_loop = self._session_loop
        return copied

    def dump_state(self, json_mode: bool = True) -> dict[str, Any]:
        """DSPy's ``dump_state()``, with the bindings under `BINDINGS_KEY` when there are any."""
        state: dict[str, Any] = super().dump_state(json_mode=json_mode)  # type: ignore[misc]  # defined by the DSPy module after this mixin in the MRO
        if self._variable_bindings:
            state[BINDINGS_KEY] = dict(self._variable_bindings)
        return state

    def load_state(self, state: Mapping[str, Any], **kwargs: Any) -> Any:
        """DSPy's ``load_state``; the bindings under `BINDINGS_KEY`, when present, replace this module's
        (their values are read at the next `sync_variables`; a binding kept as it was keeps its value)."""
        own = dict(state)
        bindings = _bindings_of(own.pop(BINDINGS_KEY, None))
        loaded = super().load_state(own, **kwargs)  # type: ignore[misc]  # defined by the DSPy module after this mixin in the MRO
        if bindings is not None:
            self._last_sync = {
                attribute: value
                for attribute, value in self._last_sync.items()
                if self._variable_bindings.get(attribute) == bindings.get(attribute)
            }
            self._variable_bindings = bindings
        return loaded

    # -- reading variables --

    async def _read(self, variable_name: str) -> Any:
        if self._session_context is None:
            raise RuntimeError(f"{type(self).__name__} has no session context to read variables from")
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # pragma: no cover - always inside a coroutine
            loop = None
        if loop is not None and self._session_loop is None:
            self._session_loop = loop
        return await read_variable(self._session_context, variable_name)

    # -- binding --

    async def bind_to_variable(self, attribute: str, variable_name: str) -> None:
        """Binds ``attribute`` to the session variable ``variable_name`` and reads it now.

        Raises `ModuleVariableNotFoundError` (a ``ValueError`` and a ``KeyError``) when the
        variable does not exist."""
        value = await self._read(variable_name)
        self._variable_bindings[attribute] = variable_name
        setattr(self, attribute, value)
        self._last_sync[attribute] = value
        logger.debug("bound %s to variable %s (= %r)", attribute, variable_name, value)

    def bind_to_variable_sync(self, attribute: str, variable_name: str) -> None:
        """`bind_to_variable` for synchronous code."""
        _run_sync(lambda: self.bind_to_variable(attribute, variable_name), self._session_loop)

    def unbind_variable(self, attribute: str) -> None:
        """Drops a binding; the attribute keeps its last value."""
        self._variable_bindings.pop(attribute, None)
        self._last_sync.pop(attribute, None)

    def get_bindings(self) -> dict[str, str]:
        """A copy of the bindings: setting → variable name."""
        return dict(self._variable_bindings)

    async def get_bound_variable(self, attribute: str) -> Any:
        """The current value, in the session, of the variable ``attribute`` is bound to."""
        variable_name = self._variable_bindings.get(attribute)
        if variable_name is None:
            raise ValueError(f"`{attribute}` is not bound to a variable")
        return await self._read(variable_name)

    # -- syncing --

    async def sync_variables(self) -> dict[str, Any]:
        """Reads every bound variable from the session (``get_variable`` each) and updates
        the attributes whose variable changed since the last sync. Returns setting → value,
        the values read (a snapshot a caller may pass to `call_with_settings`)."""
        values: dict[str, Any] = {}
        for attribute, variable_name in list(self._variable_bindings.items()):
            value = await self._read(variable_name)
            values[attribute] = value
            with self._sync_lock:
                if attribute not in self._last_sync or self._last_sync[attribute] != value:
                    setattr(self, attribute, value)
                    self._last_sync[attribute] = value
        return values

    def sync_variables_sync(self) -> dict[str, Any]:
        """`sync_variables` for synchronous code."""
        return _run_sync(self.sync_variables, self._session_loop)

    # -- calling --

    def bound_settings(self) -> dict[str, Any]:
        """The LM settings this module's bindings give now (attribute values)."""
        return {
            attribute: getattr(self, attribute)
            for attribute in self._variable_bindings
            if attribute in LM_SETTINGS and getattr(self, attribute, None) is not None
        }

    def _call_settings(self, overrides: Mapping[str, Any] | None) -> dict[str, Any]:
        settings = self.bound_settings()
        if overrides:
            settings.update(overrides)
        return settings

    def _with_config(self, settings: Mapping[str, Any], kwargs: dict[str, Any]) -> dict[str, Any]:
        if settings and _takes_config(self):
            kwargs["config"] = {**kwargs.get("config", {}), **settings}
        return kwargs

    def call_with_settings(self, settings: Mapping[str, Any] | None = None, /, **kwargs: Any) -> Any:
        """Calls the module with this call's LM settings: the bound ones, then ``settings``."""
        merged = self._call_settings(settings)
        with lm_settings(merged):
            return super().__call__(**self._with_config(merged, kwargs))  # type: ignore[misc]  # defined by the DSPy module after this mixin in the MRO

    async def acall_with_settings(self, settings: Mapping[str, Any] | None = None, /, **kwargs: Any) -> Any:
        """The async twin of `call_with_settings`."""
        merged = self._call_settings(settings)
        with lm_settings(merged):
            return await super().acall(**self._with_config(merged, kwargs))  # type: ignore[misc]  # defined by the DSPy module after this mixin in the MRO

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if args:
            return super().__call__(*args, **kwargs)  # type: ignore[misc]  # defined by the DSPy module after this mixin in the MRO
        return self.call_with_settings(None, **kwargs)

    async def acall(self, *args: Any, **kwargs: Any) -> Any:
        if args:
            return await super().acall(*args, **kwargs)  # type: ignore[misc]  # defined by the DSPy module after this mixin in the MRO
        return await self.acall_with_settings(None, **kwargs)


class VariableAwarePredict(VariableAwareMixin, dspy.Predict):  # type: ignore[misc]  # DSPy is untyped (Any)
    """``dspy.Predict`` with settings bound to session variables."""


class VariableAwareChainOfThought(VariableAwareMixin, dspy.ChainOfThought):  # type: ignore[misc]  # DSPy is untyped (Any)
    """``dspy.ChainOfThought`` with settings bound to session variables."""


class VariableAwareReAct(VariableAwareMixin, dspy.ReAct):  # type: ignore[misc]  # DSPy is untyped (Any)
    """``dspy.ReAct`` with settings bound to session variables."""


class VariableAwareProgramOfThought(VariableAwareMixin, dspy.ProgramOfThought):  # type: ignore[misc]  # DSPy is untyped (Any)
    """``dspy.ProgramOfThought`` with settings bound to session variables.

    Runs generated code in ``dspy.LocalInterpreter`` by default (a local subprocess, not a
    sandbox): DSPy's default sandbox downloads its runtime, and dspex workers have no network.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("interpreter_factory", dspy.LocalInterpreter)
        super().__init__(*args, **kwargs)


# ---- resolving a module class from a module-typed variable ----------------------------------


class ModuleVariableResolver:
    """Creates modules whose class is named by a ``module``-typed session variable.

    ``MODULE_REGISTRY`` maps a name to a DSPy module class; `create_module` upgrades the four
    built-ins to their VariableAware classes (bound to this resolver's session)."""

    MODULE_REGISTRY: ClassVar[dict[str, type[Any]]] = {
        "Predict": dspy.Predict,
        "ChainOfThought": dspy.ChainOfThought,
        "ReAct": dspy.ReAct,
        "ProgramOfThought": dspy.ProgramOfThought,
    }

    VARIABLE_AWARE: ClassVar[dict[type[Any], type[Any]]] = {
        dspy.Predict: VariableAwarePredict,
        dspy.ChainOfThought: VariableAwareChainOfThought,
        dspy.ReAct: VariableAwareReAct,
        dspy.ProgramOfThought: VariableAwareProgramOfThought,
    }

    def __init__(self, session_context: Any) -> None:
        self.session_context = session_context

    @classmethod
    def register_module(cls, name: str, module_class: type[Any]) -> None:
        """Makes ``name`` resolvable to ``module_class`` (a ``dspy.Module`` subclass)."""
        if not (isinstance(module_class, type) and issubclass(module_class, dspy.Module)):
            raise TypeError(f"{module_class!r} is not a dspy.Module subclass")
        cls.MODULE_REGISTRY[name] = module_class

    @classmethod
    def lookup(cls, name: str) -> type[Any]:
        """The registered class of ``name``; `UnknownModuleTypeError` (a ``ValueError``) when
        there is none."""
        module_class = cls.MODULE_REGISTRY.get(name)
        if module_class is None:
            known = excerpt(", ".join(sorted(cls.MODULE_REGISTRY)))
            raise UnknownModuleTypeError(f"unknown module type `{excerpt(name)}` (known: {known})", "invalid_argument")
        return module_class

    @classmethod
    def variable_aware(cls, module_class: type[Any]) -> type[Any]:
        """The VariableAware class of ``module_class`` (itself if it already is one or has none)."""
        if issubclass(module_class, VariableAwareMixin):
            return module_class
        return cls.VARIABLE_AWARE.get(module_class, module_class)

    async def resolve_module(self, variable_name: str) -> type[Any]:
        """The class named by the variable ``variable_name``: `ModuleVariableNotFoundError`
        when there is no such variable, `UnknownModuleTypeError` when it does not name a
        registered class (both are ``ValueError``)."""
        value = await read_variable(self.session_context, variable_name)
        if not isinstance(value, str):
            raise UnknownModuleTypeError(
                f"variable `{excerpt(variable_name)}` holds {excerpt(repr(value))}, not a module name",
                "invalid_argument",
            )
        return self.lookup(value)

    async def create_module(self, variable_name: str, *args: Any, **kwargs: Any) -> Any:
        """An instance of the class the variable names, VariableAware when there is such a
        class (then bound to this resolver's session)."""
        module_class = self.variable_aware(await self.resolve_module(variable_name))
        if issubclass(module_class, VariableAwareMixin):
            kwargs.setdefault("session_context", self.session_context)
        return module_class(*args, **kwargs)


__all__ = [
    "BINDINGS_KEY",
    "LM_SETTINGS",
    "ModuleVariableNotFoundError",
    "ModuleVariableResolver",
    "UnknownModuleTypeError",
    "VariableAwareChainOfThought",
    "VariableAwareMixin",
    "VariableAwarePredict",
    "VariableAwareProgramOfThought",
    "VariableAwareReAct",
    "lm_settings",
    "read_variable",
]
