"""One machine-wide lock, so that no two metered windows ever overlap on a machine.

A metered window (a trial's training or evaluation, a calibration run, a proxy
measurement) must contain this process's work only: with machine-level meters
(RAPL, NVML) anything else running lands in its joules. Snakemake's ``metered``
resource keeps one Snakemake process from running two metered jobs at once, but
not two studies run side by side (two Snakemake processes, two working
directories), nor a stage started by hand, and it depends on the profile being
loaded. This lock holds whatever the flags: every ``Meter`` window takes it.

Design:

* ``fcntl.flock`` on one lock file (the standard library does the work). The
  kernel releases it when its holder dies, even by SIGKILL, so a killed study
  never leaves a stale lock behind (unlike a PID file or CodeCarbon's lock file).
* The file is machine-wide: ``/tmp/ecopt-metered.lock`` by default, not under
  the study's folder, so that two studies find the same lock. ``ECOPT_METERED_LOCK``
  names another path (tests use their own; a machine whose ``/tmp`` is private to
  each service can name a shared one). It is opened read-only with mode 0666, so
  that users sharing a machine share the lock: flock needs no write access.
* Re-entrant within a process: a metered job holds the lock for its whole run
  (``hold_metered_lock`` in the stage's ``main``), since another study's unmetered
  work (imports, data loading) would otherwise run inside this job's windows; the
  meter's windows then take it again at no cost. Locks taken on two file
  descriptors of one file would block each other, so the process keeps one
  descriptor and a depth count.
* Waiting is unbounded and logged: a metered job waits for the machine rather than
  measuring beside another one.
* The wait is not this study's work, so it is metered apart: the study energy
  ledger registers ``set_wait_window`` (a context manager factory around the
  blocking wait) and records the wait as ``lock_wait_seconds`` /
  ``lock_wait_joules``, outside its total. Charged to the study, one trial's 79 s
  wait for another session's job came to 840 J, 21 % of a small study. A hook
  rather than an import: the ledger imports the meter, which imports this module.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

LOCK_PATH_VARIABLE = "ECOPT_METERED_LOCK"
DEFAULT_LOCK_PATH = "/tmp/ecopt-metered.lock"

_state_lock = threading.Lock()
_wait_window: Callable[[], contextlib.AbstractContextManager[Any]] | None = None
_descriptor: int | None = None
_depth = 0


def set_wait_window(factory: Callable[[], contextlib.AbstractContextManager[Any]] | None) -> None:
    """Have every blocking wait for the lock run inside ``factory()`` (None: no window); the ledger meters waits apart with it."""
    global _wait_window
    _wait_window = factory


def metered_lock_path() -> Path:
    """The lock file: ``$ECOPT_METERED_LOCK`` if set and non-empty, else ``/tmp/ecopt-metered.lock``."""
    return Path(os.environ.get(LOCK_PATH_VARIABLE) or DEFAULT_LOCK_PATH)


@contextlib.contextmanager
def hold_metered_lock() -> Iterator[None]:
    """Hold the machine-wide metered lock for the ``with`` block; blocks until it is free.

    Re-entrant within one process (nested blocks cost nothing). Raises ``OSError``
    when the lock file cannot be created or opened.
    """
    global _descriptor, _depth
    with _state_lock:
        if _depth == 0:
            path = metered_lock_path()
            descriptor = os.open(path, os.O_RDONLY | os.O_CREAT, 0o666)
            try:
                try:
                    fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    logger.info("waiting for the metered lock %s: another metered job runs on this machine", path)
                    waited = time.perf_counter()
                    with _wait_window() if _wait_window is not None else contextlib.nullcontext():
                        fcntl.flock(descriptor, fcntl.LOCK_EX)
                    logger.info("metered lock %s acquired after %.1f s", path, time.perf_counter() - waited)
            except BaseException:
                os.close(descriptor)
                raise
            _descriptor = descriptor
        _depth += 1
    try:
        yield
    finally:
        with _state_lock:
            _depth -= 1
            if _depth == 0 and _descriptor is not None:
                fcntl.flock(_descriptor, fcntl.LOCK_UN)
                os.close(_descriptor)
                _descriptor = None
