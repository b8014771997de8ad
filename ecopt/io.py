"""Atomic file writes: a killed job leaves the old file or the new one, never half."""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def temporary_file_beside(target: Path) -> tuple[int, str]:
    """An open temporary file next to ``target`` (same filesystem, so ``os.replace`` is atomic).

    Returns ``(descriptor, path)``. ``tempfile.mkstemp`` creates files readable by
    their owner only (0600); the file gets the mode an ordinary ``open`` would
    (0666 less the umask), so results stay readable on a shared machine or cluster.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(handle, 0o666 & ~umask)
    return handle, temporary


def _write_atomically(path: str | os.PathLike[str], write: Callable[[Any], None], mode: str) -> Path:
    target = Path(path)
    handle, temporary = temporary_file_beside(target)
    try:
        with os.fdopen(handle, mode) as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


def json_ready(value: Any) -> Any:
    """JSON has no NaN or infinity; write them as null rather than invalid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return json_ready(value.item())
    return value


def write_json(path: str | os.PathLike[str], data: Any) -> Path:
    """Write ``data`` as indented UTF-8 JSON at ``path`` atomically; returns the path.

    NaN and infinities become null (``json_ready``); a value the json module cannot
    encode raises TypeError and leaves any old file in place.
    """
    text = json.dumps(json_ready(data), indent=2, sort_keys=False, allow_nan=False) + "\n"
    return _write_atomically(path, lambda stream: stream.write(text), "w")


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` at ``path`` atomically (temporary file, fsync, ``os.replace``); returns the path."""
    return _write_atomically(path, lambda stream: stream.write(text), "w")


def write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` at ``path`` atomically (temporary file, fsync, ``os.replace``); returns the path."""
    return _write_atomically(path, lambda stream: stream.write(data), "wb")


def read_json(path: str | os.PathLike[str]) -> Any:
    """Parse the JSON file at ``path``; OSError if unreadable, json.JSONDecodeError if malformed."""
    with open(path) as stream:
        return json.load(stream)
