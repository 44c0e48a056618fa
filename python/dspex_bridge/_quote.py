"""How an error shows something it was given — a value, a name, a choice list, a pattern,
the text of an exception: never the whole of it. Whatever is longer than
`QUOTE_PREFIX_CHARS` is shown as its first characters, an ellipsis, and its length in UTF-8
bytes: ``"yyyy…" (1000000 bytes)``. The whole text goes to the ``dspex_bridge.quoted``
logger at debug level, where it can still be read.

The Rust side (``dspex::quote``) follows the same rule; ``tests/vectors/quoting.json`` holds
the cases both sides run.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Final

QUOTE_PREFIX_CHARS: Final = 300
"""How many characters (code points) of a text an error shows."""
QUOTE_LIST_ITEMS: Final = 10
"""How many items of a list (choices) an error shows."""
MAX_STATUS_MESSAGE_BYTES: Final = 4096
"""The longest status message a worker sends, in bytes (a gRPC status travels in an HTTP/2
header, which peers commonly cap at 8–16 KiB)."""

logger = logging.getLogger("dspex_bridge.quoted")

_ESCAPES: Final[dict[int, str]] = {
    **{code: f"\\u{{{code:x}}}" for code in [*range(0x20), 0x7F]},
    ord("\\"): "\\\\",
    ord('"'): '\\"',
    ord("\n"): "\\n",
    ord("\r"): "\\r",
    ord("\t"): "\\t",
}


def utf8_len(text: str) -> int:
    """The length of ``text`` in UTF-8 bytes (a lone surrogate counts as its three bytes)."""
    return len(text.encode("utf-8", "surrogatepass"))


def _prefix(text: str) -> tuple[str, bool]:
    """The part of ``text`` an error shows, and whether it was cut. A cut text is logged whole."""
    if len(text) <= QUOTE_PREFIX_CHARS:
        return text, False
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug("text cut (%d bytes): %s", utf8_len(text), text)
    return text[:QUOTE_PREFIX_CHARS], True


def quoted(text: str) -> str:
    """A text in double quotes, escaped, bounded: ``"hot"``, or ``"yyyy…" (1000000 bytes)``
    when it is longer than `QUOTE_PREFIX_CHARS`.

    Escapes: ``\\\\``, ``\\"``, ``\\n``, ``\\r``, ``\\t``, and any other control character
    (below U+0020, and U+007F) as ``\\u{hex}``; everything else as it is.

    >>> quoted('a"b')
    '"a\\\\"b"'
    """
    shown, cut = _prefix(text)
    escaped = shown.translate(_ESCAPES)
    if cut:
        return f'"{escaped}…" ({utf8_len(text)} bytes)'
    return f'"{escaped}"'


def excerpt(text: str) -> str:
    """A free text (a name, an exception's message) as it is, bounded: the text itself, or its
    first `QUOTE_PREFIX_CHARS` characters followed by ``… (N bytes)``. Nothing is escaped.

    >>> excerpt("temperature")
    'temperature'
    """
    shown, cut = _prefix(text)
    return f"{shown}… ({utf8_len(text)} bytes)" if cut else shown


def quoted_list(items: Sequence[str]) -> str:
    """A list of texts, each `quoted`, bounded: items are shown in order while the items shown
    (quoted, joined by ``, ``) stay within `QUOTE_PREFIX_CHARS` characters and number at most
    `QUOTE_LIST_ITEMS`; the first is always shown. ``["a", "b"]``, or ``["a", "b", … 998 more]``.

    >>> quoted_list(["gpt-4", "claude-3"])
    '["gpt-4", "claude-3"]'
    """
    shown: list[str] = []
    chars = 0
    for item in items[:QUOTE_LIST_ITEMS]:
        text = quoted(item)
        length = len(text) + (2 if shown else 0)
        if shown and chars + length > QUOTE_PREFIX_CHARS:
            break
        shown.append(text)
        chars += length
    more = len(items) - len(shown)
    if more > 0:
        shown.append(f"… {more} more")
    return f"[{', '.join(shown)}]"


def fit(message: str, max_bytes: int = MAX_STATUS_MESSAGE_BYTES) -> str:
    """A message cut to at most ``max_bytes`` UTF-8 bytes (between two characters), ending in
    ``… (N bytes)`` when it was cut: the last bound on a status message, whatever built it.
    The whole message is logged at debug level when it is cut.

    >>> fit("short")
    'short'
    """
    encoded = message.encode("utf-8", "surrogatepass")
    if len(encoded) <= max_bytes:
        return message
    suffix = f"… ({len(encoded)} bytes)"
    end = max(0, max_bytes - utf8_len(suffix))
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug("message cut (%d bytes): %s", len(encoded), message)
    # A prefix of valid UTF-8 cut inside a character: "ignore" drops that partial character only.
    return encoded[:end].decode("utf-8", "ignore") + suffix
