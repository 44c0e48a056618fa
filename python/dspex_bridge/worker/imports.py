"""Import paths in requests (LM factories, ReAct tools): ``package.module:name``."""

from __future__ import annotations

import importlib
from typing import Any

from .._quote import excerpt
from .status import invalid


def import_object(path: str, what: str) -> Any:
    """``package.module:attribute`` (also ``package.module.attribute``, and a dotted attribute
    after the colon) → the object. ``what`` names it in the INVALID_ARGUMENT message. An
    exception other than ``ImportError`` that the module raises while it is imported is the
    module's own, and propagates."""
    module_name, sep, attribute = path.partition(":")
    if not sep:
        module_name, _, attribute = path.rpartition(".")
    if not module_name or not attribute:
        raise invalid(f"{what} `{excerpt(path)}` is not an import path `package.module:name`")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise invalid(
            f"{what} `{excerpt(path)}`: cannot import `{excerpt(module_name)}`: {excerpt(str(error))}"
        ) from error
    target: Any = module
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise invalid(f"{what} `{excerpt(path)}`: `{excerpt(module_name)}` has no `{excerpt(attribute)}`") from None
    return target
