"""The machine-wide metered lock: two processes metering at once never overlap, a killed holder frees it."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from ecopt import metered_lock
from ecopt.metered_lock import (
    DEFAULT_LOCK_PATH,
    LOCK_PATH_VARIABLE,
    hold_metered_lock,
    metered_lock_path,
)

ROOT = Path(__file__).resolve().parent.parent

# Each process meters `windows` windows of 50 ms through ecopt.meter.Meter (a fake
# backend), all starting at the same instant, and prints each window's wall interval.
METERING_PROCESS = textwrap.dedent(
    """
    import json, sys, time
    from ecopt.meter import Meter
    from tests.fakes import ConstantPowerBackend

    start_at, windows = float(sys.argv[1]), int(sys.argv[2])
    meter = Meter({"tracking_mode": "process", "min_window_seconds": 0.05}, backend=ConstantPowerBackend())
    meter.warm_up()
    intervals = []

    def one_pass():
        began = time.time()
        time.sleep(0.05)
        intervals.append((began, time.time()))
        return 1.0, 1

    while time.time() < start_at:
        time.sleep(0.001)
    for _ in range(windows):
        meter.measure_window(one_pass, max_passes=1)
    print(json.dumps(intervals))
    """
)


def spawn(code: str, *args: str, lock: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT), **{LOCK_PATH_VARIABLE: str(lock)})
    return subprocess.Popen([sys.executable, "-c", code, *args], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)


def test_two_processes_metering_at_once_never_overlap(tmp_path):
    lock = tmp_path / "metered.lock"
    start_at = time.time() + 3.0  # both have imported the meter by then
    processes = [spawn(METERING_PROCESS, str(start_at), "8", lock=lock) for _ in range(2)]
    outputs = [process.communicate(timeout=60)[0] for process in processes]
    assert [process.returncode for process in processes] == [0, 0]
    windows = sorted((began, ended, owner) for owner, output in enumerate(outputs) for began, ended in json.loads(output))
    assert len(windows) == 16 and {owner for *_, owner in windows} == {0, 1}
    for (_, previous_end, _), (began, _, _) in itertools.pairwise(windows):
        assert began >= previous_end, "two metered windows overlapped"


def test_a_killed_holder_frees_the_lock(tmp_path):
    lock = tmp_path / "metered.lock"
    holder = spawn(
        "import sys, time\nfrom ecopt.metered_lock import hold_metered_lock\nwith hold_metered_lock():\n    print('held', flush=True)\n    time.sleep(60)\n",
        lock=lock,
    )
    assert holder.stdout.readline().strip() == "held"
    waiter = spawn("from ecopt.metered_lock import hold_metered_lock\nwith hold_metered_lock():\n    print('got it')\n", lock=lock)
    time.sleep(1.0)
    assert waiter.poll() is None, "the waiter got the lock while another process held it"
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    assert waiter.communicate(timeout=30)[0].strip() == "got it"


def test_the_lock_is_reentrant_within_a_process(tmp_path, monkeypatch):
    monkeypatch.setenv(LOCK_PATH_VARIABLE, str(tmp_path / "metered.lock"))
    with hold_metered_lock():
        with hold_metered_lock():  # a metered job holds it; its meter's windows take it again
            assert metered_lock._depth == 2
        assert metered_lock._descriptor is not None
    assert metered_lock._depth == 0 and metered_lock._descriptor is None


def test_lock_path_is_machine_wide_unless_the_environment_names_one(monkeypatch, tmp_path):
    monkeypatch.delenv(LOCK_PATH_VARIABLE, raising=False)
    assert metered_lock_path() == Path(DEFAULT_LOCK_PATH) == Path("/tmp/ecopt-metered.lock")
    monkeypatch.setenv(LOCK_PATH_VARIABLE, str(tmp_path / "other.lock"))
    assert metered_lock_path() == tmp_path / "other.lock"


@pytest.mark.parametrize("name", ["measure", "overhead_pairs"])
def test_meter_windows_hold_the_lock(tmp_path, monkeypatch, name):
    from ecopt.meter import Meter
    from tests.fakes import ConstantPowerBackend

    monkeypatch.setenv(LOCK_PATH_VARIABLE, str(tmp_path / "metered.lock"))
    meter = Meter({"tracking_mode": "process"}, backend=ConstantPowerBackend())
    depths: list[int] = []

    def work() -> None:
        depths.append(metered_lock._depth)

    if name == "measure":
        meter.measure(work)
    else:
        meter.overhead_pairs(work, pairs=2)
    assert depths and all(depth >= 1 for depth in depths)  # unmetered timings of a pair too
    assert metered_lock._depth == 0
