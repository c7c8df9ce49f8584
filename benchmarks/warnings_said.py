"""Third-party warnings in commscale's words: numpy's, pandas', matplotlib's and torch's
Python warnings would print a file path, a line of their source and, for numpy, repeat per
call site. `say_once` replaces Python's printer for one command: each distinct warning is
one line on stderr, `commscale: note: a <library> <category>: <message> (<where>)`, once. C++
warnings (torch's c10d) are not Python's: the backends prevent the ones commscale can
(collectives/backends/torch_dist.py: gloo on loopback where the host name resolves to none)."""
from __future__ import annotations

import contextlib
import os
import sys
import warnings

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _installed(path: str) -> list[str] | None:
    """The parts of an absolute path below site-packages (or dist-packages), None elsewhere."""
    parts = path.split(os.sep)
    for marker in ("site-packages", "dist-packages"):
        if marker in parts:
            return parts[parts.index(marker) + 1:]
    return None


def _library(filename: str) -> str:
    """The top package a warning was raised in ('numpy', 'pandas', ...), or 'commscale'."""
    path = os.path.abspath(filename)
    installed = _installed(path)
    if installed:
        return installed[0].split(".")[0]
    return "commscale" if path.startswith(REPO + os.sep) else os.path.basename(filename)


def _where(filename: str, lineno: int) -> str:
    """The file, within the repository or the library, and the line."""
    path = os.path.abspath(filename)
    installed = _installed(path)
    if installed:
        return f"{os.path.join(*installed)}:{lineno}"
    return f"{os.path.relpath(path, REPO)}:{lineno}" if path.startswith(REPO + os.sep) else f"{path}:{lineno}"


@contextlib.contextmanager
def say_once(stream=None):
    """Within the block, every warning Python would show is one line, once per message and place."""
    seen = set()

    def show(message, category, filename, lineno, file=None, line=None):
        key = (category, str(message), filename, lineno)
        if key in seen:
            return
        seen.add(key)
        text = " ".join(str(message).split())
        print(f"commscale: note: a {_library(filename)} {category.__name__}: {text} "
              f"({_where(filename, lineno)})", file=stream or sys.stderr, flush=True)

    saved = warnings.showwarning
    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = saved
