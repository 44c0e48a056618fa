"""A session's LM, built from the ``LmSpec`` of a ``ConfigureLm`` request.

A spec names one of three kinds: ``echo`` (the offline test LM), ``factory`` (an import path
of a callable returning a ``dspy.BaseLM``, called with the spec's settings) or ``model`` (a
``dspy.LM`` model string, with the settings as its keyword arguments, its response cache off,
and its API key read from the environment variable ``api_key_env`` names). ``echo`` and
``factory`` each take precedence over a ``model`` string, which then only names the LM.

A spec may also name the DSPy adapter the session's modules use (``adapter``): ``"chat"``,
``"json"``, or empty for DSPy's default.
"""

from __future__ import annotations

import os
from enum import Enum
from typing import Any, Final

import dspy

from .._echo_lm import ECHO_MODEL, EchoLM
from .._proto_loader import worker_pb
from .._quote import excerpt
from .imports import import_object
from .status import invalid, precondition

MAX_ECHO_REQUESTS: Final = 1000
"""How many requests the test LM remembers (a worker lives long)."""


class LmKind(Enum):
    """Which of the spec's fields builds the LM."""

    ECHO = "echo"
    FACTORY = "factory"
    MODEL = "model"


def lm_kind(spec: worker_pb.LmSpec) -> LmKind:
    """The kind of ``spec``; both ``echo`` and a factory, or none of the three, are refused."""
    if spec.echo and spec.HasField("factory"):
        raise invalid("an LmSpec is the test LM (echo) or a factory, not both")
    if spec.echo:
        return LmKind.ECHO
    if spec.HasField("factory"):
        if not spec.factory:
            raise invalid("the LM factory path is empty")
        return LmKind.FACTORY
    if spec.model:
        return LmKind.MODEL
    raise invalid("an LmSpec sets one of model, factory, echo (got none)")


ADAPTERS: Final = {"chat": dspy.ChatAdapter, "json": dspy.JSONAdapter}
"""The adapters a spec can name."""


def build_adapter(name: str) -> Any:
    """The adapter ``name`` names (``None`` for DSPy's default, an empty name)."""
    if not name:
        return None
    adapter = ADAPTERS.get(name)
    if adapter is None:
        raise invalid(f"unknown adapter {name!r} (the adapters are {', '.join(sorted(ADAPTERS))})")
    return adapter()


def describe(spec: worker_pb.LmSpec, kind: LmKind) -> str:
    """What the log says of an LM: its model string, or its kind (never a key)."""
    described = spec.model if kind is LmKind.MODEL else kind.value
    return f"{described}, {spec.adapter} adapter" if spec.adapter else described


def build_lm(spec: worker_pb.LmSpec, kind: LmKind, settings: dict[str, Any]) -> Any:
    """The LM of ``spec`` (blocking: a factory or ``dspy.LM`` may do I/O)."""
    if kind is LmKind.ECHO:
        try:
            return EchoLM(spec.model or ECHO_MODEL, max_requests=MAX_ECHO_REQUESTS, **settings)
        except (TypeError, ValueError) as error:
            raise invalid(f"test LM settings: {excerpt(str(error))}") from None
    if kind is LmKind.FACTORY:
        return _from_factory(spec.factory, settings)
    return _from_model(spec, settings)


def _from_factory(path: str, settings: dict[str, Any]) -> Any:
    factory = import_object(path, "LM factory")
    if not callable(factory):
        raise invalid(f"LM factory `{excerpt(path)}` is not callable")
    try:
        lm = factory(**settings)
    except (TypeError, ValueError) as error:
        raise invalid(f"LM factory `{excerpt(path)}`: {type(error).__name__}: {excerpt(str(error))}") from None
    if not isinstance(lm, dspy.BaseLM):
        raise invalid(f"LM factory `{excerpt(path)}` returned {type(lm).__name__}, not a dspy LM")
    return lm


def _from_model(spec: worker_pb.LmSpec, settings: dict[str, Any]) -> Any:
    kwargs = dict(settings)
    kwargs.setdefault("cache", False)
    if spec.HasField("api_key_env"):
        key = os.environ.get(spec.api_key_env)
        if not key:
            raise precondition(f"the environment variable `{excerpt(spec.api_key_env)}` (the API key) is not set")
        kwargs["api_key"] = key
    try:
        return dspy.LM(spec.model, **kwargs)
    except (TypeError, ValueError) as error:
        # A refused constructor's message never contains the key: it is not echoed back.
        raise invalid(f"LM `{excerpt(spec.model)}`: {type(error).__name__}: {excerpt(str(error))}") from None
