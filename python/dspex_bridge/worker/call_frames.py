"""The frames of the call socket (`call_socket`): each message after its length (4 bytes, little endian), and what
the worker does with a frame it cannot take (refused, on a frame of its own, with call id 0)."""

from __future__ import annotations

import struct
from typing import Final

from google.protobuf.message import DecodeError

from .._proto_loader import worker_pb
from .status import invalid, logged_refusal, too_large

LENGTH: Final = struct.Struct("<I")
"""A frame's length prefix."""
FRAME_SLACK_BYTES: Final = 1024
"""What a frame may hold beyond the message size limit: its call id and field tags around the request."""


def framed(message: worker_pb.CallAnswer) -> bytes:
    """``message`` after its length."""
    body = message.SerializeToString()
    return LENGTH.pack(len(body)) + body


def answered(call_id: int, response: worker_pb.CallModuleResponse) -> bytes:
    """The framed ``CallAnswer`` of call ``call_id`` with ``response``: its fields encoded by hand around the
    response's own bytes (a message built around it would copy the response first)."""
    body = response.SerializeToString()
    head = (_ANSWER_CALL_ID + _varint(call_id) if call_id else b"") + _ANSWER_RESPONSE + _varint(len(body))
    return LENGTH.pack(len(head) + len(body)) + head + body


_ANSWER_CALL_ID: Final = b"\x08"  # CallAnswer field 1 (call_id), a varint
_ANSWER_RESPONSE: Final = b"\x12"  # CallAnswer field 2 (response), length-delimited


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def refusal(call_id: int, error: BaseException) -> bytes:
    """The framed answer refusing call ``call_id`` for ``error`` (logged), as the ``CallModule`` RPC's status would."""
    refused = logged_refusal("CallModule (call socket)", error)
    return framed(
        worker_pb.CallAnswer(
            call_id=call_id,
            refusal=worker_pb.CallRefusal(
                code=refused.code.value[0],
                message=refused.message,
                kind=refused.kind,
                exception=refused.exception or "",
            ),
        )
    )


class FrameError(Exception):
    """A frame the worker cannot take: ``answer`` says why (a framed refusal); the connection then closes."""

    def __init__(self, answer: bytes) -> None:
        super().__init__("a frame the worker cannot take")
        self.answer = answer


def checked_length(header: bytes, max_frame: int) -> int:
    """The length a frame's header announces; `FrameError` over ``max_frame``."""
    (length,) = LENGTH.unpack(header)
    if length > max_frame:
        raise FrameError(refusal(0, too_large("a frame of the call socket", length, max_frame)))
    return int(length)


def parsed(body: bytes) -> worker_pb.CallFrame:
    """The frame ``body`` holds; `FrameError` if it does not parse."""
    try:
        return worker_pb.CallFrame.FromString(body)
    except DecodeError as error:
        raise FrameError(refusal(0, invalid(f"a frame of the call socket does not parse: {error}"))) from None
