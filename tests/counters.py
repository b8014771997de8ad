"""Simulated energy counters at known powers, read through the real meter code paths.

Two simulations, both driven by the wall clock so that every reader sees one
consistent counter:

* RAPL: a powercap tree under ``/sys/class/powercap`` laid out as sysfs lays it out
  (``intel-rapl/intel-rapl:N[/intel-rapl:N:M]`` with ``name``, ``energy_uj``,
  ``max_energy_range_uj``; ``intel-rapl:N`` links; ``intel-rapl/subsystem`` back to
  the class), created in a private mount namespace (``unshare --mount``) on an
  overlay over ``/sys/class`` whose upper layer is a tmpfs. A writer process sets
  each ``energy_uj`` to ``start + watts x (now - epoch)`` modulo
  ``max_energy_range_uj`` every 2 ms (write then rename: a reader never sees half a
  number), so a counter wraps exactly as a real one does. Needs root (CI runs as
  root); where the namespace or the overlay cannot be made, the test is skipped with
  the reason, or fails with it under ``ECOPT_REQUIRE_SIMULATED_COUNTERS=1`` (``.ci/run``).
* NVML: ``tests/simulated_nvml/pynvml.py`` first on ``PYTHONPATH`` and
  ``tests/simulated_nvml/bin/nvidia-smi`` first on ``PATH`` (CodeCarbon runs
  ``nvidia-smi --help`` before it trusts pynvml). No namespace is needed.

``run_with_counters(body, ...)`` runs ``body`` (``"module:function"``, called with
``kwargs``, returning JSON-able data) in a fresh Python process under those
counters and returns what it returned. A fresh process is what makes this a test
of the real paths: CodeCarbon probes RAPL and imports pynvml once per process.

Usage as a module (the child side): ``python -m tests.counters run`` or
``python -m tests.counters write``, configured by ``ECOPT_COUNTERS_SPEC`` (JSON).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SIMULATED_NVML = Path(__file__).resolve().parent / "simulated_nvml"
POWERCAP = "/sys/class/powercap"
RESULT_MARKER = "ECOPT-COUNTERS-RESULT "
CANNOT_SIMULATE = 77  # the child's exit status when the namespace or the overlay cannot be made


@dataclass(frozen=True)
class RaplDomain:
    """One simulated RAPL domain: ``path`` below ``intel-rapl/`` (e.g. ``intel-rapl:0/intel-rapl:0:0``)."""

    path: str
    name: str  # package-0, dram, psys ...
    watts: float
    max_energy_range_uj: int = 262_143_328_850  # a common real range (~262 kJ)
    start_uj: int = 0


def simulated_gpus(watts: list[float]) -> list[dict[str, Any]]:
    """GPUs for the simulated NVML: one entry per power, with stable UUIDs ``GPU-<index>...``."""
    return [{"watts": w, "uuid": f"GPU-{index:08d}-0000-0000-0000-{index:012d}", "name": "NVIDIA Simulated H100"} for index, w in enumerate(watts)]


def _cannot_simulate(reason: str) -> None:
    """Skip the test with ``reason``; fail it instead when ``ECOPT_REQUIRE_SIMULATED_COUNTERS=1``
    (``.ci/run`` sets it: in CI the simulated counters must run, not skip)."""
    import pytest

    if os.environ.get("ECOPT_REQUIRE_SIMULATED_COUNTERS") == "1":
        pytest.fail(f"ECOPT_REQUIRE_SIMULATED_COUNTERS=1 and {reason}")
    pytest.skip(reason)


def run_with_counters(
    body: str,
    kwargs: dict[str, Any] | None = None,
    rapl: list[RaplDomain] | None = None,
    gpus: list[dict[str, Any]] | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 240.0,
) -> Any:
    """Run ``body(**kwargs)`` in a fresh process under simulated counters; return its result.

    ``rapl``: powercap domains (needs a mount namespace: root); ``gpus``: the
    simulated NVML's devices (``simulated_gpus``); ``env``: extra variables
    (``CUDA_VISIBLE_DEVICES``, ``CUDA_DEVICE_ORDER``). Calls ``pytest.skip`` with
    the reason when the namespace or the overlay cannot be created; raises
    AssertionError with the child's output when the body fails.
    """
    spec = {"body": body, "kwargs": kwargs or {}, "rapl": [asdict(d) for d in rapl or []], "epoch": time.time()}
    child_env = {key: value for key, value in os.environ.items() if not key.startswith(("CUDA_", "ECOPT_SIMULATED_"))}
    child_env |= {"ECOPT_COUNTERS_SPEC": json.dumps(spec), "ECOPT_SIMULATED_EPOCH": repr(spec["epoch"])}
    python_path = [str(REPO)] + ([str(SIMULATED_NVML)] if gpus is not None else [])
    if gpus is not None:
        child_env["ECOPT_SIMULATED_GPUS"] = json.dumps(gpus)
        python_path.insert(0, str(SIMULATED_NVML))
        child_env["PATH"] = f"{SIMULATED_NVML / 'bin'}:{child_env.get('PATH', '')}"
    child_env["PYTHONPATH"] = ":".join(dict.fromkeys(python_path + [p for p in child_env.get("PYTHONPATH", "").split(":") if p]))
    child_env |= env or {}
    command = [sys.executable, "-m", "tests.counters", "run"]
    if rapl:
        unshare = shutil.which("unshare")
        if unshare is None:
            _cannot_simulate("simulated RAPL needs unshare(1) to create a private mount namespace; none on PATH")
        command = [unshare, "--mount", "--propagation", "private", "--", *command]
    done = subprocess.run(command, cwd=REPO, env=child_env, capture_output=True, text=True, timeout=timeout)
    if done.returncode == CANNOT_SIMULATE or (rapl and done.returncode != 0 and "unshare" in done.stderr and RESULT_MARKER not in done.stdout):
        _cannot_simulate(
            f"cannot create the simulated RAPL counters (private mount namespace with an overlay over /sys/class; needs root): {done.stderr.strip()[-300:]}"
        )
    results = [line[len(RESULT_MARKER) :] for line in done.stdout.splitlines() if line.startswith(RESULT_MARKER)]
    assert done.returncode == 0 and results, f"body {body} failed (exit {done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}"
    return json.loads(results[-1])


# --------------------------------------------------------------------------- the child side
def _energy_uj(domain: dict[str, Any], epoch: float, now: float) -> int:
    return int(domain["start_uj"] + domain["watts"] * (now - epoch) * 1e6) % domain["max_energy_range_uj"]


def _write_counters(spec: dict[str, Any]) -> None:
    """The writer process: keep every ``energy_uj`` at its wall-clock value until killed."""
    files = [(Path(POWERCAP, "intel-rapl", domain["path"]), domain) for domain in spec["rapl"]]
    # A counter that lags the wall clock reads low: at 40 W, 20 ms of lag over a 2 s window
    # is the whole 1 % tolerance. On a loaded 2-core machine the writer got that far behind
    # (39.6 W read), so it runs at a high priority (root may raise it; elsewhere it stays).
    try:
        os.nice(-15)
    except OSError:
        pass
    while True:
        now = time.time()
        for directory, domain in files:
            staged = directory / ".energy_uj"
            staged.write_text(f"{_energy_uj(domain, spec['epoch'], now)}\n")
            os.replace(staged, directory / "energy_uj")
        time.sleep(0.002)


def _build_powercap(spec: dict[str, Any]) -> None:
    """Overlay /sys/class (upper layer on a private tmpfs) and lay out the powercap tree."""
    scratch = Path(tempfile.mkdtemp(prefix="ecopt-powercap-"))
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(scratch)], check=True, capture_output=True)
    (scratch / "upper").mkdir()
    (scratch / "work").mkdir()
    options = f"lowerdir=/sys/class,upperdir={scratch / 'upper'},workdir={scratch / 'work'}"
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", options, "/sys/class"], check=True, capture_output=True)
    root = Path(POWERCAP)
    if root.exists():
        for entry in root.iterdir():  # a real machine's domains would mix with the simulated ones
            if entry.name.startswith("intel-rapl"):
                shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
    control = root / "intel-rapl"
    control.mkdir(parents=True)
    (control / "subsystem").symlink_to(root)  # CodeCarbon's default rapl_dir is intel-rapl/subsystem
    now = time.time()
    for domain in sorted(spec["rapl"], key=lambda d: d["path"].count("/")):
        directory = control / domain["path"]
        directory.mkdir(parents=True)
        (directory / "name").write_text(f"{domain['name']}\n")
        (directory / "max_energy_range_uj").write_text(f"{domain['max_energy_range_uj']}\n")
        (directory / "energy_uj").write_text(f"{_energy_uj(domain, spec['epoch'], now)}\n")
        if "/" not in domain["path"]:
            (root / domain["path"]).symlink_to(directory)  # /sys/class/powercap/intel-rapl:0, as in sysfs


def _run(spec: dict[str, Any]) -> int:
    writer = None
    if spec["rapl"]:
        try:
            _build_powercap(spec)
        except (OSError, subprocess.CalledProcessError) as error:
            detail = getattr(error, "stderr", b"") or b""
            print(f"cannot simulate RAPL: {error} {detail.decode(errors='replace') if isinstance(detail, bytes) else detail}", file=sys.stderr)
            return CANNOT_SIMULATE
        writer = subprocess.Popen([sys.executable, "-m", "tests.counters", "write"], cwd=REPO)  # shares this namespace
    try:
        module_name, function_name = spec["body"].split(":")
        import importlib

        result = getattr(importlib.import_module(module_name), function_name)(**spec["kwargs"])
        print(RESULT_MARKER + json.dumps(result, default=str), flush=True)
        return 0
    finally:
        if writer is not None:
            writer.kill()
            writer.wait()


def main(argv: list[str]) -> int:
    """``run``: set up the counters and call the body; ``write``: the RAPL writer loop."""
    spec = json.loads(os.environ["ECOPT_COUNTERS_SPEC"])
    if argv[:1] == ["write"]:
        _write_counters(spec)
        return 0
    return _run(spec)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
