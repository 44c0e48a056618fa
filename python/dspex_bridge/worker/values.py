"""A request's map of wire values decoded into Python values; one that cannot be decoded is
refused with INVALID_ARGUMENT, naming it."""

from __future__ import annotations

from collections.abc import Mapping

from .._codec import PyValue, decode_value
from .._proto_loader import pb
from .._quote import excerpt
from ..errors import BridgeError
from .status import invalid


def decoded(values: Mapping[str, pb.Value], what: str) -> dict[str, PyValue]:
    """The Python value of each entry of ``values`` (``what`` names the kind of entry in the error)."""
    result: dict[str, PyValue] = {}
    for name, value in values.items():
        try:
            result[name] = decode_value(value)
        except BridgeError as error:
            raise invalid(f"{what} `{excerpt(name)}`: {error}") from None
    return result
