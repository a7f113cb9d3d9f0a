"""Error lines that quote a user's value: cut to a bound, and kept on one line."""

from __future__ import annotations

MAX_SHOWN = 200  # characters of one quoted value
MAX_LINE = 900  # characters of a whole error message


def cut(text: str, limit: int = MAX_SHOWN) -> str:
    """`text` when it is short, else its first `limit` characters and how long it was."""
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text):,} chars)"


def one_line(message: str) -> str:
    """An error message on one line (line breaks written as \\n, \\r) and at most MAX_LINE characters."""
    return cut(message.replace("\r", "\\r").replace("\n", "\\n"), MAX_LINE)
