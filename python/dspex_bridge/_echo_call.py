"""Which DSPy call a request of the test LM belongs to: the calling predictor, its signature, the adapter that
formatted the request, and the input values it carries.

Nothing here reads prompt wording. The predictor is the innermost ``dspy.Predict`` of the modules DSPy records
as calling (``dspy.settings.caller_modules``, the list DSPy's own LM history is kept by); the adapter is the one
DSPy configures (``dspy.settings.adapter``, else ``ChatAdapter``), or ``JSONAdapter`` (``ChatAdapter``'s
fallback) — the one whose own ``format_system_message(signature)`` is the request's system message. The input
values are read by inverting that adapter's ``format_user_message_content``. When a predictor calls but no
adapter renders its request, `EchoCallError` says so: a DSPy change that moves this boundary fails loudly.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

import dspy

_MAX_OPTIONAL_INPUTS: Final = 8
"""Up to this many inputs, requests that leave some out are read too (every subset is tried)."""


class EchoCallError(RuntimeError):
    """A predictor called the test LM, but its request is not what any adapter renders for its signature."""


@dataclass(frozen=True, slots=True)
class PredictorCall:
    """One request, matched to the DSPy call that made it."""

    predictor: Any
    """The calling ``dspy.Predict``."""
    signature: Any
    """The signature the request was rendered from."""
    adapter: Any
    """The adapter that rendered it (and parses the answer)."""
    inputs: dict[str, str]
    """The text of each input field the request carries, by name."""
    modules: tuple[Any, ...]
    """The calling modules, outermost first (the predictor last)."""

    def innermost(self, kind: type[Any] | tuple[type[Any], ...]) -> Any | None:
        """The innermost calling module that is a ``kind`` (``None``: none)."""
        return next((module for module in reversed(self.modules) if isinstance(module, kind)), None)


def find_call(system: str, user_text: str) -> PredictorCall | None:
    """The DSPy call of a request (``None``: no predictor is calling, e.g. ``lm("...")``)."""
    modules = tuple(dspy.settings.caller_modules or ())
    predictor = next((module for module in reversed(modules) if isinstance(module, dspy.Predict)), None)
    if predictor is None:
        return None
    signature = predictor.signature
    tried = []
    for adapter in _candidate_adapters():
        tried.append(type(adapter).__name__)
        if adapter.format_system_message(signature) != system:
            continue
        inputs = read_inputs(adapter, signature, user_text)
        if inputs is not None:
            return PredictorCall(predictor, signature, adapter, inputs, modules)
    raise EchoCallError(
        f"the test LM cannot read a request of the predictor with signature `{signature.signature}`: "
        f"it is not what {' or '.join(tried)} renders for that signature"
    )


def _candidate_adapters() -> Iterator[Any]:
    configured = dspy.settings.adapter or dspy.ChatAdapter()
    yield configured
    if isinstance(configured, dspy.ChatAdapter) and not isinstance(configured, dspy.JSONAdapter):
        yield dspy.JSONAdapter()


def read_inputs(
    adapter: Any, signature: Any, user_text: str, *, main_request: bool = True, prefix: str = ""
) -> dict[str, str] | None:
    """The input values of a user message, by inverting ``adapter``'s rendering of it (the request's last one by
    default; ``main_request=False``: a demo's, written after ``prefix``); ``None`` when it is not such a
    rendering."""
    history = [name for name, field in signature.input_fields.items() if field.annotation is dspy.History]
    for name in history:  # DSPy renders a conversation history as earlier messages, not in this one
        signature = signature.delete(name)
    names = list(signature.input_fields)
    for present in _subsets(names):
        values = _match(adapter, signature, present, user_text, main_request, prefix)
        if values is not None:
            return values
    return None


def _subsets(names: list[str]) -> Iterator[Sequence[str]]:
    """``names``, then (for few enough names) every smaller subset, largest first, in signature order."""
    yield names
    if len(names) > _MAX_OPTIONAL_INPUTS:
        return
    for size in range(len(names) - 1, -1, -1):
        yield from itertools.combinations(names, size)


def _match(
    adapter: Any, signature: Any, present: Sequence[str], user_text: str, main_request: bool, prefix: str
) -> dict[str, str] | None:
    # Each present input rendered as a unique placeholder: the text around the placeholders is exactly what
    # the adapter writes around the values (field headers, the output reminder), so the request must be that
    # text with a value in each placeholder's place.
    placeholders = {name: f"\x00dspex-echo-{index}\x00" for index, name in enumerate(present)}
    template = adapter.format_user_message_content(signature, placeholders, prefix=prefix, main_request=main_request)
    pattern = []
    rest = template
    for name in present:
        before, found, rest = rest.partition(placeholders[name])
        if not found:
            return None
        pattern.append(re.escape(before) + "(.*?)")
    match = re.fullmatch("".join(pattern) + re.escape(rest), user_text, re.DOTALL)
    if match is None:
        return None
    return dict(zip(present, match.groups(), strict=True))


__all__ = ["EchoCallError", "PredictorCall", "find_call", "read_inputs"]
