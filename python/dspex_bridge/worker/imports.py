"""Import paths in requests (LM factories, ReAct tools): ``package.module:name``."""

from __future__ import annotations

import importlib
from typing import Any

from .status import invalid


def import_object(path: str, what: str) -> Any:
    """``package.module:attribute`` (also ``package.module.attribute``, and a dotted attribute
    after the colon) → the object. ``what`` names it in the INVALID_ARGUMENT message."""
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
