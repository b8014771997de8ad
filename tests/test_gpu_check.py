"""scripts/gpu-check.sh: fails clearly without a GPU; its pieces print the table on the CPU."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _run(*args, path=None, timeout=600):
    env = dict(os.environ, PYTHON=sys.executable, PYTHONPATH=str(REPO))
    if path is not None:
        env["PATH"] = path
    return subprocess.run(["bash", "scripts/gpu-check.sh", "--no-install", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


def test_without_a_gpu_it_says_so_and_exits_3(tmp_path):
    done = _run(path=f"{tmp_path}:/usr/bin:/bin")  # no nvidia-smi anywhere on this PATH
    assert done.returncode == 3
    assert "no usable NVIDIA GPU" in done.stderr and "nvidia-smi is not on PATH" in done.stderr and "--device cpu" in done.stderr


@pytest.mark.slow
def test_on_the_cpu_it_prints_the_same_table():
    done = _run("--device", "cpu")
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line.split(" | ")[0].strip("| ") for line in done.stdout.splitlines() if line.startswith("| ") and not line.startswith("| check")]
    assert rows[:3] == ["calibration", "transformer-batch", "proxy study"]
    assert [row for row in rows if row.startswith("CodeCarbon vs Zeus")] == [f"CodeCarbon vs Zeus #{i}" for i in (1, 2, 3)]
    assert rows[-1] == "wall time"
    assert "FAILED" not in done.stdout
