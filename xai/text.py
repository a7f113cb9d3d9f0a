"""Text that is safe to lay out: names from outside (file names, folder names) drawn in pictures.

A control character (a carriage return at a name's start made Pillow's raqm layout fail and
stopped a run), a bidi control (U+202E turns the rest of a line around, so `gpj.exe` reads as
`exe.jpg`), a zero-width or other format character, or a line separator never reaches a text
layout engine: `printable` writes each as a visible escape (`\\r`, `\\x7f`, `\\u202e`). Every
other character is kept, so an ordinary name shows as it is.
"""

from __future__ import annotations

import unicodedata

ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
HIDDEN = {"Cc", "Cf", "Cs", "Zl", "Zp"}  # control, format (bidi, zero-width), surrogate, line/paragraph separator


def _escape(ch: str) -> str:
    code = ord(ch)
    return ESCAPES.get(ch) or (
        f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
    )


def printable(text: object) -> str:
    """`text` with every character that would steer or break text layout written as a visible
    escape; nothing else changes."""
    text = str(text)
    if text.isprintable():  # the usual case, fast (str.isprintable is False for every HIDDEN category)
        return text
    return "".join(_escape(ch) if unicodedata.category(ch) in HIDDEN else ch for ch in text)
