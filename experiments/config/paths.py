"""Path fields of a config, all read the same way (the annotated types ConfigPath, OutputPath):

- `${NAME}` and `$NAME` are the environment variable NAME, which must be set;
  `${NAME:-default}` is NAME when it is set and not empty, else `default` (as in a shell);
  `$$` is a literal `$`; any other `$` is an error, and so is a variable that gives an empty
  string (an empty path would silently mean the config's own folder);
- then `~` is the home folder;
- a path may not hold a NUL byte, nor be longer than the system allows (PATH_MAX, NAME_MAX);
- a relative path is relative to the config file's folder (a shipped config's: the working
  directory); the output folder's is relative to the working directory, and resolved.

This happens only while load_config validates a file (it passes the folders as the validation
context); a config built in code holds paths as given.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated

from pydantic import BeforeValidator, ValidationInfo

PATH_MAX, NAME_MAX = 4096, 255  # bytes of a path and of one of its names (Linux)
REFERENCE = re.compile(r"\$(?:(?P<dollar>\$)|\{(?P<braced>\w+)(?::-(?P<default>[^}]*))?\}|(?P<bare>\w+))?")
USAGE = "${NAME}, ${NAME:-default} or $NAME; write $$ for a literal $"


def expand(text: str) -> str:
    """`text` with its variables replaced (see the module's docstring); ValueError naming the
    variable when one is not set or gives an empty string."""

    def value(m: re.Match) -> str:
        if m["dollar"]:
            return "$"
        name = m["braced"] or m["bare"]
        if name is None:
            raise ValueError(f"the $ at character {m.start() + 1} starts no variable ({USAGE})")
        found, default = os.environ.get(name), m["default"]
        if found:
            return found
        if default:
            return expand(default)
        if default is None and found is None:
            raise ValueError(f"uses the environment variable {name}, which is not set")
        why = "is empty" if found is not None else "is not set"
        why += " and the default is empty" if default is not None else ""
        raise ValueError(f"{m[0]} gives an empty path: {name} {why}")

    return REFERENCE.sub(value, text)


def no_nul(text: str) -> str:
    """`text` when it holds no NUL byte, which no path can (the system would refuse it, and
    Python raises "embedded null byte")."""
    if (at := text.find("\0")) >= 0:
        raise ValueError(f"a NUL byte at character {at + 1}; no path can hold one")
    return text


def checked_length(text: str) -> str:
    """`text` when the system can open a path that long (and it holds no NUL byte)."""
    data = os.fsencode(no_nul(text))
    if len(data) > PATH_MAX:
        raise ValueError(f"a path of {len(data):,} bytes; the most is {PATH_MAX:,}")
    longest = max(data.split(b"/"), key=len)
    if len(longest) > NAME_MAX:
        raise ValueError(f"a name of {len(longest):,} bytes in the path; the most is {NAME_MAX}")
    return text


def _path(value: object, info: ValidationInfo, relative_to: str) -> object:
    context = info.context or {}
    if not isinstance(value, str) or relative_to not in context:
        return value  # built in code (or not text: pydantic says what it should be)
    if not value.strip():
        raise ValueError("an empty path")
    path = Path(checked_length(os.path.expanduser(expand(value))))
    if relative_to == "cwd":
        return (context["cwd"] / path).resolve()
    return path if path.is_absolute() else context[relative_to] / path


def config_path(value: object, info: ValidationInfo) -> object:
    """A path read from a config file, relative to the config's folder."""
    return _path(value, info, "config")


def output_path(value: object, info: ValidationInfo) -> object:
    """The output folder, relative to the working directory, resolved."""
    return _path(value, info, "cwd")


ConfigPath = Annotated[Path, BeforeValidator(config_path)]
OutputPath = Annotated[Path, BeforeValidator(output_path)]
