"""The tiny study through the SLURM profile on a real (local, one-node) cluster.

Needs scripts/slurm-local-start.sh to have run (.ci/run does); skipped otherwise.
The executor plugin ignores SIGTERM when it hangs, so every run sits inside
`timeout -s KILL`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.test_workflow import SNAKEMAKE, TINY, make_study

pytestmark = [pytest.mark.slow, pytest.mark.slurm]
ROOT = Path(__file__).resolve().parent.parent


def cluster_is_up() -> bool:
    if shutil.which("sinfo") is None:
        return False
    result = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=30)
    return result.returncode == 0 and "idle" in result.stdout


def through_slurm(folder: Path, *args: str, limit: int = 1200) -> tuple[subprocess.CompletedProcess, float]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    started = time.perf_counter()
    result = subprocess.run(
        ["timeout", "-s", "KILL", str(limit), SNAKEMAKE, "--workflow-profile", "profiles/slurm", *args], cwd=folder, env=env, capture_output=True, text=True
    )
    return result, time.perf_counter() - started


@pytest.mark.skipif(not cluster_is_up(), reason="no local SLURM cluster: run scripts/slurm-local-start.sh")
def test_tiny_study_runs_as_slurm_jobs_and_a_failing_trial_does_not_stop_it(tmp_path):
    config = dict(TINY)
    # 8x8 digits: depth 4 or 5 with pooling cannot exist; those trials fail (recorded), the rest complete.
    config["space"] = dict(TINY["space"], depth={"type": "range", "bounds": [2, 5], "value_type": "int"}, pooling={"type": "fixed", "value": True})
    study = make_study(tmp_path / "slurm", config)
    result, seconds = through_slurm(study, "all")
    assert result.returncode == 0, (result.stdout + result.stderr)[-5000:]
    out = study / "results/tiny"
    records = [json.loads(p.read_text()) for p in sorted(out.glob("rounds/*/trials/*.json"))]
    assert len(records) == 7
    job_ids = {r["ran_on"]["slurm_job_id"] for r in records}
    assert None not in job_ids and len(job_ids) == 7  # each trial was its own SLURM job
    statuses = [r["status"] for r in records]
    assert "failed" in statuses and "InfeasibleArchitecture" in next(r["error"] for r in records if r["status"] == "failed")
    assert statuses.count("completed") >= 2
    assert (out / "frontier.csv").is_file() and (out / "figures/pareto.png").is_file()
    print(f"tiny study through SLURM: {seconds:.0f} s")

    again, _ = through_slurm(study, "all", limit=300)
    assert again.returncode == 0
    assert "Nothing to be done" in again.stdout + again.stderr
